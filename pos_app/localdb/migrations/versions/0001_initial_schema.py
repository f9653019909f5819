"""Initial schema: catalogue, prices, staff, sales, outbox, audit log.

The catalogue search index is an FTS5 trigram table kept in step with ``item`` by
triggers, so substring search never scans the catalogue.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 22:58:38.006803
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

FTS_TRIGGERS = (
    (
        "CREATE TRIGGER item_fts_ai AFTER INSERT ON item BEGIN "
        "INSERT INTO item_fts(rowid, name_zh, name_en, sku, pinyin_initials, pinyin_full) "
        "VALUES (new.id, new.name_zh, new.name_en, new.sku, new.pinyin_initials, new.pinyin_full); "
        "END"
    ),
    (
        "CREATE TRIGGER item_fts_ad AFTER DELETE ON item BEGIN "
        "INSERT INTO item_fts(item_fts, rowid, name_zh, name_en, sku, pinyin_initials, pinyin_full) "
        "VALUES ('delete', old.id, old.name_zh, old.name_en, old.sku, old.pinyin_initials, "
        "old.pinyin_full); "
        "END"
    ),
    (
        "CREATE TRIGGER item_fts_au AFTER UPDATE ON item BEGIN "
        "INSERT INTO item_fts(item_fts, rowid, name_zh, name_en, sku, pinyin_initials, pinyin_full) "
        "VALUES ('delete', old.id, old.name_zh, old.name_en, old.sku, old.pinyin_initials, "
        "old.pinyin_full); "
        "INSERT INTO item_fts(rowid, name_zh, name_en, sku, pinyin_initials, pinyin_full) "
        "VALUES (new.id, new.name_zh, new.name_en, new.sku, new.pinyin_initials, new.pinyin_full); "
        "END"
    ),
)


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.String(length=27), nullable=False),
    sa.Column('staff', sa.String(length=32), nullable=True),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('category',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('counter',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=8), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('pinyin_initials', sa.String(length=200), nullable=False),
    sa.Column('pinyin_full', sa.String(length=400), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sku')
    )
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.create_index('ix_item_name_zh', ['name_zh'], unique=False)
        batch_op.create_index('ix_item_pinyin_initials', ['pinyin_initials'], unique=False)

    op.create_table('outbox',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('occurred_at', sa.String(length=27), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('event_id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_state_seq', ['state', 'seq'], unique=False)

    op.create_table('sale',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('receipt_no', sa.String(length=64), nullable=False),
    sa.Column('store_code', sa.String(length=32), nullable=False),
    sa.Column('terminal_id', sa.String(length=32), nullable=False),
    sa.Column('cashier', sa.String(length=32), nullable=False),
    sa.Column('started_at', sa.String(length=27), nullable=False),
    sa.Column('completed_at', sa.String(length=27), nullable=False),
    sa.Column('subtotal_fen', sa.Integer(), nullable=False),
    sa.Column('discount_fen', sa.Integer(), nullable=False),
    sa.Column('rounding_fen', sa.Integer(), nullable=False),
    sa.Column('total_fen', sa.Integer(), nullable=False),
    sa.Column('change_fen', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('receipt_no')
    )
    with op.batch_alter_table('sale', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sale_completed_at'), ['completed_at'], unique=False)

    op.create_table('setting',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('staff',
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('store_code', sa.String(length=32), nullable=True),
    sa.Column('pin_hash', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.String(length=27), nullable=True),
    sa.PrimaryKeyConstraint('number')
    )
    op.create_table('store',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('address_zh', sa.String(length=200), nullable=False),
    sa.Column('address_en', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('barcode',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('code'),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('barcode', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_barcode_item_id'), ['item_id'], unique=False)

    op.create_table('price',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('store_code', sa.String(length=32), nullable=True),
    sa.Column('price_fen', sa.Integer(), nullable=False),
    sa.Column('effective_at', sa.String(length=27), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version')
    )
    with op.batch_alter_table('price', schema=None) as batch_op:
        batch_op.create_index('ix_price_item_effective', ['item_id', 'effective_at'], unique=False)

    op.create_table('sale_line',
    sa.Column('sale_id', sa.String(length=36), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('barcode', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=8), nullable=False),
    sa.Column('qty_milli', sa.Integer(), nullable=False),
    sa.Column('unit_price_fen', sa.Integer(), nullable=False),
    sa.Column('price_version', sa.Integer(), nullable=False),
    sa.Column('list_amount_fen', sa.Integer(), nullable=False),
    sa.Column('discount_fen', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['sale_id'], ['sale.id'], ),
    sa.PrimaryKeyConstraint('sale_id', 'line_no')
    )
    op.create_table('sale_tender',
    sa.Column('sale_id', sa.String(length=36), nullable=False),
    sa.Column('idx', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('tendered_fen', sa.Integer(), nullable=True),
    sa.Column('reference', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['sale_id'], ['sale.id'], ),
    sa.PrimaryKeyConstraint('sale_id', 'idx')
    )
    op.create_table('stock_level',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('hq_qty_milli', sa.Integer(), nullable=False),
    sa.Column('local_sold_milli', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_id')
    )

    op.execute(
        "CREATE VIRTUAL TABLE item_fts USING fts5("
        "name_zh, name_en, sku, pinyin_initials, pinyin_full, "
        "content='item', content_rowid='id', tokenize='trigram')"
    )
    for sql in FTS_TRIGGERS:
        op.execute(sql)

def downgrade() -> None:
    for trigger in ("item_fts_ai", "item_fts_ad", "item_fts_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS item_fts")
    op.drop_table('stock_level')
    op.drop_table('sale_tender')
    op.drop_table('sale_line')
    with op.batch_alter_table('price', schema=None) as batch_op:
        batch_op.drop_index('ix_price_item_effective')

    op.drop_table('price')
    with op.batch_alter_table('barcode', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_barcode_item_id'))

    op.drop_table('barcode')
    op.drop_table('store')
    op.drop_table('staff')
    op.drop_table('setting')
    with op.batch_alter_table('sale', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sale_completed_at'))

    op.drop_table('sale')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_state_seq')

    op.drop_table('outbox')
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_index('ix_item_pinyin_initials')
        batch_op.drop_index('ix_item_name_zh')

    op.drop_table('item')
    op.drop_table('counter')
    op.drop_table('category')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
