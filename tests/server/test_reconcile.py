"""Reconciliation (对账): each provider's bill against the payment-code tenders at HQ."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from server_stub import models as m
from server_stub.db import Database
from server_stub.paysim.bills import Booked, alipay_bill, unionpay_bill, wechat_bill
from server_stub.reconcile import latest_run, reconcile, runs
from sync_client.contract.refunds import paycode_refund_no
from tests.server.paycode_data import HqPay, HqRefund, write
from tests.server.support import fresh_database

DAY = date(2026, 12, 8)
NOON = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)  # 12:00 in China
KINDS = {"wechat": "wechat_pay", "alipay": "alipay", "unionpay": "unionpay"}


def _bill(provider: str, rows: list[Booked]) -> str:
    if provider == "wechat":
        return wechat_bill("1900000109", "wx8888888888888888", rows)
    if provider == "alipay":
        return alipay_bill("2021000000000001", DAY, rows)
    return unionpay_bill("777290058110048", rows)


@pytest.fixture
def db(backend: str, tmp_path: Path) -> Iterator[Database]:
    with fresh_database(backend, tmp_path) as url:
        database = Database(url)
        yield database
        database.dispose()


@pytest.mark.parametrize("provider", ["wechat", "alipay", "unionpay"])
def test_a_planted_mismatch_of_each_kind_is_found_and_alerted_once(
    db: Database, provider: str
) -> None:
    """GIVEN HQ holds three payments and one refund of the day, and the provider's bill has
    two of the payments (one for another amount), the refund, and a payment no till sent
    WHEN the day is reconciled (twice)
    THEN the report says 2 matched (a payment and the refund), 1 at the provider only,
    1 at HQ only, 1 amount differs; three alerts are raised, and only the first time."""
    kind = KINDS[provider]
    ret = str(uuid.uuid4())
    write(
        db,
        kind,
        [
            HqPay("S001-T01-P000001", 1500, NOON),
            HqPay("S001-T01-P000002", 2800, NOON),
            HqPay("S001-T01-P000003", 990, NOON),  # the provider never booked it
        ],
        [HqRefund(ret, "S001-T01-P000001", 500, NOON)],
    )
    bill = _bill(
        provider,
        [
            Booked("S001-T01-P000001", 1500, NOON, trade_no="T1"),
            Booked("S001-T01-P000002", 2900, NOON, trade_no="T2"),  # amount differs
            Booked("S001-T01-P000009", 1200, NOON, trade_no="T9"),  # no till reported it
            Booked("S001-T01-P000001", 500, NOON, paycode_refund_no(ret, "S001-T01-P000001")),
        ],
    )
    report = reconcile(db, provider, bill, DAY, NOON + timedelta(days=1))

    assert sorted(e.key for e in report.matched) == sorted(
        ["S001-T01-P000001", paycode_refund_no(ret, "S001-T01-P000001")]
    )
    assert [e.key for e in report.provider_only] == ["S001-T01-P000009"]
    assert [(e.key, e.store) for e in report.hq_only] == [("S001-T01-P000003", "S001")]
    assert [(p.amount_fen, h.amount_fen) for p, h in report.amount_differs] == [(2900, 2800)]
    assert report.alerts_raised == 3
    with db.read() as conn:
        alerts = conn.execute(
            select(m.discrepancies.c.kind, m.discrepancies.c.ref).order_by(m.discrepancies.c.kind)
        ).all()
    assert [tuple(a) for a in alerts] == [
        ("payment_amount_differs", "S001-T01-P000002"),
        ("payment_hq_only", "S001-T01-P000003"),
        ("payment_provider_only", "S001-T01-P000009"),
    ]
    again = reconcile(db, provider, bill, DAY, NOON + timedelta(days=1), actor="console:alice")
    assert again.alerts_raised == 0 and not again.clean
    with db.read() as conn:
        kept = latest_run(conn, provider, DAY)
        assert len(runs(conn)) == 2
    assert kept is not None and kept.actor == "console:alice"
    assert (kept.matched, kept.provider_only, kept.hq_only, kept.amount_differs) == (2, 1, 1, 1)
    assert [(ln.bucket, ln.key, ln.store, ln.provider_fen, ln.hq_fen) for ln in kept.lines] == [
        ("provider_only", "S001-T01-P000009", None, 1200, None),
        ("hq_only", "S001-T01-P000003", "S001", None, 990),
        ("amount_differs", "S001-T01-P000002", "S001", 2900, 2800),
    ]


def test_a_day_that_matches_raises_nothing_and_other_days_are_not_counted(db: Database) -> None:
    write(db, "alipay", [HqPay("A-1", 100, NOON), HqPay("A-2", 100, NOON + timedelta(days=1))], [])
    report = reconcile(db, "alipay", _bill("alipay", [Booked("A-1", 100, NOON)]), DAY, NOON)
    assert report.clean and [e.key for e in report.matched] == ["A-1"]
    assert report.alerts_raised == 0


def test_the_cli_prints_the_report_and_exits_3_on_a_mismatch(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        db = Database(url)
        write(db, "wechat_pay", [HqPay("W-1", 100, NOON)], [])
        db.dispose()
        statement = tmp_path / "bill.csv"
        statement.write_text(_bill("wechat", []), encoding="utf-8")

        def cli(*extra: str, day: date = DAY) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "server_stub.cli",
                    "--db",
                    url,
                    "reconcile",
                    "--provider",
                    "wechat",
                    "--date",
                    day.isoformat(),
                    *extra,
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )

        done = cli("--statement", str(statement))
        kept = cli()  # the day's kept run, without the bill
        none = cli(day=DAY - timedelta(days=1))
    assert done.returncode == 3, done.stderr
    assert "1 at HQ only" in done.stdout and "W-1" in done.stdout
    assert kept.returncode == 3, kept.stderr
    assert "1 at HQ only" in kept.stdout and "hq_only\tpayment\tW-1" in kept.stdout
    assert none.returncode == 1 and "no wechat reconciliation kept" in none.stderr
