"""Reconciliation runs kept at HQ (a day's result seen again without the bill), and room
in ``discrepancies.resolved_by`` for a console user (``console:<username>``).

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("provider_only", sa.Integer(), nullable=False),
        sa.Column("hq_only", sa.Integer(), nullable=False),
        sa.Column("amount_differs", sa.Integer(), nullable=False),
        sa.Column("alerts_raised", sa.Integer(), nullable=False),
        sa.Column("lines_json", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_reconciliation_runs_day", "reconciliation_runs", ["day", "provider", "run_at"]
    )
    with op.batch_alter_table("discrepancies") as batch:
        batch.alter_column(
            "resolved_by", existing_type=sa.String(32), type_=sa.String(80), existing_nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("discrepancies") as batch:
        batch.alter_column(
            "resolved_by", existing_type=sa.String(80), type_=sa.String(32), existing_nullable=True
        )
    op.drop_index("ix_reconciliation_runs_day", table_name="reconciliation_runs")
    op.drop_table("reconciliation_runs")
