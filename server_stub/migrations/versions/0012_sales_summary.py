"""Sales per store and day (``store_day_sales``, ``store_day_tenders``), backfilled from the
sales, tenders, returns and refunds already held.

The day is the chain's (Asia/Shanghai, UTC+8 without daylight saving since 1991, as the
payment providers cut their bills): computed here in SQL with that fixed offset, by the
ingest with ``server_stub.sales_summary.local_day`` from now on.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _day(conn: Any, column: str) -> str:
    if conn.dialect.name == "postgresql":
        return f"CAST(({column} AT TIME ZONE 'Asia/Shanghai') AS DATE)"
    # Naive UTC text; whole seconds only (SQLite rounds a fraction to milliseconds, which
    # would carry 23:59:59.9995 into the next day).
    return f"date(substr({column}, 1, 19), '+8 hours')"


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def upgrade() -> None:
    op.create_table(
        "store_day_sales",
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sales_count", sa.BigInteger(), nullable=False),
        sa.Column("sales_fen", sa.BigInteger(), nullable=False),
        sa.Column("voids_count", sa.BigInteger(), nullable=False),
        sa.Column("returns_count", sa.BigInteger(), nullable=False),
        sa.Column("refunds_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("store_code", "day"),
    )
    with op.batch_alter_table("store_day_sales", schema=None) as batch_op:
        batch_op.create_index("ix_store_day_sales_day", ["day"], unique=False)
    op.create_table(
        "store_day_tenders",
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sales_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunds_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("store_code", "day", "kind"),
    )
    _backfill(op.get_bind())


def _backfill(conn: Any) -> None:
    sold, returned = _day(conn, "s.completed_at"), _day(conn, "r.returned_at")
    days: dict[tuple[str, date], list[int]] = {}

    def slot(store: str, day: Any) -> list[int]:
        return days.setdefault((store, _as_date(day)), [0, 0, 0, 0, 0])

    for store, day, n, total, voids in conn.execute(
        sa.text(
            f"SELECT s.store_code, {sold}, "
            "SUM(CASE WHEN s.voided_at IS NULL THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN s.voided_at IS NULL THEN s.total_fen ELSE 0 END), "
            "SUM(CASE WHEN s.voided_at IS NULL THEN 0 ELSE 1 END) "
            f"FROM sales s GROUP BY s.store_code, {sold}"
        )
    ):
        row = slot(store, day)
        row[0], row[1], row[2] = int(n), int(total), int(voids)
    for store, day, n, refunded in conn.execute(
        sa.text(
            f"SELECT r.store_code, {returned}, COUNT(*), SUM(r.refund_fen) "
            f"FROM returns r GROUP BY r.store_code, {returned}"
        )
    ):
        row = slot(store, day)
        row[3], row[4] = int(n), int(refunded)
    tenders: dict[tuple[str, date, str], list[int]] = {}
    for store, day, kind, amount in conn.execute(
        sa.text(
            f"SELECT s.store_code, {sold}, t.kind, SUM(t.amount_fen) "
            "FROM sale_tenders t JOIN sales s ON s.sale_id = t.sale_id "
            f"WHERE s.voided_at IS NULL GROUP BY s.store_code, {sold}, t.kind"
        )
    ):
        tenders.setdefault((store, _as_date(day), kind), [0, 0])[0] = int(amount)
    for store, day, kind, amount in conn.execute(
        sa.text(
            f"SELECT r.store_code, {returned}, f.kind, SUM(f.amount_fen) "
            "FROM return_refunds f JOIN returns r ON r.return_id = f.return_id "
            f"GROUP BY r.store_code, {returned}, f.kind"
        )
    ):
        tenders.setdefault((store, _as_date(day), kind), [0, 0])[1] = int(amount)
    day_table = sa.table(
        "store_day_sales",
        sa.column("store_code", sa.String),
        sa.column("day", sa.Date),
        sa.column("sales_count", sa.BigInteger),
        sa.column("sales_fen", sa.BigInteger),
        sa.column("voids_count", sa.BigInteger),
        sa.column("returns_count", sa.BigInteger),
        sa.column("refunds_fen", sa.BigInteger),
    )
    tender_table = sa.table(
        "store_day_tenders",
        sa.column("store_code", sa.String),
        sa.column("day", sa.Date),
        sa.column("kind", sa.String),
        sa.column("sales_fen", sa.BigInteger),
        sa.column("refunds_fen", sa.BigInteger),
    )
    rows = [
        {
            "store_code": store,
            "day": day,
            "sales_count": v[0],
            "sales_fen": v[1],
            "voids_count": v[2],
            "returns_count": v[3],
            "refunds_fen": v[4],
        }
        for (store, day), v in sorted(days.items())
    ]
    for i in range(0, len(rows), 5000):
        conn.execute(sa.insert(day_table), rows[i : i + 5000])
    tender_rows = [
        {"store_code": s, "day": d, "kind": k, "sales_fen": v[0], "refunds_fen": v[1]}
        for (s, d, k), v in sorted(tenders.items())
    ]
    for i in range(0, len(tender_rows), 5000):
        conn.execute(sa.insert(tender_table), tender_rows[i : i + 5000])


def downgrade() -> None:
    op.drop_table("store_day_tenders")
    with op.batch_alter_table("store_day_sales", schema=None) as batch_op:
        batch_op.drop_index("ix_store_day_sales_day")
    op.drop_table("store_day_sales")
