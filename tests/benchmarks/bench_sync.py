"""Terminal <-> HQ sync figures, with real sync clients and terminal databases.

* ``sync.price_push``: ``POST /v1/admin/prices`` (what ``chainpos-hq price set`` does) ->
  the change committed in the local database of each of N headless terminals. HQ runs as
  ``chainpos-hq serve`` in its own process; the terminals (``SyncClient`` + ``LocalReplica``
  on their own SQLite files, WAL, ``synchronous=FULL``) run in two client processes, each
  on one asyncio loop with a pool of database threads. Latency is commit time in the
  terminal's database minus publish time (one clock). Before the rounds each client
  process moves the objects of its terminals' set-up out of the cyclic garbage collector
  (``gc.freeze``): a full collection over 500 terminals' objects stalls all of them for
  ~0.4 s, an artefact of simulating them in one process. Sizes: N = 100, 1,000
  (``--quick``: 100). Goal: p99 <= 1 s at 1,000. Also reported: the client processes'
  CPU time during the rounds per terminal and price change (``client_cpu_ms_per_terminal``:
  frame, parse, hand-off to a database thread, apply, and the harness's own bookkeeping),
  which depends less on what else the machine runs.
* ``sync.sale_to_hq_stock``: a headless terminal online sells one item; latency from the
  sale's commit returning at the till to HQ's stock level for the store showing it (HQ's
  database polled every millisecond from this process).
  Goal: p99 <= 500 ms.
* ``sync.convergence_after_partition``: N terminals (N = 50; ``--quick``: 10) of three
  stores behind a fault proxy; partitioned while each sells 10 sales and HQ publishes 200
  prices and 100 stock receipts; then healed: seconds until every terminal has drained
  its outbox, reached HQ's head and holds HQ's prices and stock.
* ``sync.catch_up``: a terminal back after "24 hours" offline with 1,000 sales in its
  outbox while HQ published 50,000 changes (25,000 new items with their prices): time
  from its sync starting until its outbox is empty and its cursor is at HQ's head.
  Goal: <= 10 s.

* ``sync.menu_push``: as the price push, with a menu of 500 items x 10 option groups (every
  tile naming all ten; ``menu.publish_menu``, what ``chainpos-hq menu import`` calls) to
  N = 1,000 terminals (``--quick``: 100).
* ``sync.reconnect_storm``: N terminals (``SYNC_BENCH_STORM_TERMINALS``, default 2,000;
  ``--quick``: 100) online with the product's reconnect backoff; every HQ process is
  SIGKILLed, a price changes while HQ is down, and HQ starts again on the same port(s):
  seconds from the new process listening until every terminal has that price committed,
  and HQ's CPU over that window per terminal. Goal: 10,000 within 30 s on one HQ process.

``SYNC_BENCH_ONLY=price_push`` (comma-separated: price_push, menu_push, storm,
sale_to_hq_stock, catch_up, convergence) runs only those figures; ``SYNC_BENCH_TERMINALS=1000``
only those sizes of the price push. ``SYNC_BENCH_CLIENT_PROCS`` sets the number of client
processes and ``SYNC_BENCH_HQ_PROCS`` the storm's HQ processes (PostgreSQL; no load
balancer). Terminals are enrolled through HQ's operations in this process and their
databases copied from one template per store. Each result notes the 1-minute load average
as the figure starts (``load_avg_1m``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from pos_app.headless import HeadlessTerminal
from pos_app.localdb.engine import open_database
from pos_app.localdb.replica import LocalReplica
from pos_app.localdb.seed import load_demo_json
from pos_app.services.enrollment import EnrollTicket
from server_stub import models as m
from server_stub import operations
from server_stub.db import Database
from server_stub.demo import seed_chain
from server_stub.schemas import ItemIn
from sync_client import (
    Credentials,
    HQClient,
    SyncClient,
    SyncConfig,
    SyncRunner,
)
from sync_client.contract import protocol as p
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks.bench_hq_fanout import _raise_fd_limit
from tests.benchmarks.bench_hq_ingest import backends, hq_database
from tests.server.support import REPO, keys_file_for, start_hq_process
from tests.sync.convergence import hq_level

CLIENT_PROCESSES = int(os.environ.get("SYNC_BENCH_CLIENT_PROCS", "2"))
"""Processes simulating the terminals (``SYNC_BENCH_CLIENT_PROCS``), one asyncio loop each."""
HQ_PROCESSES = int(os.environ.get("SYNC_BENCH_HQ_PROCS", "1"))
"""HQ processes of the reconnect storm (``SYNC_BENCH_HQ_PROCS``; more than one needs
PostgreSQL), each on its own port. There is no load balancer: terminal ``i`` is enrolled
against process ``i % HQ_PROCESSES``."""
BENCH_CONFIG = SyncConfig(
    backoff_base_s=0.1,
    backoff_cap_s=2.0,
    idle_push_check_s=60.0,  # sales wake the pusher; idle polling would only load the box
    connect_timeout_s=60.0,
    request_timeout_s=60.0,
    clock_samples=1,
    clock_every_s=3600.0,
)
READY_S = 60.0
READY_PER_TERMINAL_S = 0.2
"""A client process whose terminals are not all online by then fails the benchmark."""
ROUND_S = 60.0
"""A price change not in every terminal's database by then fails the benchmark."""

