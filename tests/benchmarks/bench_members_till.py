"""Member identification as the cashier waits for it, measured at the terminal.

* ``till_member_identify``: ``MemberService.identify_code(code)`` until its future is
  done: the HTTP call on the sync thread's loop to ``chainpos-hq serve`` (its own process,
  on loopback) with the chain's N members (N = 100,000; ``--quick``: 10,000, seeded in
  bulk), HQ's audit write, and the member cached in the terminal's database. One
  identification at a time, each a different member's fresh app code. Goal p99 ≤ 150 ms.
* ``till_member_cached``: ``MemberService.cached(number)`` (what the till shows for a
  member when HQ is unreachable) in a cache of 5,000 members, on the calling thread.
  Goal p99 ≤ 20 ms.

* ``till_member_panel``: what the cashier sees: a member code handed to the checkout
  screen (``CheckoutViewModel.scan``, as the scanner does) until the member panel shows
  the member's name, on an offscreen Qt window: ``online`` (HQ answers, then the result
  crosses to the GUI thread) and ``cache`` (the status bar says offline, so the panel is
  filled from the 5,000-member cache without waiting for HQ).

All run once per HQ backend (SQLite, and PostgreSQL when a server answers;
``HQ_BENCH_BACKEND`` keeps one).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from pos_app.headless import HeadlessTerminal
from pos_app.localdb.engine import write_session
from pos_app.localdb.seed import load_demo_json
from server_stub.db import Database
from server_stub.demo import seed_chain
from server_stub.member_keys import MemberKeys
from sync_client import SyncStatus
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks.bench_hq_ingest import backends, hq_database
from tests.benchmarks.bench_hq_members import _number, seed
from tests.benchmarks.bench_sync import _enrol
from tests.server.member_helpers import app_code
from tests.server.support import keys_file_for, start_hq_process
from tests.support import sell_without_shifts

CACHE_SIZE = 5000


def _wait_online(t: HeadlessTerminal, online: bool = True, timeout: float = 30.0) -> None:
    """Waits on the sync status (not by polling) until the terminal is on- or offline."""
    sync = t.terminal.sync
    assert sync is not None
    reached = threading.Event()

    def on_status(status: SyncStatus) -> None:
        if status.online == online:
            reached.set()

    sync.subscribe(on_status=on_status)
    if sync.status.online != online and not reached.wait(timeout):
        raise RuntimeError(f"the terminal did not go {'on' if online else 'off'}line")


def _identify(t: HeadlessTerminal, keys: MemberKeys, picks: list[int]) -> list[float]:
    for i in picks[:20]:  # warm the connection and the statement caches
        t.members.identify_code(app_code(keys, _number(i))).result(30)
    times = []
    for i in picks[20:]:
        code = app_code(keys, _number(i))
        start = time.perf_counter()
        member = t.members.identify_code(code).result(30)
        times.append(time.perf_counter() - start)
        assert member.number == _number(i)
    return times


def _fill_cache(t: HeadlessTerminal, size: int) -> list[str]:
    """Exactly ``size`` members in the terminal's cache (those identified before are
    replaced), seen over the last days."""
    now = datetime.now(UTC)
    numbers = [f"7{i:010d}0" for i in range(size)]
    rows = [
        {
            "number": n,
            "name": f"会员{i}",
            "phone_masked": f"139****{i % 10000:04d}",
            "tier": "standard",
            "points": i,
            "balance_fen": 0,
            "coupons": "[]",
            "version": 1,
            "seen_at": (now - timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "phone_key": f"{i:064x}",
        }
        for i, n in enumerate(numbers)
    ]
    with write_session(t.terminal.engine) as s:
        s.execute(text("DELETE FROM member_cache"))
        s.execute(
            text(
                "INSERT INTO member_cache (number, name, phone_masked, tier, "
                "points, balance_fen, coupons, version, seen_at, phone_key) VALUES (:number, "
                ":name, :phone_masked, :tier, :points, :balance_fen, :coupons, :version, "
                ":seen_at, :phone_key)"
            ),
            rows,
        )
        s.commit()
    return numbers


def _cached(t: HeadlessTerminal, numbers: list[str], samples: int) -> tuple[list[float], int]:
    rng = random.Random(4)
    with t.terminal.engine.connect() as conn:
        cache_rows = int(conn.execute(text("SELECT count(*) FROM member_cache")).scalar_one())
    for n in numbers[:50]:
        t.members.cached(n)
    times = []
    for _ in range(samples):
        n = rng.choice(numbers)
        start = time.perf_counter()
        member = t.members.cached(n)
        times.append(time.perf_counter() - start)
        assert member is not None
    return times, cache_rows


class _Panel:
    """The terminal's real main window, offscreen, with a cashier signed in."""

    def __init__(self, t: HeadlessTerminal) -> None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtWidgets import QApplication

        from pos_app.app import build_window

        self.app = QApplication.instance() or QApplication([])
        self.window = build_window(t.terminal)
        self.cashier = t.terminal.auth.sign_in("2001", "3579")

    def scan_to_name(self, code: str, name: str, timeout: float = 30.0) -> float:
        """Seconds from the scan to the panel showing ``name``. The GUI thread waits in
        Qt's event loop, as in the shop (a busy wait would hold the GIL the sync thread
        needs)."""
        from PySide6.QtCore import QEventLoop, QTimer

        vm, title = self.window.vm, self.window.checkout.member_panel.title
        vm.start(self.cashier)  # a new sale: no member yet
        self.app.processEvents()
        loop = QEventLoop()

        def check() -> None:
            if title.text() == name:
                loop.quit()

        vm.member_changed.connect(check)
        QTimer.singleShot(int(timeout * 1000), loop.quit)
        try:
            start = time.perf_counter()
            vm.scan(code)
            if title.text() != name:
                loop.exec()
            elapsed = time.perf_counter() - start
        finally:
            vm.member_changed.disconnect(check)
        if title.text() != name:
            raise RuntimeError(f"the panel did not show {name!r}")
        return elapsed

    def close(self) -> None:
        self.window.vm.end()
        self.window.close()
        self.window.deleteLater()
        self.app.processEvents()


