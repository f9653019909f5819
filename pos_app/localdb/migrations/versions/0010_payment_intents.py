"""Payment-code intents: every gateway charge is written before the call and settled after.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'payment_intent',
        sa.Column('order_no', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('code_tail', sa.String(length=4), nullable=False),
        sa.Column('amount_fen', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('draft_id', sa.String(length=36), nullable=False),
        sa.Column('cashier', sa.String(length=32), nullable=False),
        sa.Column('provider_ref', sa.String(length=64), nullable=True),
        sa.Column('failure', sa.String(length=32), nullable=True),
        sa.Column('sale_id', sa.String(length=36), nullable=True),
        sa.Column('created_at', sa.String(length=27), nullable=False),
        sa.Column('updated_at', sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint('order_no'),
    )
    with op.batch_alter_table('payment_intent') as batch:
        batch.create_index(op.f('ix_payment_intent_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('payment_intent') as batch:
        batch.drop_index(op.f('ix_payment_intent_state'))
    op.drop_table('payment_intent')