# -- client process: many terminals on one loop ----------------------------------------------


class _TimedReplica(LocalReplica):
    """Notes when each price version (key ``"<version>"``) and menu version (key
    ``"menu<version>"``) committed in this terminal's database."""

    applied: dict[str, float]

    def apply_changes(self, changes: Any, next_after: int, *more: Any, **kw: Any) -> Any:
        # ``more``/``kw``: whatever else the port passes (quarantine, skipped), untouched.
        changes = list(changes)
        out = super().apply_changes(changes, next_after, *more, **kw)
        t = time.time()
        for c in changes:
            if c.kind == "price":
                self.applied.setdefault(str(c.data.version), t)
            elif c.kind == "menu":
                self.applied.setdefault(f"menu{c.data.version}", t)
        return out


class _ClientFailed(Exception):
    """A terminal of this client process cannot take part: the reason goes to the parent."""


class _Faults(logging.Handler):
    """Collects the sync client's errors (a loop's unexpected fault is logged at ERROR)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f": {type(exc).__name__}: {exc}"
        self.seen.append(text)


def _check(
    clients: list[SyncClient], tasks: list[asyncio.Task[None]], faults: _Faults, deadline: float
) -> None:
    """Raises ``_ClientFailed`` with the reason when a terminal's sync failed or stopped,
    or when ``deadline`` (monotonic) has passed."""
    if faults.seen:
        raise _ClientFailed(f"sync fault: {faults.seen[0]}")
    for client, task in zip(clients, tasks, strict=True):
        if task.done():
            st = client.status
            why = st.last_error or (
                repr(task.exception()) if not task.cancelled() and task.exception() else "?"
            )
            raise _ClientFailed(f"{st.device_id} sync {st.state}: {why}")
    if time.monotonic() > deadline:
        raise _ClientFailed("timed out")


def _not_online(clients: list[SyncClient]) -> str:
    late = [c.status for c in clients if not c.status.online]
    shown = "; ".join(f"{s.device_id} {s.state}: {s.last_error or 'no error'}" for s in late[:5])
    return f"{len(late)} of {len(clients)} terminals not online ({shown})"


async def _clients(spec: list[dict[str, Any]]) -> None:
    pool = ThreadPoolExecutor(8, thread_name_prefix="bench-db")
    faults = _Faults()
    logging.getLogger("chainpos.sync").addHandler(faults)
    replicas: list[_TimedReplica] = []
    clients: list[SyncClient] = []
    tasks: list[asyncio.Task[None]] = []
    for s in spec:
        engine = open_database(s["db"])
        replica = _TimedReplica(engine, s["store"])
        replica.applied = {}
        replicas.append(replica)
        creds = Credentials(s["hq"], s["store"], s["device"], s["token"], b"x" * 32)
        config = BENCH_CONFIG
        if "backoff" in s:  # the reconnect storm: the product's own reconnect timing
            base, cap = s["backoff"]
            config = replace(BENCH_CONFIG, backoff_base_s=base, backoff_cap_s=cap)
        client = SyncClient(replica, creds, config=config, executor=pool)
        clients.append(client)
        tasks.append(asyncio.create_task(client.run()))
    try:
        await _run_rounds(spec, replicas, clients, tasks, faults)
    except _ClientFailed as exc:
        print(f"FAILED {exc}; {_not_online(clients)}", flush=True)
        raise SystemExit(1) from None
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pool.shutdown(wait=True)


async def _run_rounds(
    spec: list[dict[str, Any]],
    replicas: list[_TimedReplica],
    clients: list[SyncClient],
    tasks: list[asyncio.Task[None]],
    faults: _Faults,
) -> None:
    ready_by = time.monotonic() + READY_S + READY_PER_TERMINAL_S * len(spec)
    while not all(c.status.online for c in clients):
        _check(clients, tasks, faults, ready_by)
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # let the connection burst settle
    # Everything made so far lives as long as the process: keep the cyclic collector off
    # it. A full collection over 500 terminals' objects (about 450,000) takes ~0.4 s here
    # and stalls every terminal of the process at once, whenever the collector's
    # thresholds happen to fall inside the timed rounds; a till holds one terminal's.
    gc.collect()
    gc.freeze()
    print(f"READY {len(spec)}", flush=True)
    cpu0 = time.process_time()
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        cmd = line.split()
        if not cmd or cmd[0] == "DONE":
            break
        if cmd[0] == "WAIT":
            version = cmd[1]
            got_by = time.monotonic() + ROUND_S
            while not all(version in r.applied for r in replicas):
                try:
                    _check(clients, tasks, faults, got_by)
                except _ClientFailed as exc:
                    missing = sum(version not in r.applied for r in replicas)
                    raise _ClientFailed(f"price {version} missing at {missing}: {exc}") from None
                await asyncio.sleep(0.01)
            print(f"GOT {version}", flush=True)
    applied = {k: [r.applied[k] for r in replicas] for k in replicas[0].applied}
    print(json.dumps({"applied": applied, "cpu_s": time.process_time() - cpu0}), flush=True)


def _expect(proc: subprocess.Popen[str], k: int, prefix: str) -> str:
    """The client's next line starting with ``prefix``; a client that failed (a ``FAILED``
    line, or no line at all) fails the benchmark with its reason."""
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if line.startswith("FAILED"):
            raise RuntimeError(f"sync benchmark client {k}: {line.strip()}")
        if not line:
            code = proc.wait(30)
            raise RuntimeError(f"sync benchmark client {k} exited ({code}) before {prefix}")
        if line.startswith(prefix):
            return line.strip()


def _enroll(hq_url: str, request: p.EnrollRequest) -> p.EnrollResponse:
    """Enrols through HQ's own API, so the receipt secret is sealed with the keys of the HQ
    process that serves the terminals."""
    r = httpx.post(f"{hq_url}/v1/devices/enroll", json=request.model_dump(mode="json"), timeout=30)
    r.raise_for_status()
    return p.EnrollResponse.model_validate_json(r.content)


def client_main() -> None:
    _raise_fd_limit()
    spec = json.loads(Path(sys.argv[2]).read_text())
    asyncio.run(_clients(spec))


# -- fixtures --------------------------------------------------------------------------------


def _template(hq_url: str, db: Database, store: str, path: Path) -> int:
    """A terminal database for ``store`` as a new enrolment leaves it; returns its cursor."""
    code = operations.create_enroll_code(db, store).code
    dev = _enroll(hq_url, p.EnrollRequest(store=store, code=code, device_name="template"))

    async def snap() -> p.Snapshot:
        client = HQClient(hq_url, dev.token)
        try:
            return await client.snapshot()
        finally:
            await client.aclose()

    snapshot = asyncio.run(snap())
    engine = open_database(path)
    LocalReplica(engine, store).apply_snapshot(snapshot)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return snapshot.seq


MENU_ITEMS = 500
MENU_GROUPS = 10


def _menu_items(db: Database) -> list[str]:
    """``MENU_ITEMS`` drinks imported at HQ for the menu push; their SKUs."""
    skus = [f"DRK{i:04d}" for i in range(MENU_ITEMS)]
    operations.import_catalog(
        db,
        [
            ItemIn(sku=sku, name_zh=f"饮品{i}号", unit="piece", price_fen=900 + i % 20 * 100)
            for i, sku in enumerate(skus)
        ],
    )
    return skus


def _publish(db: Database, http: httpx.Client, r: int, menu_skus: list[str] | None) -> str:
    """One round's change: a price through ``POST /v1/admin/prices`` (``operations.
    set_price``, which the console's price action calls too), or a menu through
    ``menu.publish_menu`` (what ``chainpos-hq menu import`` calls). Its applied-key."""
    if menu_skus is None:
        resp = http.post("/v1/admin/prices", json={"sku": "FT001", "price_fen": 1700 + r})
        resp.raise_for_status()
        return str(resp.json()["versions"][0]["version"])
    from server_stub.menu import publish_menu
    from tests.benchmarks.bench_menu import menu_body

    body = menu_body(menu_skus)
    codes = [g["code"] for g in body["groups"]]
    assert len(codes) == MENU_GROUPS
    for tile in body["tiles"]:
        tile["groups"] = codes  # every tile names every group: the largest such menu
    body["categories"][0]["name_zh"] = f"分类0 第{r}版"
    return f"menu{publish_menu(db, body).version}"


def _price_push(
    url: str, db: Database, n: int, rounds: int, scratch: Path, *, menu: bool = False
) -> dict[str, Any]:
    hq = start_hq_process(url, "--heartbeat", "15", "--live-queue", "256", "--pool-size", "20")
    clients: list[subprocess.Popen[str]] = []
    try:
        seed_chain(db, load_demo_json(), stock=False)
        menu_skus = _menu_items(db) if menu else None
        stores = ["S001", "S002", "S003"]
        templates = {s: scratch / f"template-{s}.db" for s in stores}
        cursor = max(_template(hq.url, db, s, templates[s]) for s in stores)
        spec = []
        for i, (store, dev, hq_url) in enumerate(
            _enrol_bulk(db, keys_file_for(url), stores, n, [hq.url])
        ):
            path = scratch / f"t{i:05d}.db"
            shutil.copyfile(templates[store], path)
            spec.append(
                {
                    "db": str(path),
                    "store": store,
                    "device": dev.device_id,
                    "token": dev.token,
                    "hq": hq_url,
                    "cursor": cursor,
                }
            )
        clients = _spawn_clients(spec, scratch)
        for k, c in enumerate(clients):
            _expect(c, k, "READY")
        token = operations.create_admin_token(db, f"bench-{n}")
        published: dict[str, float] = {}
        with httpx.Client(
            base_url=hq.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            for r in range(rounds):
                t0 = time.time()
                version = _publish(db, http, r, menu_skus)
                published[version] = t0
                for c in clients:
                    assert c.stdin is not None
                    c.stdin.write(f"WAIT {version}\n")
                    c.stdin.flush()
                for k, c in enumerate(clients):
                    _expect(c, k, "GOT")
                time.sleep(0.5)
        latencies: list[float] = []
        cpu_s = 0.0
        for k, c in enumerate(clients):
            assert c.stdin is not None
            c.stdin.write("DONE\n")
            c.stdin.flush()
            report = json.loads(_expect(c, k, "{"))
            cpu_s += report["cpu_s"]
            for version, t0 in published.items():
                latencies.extend(t - t0 for t in report["applied"][version])
        assert len(latencies) == n * rounds
        return {
            "n": n,
            "rounds": rounds,
            **percentiles_ms(latencies),
            "client_cpu_ms_per_terminal": round(cpu_s * 1000 / (n * rounds), 3),
            "client_gc": "set-up frozen",
        }
    finally:
        _stop_clients(clients)
        hq.stop()


# -- reconnect storm -----------------------------------------------------------------------

STORM_BACKOFF = (SyncConfig().backoff_base_s, SyncConfig().backoff_cap_s)
"""The storm's terminals reconnect with the product's own backoff, not the benchmark's."""


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _enrol_bulk(
    db: Database, keys_path: Path, stores: list[str], n: int, hq_urls: list[str]
) -> list[tuple[str, p.EnrollResponse, str]]:
    """``n`` terminals enrolled through HQ's own operations in this process (a code, then
    the enrolment, as ``POST /v1/devices/enroll`` does), sealed with the serving HQ's keys:
    no HTTP round trip per terminal. Returns (store, enrolment, HQ URL) per terminal."""
    from server_stub.member_keys import MemberKeys

    keys = MemberKeys.load(keys_path)
    out = []
    for i in range(n):
        store = stores[i % len(stores)]
        code = operations.create_enroll_code(db, store).code
        request = p.EnrollRequest(store=store, code=code, device_name=f"bench {i}")
        out.append((store, operations.enroll(db, keys, request), hq_urls[i % len(hq_urls)]))
    return out