def _panel_online(panel: _Panel, db: Database, keys: MemberKeys, picks: list[int]) -> list[float]:
    names = _names(db, [_number(i) for i in picks])
    for i in picks[:20]:
        panel.scan_to_name(app_code(keys, _number(i)), names[_number(i)])
    return [panel.scan_to_name(app_code(keys, _number(i)), names[_number(i)]) for i in picks[20:]]


def _names(db: Database, numbers: list[str]) -> dict[str, str]:
    from server_stub import models as m

    with db.read() as conn:
        rows = conn.execute(
            select(m.members.c.number, m.members.c.name).where(m.members.c.number.in_(numbers))
        )
        return {str(n): str(name) for n, name in rows}


def _panel_cached(panel: _Panel, keys: MemberKeys, numbers: list[str], samples: int) -> list[float]:
    rng = random.Random(5)
    picks = [rng.randrange(len(numbers)) for _ in range(samples + 20)]
    times = [panel.scan_to_name(app_code(keys, numbers[i]), f"会员{i}") for i in picks]
    return times[20:]


def run(opts: Options) -> Iterator[dict[str, Any]]:
    n_members = 10_000 if opts.quick else 100_000
    samples = 200 if opts.quick else 1000
    for backend in backends():
        with hq_database(backend, opts, f"till-members-{backend}") as url:
            db = Database(url)
            keys = MemberKeys.load(keys_file_for(url))
            seed_chain(db, load_demo_json())
            sell_without_shifts(db)
            seed_s = seed(db, keys, n_members)
            hq = start_hq_process(url, "--heartbeat", "15")
            t: HeadlessTerminal | None = None
            try:
                scratch = opts.scratch(f"till-members-{backend}")
                t = _enrol(hq.url, db, "S002", scratch / "till").start()
                _wait_online(t)
                rng = random.Random(3)
                picks = [rng.randrange(n_members) for _ in range(samples + 20)]
                times = _identify(t, keys, picks)
                yield {
                    "name": "till_member_identify",
                    "backend": backend,
                    "n": len(times),
                    **percentiles_ms(times),
                    "members": n_members,
                    "seed_s": round(seed_s, 1),
                    "goal_p99_ms": 150,
                    "note": "identify_code future done: HQ over loopback + cache write",
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                }
                panel = _Panel(t)
                try:
                    times = _panel_online(panel, db, keys, picks)
                    yield {
                        "name": "till_member_panel",
                        "backend": backend,
                        "path": "online",
                        "n": len(times),
                        **percentiles_ms(times),
                        "members": n_members,
                        "goal_p99_ms": 150,
                        "note": "scan handed to the checkout screen -> panel shows the name",
                        "load_avg_1m": round(os.getloadavg()[0], 2),
                    }
                    numbers = _fill_cache(t, CACHE_SIZE)
                    times, cache_rows = _cached(t, numbers, samples * 2)
                    yield {
                        "name": "till_member_cached",
                        "backend": backend,
                        "n": len(times),
                        **percentiles_ms(times),
                        "cache_rows": cache_rows,
                        "goal_p99_ms": 20,
                        "load_avg_1m": round(os.getloadavg()[0], 2),
                    }
                    hq.stop()
                    _wait_online(t, online=False)
                    times = _panel_cached(panel, keys, numbers, samples)
                    yield {
                        "name": "till_member_panel",
                        "backend": backend,
                        "path": "cache",
                        "n": len(times),
                        **percentiles_ms(times),
                        "cache_rows": cache_rows,
                        "goal_p99_ms": 20,
                        "note": "HQ down, status offline: panel filled from the cache",
                        "load_avg_1m": round(os.getloadavg()[0], 2),
                    }
                finally:
                    panel.close()
            finally:
                if t is not None:
                    t.close()
                hq.stop()
                db.dispose()
