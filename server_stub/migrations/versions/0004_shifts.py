"""Shifts in full: shift numbers, business date, float and close counts, close figures,
the over/short sign-off; per-tender close figures; cash moved in and out during a shift;
each store's closed business days (日结) with their Z report.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SHIFT_COLUMNS = (
    ("shift_no", sa.String(length=64)),
    ("business_date", sa.Date()),
    ("float_counts", sa.Text()),
    ("carried_from", sa.Uuid()),
    ("counted_counts", sa.Text()),
    ("close_figures", sa.Text()),
    ("close_reason", sa.String(length=200)),
    ("approved_by", sa.String(length=32)),
    ("sales_count", sa.Integer()),
    ("sales_fen", sa.BigInteger()),
    ("refunds_fen", sa.BigInteger()),
)


def upgrade() -> None:
    with op.batch_alter_table("shifts", schema=None) as batch_op:
        for name, type_ in _SHIFT_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
    op.create_table(
        "shift_tenders",
        sa.Column("shift_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("expected_fen", sa.BigInteger(), nullable=False),
        sa.Column("counted_fen", sa.BigInteger(), nullable=True),
        sa.Column("over_short_fen", sa.BigInteger(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["shift_id"], ["shifts.shift_id"]),
        sa.PrimaryKeyConstraint("shift_id", "kind"),
    )
    op.create_table(
        "cash_movements",
        sa.Column("movement_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("shift_id", sa.Uuid(), nullable=False),
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("terminal", sa.String(length=32), nullable=False),
        sa.Column("staff", sa.String(length=32), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=4), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("approved_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"]),
        sa.PrimaryKeyConstraint("movement_id"),
    )
    with op.batch_alter_table("cash_movements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cash_movements_shift_id"), ["shift_id"], unique=False)
    op.create_table(
        "day_closes",
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=32), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["store_code"], ["stores.code"]),
        sa.PrimaryKeyConstraint("store_code", "business_date"),
    )


def downgrade() -> None:
    op.drop_table("day_closes")
    with op.batch_alter_table("cash_movements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cash_movements_shift_id"))
    op.drop_table("cash_movements")
    op.drop_table("shift_tenders")
    with op.batch_alter_table("shifts", schema=None) as batch_op:
        for name, _ in reversed(_SHIFT_COLUMNS):
            batch_op.drop_column(name)
