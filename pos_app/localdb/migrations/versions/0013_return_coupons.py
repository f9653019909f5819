"""The coupon a sale used (for its return) and the coupon a return gives back.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sale_member') as batch:
        batch.add_column(sa.Column('coupon_id', sa.String(length=36), nullable=True))
        batch.add_column(sa.Column('coupon_valid_until', sa.String(length=27), nullable=True))
    with op.batch_alter_table('sale_return') as batch:
        batch.add_column(sa.Column('coupon_back_id', sa.String(length=36), nullable=True))
        batch.add_column(sa.Column('coupon_back_name', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sale_return') as batch:
        batch.drop_column('coupon_back_name')
        batch.drop_column('coupon_back_id')
    with op.batch_alter_table('sale_member') as batch:
        batch.drop_column('coupon_valid_until')
        batch.drop_column('coupon_id')
