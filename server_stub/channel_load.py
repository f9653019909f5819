"""A load generator for online channels: places orders at a steady rate against a running
HQ, then confirms, cancels or leaves each to expire, and reports counts and latencies.

``chainpos-hq channel load`` runs it, so anyone can watch HQ and the tills under online
traffic next to ``chainpos sim``. It speaks only the public channel API over HTTP.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

__all__ = ["LoadPlan", "LoadReport", "percentile", "run_load"]


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """What to send. ``rate``: orders started per second; ``duration_s``: for how long;
    each order reserves ``qty_milli`` of one of ``skus`` at ``store``; of the reserved
    ones ``confirm_ratio`` are confirmed, ``cancel_ratio`` cancelled and the rest left
    to expire after ``ttl_s``."""

    hq_url: str
    token: str
    store: str
    skus: tuple[str, ...]
    rate: float
    duration_s: float
    confirm_ratio: float = 0.6
    cancel_ratio: float = 0.2
    ttl_s: int = 60
    qty_milli: int = 1000
    pickup_ratio: float = 0.0
    workers: int = 16
    seed: int | None = None


@dataclass(slots=True)
class LoadReport:
    """Outcomes by operation (``reserve:201``, ``reserve:409``, ``confirm:200`` ...) and
    the latency of every call by operation, in seconds."""

    counts: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def add(self, op: str, status: int | str, seconds: float) -> None:
        self.counts[f"{op}:{status}"] += 1
        self.latencies.setdefault(op, []).append(seconds)

    def lines(self) -> list[str]:
        """The report as text lines."""
        out = [f"elapsed {self.elapsed_s:.1f} s"]
        for key in sorted(self.counts):
            out.append(f"{key}\t{self.counts[key]}")
        for op in sorted(self.latencies):
            lat = self.latencies[op]
            rate = len(lat) / self.elapsed_s if self.elapsed_s else 0.0
            out.append(
                f"{op}\tn={len(lat)}\t{rate:.1f}/s\tp50={percentile(lat, 50) * 1000:.1f} ms"
                f"\tp99={percentile(lat, 99) * 1000:.1f} ms"
            )
        return out


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def run_load(plan: LoadPlan) -> LoadReport:
    """Runs ``plan`` to the end; returns what happened. Network errors are counted as
    ``<op>:error``, never raised."""
    report = LoadReport()
    lock = threading.Lock()
    rng = random.Random(plan.seed)
    headers = {"Authorization": f"Bearer {plan.token}"}
    run_id = uuid.uuid4().hex[:8]

    def call(client: httpx.Client, op: str, method: str, path: str, **kw: object) -> int | None:
        start = time.perf_counter()
        try:
            r = client.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError:
            with lock:
                report.add(op, "error", time.perf_counter() - start)
            return None
        with lock:
            report.add(op, r.status_code, time.perf_counter() - start)
        return r.status_code

    def one(client: httpx.Client, n: int, sku: str, fate: float, pickup: bool) -> None:
        order_id = f"load-{run_id}-{n}"
        body = {
            "order_id": order_id,
            "store": plan.store,
            "lines": [{"sku": sku, "qty_milli": plan.qty_milli}],
            "ttl_s": plan.ttl_s,
            "pickup": pickup,
        }
        status = call(client, "reserve", "POST", "/v1/channel/reservations", json=body)
        if status != 201:
            return
        path = f"/v1/channel/reservations/{order_id}"
        if fate < plan.confirm_ratio:
            call(client, "confirm", "POST", path + "/confirm")
        elif fate < plan.confirm_ratio + plan.cancel_ratio:
            call(client, "cancel", "POST", path + "/cancel")
        else:
            with lock:
                report.counts["left_to_expire"] += 1

    total = max(1, int(plan.rate * plan.duration_s))
    with (
        httpx.Client(base_url=plan.hq_url, timeout=30) as client,
        ThreadPoolExecutor(max_workers=plan.workers) as pool,
    ):
        start = time.perf_counter()
        futures = []
        for n in range(total):
            due = start + n / plan.rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)  # pacing the offered load, not waiting for a result
            futures.append(
                pool.submit(
                    one,
                    client,
                    n,
                    rng.choice(plan.skus),
                    rng.random(),
                    rng.random() < plan.pickup_ratio,
                )
            )
        for f in futures:
            f.result()
        report.elapsed_s = time.perf_counter() - start
    return report