def _storm(url: str, db: Database, n: int, scratch: Path) -> dict[str, Any]:
    """N terminals online; every HQ process is killed (SIGKILL) and one price change is made
    while HQ is down; HQ starts again on the same port(s). Measured from the new process(es)
    listening until every terminal has the price change committed in its database: seconds,
    and HQ's CPU over that window per terminal."""
    hq_count = HQ_PROCESSES if url.startswith("postgresql") else 1
    args = ("--heartbeat", "15", "--live-queue", "256", "--pool-size", "20")
    hqs = [start_hq_process(url, *args) for _ in range(hq_count)]
    clients: list[subprocess.Popen[str]] = []
    try:
        seed_chain(db, load_demo_json(), stock=False)
        stores = ["S001", "S002", "S003"]
        templates = {s: scratch / f"template-{s}.db" for s in stores}
        cursor = max(_template(hqs[0].url, db, s, templates[s]) for s in stores)
        t_setup = time.perf_counter()
        enrolled = _enrol_bulk(db, keys_file_for(url), stores, n, [h.url for h in hqs])
        spec = []
        for i, (store, dev, hq_url) in enumerate(enrolled):
            path = scratch / f"t{i:05d}.db"
            shutil.copyfile(templates[store], path)
            spec.append(
                {
                    "db": str(path),
                    "store": store,
                    "device": dev.device_id,
                    "token": dev.token,
                    "hq": hq_url,
                    "cursor": cursor,
                    "backoff": STORM_BACKOFF,
                }
            )
        setup_s = time.perf_counter() - t_setup
        clients = _spawn_clients(spec, scratch)
        for k, c in enumerate(clients):
            _expect(c, k, "READY")
        ports = [h.url.rsplit(":", 1)[1] for h in hqs]
        for h in hqs:
            h.kill()
        version = operations.set_price(db, "FT001", 1999)[0].version
        # HQ stays down for a second, as a restart does: the storm is every terminal
        # coming back to the new process at once, not a measured wait.
        time.sleep(1.0)
        t0 = time.time()
        hqs = [start_hq_process(url, *args, "--port", port) for port in ports]
        listening = time.time()
        cpu0 = [_cpu_s(h.proc.pid) for h in hqs]
        for c in clients:
            assert c.stdin is not None
            c.stdin.write(f"WAIT {version}\n")
            c.stdin.flush()
        for k, c in enumerate(clients):
            _expect(c, k, "GOT")
        cpu = sum(_cpu_s(h.proc.pid) - c0 for h, c0 in zip(hqs, cpu0, strict=True))
        applied: list[float] = []
        for k, c in enumerate(clients):
            assert c.stdin is not None
            c.stdin.write("DONE\n")
            c.stdin.flush()
            applied.extend(json.loads(_expect(c, k, "{"))["applied"][str(version)])
        assert len(applied) == n
        window = max(applied) - listening
        return {
            "n": n,
            **percentiles_ms([t - listening for t in applied]),
            "seconds": round(window, 3),
            "hq_start_s": round(listening - t0, 3),
            "hq_cpu_ms_per_terminal": round(cpu * 1000 / n, 3),
            "hq_processes": hq_count,
            "load_balancer": "none",
            "client_processes": len(clients),
            "backoff_s": list(STORM_BACKOFF),
            "setup_s": round(setup_s, 1),
            "goal_s": 30,
        }
    finally:
        _stop_clients(clients)
        for h in hqs:
            h.stop()


