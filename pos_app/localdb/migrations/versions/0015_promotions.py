"""Promotions from HQ (the newest version of each, as its wire definition) and what each
took off a sale line.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'promotion',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('definition', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('sale_line') as batch:
        batch.add_column(sa.Column('promotions_json', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sale_line') as batch:
        batch.drop_column('promotions_json')
    op.drop_table('promotion')
