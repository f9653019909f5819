"""Online channels reserve stock at HQ: all-or-nothing, idempotent, scoped, expiring, and
a pick-up order handed over at the till as exactly one sale. Real HQ over HTTP, on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from server_stub import reservations
from sync_client.contract import pickup as pickup_codes
from tests.server.conftest import Chain, Device, RunningHQ
from tests.server.reservation_helpers import (
    add_channel,
    check_race,
    conflicts,
    level,
    order,
    race_for_last_units,
    stock_in,
    together,
)

RESERVE = "/v1/channel/reservations"


def _pull(client: httpx.Client, device: Device, after: int = 0) -> list[dict[str, Any]]:
    r = client.get("/v1/sync/pull", params={"after": after}, headers=device.headers)
    assert r.status_code == 200, r.text
    changes: list[dict[str, Any]] = r.json()["changes"]
    return changes


def _stock_seen(changes: list[dict[str, Any]], store: str, sku: str) -> dict[str, Any]:
    mine = [c for c in changes if c["kind"] == "stock" and c["key"] == f"{store}:{sku}"]
    return mine[-1]["data"]


def test_sixty_four_orders_for_the_last_ten_units_while_tills_sell(hq: RunningHQ, chain: Chain):
    """GIVEN 10 units of an item at a store WHEN 64 one-unit orders from three channels
    arrive at once while two tills push 4 sales of it THEN at most 10 orders hold a unit,
    reserved never exceeds what was available, every other order is refused naming the
    short line, and a till sale that dipped into reserved stock is recorded as a conflict."""
    out = race_for_last_units(hq.db, chain, [hq.url])
    check_race(hq.db, out)
    assert len(out.reserved) >= 10 - 4
    store = out.reserved[0]["store"]
    if out.on_hand < out.reserved_milli:
        assert conflicts(hq.db, store) >= 1


def test_an_order_short_on_one_line_holds_nothing_and_names_that_line(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN 3 of item A and 1 of item B WHEN an order asks 2 A and 2 B THEN it is refused
    with B short (1 available) and A is not held."""
    store = chain.store()
    a, b = chain.item(), chain.item()
    stock_in(hq.db, store, a, 3000)
    stock_in(hq.db, store, b, 1000)
    ch = add_channel(hq.db, f"mini-{store}", [store])
    r = client.post(RESERVE, json=order(store, "A-1", [(a, 2000), (b, 2000)]), headers=ch)
    assert r.status_code == 409, r.text
    assert r.json()["short"] == [{"sku": b, "requested_milli": 2000, "available_milli": 1000}]
    assert level(hq.db, store, a) == (3000, 0)
    assert level(hq.db, store, b) == (1000, 0)


