"""HQ pull: changes per second served to a terminal catching up from cursor 0.

The feed is filled with catalogue items and their prices (two changes per item, as a
chain's first catalogue load makes), then one enrolled terminal pulls everything over
HTTP from ``chainpos-hq serve``, ``limit`` changes per request, and decodes each page as
a terminal would. The goal is 20,000 changes per second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

from server_stub import operations
from server_stub.db import Database
from server_stub.schemas import ItemIn
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks.bench_hq_ingest import backends, hq_database
from tests.server.support import Chain, start_hq_process


def _pull_all(url: str, token: str, limit: int) -> tuple[int, float, list[float]]:
    headers = {"Authorization": f"Bearer {token}"}
    cursor, total, pages = 0, 0, []
    start = time.perf_counter()
    with httpx.Client(base_url=url, timeout=120) as client:
        while True:
            t = time.perf_counter()
            r = client.get(
                "/v1/sync/pull", params={"after": cursor, "limit": limit}, headers=headers
            )
            r.raise_for_status()
            page = json.loads(r.content)
            pages.append(time.perf_counter() - t)
            total += len(page["changes"])
            cursor = page["next_after"]
            if not page["more"]:
                break
    return total, time.perf_counter() - start, pages


def run(opts: Options) -> Iterator[dict[str, Any]]:
    n_items = 5_000 if opts.quick else 50_000
    for backend in backends():
        with hq_database(backend, opts, f"hq-pull-{backend}") as url:
            db = Database(url)
            for start in range(0, n_items, 5000):
                operations.import_catalog(
                    db,
                    [
                        ItemIn(
                            sku=f"P{i:06d}",
                            name_zh=f"商品{i}号 杨枝甘露",
                            name_en=f"Item {i}",
                            unit="piece",
                            barcodes=[f"69{i:011d}"],
                            category="饮品",
                            price_fen=500 + i % 1000,
                        )
                        for i in range(start, min(start + 5000, n_items))
                    ],
                )
            hq = start_hq_process(url)
            try:
                chain = Chain(db, hq.url)
                dev = chain.device(chain.store())
                for limit in (1000, 5000):
                    total, elapsed, pages = _pull_all(hq.url, dev.token, limit)
                    yield {
                        "name": "hq_pull",
                        "backend": backend,
                        "n": total,
                        "rate_per_s": round(total / elapsed, 1),
                        "limit": limit,
                        "pages": len(pages),
                        "page_latency": percentiles_ms(pages),
                    }
            finally:
                hq.stop()
                db.dispose()
