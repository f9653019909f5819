"""Sync problems: changes a terminal quarantined and settings it refused, as reported.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_problems",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("problem_id", sa.BigInteger(), nullable=False),
        sa.Column("protocol", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_problems")),
        sa.UniqueConstraint("device_id", "problem_id", name="uq_sync_problems_device_problem"),
    )
    with op.batch_alter_table("sync_problems", schema=None) as batch_op:
        batch_op.create_index("ix_sync_problems_received", ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_problems", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_problems_received")
    op.drop_table("sync_problems")
