"""The per-store-per-day sales summary against a fresh sum of the same rows.

The ingest adds each applied sale, void and return to ``store_day_sales`` /
``store_day_tenders`` in the event's own transaction; migration 0011 builds the same rows
from the sales already held. These tests push a random day of a chain's tills over HTTP —
sales split across tenders around local midnight, voids (some refused, out of their
window), partial returns in cash or by card, sales and their voids or returns in one batch,
replays of whole batches and of single events — and then compare every summary row with
a sum over ``sales``, ``sale_tenders``, ``returns`` and ``return_refunds`` computed here,
and once more after the migration rebuilt the summary from scratch.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from alembic import command
from alembic.config import Config
from sqlalchemy import select

from server_stub import models as m
from server_stub import sales_summary
from server_stub.db import Database, migrate
from tests.server.conftest import Chain, RunningHQ
from tests.server.return_helpers import returned

Figures = dict[tuple[str, date], tuple[int, int, int, int, int]]
Tenders = dict[tuple[str, date, str], tuple[int, int]]


def _fresh_sums(db: Database) -> tuple[Figures, Tenders]:
    """(sales, sales_fen, voids, returns, refunds_fen) per store and local day, and
    (taken, refunded) per tender kind, summed here from the rows themselves."""
    day = sales_summary.local_day
    figures: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    tenders: dict[tuple[str, date, str], list[int]] = defaultdict(lambda: [0, 0])
    with db.read() as conn:
        sales = {r.sale_id: r for r in conn.execute(select(m.sales))}
        for s in sales.values():
            f = figures[(s.store_code, day(s.completed_at))]
            if s.voided_at is None:
                f[0] += 1
                f[1] += s.total_fen
            else:
                f[2] += 1
        for t in conn.execute(select(m.sale_tenders)):
            s = sales[t.sale_id]
            if s.voided_at is None:
                tenders[(s.store_code, day(s.completed_at), t.kind)][0] += t.amount_fen
        rets = {r.return_id: r for r in conn.execute(select(m.returns))}
        for r in rets.values():
            f = figures[(r.store_code, day(r.returned_at))]
            f[3] += 1
            f[4] += r.refund_fen
        for t in conn.execute(select(m.return_refunds)):
            r = rets[t.return_id]
            tenders[(r.store_code, day(r.returned_at), t.kind)][1] += t.amount_fen
    return (
        {k: (v[0], v[1], v[2], v[3], v[4]) for k, v in figures.items()},
        {k: (v[0], v[1]) for k, v in tenders.items() if v != [0, 0]},
    )


def _summary(db: Database) -> tuple[Figures, Tenders]:
    with db.read() as conn:
        days = {
            (r.store_code, r.day): (
                r.sales_count,
                r.sales_fen,
                r.voids_count,
                r.returns_count,
                r.refunds_fen,
            )
            for r in conn.execute(select(m.store_day_sales))
        }
        tenders = {
            (r.store_code, r.day, r.kind): (r.sales_fen, r.refunds_fen)
            for r in conn.execute(select(m.store_day_tenders))
            if (r.sales_fen, r.refunds_fen) != (0, 0)
        }
    return days, tenders


def _push(client: httpx.Client, dev: Any, events: list[dict[str, Any]]) -> list[str]:
    r = client.post("/v1/sync/push", json={"events": events}, headers=dev.headers)
    assert r.status_code == 200, r.text
    return [x["status"] for x in r.json()["results"]]


def _split(total: int, rng: random.Random) -> list[dict[str, Any]]:
    if total < 2 or rng.random() < 0.5:
        return [{"kind": "cash", "amount_fen": total, "tendered_fen": total}]
    card = rng.randint(1, total - 1)
    return [
        {"kind": "card", "amount_fen": card, "reference": uuid.uuid4().hex[:12]},
        {"kind": "cash", "amount_fen": total - card, "tendered_fen": total - card},
    ]


def test_the_summary_equals_a_fresh_sum_after_sales_voids_returns_and_replays(
    hq: RunningHQ, chain: Chain, client: httpx.Client
) -> None:
    """GIVEN two stores' tills WHEN they push 120 random events in random batches —
    sales around the chain's midnight with cash and card, voids (a few out of their
    window, refused), partial returns, sales with their void or return in one batch — and
    replay whole batches and single events THEN every store-day and tender row of the
    summary equals the fresh sum, and the duplicates changed nothing; AND WHEN migration
    0011 rebuilds the summary from the rows THEN it is the same again."""
    rng = random.Random(20)
    sku = chain.item(price_fen=1234)
    stores = [chain.store(), chain.store()]
    devices = {s: chain.device(s) for s in stores}
    supervisors = {s: chain.staff(s, "supervisor") for s in stores}
    midnight = datetime.combine(
        datetime.now(sales_summary.CHAIN_TZ).date(), datetime.min.time(), sales_summary.CHAIN_TZ
    )
    moments = [
        midnight - timedelta(microseconds=1),
        midnight,
        midnight - timedelta(days=1, seconds=1),
        datetime.now(UTC) - timedelta(minutes=3),
    ]
    pushed: list[tuple[Any, list[dict[str, Any]]]] = []
    sales: list[tuple[Any, dict[str, Any]]] = []
    returned_qty: dict[str, int] = defaultdict(int)
    statuses: dict[str, int] = defaultdict(int)

    def send(dev: Any, batch: list[dict[str, Any]]) -> None:
        for status in _push(client, dev, batch):
            statuses[status] += 1
        pushed.append((dev, batch))

    for _ in range(40):
        dev = devices[rng.choice(stores)]
        batch: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 4)):
            roll = rng.random()
            if roll < 0.55 or not sales:
                when = (
                    rng.choice(moments)
                    if rng.random() < 0.5
                    else (datetime.now(UTC) - timedelta(hours=rng.uniform(0, 60)))
                )
                ev = chain.sale(
                    dev, [(sku, rng.choice([1000, 2000, 3000]))], price_fen=1234, when=when
                )
                ev["payload"]["tenders"] = _split(ev["payload"]["total_fen"], rng)
                batch.append(ev)
                sales.append((dev, ev))
            elif roll < 0.75:
                sdev, sale = rng.choice(sales)
                if sdev is not dev:
                    if batch:
                        send(dev, batch)
                    dev, batch = sdev, []
                batch.append(chain.void(dev, sale, supervisors[dev.store]))
            else:
                sdev, sale = rng.choice(sales)
                if sdev is not dev:
                    if batch:
                        send(dev, batch)
                    dev, batch = sdev, []
                sold = sale["payload"]["lines"][0]["qty_milli"]
                before = returned_qty[sale["payload"]["sale_id"]]
                qty = min(1000, max(sold - before, 0)) or 1000  # past what is left: a conflict
                refund_kind = rng.choice(["cash", "card"])
                ev = returned(
                    chain, dev, sale, {1: qty}, returned_before={1: min(before, sold - qty)}
                )
                total = ev["payload"]["refund_fen"]
                ev["payload"]["refunds"] = (
                    [{"kind": refund_kind, "amount_fen": total}] if total else []
                )
                returned_qty[sale["payload"]["sale_id"]] += qty
                batch.append(ev)
        send(dev, batch)
        if rng.random() < 0.3:
            old_dev, old_batch = rng.choice(pushed)
            replay = rng.sample(old_batch, rng.randint(1, len(old_batch)))
            assert set(_push(client, old_dev, replay)) <= {"duplicate", "rejected"}
    assert statuses["applied"] > 60 and statuses["rejected"] > 0
    fresh = _fresh_sums(hq.db)
    assert _summary(hq.db) == fresh
    assert any(v[2] for v in fresh[0].values()), "no void was applied"
    assert any(v[3] for v in fresh[0].values()), "no return was applied"
    assert any(k[2] == "card" and v[1] for k, v in fresh[1].items()), "no card refund"

    for dev, batch in pushed:  # every batch again: nothing moves
        assert set(_push(client, dev, batch)) <= {"duplicate", "rejected"}
    assert _summary(hq.db) == fresh

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(m.__file__).parent / "migrations"))
    with hq.db.engine.connect() as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")
    migrate(hq.db)
    assert _summary(hq.db) == fresh


def test_one_batch_pushed_by_four_connections_at_once_counts_once(
    hq: RunningHQ, chain: Chain
) -> None:
    """GIVEN a batch of three sales and the void of one of them WHEN four connections push
    it at the same moment (a till retrying through several HQ processes) THEN each event
    is applied once, and the store's day counts two sales, one void and their total."""
    store = chain.store()
    dev = chain.device(store)
    supervisor = chain.staff(store, "supervisor")
    sku = chain.item(price_fen=500)
    sales = [chain.sale(dev, [(sku, 1000 * (n + 1))], price_fen=500) for n in range(3)]
    batch = [*sales, chain.void(dev, sales[0], supervisor)]
    go = threading.Barrier(4)
    answers: list[list[str]] = []

    def push() -> None:
        with httpx.Client(base_url=hq.url, timeout=60) as c:
            go.wait()
            answers.append(_push(c, dev, batch))

    threads = [threading.Thread(target=push) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == 4
    assert sorted(a.count("applied") for a in answers) == [0, 0, 0, 4]
    today = sales_summary.local_day(datetime.now(UTC))
    days, tenders = _summary(hq.db)
    assert days[(store, today)] == (2, 1000 + 1500, 1, 0, 0)
    assert tenders[(store, today, "cash")] == (2500, 0)
    assert _summary(hq.db) == _fresh_sums(hq.db)
