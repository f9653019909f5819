"""Print queue: every printout (receipts first) is a row until the printer took it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'print_job',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('sale_id', sa.String(length=36), nullable=True),
        sa.Column('is_copy', sa.Boolean(), nullable=False),
        sa.Column('document', sa.Text(), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.String(length=27), nullable=False),
        sa.Column('requested_by', sa.String(length=32), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('last_attempt_at', sa.String(length=27), nullable=True),
        sa.Column('printed_at', sa.String(length=27), nullable=True),
        sa.ForeignKeyConstraint(['sale_id'], ['sale.id']),
        sa.PrimaryKeyConstraint('id'),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('print_job') as batch:
        batch.create_index('ix_print_job_state_id', ['state', 'id'], unique=False)
        batch.create_index(op.f('ix_print_job_sale_id'), ['sale_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('print_job') as batch:
        batch.drop_index(op.f('ix_print_job_sale_id'))
        batch.drop_index('ix_print_job_state_id')
    op.drop_table('print_job')
