"""Shifts: the till's shifts with their float and close figures, cash moved in and out
during a shift, and the shift each sale belongs to.

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'shift',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('shift_no', sa.String(length=64), nullable=False),
        sa.Column('store_code', sa.String(length=32), nullable=False),
        sa.Column('terminal_id', sa.String(length=32), nullable=False),
        sa.Column('staff', sa.String(length=32), nullable=False),
        sa.Column('opened_at', sa.String(length=27), nullable=False),
        sa.Column('float_fen', sa.Integer(), nullable=False),
        sa.Column('float_counts', sa.Text(), nullable=False),
        sa.Column('carried_from', sa.String(length=36), nullable=True),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('closed_at', sa.String(length=27), nullable=True),
        sa.Column('closed_by', sa.String(length=32), nullable=True),
        sa.Column('business_date', sa.String(length=10), nullable=True),
        sa.Column('counted_counts', sa.Text(), nullable=True),
        sa.Column('counted_cash_fen', sa.Integer(), nullable=True),
        sa.Column('expected_cash_fen', sa.Integer(), nullable=True),
        sa.Column('over_short_fen', sa.Integer(), nullable=True),
        sa.Column('figures', sa.Text(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('approved_by', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('shift_no'),
    )
    with op.batch_alter_table('shift') as batch:
        batch.create_index('ix_shift_terminal_status', ['terminal_id', 'status'], unique=False)
    op.create_table(
        'shift_cash_movement',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('shift_id', sa.String(length=36), nullable=False),
        sa.Column('direction', sa.String(length=4), nullable=False),
        sa.Column('amount_fen', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('staff', sa.String(length=32), nullable=False),
        sa.Column('approved_by', sa.String(length=32), nullable=True),
        sa.Column('moved_at', sa.String(length=27), nullable=False),
        sa.ForeignKeyConstraint(['shift_id'], ['shift.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('shift_cash_movement') as batch:
        batch.create_index(
            op.f('ix_shift_cash_movement_shift_id'), ['shift_id'], unique=False
        )
    # Sales made before this release belong to no shift.
    with op.batch_alter_table('sale') as batch:
        batch.add_column(sa.Column('shift_id', sa.String(length=36), nullable=True))
        batch.create_index(op.f('ix_sale_shift_id'), ['shift_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sale') as batch:
        batch.drop_index(op.f('ix_sale_shift_id'))
        batch.drop_column('shift_id')
    with op.batch_alter_table('shift_cash_movement') as batch:
        batch.drop_index(op.f('ix_shift_cash_movement_shift_id'))
    op.drop_table('shift_cash_movement')
    with op.batch_alter_table('shift') as batch:
        batch.drop_index('ix_shift_terminal_status')
    op.drop_table('shift')
