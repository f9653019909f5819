"""HQ ingest: sale events per second applied by one HQ process, SQLite and PostgreSQL.

Several terminals push at once, each in batches of 100 outbox events (3 lines a sale),
against ``chainpos-hq serve`` in its own process; every event is a new sale that
decrements stock and appends stock changes to the feed. The figure is events applied per
second of wall time, plus the per-batch latency. A second line replays the same batches
(every event a duplicate), the cost of a terminal retrying after a lost answer.

Reference load: a 1,000-store chain at 800 sales per store per day peaks near 100 sales
per second; the goal is 2,000 per second per process.

PostgreSQL runs when ``CHAINPOS_TEST_PG_URL`` is set or a server answers at
``postgresql+psycopg://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
from sqlalchemy import make_url

from server_stub import operations
from server_stub.db import Database
from tests.benchmarks._stats import Options, percentiles_ms
from tests.server.support import Chain, fresh_database, start_hq_process

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BATCH = 100
TERMINALS = 4
LINES = 3


def pg_server_url() -> str | None:
    """The PostgreSQL server to use, or None when none answers."""
    url = os.environ.get("CHAINPOS_TEST_PG_URL") or DEFAULT_PG
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, connect_timeout=3):
            return url
    except psycopg.Error:
        return None


@contextmanager
def hq_database(backend: str, opts: Options, name: str) -> Iterator[str]:
    """A fresh, migrated HQ database on ``backend``; its URL."""
    if backend == "pg":
        import tests.server.support as support

        server = pg_server_url()
        assert server is not None
        saved = support.PG_URL
        support.PG_URL = server
        try:
            with fresh_database("pg", opts.scratch(name)) as url:
                yield url
        finally:
            support.PG_URL = saved
    else:
        with fresh_database("sqlite", opts.scratch(name)) as url:
            yield url


def backends() -> list[str]:
    """SQLite, and PostgreSQL when a server answers; ``HQ_BENCH_BACKEND=sqlite|pg``
    keeps one of them (for a quicker look at one figure)."""
    only = os.environ.get("HQ_BENCH_BACKEND")
    found = ["sqlite", "pg"] if pg_server_url() else ["sqlite"]
    return [b for b in found if not only or b == only]


def _push_all(
    url: str, token: str, bodies: list[bytes], latencies: list[float], applied: list[int]
) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, timeout=120) as client:
        for body in bodies:
            start = time.perf_counter()
            r = client.post("/v1/sync/push", content=body, headers=headers)
            latencies.append(time.perf_counter() - start)
            r.raise_for_status()
            applied.append(r.json()["applied"])


def _round(url: str, tokens: list[str], work: list[list[bytes]]) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    applied: list[int] = []
    threads = [
        threading.Thread(target=_push_all, args=(url, tok, bodies, latencies, applied))
        for tok, bodies in zip(tokens, work, strict=True)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies, sum(applied)


def run(opts: Options) -> Iterator[dict[str, Any]]:
    n_events = 2_000 if opts.quick else 20_000
    per_terminal = n_events // TERMINALS // BATCH
    for backend in backends():
        with hq_database(backend, opts, f"hq-ingest-{backend}") as url:
            db = Database(url)
            hq = start_hq_process(url)
            try:
                chain = Chain(db, hq.url)
                skus = [chain.item(price_fen=800 + i) for i in range(300)]
                stores = [chain.store() for _ in range(TERMINALS)]
                for store in stores:
                    for sku in skus:
                        operations.move_stock(db, "receive", store, sku, 10**9, "opening")
                devices = [chain.device(store) for store in stores]
                work: list[list[bytes]] = []
                k = 0
                for dev in devices:
                    bodies = []
                    for _ in range(per_terminal):
                        events = []
                        for _ in range(BATCH):
                            lines = [(skus[(k + j * 37) % len(skus)], 1000) for j in range(LINES)]
                            events.append(chain.sale(dev, lines))
                            k += 1
                        bodies.append(json.dumps({"events": events}).encode())
                    work.append(bodies)
                tokens = [d.token for d in devices]
                elapsed, latencies, applied = _round(hq.url, tokens, work)
                assert applied == n_events, (applied, n_events)
                yield {
                    "name": "hq_ingest",
                    "backend": backend,
                    "n": applied,
                    "rate_per_s": round(applied / elapsed, 1),
                    "batch_events": BATCH,
                    "lines_per_sale": LINES,
                    "terminals": TERMINALS,
                    "batch_latency": percentiles_ms(latencies),
                }
                elapsed, latencies, applied = _round(hq.url, tokens, work)
                assert applied == 0
                yield {
                    "name": "hq_ingest_replay",
                    "backend": backend,
                    "n": n_events,
                    "rate_per_s": round(n_events / elapsed, 1),
                    "batch_events": BATCH,
                    "terminals": TERMINALS,
                    "batch_latency": percentiles_ms(latencies),
                }
            finally:
                hq.stop()
                db.dispose()
