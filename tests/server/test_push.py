"""POST /v1/sync/push on real uvicorn: sales, voids, counts, shifts, replays, races."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from server_stub import models as m
from server_stub import operations
from server_stub.auth import DeviceIdentity
from sync_client.contract import protocol as p
from tests.server.conftest import Chain, RunningHQ
from tests.server.helpers import feed_changes, level, state


def push(client: httpx.Client, device, events) -> dict:
    r = client.post("/v1/sync/push", json={"events": events}, headers=device.headers)
    assert r.status_code == 200, r.text
    return r.json()


def statuses(body: dict) -> list[str]:
    return [
        r["status"] if r["status"] != "rejected" else f"rejected:{r['code']}"
        for r in body["results"]
    ]


def test_sales_apply_once_and_replays_change_nothing(hq: RunningHQ, chain: Chain, client):
    """GIVEN 10 pieces in stock WHEN three sales are pushed, then the same batch three more
    times THEN stock drops once per sale, every replay answers duplicate, nothing moves."""
    store = chain.store()
    sku = chain.item()
    operations.move_stock(hq.db, "receive", store, sku, 10_000, "opening stock")
    dev = chain.device(store)
    batch = [
        chain.sale(dev, [(sku, 1000)]),
        chain.sale(dev, [(sku, 2000)]),
        chain.sale(dev, [(sku, 1000)]),
    ]

    first = push(client, dev, batch)
    assert statuses(first) == ["applied"] * 3
    assert (first["applied"], first["duplicate"], first["rejected"]) == (3, 0, 0)
    assert level(hq.db, store, sku) == 6000
    last_stock = json.loads(feed_changes(hq.db, "stock", f"{store}:{sku}")[-1])
    assert last_stock["data"]["on_hand_milli"] == 6000
    assert last_stock["store"] == store

    stock_seq = max(json.loads(c)["seq"] for c in feed_changes(hq.db, "stock", f"{store}:{sku}"))
    assert first["head"] >= stock_seq

    before = state(hq.db)
    for _ in range(3):
        again = push(client, dev, batch)
        assert statuses(again) == ["duplicate"] * 3
        assert [r["id"] for r in again["results"]] == [e["id"] for e in batch]
    assert state(hq.db) == before


def test_one_bad_event_never_sinks_the_batch(hq: RunningHQ, chain: Chain, client):
    store = chain.store()
    sku = chain.item()
    dev = chain.device(store)
    good1 = chain.sale(dev, [(sku, 1000)])
    unknown_type = chain.event({"type": "member.joined", "store": store})
    missing = chain.event({"type": "sale.completed", "store": store})
    unknown_sku = chain.sale(dev, [("NO-SUCH-SKU", 1000)])
    bad_sum = chain.sale(dev, [(sku, 1000)])
    bad_sum["payload"]["lines"][0]["amount_fen"] += 1
    naive = chain.sale(dev, [(sku, 1000)])
    naive["payload"]["completed_at"] = "2025-01-01T12:00:00"
    not_an_event = {"hello": "world"}
    nul = chain.sale(dev, [(sku, 1000)])
    nul["payload"]["receipt_no"] = "R\u00001"
    good2 = chain.sale(dev, [(sku, 1000)])

    body = push(
        client,
        dev,
        [good1, unknown_type, missing, unknown_sku, bad_sum, naive, not_an_event, nul, good2],
    )
    assert statuses(body) == [
        "applied",
        "rejected:unknown_type",
        "rejected:invalid",
        "rejected:unknown_sku",
        "rejected:invalid",
        "rejected:invalid",
        "rejected:invalid",
        "rejected:invalid",
        "applied",
    ]
    assert body["results"][1]["id"] == unknown_type["id"]
    assert body["results"][6]["id"] is None
    assert "NO-SUCH-SKU" in body["results"][3]["detail"]
    assert "amount_fen" in body["results"][4]["detail"]
    assert "completed_at" in body["results"][5]["detail"]
    assert "timezone" in body["results"][5]["detail"]
    assert "NUL" in body["results"][7]["detail"]
    assert level(hq.db, store, sku) == -2000
    with hq.db.read() as conn:
        ids = set(conn.execute(select(m.events.c.id)).scalars())
    assert uuid.UUID(good1["id"]) in ids and uuid.UUID(good2["id"]) in ids
    assert uuid.UUID(unknown_sku["id"]) not in ids


def test_offline_sales_may_drive_stock_negative_and_raise_an_alert(
    hq: RunningHQ, chain: Chain, client
):
    store = chain.store()
    sku = chain.item()
    operations.move_stock(hq.db, "receive", store, sku, 1000, "one on the shelf")
    dev = chain.device(store)
    sale = chain.sale(dev, [(sku, 3000)])
    assert statuses(push(client, dev, [sale])) == ["applied"]
    assert level(hq.db, store, sku) == -2000
    with hq.db.read() as conn:
        alerts = conn.execute(
            select(m.stock_alerts).where(m.stock_alerts.c.store_code == store)
        ).all()
    assert [(a.sku, a.kind, a.on_hand_milli, a.ref) for a in alerts] == [
        (sku, "negative", -2000, sale["payload"]["sale_id"])
    ]


def test_void_puts_stock_back_and_needs_a_supervisor_of_the_store(
    hq: RunningHQ, chain: Chain, client
):
    store, other = chain.store(), chain.store()
    sku = chain.item()
    dev = chain.device(store)
    cashier = chain.staff(store, role="cashier")
    foreign_boss = chain.staff(other, role="supervisor")
    boss = chain.staff(store, role="supervisor")
    sale = chain.sale(dev, [(sku, 2000), (sku, 1000)])
    assert statuses(push(client, dev, [sale])) == ["applied"]
    assert level(hq.db, store, sku) == -3000

    refused = push(
        client, dev, [chain.void(dev, sale, cashier), chain.void(dev, sale, foreign_boss)]
    )
    assert statuses(refused) == ["rejected:not_authorised"] * 2
    assert level(hq.db, store, sku) == -3000

    void = chain.void(dev, sale, boss)
    assert statuses(push(client, dev, [void])) == ["applied"]
    assert level(hq.db, store, sku) == 0
    with hq.db.read() as conn:
        row = conn.execute(
            select(m.sales).where(m.sales.c.sale_id == uuid.UUID(sale["payload"]["sale_id"]))
        ).one()
    assert (row.void_supervisor, row.void_reason) == (boss, "顾客取消")
    assert row.voided_at is not None

    twice = push(client, dev, [void, chain.void(dev, sale, boss)])
    assert statuses(twice) == ["duplicate", "rejected:already_voided"]
    assert level(hq.db, store, sku) == 0


def test_void_of_a_sale_hq_has_not_seen_is_refused_as_retryable(
    hq: RunningHQ, chain: Chain, client
):
    store = chain.store()
    sku = chain.item()
    dev = chain.device(store)
    boss = chain.staff(store)
    sale = chain.sale(dev, [(sku, 1000)])
    early = push(client, dev, [chain.void(dev, sale, boss)])
    assert statuses(early) == ["rejected:unknown_sale"]
    assert early["results"][0]["retryable"] is True
    # Sale and void in one batch, in order: both apply and cancel out.
    both = push(client, dev, [sale, chain.void(dev, sale, boss)])
    assert statuses(both) == ["applied", "applied"]
    assert level(hq.db, store, sku) == 0


def test_same_sale_under_a_new_event_id_is_refused(hq: RunningHQ, chain: Chain, client):
    store = chain.store()
    sku = chain.item()
    dev = chain.device(store)
    sale_id = uuid.uuid4()
    first = chain.sale(dev, [(sku, 1000)], sale_id=sale_id)
    second = chain.sale(dev, [(sku, 1000)], sale_id=sale_id)
    body = push(client, dev, [first, second, first])
    assert statuses(body) == ["applied", "rejected:sale_exists", "duplicate"]
    assert level(hq.db, store, sku) == -1000


def test_stock_count_sets_the_level_and_records_the_difference(hq: RunningHQ, chain: Chain, client):
    store = chain.store()
    sku = chain.item()
    operations.move_stock(hq.db, "receive", store, sku, 10_000, "delivery")
    dev = chain.device(store)
    sale = chain.sale(dev, [(sku, 2000)])
    count = chain.count(dev, sku, 7000)
    after = chain.sale(dev, [(sku, 1000)])
    assert statuses(push(client, dev, [sale, count, after])) == ["applied"] * 3
    assert level(hq.db, store, sku) == 6000
    with hq.db.read() as conn:
        row = conn.execute(
            select(m.stock_counts).where(m.stock_counts.c.event_id == uuid.UUID(count["id"]))
        ).one()
    assert (row.previous_milli, row.counted_milli, row.difference_milli) == (8000, 7000, -1000)
    assert (
        json.loads(feed_changes(hq.db, "stock", f"{store}:{sku}")[-1])["data"]["on_hand_milli"]
        == 6000
    )


def test_shift_open_and_close_are_recorded(hq: RunningHQ, chain: Chain, client):
    store = chain.store()
    dev = chain.device(store)
    cashier = chain.staff(store, "cashier")
    shift_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    opened = chain.event(
        {
            "type": "shift.opened",
            "shift_id": shift_id,
            "store": store,
            "terminal": dev.device_id,
            "staff": cashier,
            "opened_at": now.isoformat(),
            "float_fen": 50_000,
        }
    )
    closed = chain.event(
        {
            "type": "shift.closed",
            "shift_id": shift_id,
            "store": store,
            "terminal": dev.device_id,
            "staff": cashier,
            "closed_at": (now + timedelta(hours=8)).isoformat(),
            "expected_cash_fen": 150_000,
            "counted_cash_fen": 149_500,
            "over_short_fen": -500,
        }
    )
    assert statuses(push(client, dev, [opened, closed])) == ["applied", "applied"]
    with hq.db.read() as conn:
        row = conn.execute(select(m.shifts).where(m.shifts.c.shift_id == uuid.UUID(shift_id))).one()
    assert (row.float_fen, row.counted_cash_fen, row.over_short_fen) == (50_000, 149_500, -500)


def test_events_for_another_store_refuse_the_whole_batch(hq: RunningHQ, chain: Chain, client):
    store, other = chain.store(), chain.store()
    sku = chain.item()
    dev = chain.device(store)
    mine = chain.sale(dev, [(sku, 1000)])
    theirs = chain.sale(dev, [(sku, 1000)])
    theirs["payload"]["store"] = other
    before = state(hq.db)
    r = client.post("/v1/sync/push", json={"events": [mine, theirs]}, headers=dev.headers)
    assert r.status_code == 403
    assert r.json()["code"] == "wrong_store"
    assert state(hq.db) == before


def test_duplicate_ids_within_one_batch(hq: RunningHQ, chain: Chain, client):
    store = chain.store()
    sku = chain.item()
    dev = chain.device(store)
    sale = chain.sale(dev, [(sku, 1000)])
    assert statuses(push(client, dev, [sale, sale])) == ["applied", "duplicate"]
    assert level(hq.db, store, sku) == -1000


def test_racing_pushes_of_one_batch_apply_each_event_exactly_once(hq: RunningHQ, chain: Chain):
    """GIVEN a terminal that retries one batch on four connections at once (a flaky
    network) THEN every event is applied by exactly one of the answers."""
    store = chain.store()
    skus = [chain.item() for _ in range(3)]
    dev = chain.device(store)
    batch = [chain.sale(dev, [(skus[i % 3], 1000), (skus[(i + 1) % 3], 500)]) for i in range(60)]
    answers: list[dict] = []
    errors: list[BaseException] = []
    go = threading.Barrier(4)

    def worker() -> None:
        try:
            with httpx.Client(base_url=hq.url, timeout=60) as c:
                go.wait()
                answers.append(push(c, dev, batch))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(answers) == 4
    for i in range(len(batch)):
        got = sorted(a["results"][i]["status"] for a in answers)
        assert got == ["applied", "duplicate", "duplicate", "duplicate"], (i, got)
    for sku in skus:
        assert level(hq.db, store, sku) == -(20 * 1000 + 20 * 500)


def test_lines_keep_their_price_version_for_the_stale_price_report(
    hq: RunningHQ, chain: Chain, client
):
    store = chain.store()
    sku = chain.item(price_fen=1600)
    dev = chain.device(store)
    with hq.db.read() as conn:
        current = conn.execute(
            select(m.price_versions.c.id).where(m.price_versions.c.sku == sku)
        ).scalar_one()
    since = datetime.now(UTC) - timedelta(seconds=5)
    fresh = chain.sale(dev, [(sku, 1000)], price_version=current)
    stale = chain.sale(
        dev, [(sku, 1000), (sku, 2000)], price_version=current - 1 if current > 1 else 999
    )
    assert statuses(push(client, dev, [fresh, stale])) == ["applied", "applied"]
    token = chain.admin_token()
    r = client.get(
        "/v1/admin/reports/stale-prices",
        params={"since": since.isoformat(), "store": store},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["stores"] == [{"store": store, "lines": 3, "stale_lines": 2}]
    # An instant before year 1 once in UTC is a clear 422, not a server fault.
    r = client.get(
        "/v1/admin/reports/stale-prices",
        params={"since": "0001-01-01T00:00:00+00:01"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_value"


def test_savepoint_mode_gives_the_same_answers_as_the_bulk_mode(hq: RunningHQ, chain: Chain):
    """The per-event savepoint path (used when racing pushes keep colliding) applies,
    refuses and deduplicates exactly as the bulk path does."""
    from server_stub import ingest
    from server_stub.auth import DeviceIdentity

    store = chain.store()
    sku = chain.item()
    dev = chain.device(store)
    boss = chain.staff(store)
    sale = chain.sale(dev, [(sku, 1000)])
    batch = [sale, chain.void(dev, sale, boss), chain.sale(dev, [("NOPE", 1)]), sale]
    batch.append(chain.count(dev, sku, 5000))
    parsed = [ingest._parse(i, e, True) for i, e in enumerate(batch)]
    kept = [x for x in parsed if not isinstance(x, p.EventResult)]
    device = DeviceIdentity(dev.device_id, store)
    results, _ = hq.db.run_write(lambda tx: ingest._Batch(tx, device, kept, True).run())
    assert [results[i].status for i in sorted(results)] == [
        "applied",
        "applied",
        "rejected",
        "duplicate",
        "applied",
    ]
    assert level(hq.db, store, sku) == 5000
    again, _ = hq.db.run_write(lambda tx: ingest._Batch(tx, device, kept, True).run())
    assert {r.status for i, r in again.items() if i != 2} == {"duplicate"}


def test_a_value_the_database_refuses_sinks_only_its_event(
    hq: RunningHQ, chain: Chain, backend, monkeypatch
):
    """GIVEN an event that passed validation but holds a value PostgreSQL refuses (a
    receipt number longer than its column) THEN only that event is rejected."""
    if backend != "pg":
        pytest.skip("SQLite does not enforce text lengths")
    from server_stub import ingest

    store = chain.store()
    sku = chain.item()
    dev = chain.device(store)
    good = chain.sale(dev, [(sku, 1000)])
    bad = chain.sale(dev, [(sku, 1000)])
    parsed = [ingest._parse(i, e, True) for i, e in enumerate([good, bad])]
    # Bypass the schema the way a future, looser protocol version might.
    payload = parsed[1].event.payload.model_copy(update={"receipt_no": "R" * 100})
    parsed[1] = ingest._Parsed(1, parsed[1].event.model_copy(update={"payload": payload}))
    monkeypatch.setattr(ingest, "_parse", lambda index, raw, nul: parsed[index])
    out = ingest.push(hq.db, DeviceIdentity(dev.device_id, store), [good, bad])
    statuses = [(r.status, r.code) for r in out.response.results]
    assert statuses == [("applied", None), ("rejected", "invalid")]
    assert "cannot be stored" in out.response.results[1].detail
    assert level(hq.db, store, sku) == -1000


def test_time_answers_hq_clock_without_a_token(client):
    """GIVEN no token WHEN a terminal asks HQ's time THEN it gets an aware UTC instant near
    now (the terminal's clock offset is measured from it)."""
    before = datetime.now(UTC)
    r = client.get("/v1/time")
    after = datetime.now(UTC)
    assert r.status_code == 200
    t = p.TimeResponse.model_validate(r.json()).server_time
    assert before - timedelta(seconds=1) <= t <= after + timedelta(seconds=1)
