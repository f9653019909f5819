"""The dashboard's figures against a direct count of the same rows.

The dashboard reads today's sales from the per-store-per-day summary and terminal times
only for the terminals it shows; these tests keep its figures equal to a plain reading of
the tables.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server_stub import models as m
from server_stub import operations, sales_summary
from server_stub.bulk import insert_rows
from server_stub.console import queries as q
from server_stub.db import Database
from tests.server.conftest import BACKENDS
from tests.server.support import fresh_database


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    with fresh_database(str(request.param), tmp_path) as url:
        database = Database(url)
        try:
            yield database
        finally:
            database.dispose()


def _sale(store: str, at: datetime, total_fen: int, *, voided: bool = False) -> dict[str, Any]:
    return {
        "sale_id": uuid.uuid4(),
        "event_id": uuid.uuid4(),
        "store_code": store,
        "terminal": f"{store}-T01",
        "cashier": "1001",
        "receipt_no": uuid.uuid4().hex[:8],
        "started_at": at,
        "completed_at": at,
        "subtotal_fen": total_fen,
        "discount_fen": 0,
        "rounding_fen": 0,
        "total_fen": total_fen,
        "change_fen": 0,
        "received_at": at,
        "voided_at": at if voided else None,
        "void_event_id": uuid.uuid4() if voided else None,
        "void_reason": "test" if voided else None,
        "void_supervisor": "2001" if voided else None,
        "member_no": None,
    }


def test_sales_today_equal_a_direct_sum_of_the_days_unvoided_sales(db: Database) -> None:
    """GIVEN three stores, sales today, yesterday (a second before midnight in the chain's
    time zone) and voided ones WHEN the dashboard reads today's sales THEN each store's
    count and total are those of its unvoided sales since midnight, summed directly, and a
    store without sales shows zeros; a scoped reading shows only its stores."""
    for code in ("S001", "S002", "S003"):
        operations.add_store(db, code, f"门店{code}")
    since = q.day_start(q.today())
    now = datetime.now(UTC)
    rows = [
        _sale("S001", since, 1600),
        _sale("S001", max(since, now - timedelta(minutes=5)), 2350),
        _sale("S001", since + timedelta(seconds=1), 990, voided=True),
        _sale("S001", since - timedelta(seconds=1), 7000),
        _sale("S002", max(since, now - timedelta(minutes=1)), 1200),
        _sale("S002", since - timedelta(days=3), 500),
    ]
    # As the ingest records them: each sale, then each void (tests/server/
    # test_sales_summary.py checks the ingest's summary against the sales it applied).
    delta = sales_summary.SummaryDelta()
    for r in rows:
        delta.sale(r["store_code"], r["completed_at"], r["total_fen"], [])
        if r["voided_at"] is not None:
            delta.void(r["store_code"], r["completed_at"], r["total_fen"], [])
    with db.write() as tx:
        insert_rows(tx.conn, m.sales, rows)
        sales_summary.write(tx.conn, delta)
    expected: dict[str, tuple[int, int]] = {"S001": (0, 0), "S002": (0, 0), "S003": (0, 0)}
    for r in rows:
        if r["completed_at"] >= since and r["voided_at"] is None:
            n, total = expected[r["store_code"]]
            expected[r["store_code"]] = (n + 1, total + r["total_fen"])
    with db.read() as conn:
        shown = q.sales_today(conn, None, q.today())
        scoped = q.sales_today(conn, {"S002"}, q.today())
    assert {s.store: (s.sales, s.total_fen) for s in shown} == expected
    assert expected == {"S001": (2, 3950), "S002": (1, 1200), "S003": (0, 0)}
    assert [s.store for s in shown] == ["S001", "S002", "S003"]  # busiest first
    assert [(s.store, s.sales, s.total_fen) for s in scoped] == [("S002", 1, 1200)]


def test_the_shown_terminals_are_those_the_full_listing_gives(db: Database) -> None:
    """GIVEN terminals of two stores, one revoked WHEN the dashboard lists them by key and
    reads the full rows of those it shows THEN they are the unrevoked terminals the full
    listing gives, with the same times."""
    operations.add_store(db, "S001", "一店")
    operations.add_store(db, "S002", "二店")
    now = datetime.now(UTC).replace(microsecond=0)
    with db.write() as tx:
        insert_rows(
            tx.conn,
            m.devices,
            [
                {
                    "id": f"{store}-T{n:02d}",
                    "store_code": store,
                    "name": "收银台",
                    "token_hash": uuid.uuid4().hex + uuid.uuid4().hex[:32],
                    "receipt_secret": "x" * 44,
                    "created_at": now - timedelta(days=n),
                    "revoked_at": now if (store, n) == ("S002", 2) else None,
                    "last_seen_at": now - timedelta(minutes=n),
                }
                for store in ("S001", "S002")
                for n in (1, 2)
            ],
        )
    with db.read() as conn:
        full = q.terminals(conn, None)
        keys = q.terminal_keys(conn, None)
        by_id = q.terminals_by_id(conn, [k.device_id for k in keys])
        scoped = q.terminal_keys(conn, {"S002"})
    assert [(k.device_id, k.store) for k in keys] == [(t.device_id, t.store) for t in full]
    assert [by_id[k.device_id] for k in keys] == full
    assert [k.device_id for k in keys] == ["S001-T01", "S001-T02", "S002-T01"]
    assert [k.device_id for k in scoped] == ["S002-T01"]
