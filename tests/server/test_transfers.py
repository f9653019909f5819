"""Transfers (调拨) at HQ: the state machine, who may do each step, what each step moves
in the ledger, and that both stores' tills see every change; replays change nothing."""

from __future__ import annotations

import uuid

import httpx
import pytest

from server_stub import operations
from sync_client.contract import protocol as p
from tests.server.conftest import Chain, RunningHQ
from tests.server.helpers import level
from tests.server.stock_helpers import (
    WATER,
    alerts,
    audit_actions,
    ledger_sum,
    moves,
    pulled,
    push,
    push_full,
    request,
    step,
)


@pytest.fixture(scope="module")
def water(chain: Chain) -> str:
    return chain.item(price_fen=200, name_zh=WATER)


def _two_stores(hq: RunningHQ, chain: Chain, sku: str, stock_at_sender: int = 240_000):
    sender, receiver = chain.store("城东店"), chain.store("城西店")
    operations.move_stock(hq.db, "receive", sender, sku, stock_at_sender, "opening")
    operations.move_stock(hq.db, "receive", receiver, sku, 5_000, "opening")
    return (
        sender,
        receiver,
        chain.device(sender),
        chain.device(receiver),
        chain.staff(sender, role="manager"),
        chain.staff(receiver, role="manager"),
    )


def test_scenario_9_request_approve_ship_and_a_short_receipt(
    hq: RunningHQ, chain: Chain, client: httpx.Client, water: str
):
    """GIVEN S003 holding 240 矿泉水 and S002 holding 5
    WHEN S002's manager asks S003 for 48, S003's manager approves and ships 48, and S002
    receives 46
    THEN S003 has 192 and S002 51, the ledger sums to both levels, a shortfall of 2 is
    an alert at both stores, and both stores' tills receive every state of the transfer
    (and only their own alerts)."""
    s3, s2, dev3, dev2, boss3, boss2 = _two_stores(hq, chain, water)
    tid, asked = request(chain, dev2, s3, boss2, [(water, 48_000)])
    assert push(client, dev2, [asked]) == ["applied"]
    approved = step(chain, dev3, "approved", tid, boss3, [(water, 48_000)])
    shipped = step(chain, dev3, "shipped", tid, boss3, [(water, 48_000)])
    assert push(client, dev3, [approved, shipped]) == ["applied", "applied"]
    assert level(hq.db, s3, water) == 192_000
    assert level(hq.db, s2, water) == 5_000  # in transit
    received = step(chain, dev2, "received", tid, boss2, [(water, 46_000)])
    assert push(client, dev2, [received]) == ["applied"]

    assert level(hq.db, s3, water) == 192_000
    assert level(hq.db, s2, water) == 51_000
    for store in (s2, s3):
        assert ledger_sum(hq.db, store, water) == level(hq.db, store, water)
    assert moves(hq.db, s3, water, "transfer_out") == [-48_000]
    assert moves(hq.db, s2, water, "transfer_in") == [46_000]
    for store in (s2, s3):
        short = alerts(hq.db, store, water, "transfer_shortfall")
        assert [(a.qty_milli, a.ref) for a in short] == [(2_000, str(tid))]
    assert alerts(hq.db, s3, water, "transfer_shortfall")[0].on_hand_milli == 192_000

    for dev in (dev2, dev3):
        states = [
            c["data"]["state"] for c in pulled(client, dev, "transfer") if c["key"] == str(tid)
        ]
        assert states == ["requested", "approved", "shipped", "received"]
        last = [c for c in pulled(client, dev, "transfer") if c["key"] == str(tid)][-1]["data"]
        assert last["lines"] == [
            {
                "sku": water,
                "requested_milli": 48_000,
                "approved_milli": 48_000,
                "shipped_milli": 48_000,
                "received_milli": 46_000,
            }
        ]
        seen = {(a["data"]["store"], a["data"]["kind"]) for a in pulled(client, dev, "alert")}
        assert seen == {(dev.store, "transfer_shortfall")}

    admin = {"Authorization": f"Bearer {chain.admin_token()}"}
    r = client.get(f"/v1/admin/transfers/{tid}", headers=admin)
    assert r.status_code == 200 and r.json()["state"] == "received"
    r = client.get("/v1/transfers", params={"open": "true"}, headers=dev2.headers)
    assert str(tid) not in {t["transfer_id"] for t in r.json()}


