"""Sync state: stock of own sales accepted by HQ but not yet seen in its levels, HQ's
published settings, and whether a store is active.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'stock_pending',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('until_seq', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('qty_milli', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        op.f('ix_stock_pending_until_seq'), 'stock_pending', ['until_seq'], unique=False
    )
    op.create_table(
        'hq_config',
        sa.Column('scope', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('scope', 'key'),
    )
    with op.batch_alter_table('store') as batch:
        batch.add_column(
            sa.Column('active', sa.Boolean(), server_default='1', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('store') as batch:
        batch.drop_column('active')
    op.drop_table('hq_config')
    op.drop_index(op.f('ix_stock_pending_until_seq'), table_name='stock_pending')
    op.drop_table('stock_pending')
