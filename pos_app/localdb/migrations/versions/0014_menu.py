"""The menu from HQ (versions kept whole), sold-out marks, sale lines' chosen options.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'menu_version',
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('store_code', sa.String(length=32), nullable=True),
        sa.Column('effective_at', sa.String(length=27), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('version'),
    )
    with op.batch_alter_table('menu_version') as batch:
        batch.create_index('ix_menu_version_effective', ['effective_at'], unique=False)
    op.create_table(
        'sold_out',
        sa.Column('sku', sa.String(length=64), nullable=False),
        sa.Column('business_date', sa.String(length=10), nullable=False),
        sa.Column('sold_out', sa.Boolean(), nullable=False),
        sa.Column('at', sa.String(length=27), nullable=False),
        sa.Column('staff', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('sku'),
    )
    with op.batch_alter_table('sale_line') as batch:
        batch.add_column(sa.Column('options_json', sa.Text(), nullable=True))
        batch.add_column(sa.Column('menu_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sale_line') as batch:
        batch.drop_column('menu_version')
        batch.drop_column('options_json')
    op.drop_table('sold_out')
    with op.batch_alter_table('menu_version') as batch:
        batch.drop_index('ix_menu_version_effective')
    op.drop_table('menu_version')
