"""Online pick-up orders (到店自提) of this store, from HQ's feed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pickup_order',
        sa.Column('reservation_id', sa.String(length=36), nullable=False),
        sa.Column('order_id', sa.String(length=64), nullable=False),
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('store_code', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('ready', sa.Boolean(), nullable=False),
        sa.Column('lines', sa.Text(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=True),
        sa.Column('confirmed_at', sa.String(length=27), nullable=True),
        sa.Column('sale_id', sa.String(length=36), nullable=True),
        sa.Column('local_sale_id', sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint('reservation_id'),
    )
    with op.batch_alter_table('pickup_order') as batch:
        batch.create_index('ix_pickup_order_status', ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pickup_order') as batch:
        batch.drop_index('ix_pickup_order_status')
    op.drop_table('pickup_order')
