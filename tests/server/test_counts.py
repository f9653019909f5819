"""Stock counts (盘点) and goods received at HQ: a count submitted while the shop keeps
selling is compared with the ledger as it stood when each item was counted, decided by a
manager; goods received are booked once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from server_stub import operations
from tests.server.conftest import Chain, RunningHQ
from tests.server.helpers import level
from tests.server.stock_helpers import alerts, ledger_sum, moves, now, push, push_full
from tests.server.support import Device


def _submit(
    chain: Chain, dev: Device, lines: list[tuple[str, int, Any]], staff: str | None = None
) -> tuple[uuid.UUID, dict[str, Any]]:
    cid = uuid.uuid4()
    started = min(at for _, _, at in lines) - timedelta(minutes=1)
    return cid, chain.event(
        {
            "type": "stock.count_submitted",
            "count_id": str(cid),
            "count_no": f"{dev.device_id}-C{cid.hex[:5]}",
            "store": dev.store,
            "terminal": dev.device_id,
            "staff": staff or chain.cashier(dev.store),
            "zone": "饮料区",
            "started_at": started.isoformat(),
            "submitted_at": now().isoformat(),
            "lines": [
                {"sku": sku, "counted_milli": qty, "counted_at": at.isoformat()}
                for sku, qty, at in lines
            ],
        }
    )


def _decide(chain: Chain, dev: Device, cid: uuid.UUID, staff: str, approved: bool = True):
    return chain.event(
        {
            "type": "stock.count_decided",
            "count_id": str(cid),
            "store": dev.store,
            "terminal": dev.device_id,
            "staff": staff,
            "decided_at": now().isoformat(),
            "approved": approved,
        }
    )


def test_sales_during_the_count_are_not_a_variance(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a store with 100 of item A and 50 of item B
    WHEN the whole store is counted (A: 100 at 10:00, B: 46 at 10:05) while the till sells
    3 A at 10:20 and 2 B at 10:01 (before B was counted), the sales reach HQ before the
    count, and a manager approves
    THEN A shows no difference (its sale came after it was counted), B differs by -2
    (50 - 2 sold before = 48 expected, 46 counted), the levels are 97 and 46, the ledger
    sums to both, and B's variance is an alert."""
    store = chain.store()
    a, b = chain.item(), chain.item()
    operations.move_stock(hq.db, "receive", store, a, 100_000, "opening")
    operations.move_stock(hq.db, "receive", store, b, 50_000, "opening")
    dev = chain.device(store)
    boss = chain.staff(store, role="manager")
    t0 = now()  # after the opening stock arrived
    sales = [
        chain.sale(dev, [(a, 3_000)], when=t0 + timedelta(minutes=20)),
        chain.sale(dev, [(b, 2_000)], when=t0 + timedelta(minutes=1)),
    ]
    cid, submitted = _submit(chain, dev, [(a, 100_000, t0), (b, 46_000, t0 + timedelta(minutes=5))])
    assert push(client, dev, [*sales, submitted]) == ["applied"] * 3
    assert level(hq.db, store, a) == 97_000  # nothing moves before the decision
    assert push(client, dev, [_decide(chain, dev, cid, boss)]) == ["applied"]
    assert level(hq.db, store, a) == 97_000
    assert level(hq.db, store, b) == 46_000
    assert moves(hq.db, store, a, "count") == []
    assert moves(hq.db, store, b, "count") == [-2_000]
    for sku in (a, b):
        assert ledger_sum(hq.db, store, sku) == level(hq.db, store, sku)
    assert alerts(hq.db, store, a, "count_variance") == []
    assert [x.qty_milli for x in alerts(hq.db, store, b, "count_variance")] == [-2_000]
    admin = {"Authorization": f"Bearer {chain.admin_token()}"}
    report = client.get(f"/v1/admin/stock/counts/{cid}", headers=admin).json()
    assert report["state"] == "approved" and report["decided_by"] == boss
    assert {(x["sku"], x["expected_milli"], x["difference_milli"]) for x in report["lines"]} == {
        (a, 100_000, 0),
        (b, 48_000, -2_000),
    }


