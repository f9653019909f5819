"""When a payment-code tender's charge was placed with the gateway
(``sale_tenders.placed_at``), so that a till refunding another till's sale can name the
original charge as the provider needs it. Null for other tenders and older sales.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sale_tenders") as batch:
        batch.add_column(sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sale_tenders") as batch:
        batch.drop_column("placed_at")
