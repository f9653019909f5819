"""Reconciliation of one provider's day: 100,000 transactions (95,000 payments and 5,000
refunds; 0.1 % planted mismatches of each kind) against HQ's tenders. Goal ≤ 10 s, bill
parse + HQ read + compare + alerts, on SQLite and PostgreSQL. ``--quick``: 10,000."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from server_stub.db import Database
from server_stub.paysim.bills import Booked, alipay_bill
from server_stub.reconcile import reconcile
from sync_client.contract.refunds import paycode_refund_no
from tests.benchmarks._stats import Options
from tests.benchmarks.bench_hq_ingest import backends, hq_database
from tests.server.paycode_data import HqPay, HqRefund, write

DAY = date(2026, 12, 8)
START = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # 00:00 in China


def _data(n: int) -> tuple[list[HqPay], list[HqRefund], list[Booked]]:
    pays, refunds, booked = [], [], []
    n_ref = n // 20
    for i in range(n - n_ref):
        at = START + timedelta(seconds=i * 86_000 / n)
        order = f"S001-T01-P{i:07d}"
        amount = 100 + i % 9000
        if i % 1000 != 1:
            pays.append(HqPay(order, amount, at))  # every 1000th+1: provider only
        if i % 1000 != 2:
            booked.append(Booked(order, amount + (1 if i % 1000 == 3 else 0), at, trade_no=f"T{i}"))
    for i in range(n_ref):
        at = START + timedelta(seconds=i * 80_000 / n_ref)
        rid = str(uuid.UUID(int=i + 1))
        order = f"S001-T01-P{i:07d}"
        refunds.append(HqRefund(rid, order, 50, at))
        booked.append(Booked(order, 50, at, paycode_refund_no(rid, order), trade_no=f"T{i}"))
    return pays, refunds, booked


def run(opts: Options) -> Iterator[dict[str, Any]]:
    n = 10_000 if opts.quick else 100_000
    pays, refunds, booked = _data(n)
    bill = alipay_bill("2021000000000001", DAY, booked)
    for backend in backends():
        with hq_database(backend, opts, f"reconcile-{backend}") as url:
            db = Database(url)
            write(db, "alipay", pays, refunds)
            t0 = time.perf_counter()
            report = reconcile(db, "alipay", bill, DAY, datetime.now(UTC))
            elapsed = time.perf_counter() - t0
            db.dispose()
        yield {
            "bench": "hq_reconcile",
            "backend": backend,
            "transactions": len(booked),
            "seconds": round(elapsed, 3),
            "goal_s": 10,
            "matched": len(report.matched),
            "provider_only": len(report.provider_only),
            "hq_only": len(report.hq_only),
            "amount_differs": len(report.amount_differs),
        }
