"""What is in transit to a store: shipped transfers found by state and receiving store.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_transfers_state_to_store", "transfers", ["state", "to_store"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_transfers_state_to_store", table_name="transfers")
