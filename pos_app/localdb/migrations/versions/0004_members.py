"""Members at the till: recently identified members, sign-ups waiting for HQ, holds of
sales being rung up, the member of each sale, and stored-value top-ups.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'member_cache',
        sa.Column('number', sa.String(length=20), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('phone_masked', sa.String(length=20), nullable=False),
        sa.Column('tier', sa.String(length=16), nullable=False),
        sa.Column('points', sa.Integer(), nullable=False),
        sa.Column('balance_fen', sa.Integer(), nullable=False),
        sa.Column('coupons', sa.Text(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('seen_at', sa.String(length=27), nullable=False),
        sa.Column('phone_key', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('number'),
    )
    op.create_index(op.f('ix_member_cache_seen_at'), 'member_cache', ['seen_at'], unique=False)
    op.create_index(
        op.f('ix_member_cache_phone_key'), 'member_cache', ['phone_key'], unique=False
    )
    op.create_table(
        'member_signup',
        sa.Column('signup_id', sa.String(length=36), nullable=False),
        sa.Column('phone_enc', sa.Text(), nullable=True),
        sa.Column('phone_masked', sa.String(length=20), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('consent_version', sa.String(length=32), nullable=False),
        sa.Column('signed_up_at', sa.String(length=27), nullable=False),
        sa.Column('staff', sa.String(length=32), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('member_number', sa.String(length=20), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('signup_id'),
    )
    op.create_index('ix_member_signup_state', 'member_signup', ['state'], unique=False)
    op.create_table(
        'member_hold',
        sa.Column('hold_id', sa.String(length=36), nullable=False),
        sa.Column('draft_id', sa.String(length=36), nullable=False),
        sa.Column('member_number', sa.String(length=20), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=True),
        sa.Column('coupon_id', sa.String(length=36), nullable=True),
        sa.Column('value_fen', sa.Integer(), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('sale_id', sa.String(length=36), nullable=True),
        sa.Column('created_at', sa.String(length=27), nullable=False),
        sa.Column('expires_at', sa.String(length=27), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('hold_id'),
    )
    op.create_index(op.f('ix_member_hold_draft_id'), 'member_hold', ['draft_id'], unique=False)
    op.create_index(op.f('ix_member_hold_sale_id'), 'member_hold', ['sale_id'], unique=False)
    op.create_index('ix_member_hold_state', 'member_hold', ['state'], unique=False)
    op.create_table(
        'sale_member',
        sa.Column('sale_id', sa.String(length=36), nullable=False),
        sa.Column('number', sa.String(length=20), nullable=True),
        sa.Column('signup_id', sa.String(length=36), nullable=True),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('phone_masked', sa.String(length=20), nullable=False),
        sa.Column('tier', sa.String(length=16), nullable=False),
        sa.Column('points_used', sa.Integer(), nullable=False),
        sa.Column('points_earned', sa.Integer(), nullable=False),
        sa.Column('points_after', sa.Integer(), nullable=True),
        sa.Column('balance_after_fen', sa.Integer(), nullable=True),
        sa.Column('coupon_name', sa.String(length=64), nullable=True),
        sa.Column('coupon_fen', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['sale_id'], ['sale.id']),
        sa.PrimaryKeyConstraint('sale_id'),
    )
    op.create_table(
        'member_topup',
        sa.Column('topup_id', sa.String(length=36), nullable=False),
        sa.Column('receipt_no', sa.String(length=64), nullable=False),
        sa.Column('number', sa.String(length=20), nullable=True),
        sa.Column('signup_id', sa.String(length=36), nullable=True),
        sa.Column('member_name', sa.String(length=64), nullable=False),
        sa.Column('phone_masked', sa.String(length=20), nullable=False),
        sa.Column('amount_fen', sa.Integer(), nullable=False),
        sa.Column('tenders', sa.Text(), nullable=False),
        sa.Column('cashier', sa.String(length=32), nullable=False),
        sa.Column('completed_at', sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint('topup_id'),
        sa.UniqueConstraint('receipt_no'),
    )
    op.create_index(
        op.f('ix_member_topup_completed_at'), 'member_topup', ['completed_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_member_topup_completed_at'), table_name='member_topup')
    op.drop_table('member_topup')
    op.drop_table('sale_member')
    op.drop_index('ix_member_hold_state', table_name='member_hold')
    op.drop_index(op.f('ix_member_hold_sale_id'), table_name='member_hold')
    op.drop_index(op.f('ix_member_hold_draft_id'), table_name='member_hold')
    op.drop_table('member_hold')
    op.drop_index('ix_member_signup_state', table_name='member_signup')
    op.drop_table('member_signup')
    op.drop_index(op.f('ix_member_cache_phone_key'), table_name='member_cache')
    op.drop_index(op.f('ix_member_cache_seen_at'), table_name='member_cache')
    op.drop_table('member_cache')