def test_replays_of_reserve_confirm_and_cancel_change_nothing(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN an order reserved WHEN the same reserve comes again THEN the same
    reservation answers (200) and nothing more is held; a different body under the same
    order id is refused; confirm twice and cancel twice act once, and the till sees each
    change of available through the feed."""
    store = chain.store()
    sku = chain.item()
    stock_in(hq.db, store, sku, 5000)
    till = chain.device(store)
    ch = add_channel(hq.db, f"mt-{store}", [store])
    body = order(store, "MT-77", [(sku, 2000)])
    first = client.post(RESERVE, json=body, headers=ch)
    assert first.status_code == 201, first.text
    again = client.post(RESERVE, json=body, headers=ch)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert level(hq.db, store, sku) == (5000, 2000)
    seen = _stock_seen(_pull(client, till), store, sku)
    assert (seen["reserved_milli"], seen["available_milli"]) == (2000, 3000)

    other = client.post(RESERVE, json=order(store, "MT-77", [(sku, 1000)]), headers=ch)
    assert (other.status_code, other.json()["code"]) == (409, "order_id_reused")

    c1 = client.post(f"{RESERVE}/MT-77/confirm", headers=ch)
    c2 = client.post(f"{RESERVE}/MT-77/confirm", headers=ch)
    assert c1.status_code == c2.status_code == 200
    assert c1.json() == c2.json()
    assert c1.json()["status"] == "confirmed"
    assert level(hq.db, store, sku) == (5000, 2000)

    x1 = client.post(f"{RESERVE}/MT-77/cancel", headers=ch)
    x2 = client.post(f"{RESERVE}/MT-77/cancel", headers=ch)
    assert x1.status_code == x2.status_code == 200
    assert x2.json()["status"] == "cancelled"
    assert level(hq.db, store, sku) == (5000, 0)
    seen = _stock_seen(_pull(client, till), store, sku)
    assert (seen["reserved_milli"], seen["available_milli"]) == (0, 5000)
    # A replay of the first reserve answers the cancelled order, it does not hold again.
    replay = client.post(RESERVE, json=body, headers=ch)
    assert (replay.status_code, replay.json()["status"]) == (200, "cancelled")
    assert level(hq.db, store, sku) == (5000, 0)


def test_an_unconfirmed_order_past_its_time_gives_its_stock_back(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN an order reserved for 60 s and another confirmed WHEN sweepers (two at once)
    run after the minute THEN the unconfirmed one is expired once and its units are
    available again; the paid one still holds; confirming the expired one is refused."""
    store = chain.store()
    sku = chain.item()
    stock_in(hq.db, store, sku, 4000)
    ch = add_channel(hq.db, f"dl-{store}", [store])
    assert client.post(RESERVE, json=order(store, "E-1", [(sku, 1000)], ttl_s=60), headers=ch)
    assert client.post(RESERVE, json=order(store, "E-2", [(sku, 2000)], ttl_s=60), headers=ch)
    assert client.post(f"{RESERVE}/E-2/confirm", headers=ch).status_code == 200
    assert level(hq.db, store, sku) == (4000, 3000)
    later = datetime.now(UTC) + timedelta(seconds=61)
    swept = [reservations.sweep_expired(hq.db, now=later) for _ in range(2)]
    assert sum(swept) >= 1
    assert level(hq.db, store, sku) == (4000, 2000)
    got = client.get(f"{RESERVE}/E-1", headers=ch).json()
    assert got["status"] == "expired"
    late = client.post(f"{RESERVE}/E-1/confirm", headers=ch)
    assert (late.status_code, late.json()["code"]) == (409, "reservation_ended")
    assert client.get(f"{RESERVE}/E-2", headers=ch).json()["status"] == "confirmed"


def test_sweepers_running_at_once_expire_each_order_once(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN 12 unconfirmed orders past their time WHEN four sweepers run at the same
    moment (as several HQ processes would) THEN each order is expired exactly once and
    the level holds nothing any more."""
    store = chain.store()
    sku = chain.item()
    stock_in(hq.db, store, sku, 12000)
    ch = add_channel(hq.db, f"sw-{store}", [store])
    for i in range(12):
        body = order(store, f"S-{i}", [(sku, 1000)], ttl_s=60)
        assert client.post(RESERVE, json=body, headers=ch).status_code == 201
    later = datetime.now(UTC) + timedelta(seconds=61)
    swept = together([lambda: reservations.sweep_expired(hq.db, now=later, batch=5)] * 4)
    assert sum(swept) == 12
    assert level(hq.db, store, sku) == (12000, 0)


def test_a_channel_cannot_reserve_outside_its_stores_or_read_another_channels_orders(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN channel A for store 1 and channel B for stores 1 and 2 WHEN A reserves at
    store 2, A reads or cancels B's order, or a till's token is used THEN 403 / 404 /
    403, and nothing changes."""
    s1, s2 = chain.store(), chain.store()
    sku = chain.item()
    stock_in(hq.db, s1, sku, 2000)
    stock_in(hq.db, s2, sku, 2000)
    a = add_channel(hq.db, f"a-{s1}", [s1])
    b = add_channel(hq.db, f"b-{s1}", [s1, s2])
    out = client.post(RESERVE, json=order(s2, "X-1", [(sku, 1000)]), headers=a)
    assert (out.status_code, out.json()["code"]) == (403, "store_out_of_scope")
    assert client.post(RESERVE, json=order(s2, "B-1", [(sku, 1000)]), headers=b).status_code == 201
    for call in (
        lambda: client.get(f"{RESERVE}/B-1", headers=a),
        lambda: client.post(f"{RESERVE}/B-1/cancel", headers=a),
        lambda: client.post(f"{RESERVE}/B-1/confirm", headers=a),
    ):
        r = call()
        assert (r.status_code, r.json()["code"]) == (404, "unknown_order")
    assert level(hq.db, s2, sku) == (2000, 1000)
    till = chain.device(s1)
    r = client.post(RESERVE, json=order(s1, "T-1", [(sku, 1000)]), headers=till.headers)
    assert r.status_code == 403
    assert client.get(f"{RESERVE}/B-1").status_code == 401


def _pickup_sale(
    chain: Chain, device: Device, sku: str, qty: int, reservation_id: str, order_id: str
) -> dict[str, Any]:
    ev = chain.sale(device, [(sku, qty)])
    pl = ev["payload"]
    pl["pickup"] = reservation_id
    pl["tenders"] = [{"kind": "channel", "amount_fen": pl["total_fen"], "reference": order_id}]
    return ev


def test_a_pickup_order_scanned_at_the_till_becomes_exactly_one_sale(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a paid pick-up order of 2 units WHEN its store's till sees it in the feed
    (only the code's hash), marks it ready and pushes the sale naming it twice (a replay)
    and a second sale names it too THEN the order is collected by the first sale, on hand
    and reserved each drop by 2 once, the replay is a duplicate and the second sale is
    refused ``pickup_collected``; another store's till never sees the order."""
    store, elsewhere = chain.store(), chain.store()
    sku = chain.item()
    stock_in(hq.db, store, sku, 5000)
    till = chain.device(store)
    stranger = chain.device(elsewhere)
    ch = add_channel(hq.db, f"pk-{store}", [store])
    r = client.post(RESERVE, json=order(store, "PK-1", [(sku, 2000)], pickup=True), headers=ch)
    assert r.status_code == 201 and r.json()["pickup_code"] is None
    paid = client.post(f"{RESERVE}/PK-1/confirm", headers=ch).json()
    code = paid["pickup_code"]
    rid = paid["reservation_id"]
    assert code

    seen = [c for c in _pull(client, till) if c["kind"] == "pickup"]
    assert [c["data"]["status"] for c in seen] == ["confirmed"]
    data = seen[0]["data"]
    assert code not in json.dumps(seen)
    assert data["code_hash"] == pickup_codes.code_hash(uuid.UUID(rid), code.lower())
    assert [c for c in _pull(client, stranger) if c["kind"] == "pickup"] == []
    snap = client.get("/v1/sync/snapshot", headers=till.headers).json()
    assert [x["reservation_id"] for x in snap["pickups"]] == [rid]
    assert client.get("/v1/sync/snapshot", headers=stranger.headers).json()["pickups"] == []
    assert client.post(f"/v1/pickups/{rid}/ready", headers=stranger.headers).status_code == 404
    ready = client.post(f"/v1/pickups/{rid}/ready", headers=till.headers)
    assert ready.status_code == 200 and ready.json()["ready"] is True

    sale = _pickup_sale(chain, till, sku, 2000, rid, "PK-1")
    first = client.post("/v1/sync/push", json={"events": [sale]}, headers=till.headers).json()
    assert first["applied"] == 1, first
    replay = client.post("/v1/sync/push", json={"events": [sale]}, headers=till.headers).json()
    assert replay["duplicate"] == 1
    second = _pickup_sale(chain, till, sku, 2000, rid, "PK-1")
    again = client.post("/v1/sync/push", json={"events": [second]}, headers=till.headers).json()
    assert again["rejected"] == 1 and again["results"][0]["code"] == "pickup_collected"

    assert level(hq.db, store, sku) == (3000, 0)
    got = client.get(f"{RESERVE}/PK-1", headers=ch).json()
    assert got["status"] == "collected"
    assert got["sale_id"] == sale["payload"]["sale_id"]
    last = [c for c in _pull(client, till) if c["kind"] == "pickup"][-1]["data"]
    assert last["status"] == "collected"
    assert conflicts(hq.db, store) == 0
    assert client.get("/v1/sync/snapshot", headers=till.headers).json()["pickups"] == []
    cancel = client.post(f"{RESERVE}/PK-1/cancel", headers=ch)
    assert (cancel.status_code, cancel.json()["code"]) == (409, "pickup_collected")


def test_a_till_sale_of_reserved_units_stands_and_is_recorded_for_the_manager(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN 2 units both reserved by an online order WHEN a till sells one anyway THEN
    the sale is applied, on hand drops below reserved, and a conflict names the order."""
    store = chain.store()
    sku = chain.item()
    stock_in(hq.db, store, sku, 2000)
    till = chain.device(store)
    ch = add_channel(hq.db, f"cf-{store}", [store])
    assert client.post(RESERVE, json=order(store, "CF-1", [(sku, 2000)]), headers=ch)
    sale = chain.sale(till, [(sku, 1000)])
    out = client.post("/v1/sync/push", json={"events": [sale]}, headers=till.headers).json()
    assert out["applied"] == 1
    assert level(hq.db, store, sku) == (1000, 2000)
    found = reservations.list_conflicts(hq.db, store)
    assert len(found) == 1
    assert found[0].orders == (f"cf-{store}:CF-1",)
    assert found[0].sale_ref == sale["payload"]["sale_id"]


def test_a_sale_naming_an_unpaid_or_unknown_pickup_is_refused_and_changes_nothing(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a pick-up order reserved but not paid WHEN a till pushes a sale naming it,
    or naming no order at all THEN both are rejected ``unknown_pickup`` (retryable only
    for the unpaid order), no sale is recorded and the stock is as it was."""
    store = chain.store()
    sku = chain.item()
    stock_in(hq.db, store, sku, 3000)
    till = chain.device(store)
    ch = add_channel(hq.db, f"up-{store}", [store])
    rid = client.post(
        RESERVE, json=order(store, "UP-1", [(sku, 1000)], pickup=True), headers=ch
    ).json()["reservation_id"]
    unpaid = _pickup_sale(chain, till, sku, 1000, rid, "UP-1")
    stray = _pickup_sale(chain, till, sku, 1000, str(uuid.uuid4()), "UP-2")
    out = client.post(
        "/v1/sync/push", json={"events": [unpaid, stray]}, headers=till.headers
    ).json()
    assert [(r["status"], r["code"], r["retryable"]) for r in out["results"]] == [
        ("rejected", "unknown_pickup", True),
        ("rejected", "unknown_pickup", False),
    ]
    assert level(hq.db, store, sku) == (3000, 1000)
    assert client.get(f"{RESERVE}/UP-1", headers=ch).json()["status"] == "reserved"