def test_every_step_replayed_is_a_duplicate_and_moves_nothing_again(
    hq: RunningHQ, chain: Chain, client: httpx.Client, water: str
):
    """GIVEN a transfer taken through every step WHEN each store pushes all its steps
    again (a retry after a lost answer) THEN every replay is a duplicate and the levels,
    ledger and alerts are as after the first push."""
    s3, s2, dev3, dev2, boss3, boss2 = _two_stores(hq, chain, water)
    tid, asked = request(chain, dev2, s3, boss2, [(water, 10_000)])
    approved = step(chain, dev3, "approved", tid, boss3, [(water, 8_000)])
    shipped = step(chain, dev3, "shipped", tid, boss3, [(water, 8_000)])
    received = step(chain, dev2, "received", tid, boss2, [(water, 7_000)])
    assert push(client, dev2, [asked]) == ["applied"]
    assert push(client, dev3, [approved, shipped]) == ["applied"] * 2
    assert push(client, dev2, [received]) == ["applied"]
    before = (level(hq.db, s3, water), level(hq.db, s2, water))
    assert push(client, dev2, [asked, received]) == ["duplicate"] * 2
    assert push(client, dev3, [approved, shipped]) == ["duplicate"] * 2
    assert (level(hq.db, s3, water), level(hq.db, s2, water)) == before == (232_000, 12_000)
    assert moves(hq.db, s3, water, "transfer_out") == [-8_000]
    assert moves(hq.db, s2, water, "transfer_in") == [7_000]
    assert len(alerts(hq.db, s2, water, "transfer_shortfall")) == 1


def test_the_wrong_store_or_role_is_refused_and_audited(
    hq: RunningHQ, chain: Chain, client: httpx.Client, water: str
):
    """GIVEN a requested transfer from S3 to S2 WHEN the requesting store tries to
    approve its own request, a cashier of S3 approves, or S3 tries to receive THEN each
    is refused not_authorised, audited, and nothing changes; S3's manager then approves."""
    s3, s2, dev3, dev2, boss3, boss2 = _two_stores(hq, chain, water)
    cashier3 = chain.staff(s3, role="cashier")
    tid, asked = request(chain, dev2, s3, boss2, [(water, 10_000)])
    assert push(client, dev2, [asked]) == ["applied"]
    own_approval = step(chain, dev2, "approved", tid, boss2, [(water, 10_000)])
    by_cashier = step(chain, dev3, "approved", tid, cashier3, [(water, 10_000)])
    out = push_full(client, dev2, [own_approval])["results"][0]
    assert (out["code"], out["retryable"]) == ("not_authorised", False)
    assert push(client, dev3, [by_cashier]) == ["rejected:not_authorised"]
    # A manager of another store is no manager here.
    assert push(client, dev3, [step(chain, dev3, "approved", tid, boss2, [(water, 1)])]) == [
        "rejected:not_authorised"
    ]
    refusals = [
        a for a in audit_actions(hq.db, "transfer.refused_step") if a["transfer_id"] == str(tid)
    ]
    assert len(refusals) == 3
    assert {a["staff"] for a in refusals} == {boss2, cashier3}
    # A request must come from a manager of the asking store too.
    _, by_cashier_request = request(chain, dev3, s2, cashier3, [(water, 1_000)])
    assert push(client, dev3, [by_cashier_request]) == ["rejected:not_authorised"]
    assert push(client, dev3, [step(chain, dev3, "approved", tid, boss3, [(water, 1)])]) == [
        "applied"
    ]
    assert level(hq.db, s3, water) == 240_000


def test_steps_out_of_order_are_refused_naming_the_state(
    hq: RunningHQ, chain: Chain, client: httpx.Client, water: str
):
    """GIVEN a requested transfer WHEN the sender ships before approving, the receiver
    receives before shipping, or a step names a transfer HQ has not seen THEN HQ refuses
    bad_transition naming the state (or unknown_transfer, retryable) and moves nothing;
    after a refusal, cancelling an approved transfer is refused too."""
    s3, s2, dev3, dev2, boss3, boss2 = _two_stores(hq, chain, water)
    tid, asked = request(chain, dev2, s3, boss2, [(water, 10_000)])
    assert push(client, dev2, [asked]) == ["applied"]
    early_ship = push_full(client, dev3, [step(chain, dev3, "shipped", tid, boss3, [(water, 1)])])
    result = early_ship["results"][0]
    assert result["code"] == "bad_transition" and "requested" in result["detail"]
    assert push(client, dev2, [step(chain, dev2, "received", tid, boss2, [(water, 1)])]) == [
        "rejected:bad_transition"
    ]
    ghost = push_full(
        client, dev3, [step(chain, dev3, "approved", uuid.uuid4(), boss3, [(water, 1)])]
    )
    assert ghost["results"][0]["code"] == "unknown_transfer"
    assert ghost["results"][0]["retryable"] is True
    # Requesting the same transfer id again (a new event) is no second request.
    _, again = request(chain, dev2, s3, boss2, [(water, 10_000)], transfer_id=tid)
    assert push(client, dev2, [again]) == ["rejected:bad_transition"]
    # Over-approving or shipping more than approved is refused.
    too_much = step(chain, dev3, "approved", tid, boss3, [(water, 11_000)])
    assert push(client, dev3, [too_much]) == ["rejected:invalid"]
    assert push(client, dev3, [step(chain, dev3, "approved", tid, boss3, [(water, 6_000)])]) == [
        "applied"
    ]
    assert push(client, dev2, [step(chain, dev2, "cancelled", tid, boss2)]) == [
        "rejected:bad_transition"
    ]
    assert push(client, dev3, [step(chain, dev3, "shipped", tid, boss3, [(water, 7_000)])]) == [
        "rejected:invalid"
    ]
    assert level(hq.db, s3, water) == 240_000 and level(hq.db, s2, water) == 5_000


