"""HQ returns: a receipt QR looked up among 1,000,000 sales, and return authorisations
per second on one contended line and spread over many lines (SQLite and PostgreSQL).

* ``hq_return_lookup``: ``POST /v1/returns/lookup`` by signed receipt reference against
  ``chainpos-hq serve`` on loopback, one request at a time, HQ holding N sales (seeded
  with bulk inserts: sales, two lines and one tender each). Goal p99 ≤ 150 ms at 1M.
* ``hq_return_auth``: terminals of several stores (threads, each its own connection)
  asking ``POST /v1/returns/authorisations`` as fast as they can, every request for one
  piece: ``contended`` all of the same line (enough pieces that none is refused),
  ``spread`` each of a different sale. Rate and latency; the held quantities are checked
  afterwards.

``--quick`` seeds 100,000 sales instead of 1,000,000.
"""

from __future__ import annotations

import base64
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from server_stub import bulk
from server_stub import models as m
from server_stub.db import Database
from sync_client.contract.salerefs import SaleRef
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks.bench_hq_ingest import backends, hq_database
from tests.server.support import Chain, Device, start_hq_process

SEED_CHUNK = 20_000
TERMINALS = 4


def seed(db: Database, device: Device, sku: str, n: int, qty_milli: int = 1000) -> float:
    """Inserts ``n`` sales of ``device`` (ids ``uuid(int=i+1)``) in bulk; the seconds."""
    now = datetime.now(UTC)
    start = time.perf_counter()
    for first in range(0, n, SEED_CHUNK):
        sales, lines, tenders = [], [], []
        for i in range(first, min(first + SEED_CHUNK, n)):
            sale_id = uuid.UUID(int=i + 1)
            sales.append(
                {
                    "sale_id": sale_id,
                    "event_id": uuid.uuid4(),
                    "store_code": device.store,
                    "terminal": device.device_id,
                    "cashier": "1001",
                    "receipt_no": f"B{i:08d}",
                    "started_at": now,
                    "completed_at": now,
                    "subtotal_fen": 3200,
                    "discount_fen": 0,
                    "rounding_fen": 0,
                    "total_fen": 3200,
                    "change_fen": 0,
                    "received_at": now,
                    "voided_at": None,
                    "void_event_id": None,
                    "void_reason": None,
                    "void_supervisor": None,
                    "member_no": None,
                }
            )
            for line_no in (1, 2):
                lines.append(
                    {
                        "sale_id": sale_id,
                        "line_no": line_no,
                        "sku": sku,
                        "barcode": None,
                        "name": "杨枝甘露",
                        "unit": "piece",
                        "qty_milli": qty_milli,
                        "unit_price_fen": 1600,
                        "price_version": 1,
                        "list_amount_fen": 1600 * qty_milli // 1000,
                        "discount_fen": 0,
                        "amount_fen": 1600 * qty_milli // 1000,
                        "returned_milli": 0,
                        "held_milli": 0,
                        "refunded_fen": 0,
                    }
                )
            tenders.append(
                {
                    "sale_id": sale_id,
                    "idx": 0,
                    "kind": "cash",
                    "amount_fen": 3200,
                    "tendered_fen": 3200,
                    "reference": None,
                }
            )
        with db.write() as tx:
            bulk.insert_rows(tx.conn, m.sales, sales)
            bulk.insert_rows(tx.conn, m.sale_lines, lines)
            bulk.insert_rows(tx.conn, m.sale_tenders, tenders)
    return time.perf_counter() - start


def _lookups(url: str, device: Device, refs: list[str]) -> list[float]:
    times = []
    with httpx.Client(
        base_url=url, timeout=30, headers={"Authorization": f"Bearer {device.token}"}
    ) as c:
        for ref in refs:
            start = time.perf_counter()
            r = c.post("/v1/returns/lookup", json={"ref": ref})
            times.append(time.perf_counter() - start)
            assert r.status_code == 200, r.text
    return times


def _authorise(
    url: str, device: Device, targets: list[tuple[uuid.UUID, int]], out: list[float], lock: Any
) -> None:
    mine = []
    with httpx.Client(
        base_url=url, timeout=60, headers={"Authorization": f"Bearer {device.token}"}
    ) as c:
        for sale_id, line_no in targets:
            body = {
                "auth_id": str(uuid.uuid4()),
                "sale_id": str(sale_id),
                "lines": [{"line_no": line_no, "qty_milli": 1000}],
            }
            start = time.perf_counter()
            r = c.post("/v1/returns/authorisations", json=body)
            mine.append(time.perf_counter() - start)
            assert r.status_code == 201, r.text
    with lock:
        out.extend(mine)


def _held(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.sum(m.sale_lines.c.held_milli))).scalar() or 0)


def run(opts: Options) -> Iterator[dict[str, Any]]:
    n_sales = 100_000 if opts.quick else 1_000_000
    samples = 500 if opts.quick else 2000
    per_terminal = 50 if opts.quick else 250
    for backend in backends():
        with hq_database(backend, opts, f"hq-returns-{backend}") as url:
            db = Database(url)
            hq = start_hq_process(url)
            try:
                chain = Chain(db, hq.url)
                store = chain.store()
                till = chain.device(store)
                sku = chain.item()
                seconds = seed(db, till, sku, n_sales)
                secret = base64.b64decode(till.receipt_secret)
                rng = random.Random(3)
                refs = [
                    SaleRef(uuid.UUID(int=rng.randrange(n_sales) + 1), store, till.device_id).sign(
                        secret
                    )
                    for _ in range(samples)
                ]
                times = _lookups(hq.url, till, refs)
                yield {
                    "name": "hq_return_lookup",
                    "backend": backend,
                    "n": len(times),
                    **percentiles_ms(times),
                    "sales": n_sales,
                    "seed_s": round(seconds, 1),
                    "goal_p99_ms": 150,
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                }
                devices = [chain.device(chain.store()) for _ in range(TERMINALS)]
                total = TERMINALS * per_terminal
                # The last seeded sale's line 1 gets a piece for every request.
                with db.write() as tx:
                    tx.conn.execute(
                        m.sale_lines.update()
                        .where(m.sale_lines.c.sale_id == uuid.UUID(int=n_sales))
                        .values(qty_milli=1000 * total)
                    )
                plans = {
                    "contended": [
                        [(uuid.UUID(int=n_sales), 1)] * per_terminal for _ in range(TERMINALS)
                    ],
                    "spread": [
                        [
                            (uuid.UUID(int=1 + (t * per_terminal + k) % (n_sales - 1)), 2)
                            for k in range(per_terminal)
                        ]
                        for t in range(TERMINALS)
                    ],
                }
                for mode, targets in plans.items():
                    before = _held(db)
                    out: list[float] = []
                    lock = threading.Lock()
                    threads = [
                        threading.Thread(
                            target=_authorise, args=(hq.url, devices[t], targets[t], out, lock)
                        )
                        for t in range(TERMINALS)
                    ]
                    start = time.perf_counter()
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    elapsed = time.perf_counter() - start
                    assert len(out) == total
                    assert _held(db) - before == 1000 * total
                    yield {
                        "name": "hq_return_auth",
                        "backend": backend,
                        "mode": mode,
                        "n": total,
                        "rate_per_s": round(total / elapsed, 1),
                        "terminals": TERMINALS,
                        **percentiles_ms(out),
                        "sales": n_sales,
                        "load_avg_1m": round(os.getloadavg()[0], 2),
                    }
            finally:
                hq.stop()
                db.dispose()
