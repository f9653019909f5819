"""``chainpos sim``: headless terminals selling against a real HQ, for load and soak tests.

Each simulated terminal is a :class:`pos_app.headless.HeadlessTerminal`: its own SQLite
database, the till's checkout service and a real sync client. Terminals are enrolled with
codes minted through HQ's admin API (``--admin-token``), spread over the chain's stores,
and sell random baskets as a Poisson process at ``--sales-per-minute`` each. Every
``--report-every`` seconds a line of JSON reports sales made, what is still waiting in
outboxes and how many terminals are online; at the end (``--duration`` or Ctrl-C) selling
stops, the outboxes drain, and a final JSON line gives the totals.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from pos_app.headless import HeadlessTerminal
from pos_app.services.enrollment import EnrollTicket
from sync_client import SyncConfig, SyncRunner


def _admin(hq: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=hq.rstrip("/"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        trust_env=False,
    )


def _stores(client: httpx.Client) -> list[str]:
    r = client.get("/v1/admin/stores")
    r.raise_for_status()
    return [s["code"] for s in r.json() if s.get("active", True)]


def _mint(client: httpx.Client, store: str) -> str:
    r = client.post("/v1/admin/enroll-codes", json={"store": store, "ttl_hours": 1})
    r.raise_for_status()
    return str(r.json()["code"])


class Simulation:
    """N headless terminals on one sync thread, selling from a small worker pool."""

    def __init__(
        self,
        hq: str,
        admin_token: str,
        n: int,
        data_dir: Path,
        *,
        stores: list[str] | None = None,
        seed: int = 1,
        config: SyncConfig | None = None,
    ) -> None:
        self.hq = hq.rstrip("/")
        self.rng = random.Random(seed)
        self.runner = SyncRunner("sim-sync")
        self.db_pool = ThreadPoolExecutor(min(16, max(2, n // 8)), thread_name_prefix="sim-db")
        self.terminals: list[HeadlessTerminal] = []
        self.sales = 0
        self.failed = 0
        self._lock = threading.Lock()
        self.runner.start()
        with _admin(self.hq, admin_token) as admin:
            chain = stores or _stores(admin)
            if not chain:
                raise SystemExit("HQ has no stores")
            for i in range(n):
                store = chain[i % len(chain)]
                tdir = data_dir / f"sim-{i:04d}"
                kw: dict[str, Any] = {
                    "sync_config": config,
                    "sync_runner": self.runner,
                    "sync_executor": self.db_pool,
                }
                if (tdir / "terminal.db").exists() and (tdir / "device-credentials.json").exists():
                    t = HeadlessTerminal.open(tdir, **kw)
                else:
                    ticket = EnrollTicket(self.hq, store, _mint(admin, store))
                    t = HeadlessTerminal.enroll(tdir, ticket, f"sim {i}", **kw)
                self.terminals.append(t.start())
        self._skus = {id(t): t.sellable_skus() for t in self.terminals}

    def sell_one(self, t: HeadlessTerminal, rng: random.Random) -> None:
        skus = self._skus[id(t)]
        if not skus:
            skus = self._skus[id(t)] = t.sellable_skus()
            if not skus:
                return
        try:
            t.random_sale(rng, skus)
        except Exception as exc:  # a simulated cashier reports and goes on
            with self._lock:
                self.failed += 1
            print(json.dumps({"event": "sale_failed", "terminal": t.device_id, "error": str(exc)}))
            return
        with self._lock:
            self.sales += 1

    def snapshot(self) -> dict[str, Any]:
        statuses = [t.terminal.sync.status for t in self.terminals if t.terminal.sync]
        return {
            "sales": self.sales,
            "failed": self.failed,
            "pushed": sum(s.pushed for s in statuses),
            "outbox_pending": sum(s.outbox_pending for s in statuses),
            "outbox_rejected": sum(s.outbox_rejected for s in statuses),
            "online": sum(1 for s in statuses if s.online),
            "terminals": len(self.terminals),
        }

    def run(self, per_minute: float, duration: float, report_every: float) -> dict[str, Any]:
        stop = threading.Event()
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
        try:
            return self._run(stop, per_minute, duration, report_every)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _run(
        self, stop: threading.Event, per_minute: float, duration: float, report_every: float
    ) -> dict[str, Any]:
        rate = per_minute / 60.0
        start = time.monotonic()
        heap: list[tuple[float, int]] = [
            (start + self.rng.expovariate(rate), i) for i in range(len(self.terminals))
        ]
        heapq.heapify(heap)
        sellers = ThreadPoolExecutor(4, thread_name_prefix="sim-sell")
        next_report = start + report_every
        while not stop.is_set():
            now = time.monotonic()
            if duration and now - start >= duration:
                break
            if now >= next_report:
                print(json.dumps({"t": round(now - start, 1), **self.snapshot()}), flush=True)
                next_report += report_every
            when, i = heap[0]
            if when > now:
                stop.wait(min(when - now, max(0.0, next_report - now), 0.5))
                continue
            heapq.heapreplace(heap, (when + self.rng.expovariate(rate), i))
            seed = self.rng.random()
            sellers.submit(self.sell_one, self.terminals[i], random.Random(seed))
        sellers.shutdown(wait=True)
        drain_start = time.monotonic()
        while time.monotonic() - drain_start < 120:
            if all(t.outbox()[0] == 0 for t in self.terminals):
                break
            time.sleep(0.2)
        return {
            "final": True,
            "seconds": round(time.monotonic() - start, 1),
            "drain_seconds": round(time.monotonic() - drain_start, 2),
            **self.snapshot(),
        }

    def close(self) -> None:
        for t in self.terminals:
            t.close()
        self.runner.stop()
        self.db_pool.shutdown(wait=True)


def run_sim(args: argparse.Namespace) -> int:
    token = args.admin_token or os.environ.get("CHAINPOS_ADMIN_TOKEN")
    if not token:
        print(
            "chainpos sim needs an admin token to enrol its terminals: "
            "--admin-token or $CHAINPOS_ADMIN_TOKEN (chainpos-hq admin token create NAME)",
            file=sys.stderr,
        )
        return 2
    if args.terminals < 1 or args.sales_per_minute <= 0:
        print("--terminals and --sales-per-minute must be positive", file=sys.stderr)
        return 2
    tmp = None
    if args.data_dir:
        data_dir = Path(args.data_dir)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="chainpos-sim-")
        data_dir = Path(tmp.name)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()] or None
    try:
        sim = Simulation(args.hq, token, args.terminals, data_dir, stores=stores, seed=args.seed)
    except (httpx.HTTPError, OSError) as exc:
        print(f"cannot set up the simulation against {args.hq}: {exc}", file=sys.stderr)
        return 1
    try:
        print(json.dumps({"started": len(sim.terminals), "data_dir": str(data_dir)}), flush=True)
        result = sim.run(args.sales_per_minute, args.duration, args.report_every)
        print(json.dumps(result), flush=True)
        return 0 if result["outbox_pending"] == 0 and result["failed"] == 0 else 1
    finally:
        sim.close()
        if tmp is not None:
            tmp.cleanup()