def test_a_count_and_its_decision_in_one_push_with_sales_between(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN 20 on hand WHEN one push carries the count (20 at t), a sale of 4 after t
    and the approval THEN no difference is booked and the level is 16."""
    store = chain.store()
    sku = chain.item()
    operations.move_stock(hq.db, "receive", store, sku, 20_000, "opening")
    dev = chain.device(store)
    boss = chain.staff(store, role="manager")
    t = now()
    cid, submitted = _submit(chain, dev, [(sku, 20_000, t)])
    sale = chain.sale(dev, [(sku, 4_000)], when=t + timedelta(minutes=2))
    assert push(client, dev, [submitted, sale, _decide(chain, dev, cid, boss)]) == ["applied"] * 3
    assert level(hq.db, store, sku) == 16_000
    assert moves(hq.db, store, sku, "count") == []


def test_a_rejected_count_moves_nothing_and_a_decision_needs_a_manager(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a submitted count 5 short WHEN a cashier approves it THEN that is refused
    not_authorised (audited); a decision for an unknown count is retryable; WHEN the
    manager rejects it THEN nothing moves, and a second decision is bad_transition."""
    store = chain.store()
    sku = chain.item()
    operations.move_stock(hq.db, "receive", store, sku, 30_000, "opening")
    dev = chain.device(store)
    boss = chain.staff(store, role="manager")
    cashier = chain.staff(store, role="cashier")
    cid, submitted = _submit(chain, dev, [(sku, 25_000, now())])
    assert push(client, dev, [submitted]) == ["applied"]
    assert push(client, dev, [_decide(chain, dev, cid, cashier)]) == ["rejected:not_authorised"]
    ghost = push_full(client, dev, [_decide(chain, dev, uuid.uuid4(), boss)])["results"][0]
    assert (ghost["code"], ghost["retryable"]) == ("unknown_count", True)
    assert push(client, dev, [_decide(chain, dev, cid, boss, approved=False)]) == ["applied"]
    assert push(client, dev, [_decide(chain, dev, cid, boss)]) == ["rejected:bad_transition"]
    assert level(hq.db, store, sku) == 30_000
    assert moves(hq.db, store, sku, "count") == []
    assert push(client, dev, [submitted]) == ["duplicate"]


def test_a_variance_under_the_threshold_raises_no_alert(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN the store's setting stock.count_variance_alert_milli = 1000 WHEN a count
    differs by 1 and by 3 pieces THEN both are booked, only the 3 is an alert."""
    store = chain.store()
    x, y = chain.item(), chain.item()
    for sku in (x, y):
        operations.move_stock(hq.db, "receive", store, sku, 10_000, "opening")
    operations.set_config(hq.db, store, "stock.count_variance_alert_milli", 1000)
    dev = chain.device(store)
    boss = chain.staff(store, role="manager")
    cid, submitted = _submit(chain, dev, [(x, 9_000, now()), (y, 13_000, now())])
    assert push(client, dev, [submitted, _decide(chain, dev, cid, boss)]) == ["applied"] * 2
    assert (level(hq.db, store, x), level(hq.db, store, y)) == (9_000, 13_000)
    assert alerts(hq.db, store, x, "count_variance") == []
    assert [a.qty_milli for a in alerts(hq.db, store, y, "count_variance")] == [3_000]


def test_goods_received_at_the_till_are_booked_once(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a delivery of 24 and 12 booked at the till WHEN it is pushed twice, and then
    again under a new event id THEN the stock rises once, the replay is a duplicate and
    the second booking of the same receipt is refused."""
    store = chain.store()
    a, b = chain.item(), chain.item()
    dev = chain.device(store)
    rid = str(uuid.uuid4())
    payload = {
        "type": "stock.received",
        "receipt_id": rid,
        "store": store,
        "terminal": dev.device_id,
        "staff": chain.cashier(store),
        "received_at": now().isoformat(),
        "document": "DN-0001",
        "lines": [{"sku": a, "qty_milli": 24_000}, {"sku": b, "qty_milli": 12_000}],
    }
    ev = chain.event(payload)
    assert push(client, dev, [ev]) == ["applied"]
    assert push(client, dev, [ev]) == ["duplicate"]
    assert push(client, dev, [chain.event(payload)]) == ["rejected:invalid"]
    assert (level(hq.db, store, a), level(hq.db, store, b)) == (24_000, 12_000)
    assert moves(hq.db, store, a, "receive") == [24_000]
    unknown = chain.event(
        {**payload, "receipt_id": str(uuid.uuid4()), "lines": [{"sku": "NOPE-1", "qty_milli": 1}]}
    )
    assert push(client, dev, [unknown]) == ["rejected:unknown_sku"]
