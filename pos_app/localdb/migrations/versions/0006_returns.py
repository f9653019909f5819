"""Returns at the till: returns, their lines and refunds, and HQ return authorisations.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sale_return',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('receipt_no', sa.String(length=64), nullable=False),
        sa.Column('reference', sa.String(length=128), nullable=False),
        sa.Column('store_code', sa.String(length=32), nullable=False),
        sa.Column('terminal_id', sa.String(length=32), nullable=False),
        sa.Column('cashier', sa.String(length=32), nullable=False),
        sa.Column('returned_at', sa.String(length=27), nullable=False),
        sa.Column('original_sale_id', sa.String(length=36), nullable=True),
        sa.Column('original_store', sa.String(length=32), nullable=True),
        sa.Column('original_terminal', sa.String(length=32), nullable=True),
        sa.Column('original_receipt_no', sa.String(length=64), nullable=True),
        sa.Column('authorisation_id', sa.String(length=36), nullable=True),
        sa.Column('refund_fen', sa.Integer(), nullable=False),
        sa.Column('member', sa.String(length=20), nullable=True),
        sa.Column('points_reversed', sa.Integer(), nullable=False),
        sa.Column('shift_id', sa.String(length=36), nullable=True),
        sa.Column('approvals', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('receipt_no'),
    )
    op.create_index(
        op.f('ix_sale_return_returned_at'), 'sale_return', ['returned_at'], unique=False
    )
    op.create_index(
        op.f('ix_sale_return_original_sale_id'), 'sale_return', ['original_sale_id'], unique=False
    )
    op.create_table(
        'sale_return_line',
        sa.Column('return_id', sa.String(length=36), nullable=False),
        sa.Column('line_no', sa.Integer(), nullable=False),
        sa.Column('original_line_no', sa.Integer(), nullable=True),
        sa.Column('item_id', sa.Integer(), nullable=True),
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('barcode', sa.String(length=64), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('unit', sa.String(length=8), nullable=False),
        sa.Column('qty_milli', sa.Integer(), nullable=False),
        sa.Column('unit_price_fen', sa.Integer(), nullable=False),
        sa.Column('refund_fen', sa.Integer(), nullable=False),
        sa.Column('restock', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['return_id'], ['sale_return.id']),
        sa.PrimaryKeyConstraint('return_id', 'line_no'),
    )
    op.create_table(
        'sale_return_refund',
        sa.Column('return_id', sa.String(length=36), nullable=False),
        sa.Column('idx', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('amount_fen', sa.Integer(), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['return_id'], ['sale_return.id']),
        sa.PrimaryKeyConstraint('return_id', 'idx'),
    )
    op.create_table(
        'return_auth',
        sa.Column('auth_id', sa.String(length=36), nullable=False),
        sa.Column('sale_id', sa.String(length=36), nullable=False),
        sa.Column('lines', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('return_id', sa.String(length=36), nullable=True),
        sa.Column('created_at', sa.String(length=27), nullable=False),
        sa.Column('expires_at', sa.String(length=27), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('auth_id'),
    )
    op.create_index(op.f('ix_return_auth_sale_id'), 'return_auth', ['sale_id'], unique=False)
    op.create_index('ix_return_auth_state', 'return_auth', ['state'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_return_auth_state', table_name='return_auth')
    op.drop_index(op.f('ix_return_auth_sale_id'), table_name='return_auth')
    op.drop_table('return_auth')
    op.drop_table('sale_return_refund')
    op.drop_table('sale_return_line')
    op.drop_index(op.f('ix_sale_return_original_sale_id'), table_name='sale_return')
    op.drop_index(op.f('ix_sale_return_returned_at'), table_name='sale_return')
    op.drop_table('sale_return')
