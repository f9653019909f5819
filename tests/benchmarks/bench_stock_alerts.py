"""A sale that takes a store below its minimum -> the low alert visible at HQ.

One HQ process (``chainpos-hq serve``), SQLite and PostgreSQL. Each sample is one item
stocked exactly at its minimum; a terminal pushes a sale of one piece of it and an HQ
tool polls ``GET /v1/admin/stock/alerts`` until that item's low alert is listed. The
figure is the time from the start of the push to the first answer listing the alert
(p50/p95/p99), next to the push's own round trip. Target: p99 <= 1 s.

Run: ``python -m tests.benchmarks --only stock_alerts`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

from server_stub import operations, stock_alerts
from server_stub.db import Database
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks.bench_hq_ingest import backends, hq_database
from tests.server.support import Chain, start_hq_process

MIN_MILLI = 10_000


def run(opts: Options) -> Iterator[dict[str, Any]]:
    samples = 40 if opts.quick else 300
    for backend in backends():
        with hq_database(backend, opts, f"hq-stock-alerts-{backend}") as url:
            db = Database(url)
            hq = start_hq_process(url)
            try:
                chain = Chain(db, hq.url)
                store = chain.store()
                skus = [chain.item() for _ in range(samples)]
                for sku in skus:
                    operations.move_stock(db, "receive", store, sku, MIN_MILLI, "opening")
                    stock_alerts.set_safety(db, sku, store, MIN_MILLI, 5 * MIN_MILLI)
                dev = chain.device(store)
                admin = {"Authorization": f"Bearer {chain.admin_token()}"}
                to_alert: list[float] = []
                push_rtt: list[float] = []
                polls = 0
                with httpx.Client(base_url=hq.url, timeout=30) as c:
                    for sku in skus:
                        sale = chain.sale(dev, [(sku, 1000)])
                        t0 = time.perf_counter()
                        r = c.post("/v1/sync/push", json={"events": [sale]}, headers=dev.headers)
                        push_rtt.append(time.perf_counter() - t0)
                        assert r.json()["applied"] == 1, r.text
                        while True:
                            polls += 1
                            found = c.get(
                                "/v1/admin/stock/alerts",
                                params={"store": store, "kind": "low", "limit": 5},
                                headers=admin,
                            ).json()
                            if any(a["sku"] == sku for a in found):
                                break
                        to_alert.append(time.perf_counter() - t0)
            finally:
                hq.stop()
                db.dispose()
            yield {
                "name": "stock_alert_after_sale",
                "backend": backend,
                "n": samples,
                "sale_to_alert_at_hq": percentiles_ms(to_alert),
                "push_round_trip": percentiles_ms(push_rtt),
                "polls_per_sample": round(polls / samples, 2),
                "target_p99_ms": 1000,
            }