def test_refused_and_cancelled_transfers_move_nothing(
    hq: RunningHQ, chain: Chain, client: httpx.Client, water: str
):
    """GIVEN two requests WHEN the sender refuses one (with a reason) and the requester
    cancels the other THEN both end in that state, both tills hear it, nothing moved, and
    no later step applies."""
    s3, s2, dev3, dev2, boss3, boss2 = _two_stores(hq, chain, water)
    t1, ask1 = request(chain, dev2, s3, boss2, [(water, 10_000)])
    t2, ask2 = request(chain, dev2, s3, boss2, [(water, 20_000)])
    assert push(client, dev2, [ask1, ask2]) == ["applied"] * 2
    refused = step(chain, dev3, "refused", t1, boss3, reason="库存不足")
    assert push(client, dev3, [refused]) == ["applied"]
    assert push(client, dev2, [step(chain, dev2, "cancelled", t2, boss2)]) == ["applied"]
    assert push(client, dev3, [step(chain, dev3, "approved", t2, boss3, [(water, 1)])]) == [
        "rejected:bad_transition"
    ]
    last = {c["key"]: c["data"] for c in pulled(client, dev3, "transfer")}
    assert last[str(t1)]["state"] == "refused"
    assert last[str(t1)]["refused_reason"] == "库存不足"
    assert last[str(t2)]["state"] == "cancelled"
    assert level(hq.db, s3, water) == 240_000 and level(hq.db, s2, water) == 5_000


def test_a_third_store_does_not_see_the_transfer(
    hq: RunningHQ, chain: Chain, client: httpx.Client, water: str
):
    """GIVEN a transfer between S3 and S2 WHEN a till of a third store pulls THEN it
    sees the stock levels (every till does) but not the transfer; and it cannot read it."""
    s3, _s2, dev3, dev2, _boss3, boss2 = _two_stores(hq, chain, water)
    other = chain.device(chain.store("第三店"))
    tid, asked = request(chain, dev2, s3, boss2, [(water, 1_000)])
    assert push(client, dev2, [asked]) == ["applied"]
    assert str(tid) not in {c["key"] for c in pulled(client, other, "transfer")}
    assert f"{s3}:{water}" in {c["key"] for c in pulled(client, other, "stock")}
    assert client.get(f"/v1/transfers/{tid}", headers=other.headers).status_code == 404
    assert client.get(f"/v1/transfers/{tid}", headers=dev3.headers).status_code == 200
    snap = client.get("/v1/sync/snapshot", headers=dev3.headers).json()
    assert [t["transfer_id"] for t in snap["transfers"]] == [str(tid)]


def test_every_till_hears_what_is_in_transit_to_a_store_until_it_arrives(
    hq: RunningHQ, chain: Chain, client: httpx.Client, water: str
):
    """GIVEN a transfer of 48 from one store to another, and a till of a third store
    WHEN the sender ships, and the receiver then receives 46
    THEN the third till hears the receiver's level announced with 48 in transit on the
    shipment (its on hand unchanged at 5), then 0 in transit and 51 on hand on receipt;
    a page of every store's levels in between says 48 in transit too."""
    s3, s2, dev3, dev2, boss3, boss2 = _two_stores(hq, chain, water)
    third = chain.device(chain.store("第三店"))
    tid, asked = request(chain, dev2, s3, boss2, [(water, 48_000)])
    assert push(client, dev2, [asked]) == ["applied"]
    approved = step(chain, dev3, "approved", tid, boss3, [(water, 48_000)])
    shipped = step(chain, dev3, "shipped", tid, boss3, [(water, 48_000)])
    assert push(client, dev3, [approved, shipped]) == ["applied", "applied"]

    def heard() -> list[tuple[int, int]]:
        return [
            (c["data"]["on_hand_milli"], c["data"]["in_transit_milli"])
            for c in pulled(client, third, "stock")
            if c["key"] == f"{s2}:{water}"
        ]

    assert heard()[-1] == (5_000, 48_000)
    after = ""
    while True:
        r = client.get(p.STOCK_PAGES_PATH, params={"after": after}, headers=third.headers)
        page = p.StockPage.model_validate_json(r.content)
        found = [lv for lv in page.levels if (lv.store, lv.sku) == (s2, water)]
        if found or page.next_after is None:
            break
        after = page.next_after
    assert [(lv.on_hand_milli, lv.in_transit_milli) for lv in found] == [(5_000, 48_000)]

    received = step(chain, dev2, "received", tid, boss2, [(water, 46_000)])
    assert push(client, dev2, [received]) == ["applied"]
    assert heard()[-1] == (51_000, 0)