def _spawn_clients(spec: list[dict[str, Any]], scratch: Path) -> list[subprocess.Popen[str]]:
    """``CLIENT_PROCESSES`` client processes sharing ``spec``'s terminals."""
    clients = []
    share = -(-len(spec) // CLIENT_PROCESSES)
    for k in range(CLIENT_PROCESSES):
        part = spec[k * share : (k + 1) * share]
        if not part:
            continue
        spec_file = scratch / f"spec-{k}.json"
        spec_file.write_text(json.dumps(part))
        clients.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.benchmarks.bench_sync", "--client", str(spec_file)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=REPO,
            )
        )
    return clients


def _stop_clients(clients: list[subprocess.Popen[str]]) -> None:
    for c in clients:
        if c.poll() is None:
            c.kill()
        c.wait(30)
        for stream in (c.stdin, c.stdout):
            if stream is not None:
                stream.close()


def _enrol(hq_url: str, db: Database, store: str, data_dir: Path, **kw: Any) -> HeadlessTerminal:
    code = operations.create_enroll_code(db, store).code
    return HeadlessTerminal.enroll(
        data_dir, EnrollTicket(hq_url, store, code), "bench", sync_config=BENCH_CONFIG, **kw
    )


def _sale_to_stock(url: str, db: Database, sales: int, scratch: Path) -> dict[str, Any]:
    hq = start_hq_process(url, "--heartbeat", "15")
    t: HeadlessTerminal | None = None
    try:
        seed_chain(db, load_demo_json())
        t = _enrol(hq.url, db, "S001", scratch / "till").start()
        deadline = time.monotonic() + 30
        while not t.terminal.sync.status.online and time.monotonic() < deadline:
            time.sleep(0.05)
        latencies: list[float] = []
        rng = random.Random(5)
        skus = t.sellable_skus()
        for _ in range(sales):
            sku = rng.choice(skus)
            before = hq_level(db, "S001", sku)
            t.sell([(sku, 1000)])
            t0 = time.perf_counter()
            while hq_level(db, "S001", sku) != before - 1000:
                if time.perf_counter() - t0 > 30:
                    raise RuntimeError("sale did not reach HQ")
                time.sleep(0.001)
            latencies.append(time.perf_counter() - t0)
            time.sleep(rng.uniform(0.0, 0.05))
        return {"n": sales, **percentiles_ms(latencies)}
    finally:
        if t is not None:
            t.close()
        hq.stop()


