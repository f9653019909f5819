"""HQ members: phone search among 1,000,000 members, identification over HTTP, and holds
captured by sales on one member under contention (SQLite and PostgreSQL).

* ``hq_member_phone_search``: what ``member search --phone`` and identification by phone
  do in the database: normalise, keyed hash, one index lookup among N members, decrypt
  and mask the phone. Goal p99 ≤ 20 ms at 1M members. Members are seeded with bulk
  inserts (binary ``COPY`` on PostgreSQL), phones encrypted as HQ stores them.
* ``hq_member_identify``: ``POST /v1/members/identify`` against ``chainpos-hq serve`` on
  loopback, one request at a time, by app code and by phone, on the same 1M-member
  database (each one audited, i.e. one committed write). Goal p99 ≤ 150 ms.
* ``hq_member_hold_capture``: several terminals (threads, each its own connection) each
  repeatedly hold points of the *same* member and push the sale that captures the hold:
  the cycle rate one hot member sustains, and each step's latency. The books are
  checked afterwards.

``--quick`` seeds 100,000 members instead of 1,000,000.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from server_stub import bulk, members
from server_stub import models as m
from server_stub.db import Database
from server_stub.member_keys import MemberKeys
from sync_client.contract.membercode import mask_phone, normalise_phone
from sync_client.contract.phonecrypt import PhoneCipher
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks.bench_hq_ingest import backends, hq_database
from tests.server.member_helpers import app_code, balances, ledger_mismatches, split_tenders
from tests.server.support import Chain, keys_file_for, start_hq_process

SEED_CHUNK = 50_000
TERMINALS = 4


def _number(i: int) -> str:
    body = f"8{i:010d}"
    return body + members.luhn_digit(body)


def _phone(i: int) -> str:
    return f"13{i:09d}"


def seed(db: Database, keys: MemberKeys, n: int) -> float:
    """Inserts ``n`` members in bulk; returns the seconds it took."""
    cipher = PhoneCipher(keys)
    now = datetime.now(UTC)
    start = time.perf_counter()
    for first in range(0, n, SEED_CHUNK):
        rows = []
        for i in range(first, min(first + SEED_CHUNK, n)):
            number, phone = _number(i), _phone(i)
            rows.append(
                {
                    "id": i + 1,
                    "number": number,
                    "name": f"会员{i}",
                    "phone_enc": cipher.encrypt(phone, number),
                    "phone_hash": cipher.hash(phone),
                    "tier": "standard",
                    "points": 0,
                    "balance_fen": 0,
                    "active": True,
                    "card_version": 1,
                    "version": 1,
                    "consent_version": "bench",
                    "consent_at": now,
                    "created_store": None,
                    "created_by": "bench",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        with db.write() as tx:
            bulk.insert_rows(tx.conn, m.members, rows)
    if not db.is_sqlite:
        with db.write() as tx:
            tx.conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('members', 'id'), "
                "(SELECT max(id) FROM members))"
            )
            tx.conn.exec_driver_sql("ANALYZE members")
    return time.perf_counter() - start


def _phone_search(db: Database, keys: MemberKeys, n: int, samples: int) -> dict[str, Any]:
    cipher = PhoneCipher(keys)
    rng = random.Random(1)
    # Nine in ten searches find someone; the rest are numbers nobody has.
    queries = [
        _phone(rng.randrange(n)) if rng.random() < 0.9 else f"19{rng.randrange(10**9):09d}"
        for _ in range(samples)
    ]
    times, found = [], 0
    for q in queries[:50]:  # warm the connection pool and the statement cache
        with db.read() as conn:
            members.find_by_phone(conn, cipher, normalise_phone(q))
    for q in queries:
        t = time.perf_counter()
        with db.read() as conn:
            row = members.find_by_phone(conn, cipher, normalise_phone(q))
            if row is not None:
                mask_phone(cipher.decrypt(row.phone_enc, row.number))
                found += 1
        times.append(time.perf_counter() - t)
    return {"times": times, "found": found}


def _identify(url: str, token: str, bodies: list[dict[str, str]]) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    times = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for body in bodies[:20]:
            client.post("/v1/members/identify", json=body, headers=headers)
        for body in bodies:
            t = time.perf_counter()
            r = client.post("/v1/members/identify", json=body, headers=headers)
            times.append(time.perf_counter() - t)
            if r.status_code != 200:
                raise AssertionError(r.text)
    return times


def _hold_and_capture(
    url: str,
    chain: Chain,
    device: Any,
    number: str,
    code: str,
    sku: str,
    cycles: int,
    out: dict[str, list[float]],
    lock: threading.Lock,
) -> None:
    hold_t, push_t = [], []
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(cycles):
            body = {
                "hold_id": str(uuid.uuid4()),
                "member": number,
                "kind": "points",
                "amount": 100,
                "proof": code,
            }
            t = time.perf_counter()
            r = client.post("/v1/members/holds", json=body, headers=device.headers)
            hold_t.append(time.perf_counter() - t)
            if r.status_code != 201:
                raise AssertionError(r.text)
            sale = chain.sale(device, [(sku, 1000)], price_fen=100)
            payload = sale["payload"]
            payload["member"] = {"number": number, "holds": [body["hold_id"]]}
            payload["tenders"] = split_tenders(100, points=100)
            t = time.perf_counter()
            r = client.post("/v1/sync/push", json={"events": [sale]}, headers=device.headers)
            push_t.append(time.perf_counter() - t)
            if r.json()["results"][0]["status"] != "applied":
                raise AssertionError(r.text)
    with lock:
        out["hold"] += hold_t
        out["push"] += push_t


def run(opts: Options) -> Iterator[dict[str, Any]]:
    n_members = 100_000 if opts.quick else 1_000_000
    samples = 500 if opts.quick else 2000
    cycles = 25 if opts.quick else 100
    for backend in backends():
        with hq_database(backend, opts, f"hq-members-{backend}") as url:
            db = Database(url)
            keys_path = keys_file_for(url)
            keys = MemberKeys.load(keys_path)
            seconds = seed(db, keys, n_members)
            searched = _phone_search(db, keys, n_members, samples)
            yield {
                "name": "hq_member_phone_search",
                "backend": backend,
                "n": samples,
                **percentiles_ms(searched["times"]),
                "members": n_members,
                "found": searched["found"],
                "seed_s": round(seconds, 1),
                "goal_p99_ms": 20,
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
            hq = start_hq_process(url, "--phone-lookups-per-minute", "1000000")
            try:
                chain = Chain(db, hq.url)
                device = chain.device(chain.store())
                rng = random.Random(2)
                picks = [rng.randrange(n_members) for _ in range(samples // 2)]
                for by in ("code", "phone"):
                    bodies = [
                        {"code": app_code(keys, _number(i))}
                        if by == "code"
                        else {"phone": _phone(i)}
                        for i in picks
                    ]
                    times = _identify(hq.url, device.token, bodies)
                    yield {
                        "name": "hq_member_identify",
                        "backend": backend,
                        "n": len(times),
                        **percentiles_ms(times),
                        "by": by,
                        "members": n_members,
                        "goal_p99_ms": 150,
                        "load_avg_1m": round(os.getloadavg()[0], 2),
                    }

                stores = [chain.store() for _ in range(2)]
                devices = [chain.device(stores[i % 2]) for i in range(TERMINALS)]
                sku = chain.item(price_fen=100)
                number = _number(0)
                members.adjust_member(
                    db, keys, members.Actor("cli:bench"), number, reason="bench", points=10**9
                )
                code = app_code(keys, number, ttl_s=3600)
                out: dict[str, list[float]] = {"hold": [], "push": []}
                lock = threading.Lock()
                threads = [
                    threading.Thread(
                        target=_hold_and_capture,
                        args=(hq.url, chain, d, number, code, sku, cycles, out, lock),
                    )
                    for d in devices
                ]
                start = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                elapsed = time.perf_counter() - start
                done = len(out["push"])
                assert done == TERMINALS * cycles
                assert balances(db, number)[0] == 10**9 - 100 * done
                assert ledger_mismatches(db) == []
                yield {
                    "name": "hq_member_hold_capture",
                    "backend": backend,
                    "n": done,
                    "rate_per_s": round(done / elapsed, 1),
                    "terminals": TERMINALS,
                    **{f"hold_{k}": v for k, v in percentiles_ms(out["hold"]).items()},
                    **{f"capture_push_{k}": v for k, v in percentiles_ms(out["push"]).items()},
                    "note": "one member; a cycle = hold 100 points + push the sale capturing it",
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                }
            finally:
                hq.stop()
                db.dispose()
