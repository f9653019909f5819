"""Stock across the chain: stores' coordinates, the ledger's event time,
transfers and their lines, goods received at the till, stock counts, safety stock, wider
stock alerts, and a second store that sees a feed change.

Revision ID: 0007
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stores", schema=None) as batch_op:
        # The region column came with the console (0006).
        batch_op.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Float(), nullable=True))

    with op.batch_alter_table("stock_moves", schema=None) as batch_op:
        batch_op.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE stock_moves SET occurred_at = created_at")
    with op.batch_alter_table("stock_moves", schema=None) as batch_op:
        batch_op.alter_column(
            "occurred_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.create_index(
            "ix_stock_moves_store_sku_occurred", ["store_code", "sku", "occurred_at"]
        )

    with op.batch_alter_table("stock_alerts", schema=None) as batch_op:
        batch_op.alter_column(
            "kind", existing_type=sa.String(length=16), type_=sa.String(length=32)
        )
        batch_op.add_column(sa.Column("min_milli", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("qty_milli", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("detail", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_stock_alerts_open", ["store_code", "sku", "kind", "resolved_at"])

    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.add_column(sa.Column("store2_code", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_feed_store2_code", ["store2_code"])

    op.create_table(
        "safety_stock",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("store_code", sa.String(length=32), nullable=True),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("min_milli", sa.BigInteger(), nullable=False),
        sa.Column("max_milli", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "min_milli >= 0 AND max_milli >= min_milli", name="ck_safety_stock_min_max"
        ),
        sa.ForeignKeyConstraint(["store_code"], ["stores.code"]),
        sa.ForeignKeyConstraint(["sku"], ["items.sku"]),
        sa.PrimaryKeyConstraint("id", name="pk_safety_stock"),
    )
    op.create_index("uq_safety_stock_store_sku", "safety_stock", ["store_code", "sku"], unique=True)
    op.create_index(
        "uq_safety_stock_chain_sku",
        "safety_stock",
        ["sku"],
        unique=True,
        sqlite_where=sa.text("store_code IS NULL"),
        postgresql_where=sa.text("store_code IS NULL"),
    )

    op.create_table(
        "transfers",
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("transfer_no", sa.String(length=64), nullable=False),
        sa.Column("from_store", sa.String(length=32), nullable=False),
        sa.Column("to_store", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shipped_by", sa.String(length=32), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_by", sa.String(length=32), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("refused_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["from_store"], ["stores.code"]),
        sa.ForeignKeyConstraint(["to_store"], ["stores.code"]),
        sa.PrimaryKeyConstraint("transfer_id", name="pk_transfers"),
    )
    op.create_index("ix_transfers_from_store", "transfers", ["from_store"])
    op.create_index("ix_transfers_to_store", "transfers", ["to_store"])
    op.create_table(
        "transfer_lines",
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("requested_milli", sa.BigInteger(), nullable=False),
        sa.Column("approved_milli", sa.BigInteger(), nullable=True),
        sa.Column("shipped_milli", sa.BigInteger(), nullable=True),
        sa.Column("received_milli", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["transfer_id"], ["transfers.transfer_id"]),
        sa.PrimaryKeyConstraint("transfer_id", "sku", name="pk_transfer_lines"),
    )

    op.create_table(
        "stock_receipts",
        sa.Column("receipt_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("terminal", sa.String(length=32), nullable=False),
        sa.Column("staff", sa.String(length=32), nullable=False),
        sa.Column("document", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lines_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("receipt_id", name="pk_stock_receipts"),
        sa.UniqueConstraint("event_id", name="uq_stock_receipts_event_id"),
    )
    op.create_index("ix_stock_receipts_store_code", "stock_receipts", ["store_code"])

    op.create_table(
        "stock_count_sessions",
        sa.Column("count_id", sa.Uuid(), nullable=False),
        sa.Column("count_no", sa.String(length=64), nullable=False),
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("terminal", sa.String(length=32), nullable=False),
        sa.Column("staff", sa.String(length=32), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("count_id", name="pk_stock_count_sessions"),
    )
    op.create_index("ix_stock_count_sessions_store_code", "stock_count_sessions", ["store_code"])
    op.create_table(
        "stock_count_lines",
        sa.Column("count_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("counted_milli", sa.BigInteger(), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expected_milli", sa.BigInteger(), nullable=True),
        sa.Column("difference_milli", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["count_id"], ["stock_count_sessions.count_id"]),
        sa.PrimaryKeyConstraint("count_id", "sku", name="pk_stock_count_lines"),
    )


def downgrade() -> None:
    op.drop_table("stock_count_lines")
    op.drop_index("ix_stock_count_sessions_store_code", table_name="stock_count_sessions")
    op.drop_table("stock_count_sessions")
    op.drop_index("ix_stock_receipts_store_code", table_name="stock_receipts")
    op.drop_table("stock_receipts")
    op.drop_table("transfer_lines")
    op.drop_index("ix_transfers_to_store", table_name="transfers")
    op.drop_index("ix_transfers_from_store", table_name="transfers")
    op.drop_table("transfers")
    op.drop_index("uq_safety_stock_chain_sku", table_name="safety_stock")
    op.drop_index("uq_safety_stock_store_sku", table_name="safety_stock")
    op.drop_table("safety_stock")
    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_store2_code")
        batch_op.drop_column("store2_code")
    with op.batch_alter_table("stock_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_alerts_open")
        batch_op.drop_column("detail")
        batch_op.drop_column("qty_milli")
        batch_op.drop_column("min_milli")
        batch_op.alter_column(
            "kind", existing_type=sa.String(length=32), type_=sa.String(length=16)
        )
    with op.batch_alter_table("stock_moves", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_moves_store_sku_occurred")
        batch_op.drop_column("occurred_at")
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_column("longitude")
        batch_op.drop_column("latitude")
