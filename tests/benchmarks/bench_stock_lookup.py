"""Stock across the chain at the till, from local data.

* ``till_stock_lookup``: ``StockService.lookup(sku)`` on a till holding the levels of
  1,000 stores (with coordinates) for 200 items: this store first, the others nearest
  first, in-transit and freshness. Goal p99 ≤ 20 ms. ``cpu_*``: the look-up thread's CPU
  time alone (``time.thread_time``), less stretched by a loaded machine than wall time.
* ``till_stock_apply``: ``LocalReplica.apply_changes`` of one page of 1,000 stock
  changes of many stores (every store's level is kept since the stock screens), and of
  one live change (the usual message).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from pos_app.app import build_terminal
from pos_app.localdb.replica import LocalReplica
from sync_client.contract import protocol as p
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks._terminal_fixtures import demo_catalog_db, fresh_copy

STORES = 1_000


def run(opts: Options) -> Iterator[dict[str, Any]]:
    n_items = 50 if opts.quick else 200
    samples = 200 if opts.quick else 1000
    scratch = opts.scratch("till-stock")
    source, _ = demo_catalog_db(scratch, 2_000, realistic_pins=False)
    path = fresh_copy(source, scratch / "stock.db")
    terminal = build_terminal(path, start_devices=False)
    try:
        assert terminal.stock is not None
        replica = LocalReplica(terminal.engine, terminal.identity.store_code)
        rng = random.Random(9)
        now = datetime.now(UTC)
        with terminal.engine.connect() as conn:
            rows = conn.execute(text("SELECT sku FROM item LIMIT :n"), {"n": n_items})
            skus = [str(r[0]) for r in rows]
        seq = replica.cursor()
        stores = [
            p.StoreData(
                code=f"S{i:04d}",
                name=f"门店{i}",
                region=f"R{i % 20}",
                latitude=20 + rng.random() * 20,
                longitude=100 + rng.random() * 20,
            )
            for i in range(1, STORES + 1)
        ]
        changes: list[Any] = []
        for st in stores:
            seq += 1
            changes.append(p.StoreChange(seq=seq, key=st.code, store=None, created_at=now, data=st))
        replica.apply_changes(changes, seq)
        pages: list[float] = []
        started = time.perf_counter()
        for sku in skus:
            page = []
            for st in stores:
                seq += 1
                q = rng.randrange(0, 500_000)
                page.append(
                    p.StockChange(
                        seq=seq,
                        key=f"{st.code}:{sku}",
                        store=st.code,
                        created_at=now,
                        data=p.StockData(
                            store=st.code, sku=sku, on_hand_milli=q, reserved_milli=0,
                            available_milli=q, updated_at=now,
                        ),
                    )
                )  # fmt: skip
            t0 = time.perf_counter()
            replica.apply_changes(page, seq)
            pages.append(time.perf_counter() - t0)
        seed_s = time.perf_counter() - started
        singles = []
        for i in range(samples):
            seq += 1
            st, sku = stores[i % STORES], skus[i % len(skus)]
            one = p.StockChange(
                seq=seq, key=f"{st.code}:{sku}", store=st.code, created_at=now,
                data=p.StockData(store=st.code, sku=sku, on_hand_milli=i, reserved_milli=0,
                                 available_milli=i, updated_at=now),
            )  # fmt: skip
            t0 = time.perf_counter()
            replica.apply_changes([one], seq)
            singles.append(time.perf_counter() - t0)
        yield {
            "name": "till_stock_apply_page",
            "n": len(pages),
            **percentiles_ms(pages),
            "changes_per_page": STORES,
            "seed_s": round(seed_s, 1),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
        yield {
            "name": "till_stock_apply_live",
            "n": len(singles),
            **percentiles_ms(singles),
            "rows": STORES * len(skus),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
        lookups: list[float] = []
        cpu: list[float] = []
        for _ in range(samples):
            sku = skus[rng.randrange(len(skus))]
            t0, c0 = time.perf_counter(), time.thread_time()
            view = terminal.stock.lookup(sku)
            lookups.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
            assert len(view.levels) >= STORES
        yield {
            "name": "till_stock_lookup",
            "n": len(lookups),
            **percentiles_ms(lookups),
            **{f"cpu_{k}": v for k, v in percentiles_ms(cpu).items()},
            "stores": STORES,
            "items": len(skus),
            "goal_p99_ms": 20,
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        terminal.close()
