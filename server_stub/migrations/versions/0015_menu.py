"""The menu: versioned tile layouts with option groups, sold-out reports, sale lines'
chosen options.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "menu_versions",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("store_code", sa.String(32), sa.ForeignKey("stores.code"), nullable=True),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body_json", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_menu_versions_store_effective", "menu_versions", ["store_code", "effective_at"]
    )
    op.create_table(
        "menu_sold_out",
        sa.Column("event_id", sa.Uuid(), primary_key=True),
        sa.Column("store_code", sa.String(32), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("sold_out", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("staff", sa.String(32), nullable=False),
        sa.Column("terminal", sa.String(32), nullable=False),
    )
    op.create_index(
        "ix_menu_sold_out_store_date", "menu_sold_out", ["store_code", "business_date", "sku"]
    )
    with op.batch_alter_table("sale_lines") as batch:
        batch.add_column(sa.Column("options_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("menu_version", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sale_lines") as batch:
        batch.drop_column("menu_version")
        batch.drop_column("options_json")
    op.drop_index("ix_menu_sold_out_store_date", table_name="menu_sold_out")
    op.drop_table("menu_sold_out")
    op.drop_index("ix_menu_versions_store_effective", table_name="menu_versions")
    op.drop_table("menu_versions")
