"""Online channels' stock reservations at HQ: reservations per second with p50/p99.

* ``hq_reservations`` ``spread``: channels (threads, each its own connection) reserving
  one unit per order of items that never run short, as fast as they can, against one
  ``chainpos-hq serve`` on SQLite, and two processes on one PostgreSQL database when a
  server answers (requests alternate between the processes).
* ``contended``: 64 requests at once, from as many connections, for one item holding
  fewer units than asked (the race for the last units); its rate and latency, and how
  many won.

Afterwards the reserved quantities are checked against the orders that won.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from server_stub import reservations
from server_stub.audit import SYSTEM
from server_stub.db import Database
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks.bench_hq_ingest import backends, hq_database
from tests.server.reservation_helpers import level, stock_in
from tests.server.support import Chain, start_hq_process

CHANNELS = 8
CONTENDERS = 64
LAST_UNITS = 10


def _reserve_all(
    url: str, token: str, bodies: list[dict[str, Any]], out: list[tuple[float, int]], lock: Any
) -> None:
    mine = []
    with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as c:
        for body in bodies:
            start = time.perf_counter()
            r = c.post("/v1/channel/reservations", json=body)
            mine.append((time.perf_counter() - start, r.status_code))
            assert r.status_code in (201, 409), r.text
    with lock:
        out.extend(mine)


def _race(urls: list[str], jobs: list[tuple[str, list[dict[str, Any]]]]) -> tuple[float, list]:
    out: list[tuple[float, int]] = []
    lock = threading.Lock()
    go = threading.Barrier(len(jobs))

    def worker(i: int) -> None:
        go.wait()
        _reserve_all(urls[i % len(urls)], jobs[i][0], jobs[i][1], out, lock)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, out


def run(opts: Options) -> Iterator[dict[str, Any]]:
    per_channel = 50 if opts.quick else 250
    for backend in backends():
        with hq_database(backend, opts, f"hq-reservations-{backend}") as url:
            db = Database(url)
            procs = [start_hq_process(url) for _ in range(1 if backend == "sqlite" else 2)]
            urls = [p.url for p in procs]
            try:
                chain = Chain(db, urls[0])
                store = chain.store()
                skus = [chain.item() for _ in range(20)]
                for sku in skus:
                    stock_in(db, store, sku, 10**9)
                tokens = [
                    reservations.add_channel(db, f"bench-{i}", [store], SYSTEM)
                    for i in range(CHANNELS)
                ]
                jobs = [
                    (
                        tokens[c],
                        [
                            {
                                "order_id": f"c{c}-{k}",
                                "store": store,
                                "lines": [
                                    {"sku": skus[(c * 7 + k) % len(skus)], "qty_milli": 1000}
                                ],
                            }
                            for k in range(per_channel)
                        ],
                    )
                    for c in range(CHANNELS)
                ]
                elapsed, out = _race(urls, jobs)
                assert all(status == 201 for _, status in out)
                held = sum(level(db, store, sku)[1] for sku in skus)
                assert held == 1000 * CHANNELS * per_channel
                yield {
                    "name": "hq_reservations",
                    "mode": "spread",
                    "backend": backend,
                    "processes": len(procs),
                    "channels": CHANNELS,
                    "requests": len(out),
                    "per_s": round(len(out) / elapsed, 1),
                    **percentiles_ms([t for t, _ in out]),
                }
                last = chain.item()
                stock_in(db, store, last, LAST_UNITS * 1000)
                contenders = [
                    (
                        tokens[i % CHANNELS],
                        [
                            {
                                "order_id": f"last-{i}",
                                "store": store,
                                "lines": [{"sku": last, "qty_milli": 1000}],
                            }
                        ],
                    )
                    for i in range(CONTENDERS)
                ]
                elapsed, out = _race(urls, contenders)
                won = sum(1 for _, status in out if status == 201)
                assert won == LAST_UNITS
                assert level(db, store, last) == (LAST_UNITS * 1000, LAST_UNITS * 1000)
                yield {
                    "name": "hq_reservations",
                    "mode": "contended",
                    "backend": backend,
                    "processes": len(procs),
                    "requests": len(out),
                    "won": won,
                    "per_s": round(len(out) / elapsed, 1),
                    **percentiles_ms([t for t, _ in out]),
                }
            finally:
                for p in procs:
                    p.stop()
                db.dispose()
