"""Returns record the coupon they gave back to the member (returns.coupon_back).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("returns") as batch:
        batch.add_column(sa.Column("coupon_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    # A plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): a batch copy of ``returns`` would
    # trip the foreign keys of the lines that point at it.
    op.drop_column("returns", "coupon_id")
