"""Stock across the chain: every store's levels, stores' regions and coordinates,
transfers and their lines, stock alerts, stock counts and goods received.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('store') as batch:
        batch.add_column(
            sa.Column('region', sa.String(length=32), server_default=sa.text("''"), nullable=False)
        )
        batch.add_column(sa.Column('latitude', sa.Float(), nullable=True))
        batch.add_column(sa.Column('longitude', sa.Float(), nullable=True))
    op.create_table(
        'chain_stock',
        sa.Column('store_code', sa.String(length=32), nullable=False),
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('on_hand_milli', sa.Integer(), nullable=False),
        sa.Column('reserved_milli', sa.Integer(), nullable=False),
        sa.Column('available_milli', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint('store_code', 'sku'),
    )
    with op.batch_alter_table('chain_stock') as batch:
        batch.create_index('ix_chain_stock_sku', ['sku'], unique=False)
    op.create_table(
        'transfer',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('transfer_no', sa.String(length=64), nullable=False),
        sa.Column('from_store', sa.String(length=32), nullable=False),
        sa.Column('to_store', sa.String(length=32), nullable=False),
        sa.Column('hq_state', sa.String(length=16), nullable=True),
        sa.Column('local_state', sa.String(length=16), nullable=True),
        sa.Column('local_event_id', sa.String(length=36), nullable=True),
        sa.Column('requested_by', sa.String(length=32), nullable=False),
        sa.Column('requested_at', sa.String(length=27), nullable=False),
        sa.Column('updated_at', sa.String(length=27), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=True),
        sa.Column('refused_reason', sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('transfer_no'),
    )
    with op.batch_alter_table('transfer') as batch:
        batch.create_index(op.f('ix_transfer_from_store'), ['from_store'], unique=False)
        batch.create_index(op.f('ix_transfer_to_store'), ['to_store'], unique=False)
    op.create_table(
        'transfer_line',
        sa.Column('transfer_id', sa.String(length=36), nullable=False),
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('requested_milli', sa.Integer(), nullable=False),
        sa.Column('approved_milli', sa.Integer(), nullable=True),
        sa.Column('shipped_milli', sa.Integer(), nullable=True),
        sa.Column('received_milli', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['transfer_id'], ['transfer.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('transfer_id', 'sku'),
    )
    op.create_table(
        'stock_alert',
        sa.Column('alert_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('store_code', sa.String(length=32), nullable=False),
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('on_hand_milli', sa.Integer(), nullable=False),
        sa.Column('min_milli', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.String(length=27), nullable=False),
        sa.Column('resolved', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('alert_id'),
    )
    with op.batch_alter_table('stock_alert') as batch:
        batch.create_index(
            'ix_stock_alert_store_resolved', ['store_code', 'resolved'], unique=False
        )
    op.create_table(
        'stock_count',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('count_no', sa.String(length=64), nullable=False),
        sa.Column('zone', sa.String(length=64), nullable=False),
        sa.Column('staff', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('started_at', sa.String(length=27), nullable=False),
        sa.Column('submitted_at', sa.String(length=27), nullable=True),
        sa.Column('decided_by', sa.String(length=32), nullable=True),
        sa.Column('decided_at', sa.String(length=27), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('count_no'),
    )
    with op.batch_alter_table('stock_count') as batch:
        batch.create_index(op.f('ix_stock_count_status'), ['status'], unique=False)
    op.create_table(
        'stock_count_line',
        sa.Column('count_id', sa.String(length=36), nullable=False),
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('counted_milli', sa.Integer(), nullable=False),
        sa.Column('counted_at', sa.String(length=27), nullable=False),
        sa.ForeignKeyConstraint(['count_id'], ['stock_count.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('count_id', 'sku'),
    )
    op.create_table(
        'stock_receipt',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('document', sa.String(length=64), nullable=True),
        sa.Column('staff', sa.String(length=32), nullable=False),
        sa.Column('received_at', sa.String(length=27), nullable=False),
        sa.Column('lines', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('stock_receipt') as batch:
        batch.create_index(
            op.f('ix_stock_receipt_received_at'), ['received_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('stock_receipt') as batch:
        batch.drop_index(op.f('ix_stock_receipt_received_at'))
    op.drop_table('stock_receipt')
    op.drop_table('stock_count_line')
    with op.batch_alter_table('stock_count') as batch:
        batch.drop_index(op.f('ix_stock_count_status'))
    op.drop_table('stock_count')
    with op.batch_alter_table('stock_alert') as batch:
        batch.drop_index('ix_stock_alert_store_resolved')
    op.drop_table('stock_alert')
    op.drop_table('transfer_line')
    with op.batch_alter_table('transfer') as batch:
        batch.drop_index(op.f('ix_transfer_to_store'))
        batch.drop_index(op.f('ix_transfer_from_store'))
    op.drop_table('transfer')
    with op.batch_alter_table('chain_stock') as batch:
        batch.drop_index('ix_chain_stock_sku')
    op.drop_table('chain_stock')
    with op.batch_alter_table('store') as batch:
        batch.drop_column('longitude')
        batch.drop_column('latitude')
        batch.drop_column('region')
