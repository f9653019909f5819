"""Dashboard indexes: today's sales per store summed from an index alone.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_OPEN = sa.text("voided_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_sales_open_store_completed_total",
        "sales",
        ["store_code", "completed_at", "total_fen"],
        unique=False,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_sales_open_store_completed_total", table_name="sales")