def _catch_up(url: str, db: Database, sales: int, changes: int, scratch: Path) -> dict[str, Any]:
    hq = start_hq_process(url, "--heartbeat", "15", "--pool-size", "10")
    t: HeadlessTerminal | None = None
    try:
        seed_chain(db, load_demo_json())
        t = _enrol(hq.url, db, "S001", scratch / "till")  # enrolled, then "offline"
        rng = random.Random(7)
        skus = t.sellable_skus()
        for _ in range(sales):
            t.sell([(rng.choice(skus), 1000)])
        items = changes // 2
        batch = 5000
        for start in range(0, items, batch):
            operations.import_catalog(
                db,
                [
                    ItemIn(
                        sku=f"NEW{i:06d}",
                        name_zh=f"新品{i}号",
                        unit="piece",
                        barcodes=[f"29{i:010d}"],
                        price_fen=100 + i % 900,
                    )
                    for i in range(start, min(items, start + batch))
                ],
            )
        with db.read() as conn:
            head = int(conn.execute(select(m.feed_state.c.last_seq)).scalar_one())
        behind = head - t.terminal.sync.replica.cursor()
        t0 = time.perf_counter()
        t.start()
        sync = t.terminal.sync
        while not (sync.replica.counts()[0] == 0 and sync.status.cursor >= head):
            if time.perf_counter() - t0 > 300:
                raise RuntimeError("catch-up did not finish")
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        return {
            "n": 1,
            "seconds": round(elapsed, 3),
            "sales_up": sales,
            "changes_down": behind,
            "goal_s": 10,
        }
    finally:
        if t is not None:
            t.close()
        hq.stop()


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _selected() -> tuple[set[str], list[int] | None]:
    """The figures and price-push sizes chosen by ``SYNC_BENCH_ONLY`` and
    ``SYNC_BENCH_TERMINALS`` (all when unset)."""
    figures = {"price_push", "menu_push", "sale_to_hq_stock", "catch_up", "convergence", "storm"}
    only = {f.strip() for f in os.environ.get("SYNC_BENCH_ONLY", "").split(",") if f.strip()}
    unknown = only - figures
    if unknown:
        raise SystemExit(f"SYNC_BENCH_ONLY: unknown figures {sorted(unknown)}; pick {figures}")
    sizes = os.environ.get("SYNC_BENCH_TERMINALS", "")
    return only or figures, [int(x) for x in sizes.split(",")] if sizes else None


