"""Every store's levels in pages after a snapshot: the feed seq each level is as of, so a
page never undoes a later change, and what is in transit to each store; the shortfall or
difference a stock alert is about.

Tills enrolled before this revision fetch every store's levels once (the
``sync.stock_after`` setting starts the fetch), since their snapshot held their own
store's only.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('chain_stock') as batch:
        batch.add_column(
            sa.Column('as_of_seq', sa.Integer(), server_default=sa.text('0'), nullable=False)
        )
        batch.add_column(
            sa.Column(
                'in_transit_milli', sa.Integer(), server_default=sa.text('0'), nullable=False
            )
        )
    with op.batch_alter_table('stock_alert') as batch:
        batch.add_column(sa.Column('qty_milli', sa.Integer(), nullable=True))
    op.execute(
        "INSERT INTO setting (key, value) SELECT 'sync.stock_after', '\"\"' "
        "WHERE EXISTS (SELECT 1 FROM setting WHERE key = 'sync.cursor') "
        "AND NOT EXISTS (SELECT 1 FROM setting WHERE key = 'sync.stock_after')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM setting WHERE key = 'sync.stock_after'")
    with op.batch_alter_table('stock_alert') as batch:
        batch.drop_column('qty_milli')
    with op.batch_alter_table('chain_stock') as batch:
        batch.drop_column('in_transit_milli')
        batch.drop_column('as_of_seq')
