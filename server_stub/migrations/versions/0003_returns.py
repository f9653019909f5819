"""Returns: what is left of each sale line to return, returns linked line by line to
their original lines, their refunds, HQ's return authorisations, the discrepancies a
manager settles; indexes to find a sale by receipt number or member.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_LINE_COLUMNS = ("returned_milli", "held_milli", "refunded_fen")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("sale_lines", schema=None) as batch_op:
        for name in _LINE_COLUMNS:
            batch_op.add_column(
                sa.Column(name, sa.BigInteger(), nullable=False, server_default=sa.text("0"))
            )
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.create_index("ix_sales_store_receipt", ["store_code", "receipt_no"])
        batch_op.create_index("ix_sales_member_completed", ["member_no", "completed_at"])
    op.create_table(
        "returns",
        sa.Column("return_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("terminal", sa.String(length=32), nullable=False),
        sa.Column("cashier", sa.String(length=32), nullable=False),
        sa.Column("receipt_no", sa.String(length=64), nullable=False),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sale_id", sa.Uuid(), nullable=True),
        sa.Column("auth_id", sa.Uuid(), nullable=True),
        sa.Column("refund_fen", sa.BigInteger(), nullable=False),
        sa.Column("member_no", sa.String(length=20), nullable=True),
        sa.Column("points_reversed", sa.BigInteger(), nullable=False),
        sa.Column("points_shortfall", sa.BigInteger(), nullable=False),
        sa.Column("conflict", sa.Boolean(), nullable=False),
        sa.Column("approvals_json", sa.Text(), nullable=True),
        sa.Column("shift_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("return_id", name=op.f("pk_returns")),
        sa.UniqueConstraint("event_id", name=op.f("uq_returns_event_id")),
    )
    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.create_index("ix_returns_sale_id", ["sale_id"])
        batch_op.create_index("ix_returns_store_returned", ["store_code", "returned_at"])
    op.create_table(
        "return_lines",
        sa.Column("return_id", sa.Uuid(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.Uuid(), nullable=True),
        sa.Column("original_line_no", sa.Integer(), nullable=True),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("qty_milli", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("refund_fen", sa.BigInteger(), nullable=False),
        sa.Column("restock", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.return_id"], name=op.f("fk_return_lines_return_id_returns")
        ),
        sa.PrimaryKeyConstraint("return_id", "line_no", name=op.f("pk_return_lines")),
    )
    with op.batch_alter_table("return_lines", schema=None) as batch_op:
        batch_op.create_index("ix_return_lines_original", ["sale_id", "original_line_no"])
    op.create_table(
        "return_refunds",
        sa.Column("return_id", sa.Uuid(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.return_id"], name=op.f("fk_return_refunds_return_id_returns")
        ),
        sa.PrimaryKeyConstraint("return_id", "idx", name=op.f("pk_return_refunds")),
    )
    op.create_table(
        "return_auths",
        sa.Column("auth_id", sa.Uuid(), nullable=False),
        sa.Column("sale_id", sa.Uuid(), nullable=False),
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("terminal", sa.String(length=32), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("return_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("auth_id", name=op.f("pk_return_auths")),
    )
    with op.batch_alter_table("return_auths", schema=None) as batch_op:
        batch_op.create_index("ix_return_auths_sale_id", ["sale_id"])
        batch_op.create_index("ix_return_auths_status_expires", ["status", "expires_at"])
    op.create_table(
        "return_auth_lines",
        sa.Column("auth_id", sa.Uuid(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("qty_milli", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["auth_id"],
            ["return_auths.auth_id"],
            name=op.f("fk_return_auth_lines_auth_id_return_auths"),
        ),
        sa.PrimaryKeyConstraint("auth_id", "line_no", name=op.f("pk_return_auth_lines")),
    )
    op.create_table(
        "discrepancies",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("sale_id", sa.Uuid(), nullable=True),
        sa.Column("line_no", sa.Integer(), nullable=True),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=32), nullable=True),
        sa.Column("resolution", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discrepancies")),
    )
    with op.batch_alter_table("discrepancies", schema=None) as batch_op:
        batch_op.create_index("ix_discrepancies_store_created", ["store_code", "created_at"])


def downgrade() -> None:
    op.drop_table("discrepancies")
    op.drop_table("return_auth_lines")
    op.drop_table("return_auths")
    op.drop_table("return_refunds")
    op.drop_table("return_lines")
    op.drop_table("returns")
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_member_completed")
        batch_op.drop_index("ix_sales_store_receipt")
    with op.batch_alter_table("sale_lines", schema=None) as batch_op:
        for name in reversed(_LINE_COLUMNS):
            batch_op.drop_column(name)