def run(opts: Options) -> Iterator[dict[str, Any]]:
    _raise_fd_limit()
    figures, chosen_sizes = _selected()
    sizes = chosen_sizes or ([100] if opts.quick else [100, 1000])
    for backend in backends():
        for n in sizes if "price_push" in figures else []:
            load = _load()
            with hq_database(backend, opts, f"sync-push-{backend}-{n}") as url:
                db = Database(url)
                try:
                    scratch = opts.scratch(f"sync-push-{backend}-{n}")
                    result = _price_push(url, db, n, 3 if opts.quick else 5, scratch)
                finally:
                    db.dispose()
            yield {
                "name": "sync.price_push",
                "backend": backend,
                "goal_p99_ms": 1000,
                **result,
                "load_avg_1m": load,
            }
        if "menu_push" in figures:
            yield from _run_menu_push(opts, backend)
        if "storm" in figures:
            yield from _run_storm(opts, backend)
        if "sale_to_hq_stock" in figures:
            yield from _run_sale_to_stock(opts, backend)
        if "catch_up" in figures:
            yield from _run_catch_up(opts, backend)
        if "convergence" in figures:
            yield from _run_convergence(opts, backend)


def _run_menu_push(opts: Options, backend: str) -> Iterator[dict[str, Any]]:
    n = 100 if opts.quick else 1000
    load = _load()
    with hq_database(backend, opts, f"sync-menu-{backend}-{n}") as url:
        db = Database(url)
        try:
            scratch = opts.scratch(f"sync-menu-{backend}-{n}")
            result = _price_push(url, db, n, 2 if opts.quick else 3, scratch, menu=True)
        finally:
            db.dispose()
    yield {
        "name": "sync.menu_push",
        "backend": backend,
        "tiles": MENU_ITEMS,
        "groups_per_tile": MENU_GROUPS,
        **result,
        "load_avg_1m": load,
    }


