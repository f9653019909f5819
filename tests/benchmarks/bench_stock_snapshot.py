"""Every store's levels reaching a new till: 1,000 stores x 1,000 items.

HQ (``chainpos-hq serve`` in its own process, SQLite, and PostgreSQL when a server
answers) holds a level of every item at every store; a till of one store enrols with a
one-time code as a store would, then its sync client (``stock="all"``, as the app runs
it) fetches every store's levels in pages of ``MAX_STOCK_PAGE`` after the snapshot.

* ``stock_snapshot_new_till``: ``enrol_s`` is enrolment and the snapshot (its own store's
  levels, 1,000 items, 1,000 stores) applied; ``pages_s`` from the sync client's start
  until the till holds every level (its fetch done, polled every 20 ms); ``total_s``
  both; ``levels_per_s`` over ``pages_s``. The till's database is a fresh file (WAL,
  each page one transaction). ``till_cpu_s``: this process's CPU time during the pages
  (the till's sync loop and database thread, and the polling).
* ``stock_snapshot_hq_page``: HQ's answer time for one page of 5,000 levels over HTTP
  (fetch and JSON decode only), 40 pages spread over the whole chain: the keyset on
  (store, sku) makes a deep page cost what the first does.

``--quick``: 100 stores. Levels are written straight into HQ's ``stock_levels`` (no
ledger rows: the pages read levels only). Each result notes the 1-minute load average.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from pos_app.headless import HeadlessTerminal
from pos_app.localdb.replica import LocalReplica
from pos_app.services.enrollment import EnrollTicket
from server_stub import bulk, operations
from server_stub import models as m
from server_stub.db import Database
from server_stub.schemas import ItemIn
from sync_client import SyncConfig
from sync_client.contract import protocol as p
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks.bench_hq_ingest import backends, hq_database
from tests.server.support import Chain, start_hq_process

ITEMS = 1_000
HOME = "S0001"


def _seed(db: Database, stores: int) -> None:
    for i in range(1, stores + 1):
        operations.add_store(
            db,
            f"S{i:04d}",
            f"门店{i}",
            region=f"R{i % 20}",
            latitude=30.0,
            longitude=120.0 + i / 1000,
        )
    operations.import_catalog(
        db,
        [
            ItemIn(sku=f"I{i:06d}", name_zh=f"商品{i}号", unit="piece", price_fen=500 + i)
            for i in range(ITEMS)
        ],
    )
    now = datetime.now(UTC)
    for first in range(1, stores + 1, 50):
        rows = [
            {
                "store_code": f"S{s:04d}",
                "sku": f"I{i:06d}",
                "on_hand_milli": (s * 7 + i * 13) % 500 * 1000,
                "reserved_milli": 0,
                "updated_at": now,
            }
            for s in range(first, min(first + 50, stores + 1))
            for i in range(ITEMS)
        ]
        with db.write() as tx:
            bulk.insert_rows(tx.conn, m.stock_levels, rows)


def _hq_pages(url: str, token: str, stores: int) -> list[float]:
    per_page = p.MAX_STOCK_PAGE // ITEMS  # stores a page holds
    starts = sorted({1 + k * (stores - per_page) // 39 for k in range(40)})
    took = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for s in starts:
            after = "" if s == 1 else f"S{s - 1:04d}:I{ITEMS - 1:06d}"
            t0 = time.perf_counter()
            r = client.get(
                p.STOCK_PAGES_PATH,
                params={"after": after},
                headers={"Authorization": f"Bearer {token}"},
            )
            r.raise_for_status()
            page = p.StockPage.model_validate_json(r.content)
            took.append(time.perf_counter() - t0)
            assert page.levels[0].store == f"S{s:04d}"
    return took


def _new_till(url: str, db: Database, stores: int, scratch: Path) -> dict[str, Any]:
    code = operations.create_enroll_code(db, HOME).code
    load = round(os.getloadavg()[0], 2)
    t0 = time.perf_counter()
    till = HeadlessTerminal.enroll(
        scratch / "till",
        EnrollTicket(url, HOME, code),
        "bench",
        sync_config=SyncConfig(stock="all"),
    )
    try:
        enrolled = time.perf_counter()
        replica = LocalReplica(till.terminal.engine, HOME)
        assert replica.stock_pages_after() == ""
        cpu0 = time.process_time()
        till.start()
        while replica.stock_pages_after() is not None:
            time.sleep(0.02)
        done = time.perf_counter()
        cpu = time.process_time() - cpu0
        stock = till.terminal.stock
        assert stock is not None
        view = stock.lookup(f"I{ITEMS - 1:06d}")
        assert len(view.levels) == stores, len(view.levels)
    finally:
        till.close()
    levels = stores * ITEMS
    return {
        "enrol_s": round(enrolled - t0, 2),
        "pages_s": round(done - enrolled, 2),
        "total_s": round(done - t0, 2),
        "levels": levels,
        "pages": -(-levels // p.MAX_STOCK_PAGE),
        "levels_per_s": round(levels / (done - enrolled)),
        "till_cpu_s": round(cpu, 2),
        "till_db_mb": round((scratch / "till" / "terminal.db").stat().st_size / 2**20, 1),
        "load_avg_1m": load,
    }


def run(opts: Options) -> Iterator[dict[str, Any]]:
    stores = 100 if opts.quick else 1_000
    for backend in backends():
        with hq_database(backend, opts, f"stock-snapshot-{backend}") as url:
            db = Database(url)
            t0 = time.perf_counter()
            _seed(db, stores)
            seed_s = time.perf_counter() - t0
            hq = start_hq_process(url)
            try:
                figures = _new_till(hq.url, db, stores, opts.scratch(f"stock-till-{backend}"))
                yield {
                    "name": "stock_snapshot_new_till",
                    "backend": backend,
                    "stores": stores,
                    "items": ITEMS,
                    **figures,
                    "seed_s": round(seed_s, 1),
                }
                dev = Chain(db, hq.url).device(HOME)
                load = round(os.getloadavg()[0], 2)
                took = _hq_pages(hq.url, dev.token, stores)
                yield {
                    "name": "stock_snapshot_hq_page",
                    "backend": backend,
                    "n": len(took),
                    "levels_per_page": p.MAX_STOCK_PAGE,
                    **percentiles_ms(took),
                    "load_avg_1m": load,
                }
            finally:
                hq.stop()
                db.dispose()
