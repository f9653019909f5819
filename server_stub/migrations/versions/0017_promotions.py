"""Promotions: versioned definitions, and what each took off each sale line.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "promotion_versions",
        sa.Column("promotion_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name_zh", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("daily_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("definition_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("promotion_id", "version"),
    )
    op.create_table(
        "sale_line_promotions",
        sa.Column("sale_id", sa.Uuid(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("promotion_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("store_code", sa.String(32), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sale_id", "line_no", "promotion_id"),
    )
    op.create_index(
        "ix_sale_line_promotions_promo_store",
        "sale_line_promotions",
        ["promotion_id", "store_code", "completed_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_sale_line_promotions_promo_store", table_name="sale_line_promotions")
    op.drop_table("sale_line_promotions")
    op.drop_table("promotion_versions")