def _run_storm(opts: Options, backend: str) -> Iterator[dict[str, Any]]:
    n = int(os.environ.get("SYNC_BENCH_STORM_TERMINALS", "100" if opts.quick else "2000"))
    load = _load()
    with hq_database(backend, opts, f"sync-storm-{backend}-{n}") as url:
        db = Database(url)
        try:
            result = _storm(url, db, n, opts.scratch(f"sync-storm-{backend}-{n}"))
        finally:
            db.dispose()
    yield {"name": "sync.reconnect_storm", "backend": backend, **result, "load_avg_1m": load}


def _run_sale_to_stock(opts: Options, backend: str) -> Iterator[dict[str, Any]]:
    load = _load()
    with hq_database(backend, opts, f"sync-sale-{backend}") as url:
        db = Database(url)
        try:
            result = _sale_to_stock(
                url, db, 50 if opts.quick else 300, opts.scratch(f"sync-sale-{backend}")
            )
        finally:
            db.dispose()
    yield {
        "name": "sync.sale_to_hq_stock",
        "backend": backend,
        "goal_p99_ms": 500,
        **result,
        "load_avg_1m": load,
    }


def _run_catch_up(opts: Options, backend: str) -> Iterator[dict[str, Any]]:
    load = _load()
    with hq_database(backend, opts, f"sync-catchup-{backend}") as url:
        db = Database(url)
        try:
            sales, changes = (100, 5000) if opts.quick else (1000, 50_000)
            result = _catch_up(url, db, sales, changes, opts.scratch(f"sync-cu-{backend}"))
        finally:
            db.dispose()
    yield {"name": "sync.catch_up", "backend": backend, **result, "load_avg_1m": load}


