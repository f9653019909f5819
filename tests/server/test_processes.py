"""HQ as separate processes: killed mid-batch, and two processes on one PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import func, make_url, select

from server_stub import models as m
from server_stub import operations
from server_stub.db import Database
from tests.server.conftest import (
    PG_URL,
    REPO,
    Chain,
    fresh_database,
    start_hq_process,
    wait_until,
)
from tests.server.helpers import feed_changes, level
from tests.server.live_client import LiveTerminal

pytestmark = pytest.mark.slow  # starts and kills real HQ processes


@pytest.fixture
def killable_db(backend: str, tmp_path: Path) -> Iterator[str]:
    with fresh_database(backend, tmp_path) as url:
        if backend == "pg":
            # A name of our own, to find the HQ's write transaction in pg_stat_activity.
            url = make_url(url).update_query_dict({"application_name": "hq-under-test"})
            url = url.render_as_string(hide_password=False)
        yield url


def _write_transaction_open(db_url: str) -> bool:
    """Whether some process is inside a write transaction on the database right now."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        probe = sqlite3.connect(url.database, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return True
        finally:
            probe.close()
    conninfo = url.set(drivername="postgresql").difference_update_query(["application_name"])
    with psycopg.connect(conninfo.render_as_string(hide_password=False)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'hq-under-test' AND backend_xid IS NOT NULL"
        ).fetchone()
    return bool(row and row[0])


def test_hq_killed_mid_batch_applies_each_event_fully_or_not_at_all(killable_db: str):
    """GIVEN a terminal pushing 400 sales of 10 lines WHEN HQ is SIGKILLed while the
    batch's transaction is open THEN after restart no event is half-written, stock and
    feed agree with the sales that exist, and pushing the batch again ends with every
    sale applied exactly once."""
    db = Database(killable_db)
    hq = start_hq_process(killable_db)
    try:
        chain = Chain(db, hq.url)
        store = chain.store()
        skus = [chain.item() for _ in range(10)]
        for sku in skus:
            operations.move_stock(db, "receive", store, sku, 1_000_000, "opening")
        dev = chain.device(store)
        batch = [chain.sale(dev, [(sku, 1000 + i) for sku in skus]) for i in range(400)]
        outcome: list[object] = []

        def push() -> None:
            try:
                with httpx.Client(base_url=hq.url, timeout=60) as c:
                    outcome.append(
                        c.post("/v1/sync/push", json={"events": batch}, headers=dev.headers)
                    )
            except httpx.HTTPError as exc:
                outcome.append(exc)

        pusher = threading.Thread(target=push)
        pusher.start()
        wait_until(lambda: _write_transaction_open(killable_db), what="push transaction")
        hq.kill()
        pusher.join(30)
        assert outcome and isinstance(outcome[0], httpx.HTTPError), outcome
    finally:
        hq.stop()

    ids = [uuid.UUID(e["id"]) for e in batch]
    with db.read() as conn:
        applied = set(conn.execute(select(m.events.c.id).where(m.events.c.id.in_(ids))).scalars())
        sales = conn.execute(
            select(m.sales.c.event_id, func.count(m.sale_lines.c.line_no))
            .join(m.sale_lines, m.sale_lines.c.sale_id == m.sales.c.sale_id)
            .where(m.sales.c.store_code == store)
            .group_by(m.sales.c.event_id)
        ).all()
        moves = conn.execute(
            select(func.count())
            .select_from(m.stock_moves)
            .where(m.stock_moves.c.store_code == store, m.stock_moves.c.reason == "sale")
        ).scalar_one()
    # One transaction: all or nothing, and every present sale is whole.
    assert applied in (set(), set(ids))
    assert {s.event_id for s in sales} == applied
    assert all(n == 10 for _, n in sales)
    assert moves == 10 * len(applied)
    sold = {
        sku: sum(1000 + i for i, e in enumerate(batch) if uuid.UUID(e["id"]) in applied)
        for sku in skus
    }
    for sku in skus:
        assert level(db, store, sku) == 1_000_000 - sold[sku]
        last = feed_changes(db, "stock", f"{store}:{sku}")[-1]
        assert f'"on_hand_milli":{1_000_000 - sold[sku]}' in last

    again = start_hq_process(killable_db)
    try:
        with httpx.Client(base_url=again.url, timeout=60) as c:
            for _ in range(2):
                r = c.post("/v1/sync/push", json={"events": batch}, headers=dev.headers)
                assert r.status_code == 200
                assert {x["status"] for x in r.json()["results"]} <= {"applied", "duplicate"}
            assert r.json()["duplicate"] == len(batch)
    finally:
        again.stop()
    total = sum(1000 + i for i in range(400))
    for sku in skus:
        assert level(db, store, sku) == 1_000_000 - total
    db.dispose()


@pytest.mark.pg
@pytest.mark.skipif(PG_URL is None, reason="CHAINPOS_TEST_PG_URL is not set")
def test_two_hq_processes_on_one_postgresql_deliver_every_change(tmp_path: Path):
    """GIVEN two HQ processes on one PostgreSQL database, a terminal on each WHEN a price
    is published through process 1, a sale is pushed through process 2 and a price is
    set with the CLI THEN both terminals receive all three, in the same order."""
    with fresh_database("pg", tmp_path) as url:
        db = Database(url)
        one = start_hq_process(url)
        two = start_hq_process(url)
        try:
            chain = Chain(db, one.url)
            store = chain.store()
            sku = chain.item(price_fen=1600)
            dev1 = chain.device(store)
            dev2 = Chain(db, two.url).device(store)
            admin = {"Authorization": f"Bearer {chain.admin_token()}"}
            start = db_head(db)

            async def scenario() -> None:
                async with (
                    LiveTerminal(one.ws_url, dev1.token, start) as t1,
                    LiveTerminal(two.ws_url, dev2.token, start) as t2,
                ):
                    await t1.wait_for(lambda t: t.welcome is not None)
                    await t2.wait_for(lambda t: t.welcome is not None)
                    async with (
                        httpx.AsyncClient(base_url=one.url) as c1,
                        httpx.AsyncClient(base_url=two.url) as c2,
                    ):
                        r = await c1.post(
                            "/v1/admin/prices", json={"sku": sku, "price_fen": 1700}, headers=admin
                        )
                        assert r.status_code == 201
                        sale = chain.sale(dev2, [(sku, 2000)])
                        r = await c2.post(
                            "/v1/sync/push", json={"events": [sale]}, headers=dev2.headers
                        )
                        assert r.json()["applied"] == 1
                    proc = await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "server_stub.cli",
                        "price",
                        "set",
                        sku,
                        "19",
                        "--db",
                        url,
                        cwd=REPO,
                        stdout=subprocess.DEVNULL,
                    )
                    assert await proc.wait() == 0
                    head = db_head(db)
                    for t in (t1, t2):
                        await t.wait_for(lambda t: t.cursor >= head)
                        assert t.gaps == 0
                        assert len(t.keys("price")) == 2
                        assert t.keys("stock") == [f"{store}:{sku}"]
                    assert [c["seq"] for c in t1.changes] == [c["seq"] for c in t2.changes]

            asyncio.run(scenario())
        finally:
            one.stop()
            two.stop()
            db.dispose()


def db_head(db: Database) -> int:
    from tests.server.helpers import head

    return head(db)
