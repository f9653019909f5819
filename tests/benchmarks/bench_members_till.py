"""Member identification as the cashier waits for it, measured at the terminal.

* ``till_member_identify``: ``MemberService.identify_code(code)`` until its future is
  done: the HTTP call on the sync thread's loop to ``chainpos-hq serve`` (its own process,
  on loopback) with the chain's N members (N = 100,000; ``--quick``: 10,000, seeded in
  bulk), HQ's audit write, and the member cached in the terminal's database. One
  identification at a time, each a different member's fresh app code. Goal p99 ≤ 150 ms.
* ``till_member_cached``: ``MemberService.cached(number)`` (what the till shows for a
  member when HQ is unreachable) in a cache of 5,000 members, on the calling thread.
  Goal p99 ≤ 20 ms.

Both run once per HQ backend (SQLite, and PostgreSQL when a server answers;
``HQ_BENCH_BACKEND`` keeps one).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from pos_app.headless import HeadlessTerminal
from pos_app.localdb.engine import write_session
from pos_app.localdb.seed import load_demo_json
from server_stub.db import Database
from server_stub.demo import seed_chain
from server_stub.member_keys import MemberKeys
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks.bench_hq_ingest import backends, hq_database
from tests.benchmarks.bench_hq_members import _number, seed
from tests.benchmarks.bench_sync import _enrol
from tests.server.member_helpers import app_code
from tests.server.support import keys_file_for, start_hq_process

CACHE_SIZE = 5000


def _wait_online(t: HeadlessTerminal, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not t.members.online:
        if time.monotonic() > deadline:
            raise RuntimeError("the terminal did not come online")
        time.sleep(0.05)


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


def run(opts: Options) -> Iterator[dict[str, Any]]:
    n_members = 10_000 if opts.quick else 100_000
    samples = 200 if opts.quick else 1000
    for backend in backends():
        with hq_database(backend, opts, f"till-members-{backend}") as url:
            db = Database(url)
            keys = MemberKeys.load(keys_file_for(url))
            seed_chain(db, load_demo_json())
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
            finally:
                if t is not None:
                    t.close()
                hq.stop()
                db.dispose()