def _run_convergence(opts: Options, backend: str) -> Iterator[dict[str, Any]]:
    load = _load()
    n = 10 if opts.quick else 50
    with hq_database(backend, opts, f"sync-converge-{backend}") as url:
        db = Database(url)
        try:
            result = _convergence(url, db, n, opts.scratch(f"sync-converge-{backend}"))
        finally:
            db.dispose()
    yield {
        "name": "sync.convergence_after_partition",
        "backend": backend,
        **result,
        "load_avg_1m": load,
    }


# -- convergence after a healed partition ------------------------------------------------------


def _convergence(url: str, db: Database, n: int, scratch: Path) -> dict[str, Any]:
    """N terminals behind one fault proxy; partitioned while each sells 10 sales and HQ
    publishes 200 price changes and 100 stock receipts; then healed. Time from heal until
    every terminal's outbox is empty, its cursor at HQ's head and its prices and stock equal
    HQ's (checked by the same code as the scenario tests)."""
    from tests.faults.proxy import FaultProxy
    from tests.sync.convergence import Report, check_terminal, hq_head

    hq = start_hq_process(url, "--heartbeat", "2")
    host, port = hq.url.removeprefix("http://").split(":")
    runner = SyncRunner("bench-converge")
    runner.start()
    pool = ThreadPoolExecutor(8)
    tills: list[HeadlessTerminal] = []
    try:
        seed_chain(db, load_demo_json())
        with FaultProxy(upstream=(host, int(port))) as proxy:
            config = SyncConfig(
                backoff_base_s=0.1,
                backoff_cap_s=1.0,
                idle_push_check_s=30.0,
                clock_samples=1,
                clock_every_s=3600.0,
            )
            for i in range(n):
                store = ("S001", "S002", "S003")[i % 3]
                code = operations.create_enroll_code(db, store).code
                tills.append(
                    HeadlessTerminal.enroll(
                        scratch / f"t{i}",
                        EnrollTicket(proxy.url, store, code),
                        "bench",
                        sync_config=config,
                        sync_runner=runner,
                        sync_executor=pool,
                    ).start()
                )
            deadline = time.monotonic() + 60
            while not all(t.terminal.sync.status.online for t in tills):
                if time.monotonic() > deadline:
                    raise RuntimeError("terminals did not come online")
                time.sleep(0.05)
            proxy.partition()
            rng = random.Random(3)
            skus = tills[0].sellable_skus()
            for t in tills:
                for _ in range(10):
                    t.random_sale(rng, skus)
            for k in range(200):
                operations.set_price(db, rng.choice(skus), 1000 + k)
            for _ in range(100):
                operations.move_stock(
                    db,
                    "receive",
                    rng.choice(["S001", "S002", "S003"]),
                    rng.choice(skus),
                    1000,
                    "delivery",
                )
            t0 = time.perf_counter()
            proxy.heal()
            while True:
                head = hq_head(db)
                if all(t.outbox() == (0, 0) for t in tills) and all(
                    t.terminal.sync.status.cursor >= head for t in tills
                ):
                    report = Report()
                    for t in tills:
                        check_terminal(db, t, report)
                    if report.clean:
                        break
                if time.perf_counter() - t0 > 120:
                    raise RuntimeError("no convergence within 120 s")
                time.sleep(0.02)
            elapsed = time.perf_counter() - t0
        return {
            "n": n,
            "seconds": round(elapsed, 3),
            "sales_during_partition": 10 * n,
            "hq_changes_during_partition": 300,
        }
    finally:
        for t in tills:
            t.close()
        runner.stop()
        pool.shutdown()
        hq.stop()


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--client":
    client_main()
elif __name__ == "__main__":
    sys.exit(os.EX_USAGE)
