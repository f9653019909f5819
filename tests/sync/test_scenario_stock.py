"""Scenario 9 end to end: a transfer between two stores' tills through a real HQ.

S002 looks up 矿泉水 and sees S003's 240 nearest first, its manager asks S003 for 48,
S003's manager approves and ships 48, S002 receives 46 of 48. Every step is taken through
the tills' stock services (``terminal.stock``) of enrolled headless terminals and reaches
HQ through their outboxes; every state comes back to both tills through the feed. HQ runs
on SQLite, and on PostgreSQL when ``CHAINPOS_TEST_PG_URL`` is set.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from pos_app.domain.roles import Role
from pos_app.headless import HeadlessTerminal
from pos_app.localdb.seed import load_demo_json
from pos_app.services.auth import StaffMember
from pos_app.services.stock import StockService, StockView
from server_stub import models as m
from server_stub import operations
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from tests.server.helpers import level
from tests.server.stock_helpers import alerts, ledger_sum, moves
from tests.support import sell_without_shifts
from tests.sync.conftest import FAST, Enrol, start_hq, wait_until

pytestmark = pytest.mark.slow  # two enrolled tills against a real HQ on loopback

WATER = "DR001"  # 矿泉水 550ml in the demo catalogue
OPENING = {"S001": 300_000, "S002": 12_000, "S003": 240_000}
"""矿泉水 per store: S001 holds the most, yet S003 is listed first to S002 (nearest)."""
ALL_STOCK = dataclasses.replace(FAST, stock="all")
"""The stock screen's subscription: every store's levels reach the till."""


@pytest.fixture
def hq(hq_url_db: str) -> Iterator[EmbeddedHQ]:
    """The demo chain without opening stock: the levels are given after the tills enrol.

    A till's enrolment snapshot holds its own store's levels only; other stores' levels
    reach it through the feed as they change, so they are put in after the tills enrol,
    as a chain's opening stock would be booked in after its tills are set up."""
    server = start_hq(hq_url_db)
    seed_chain(server.db, load_demo_json(), stock=False)
    sell_without_shifts(server.db)
    yield server
    server.stop()


def place_stores(hq: EmbeddedHQ) -> None:
    """The demo stores' coordinates and region at HQ: S003 (Suzhou) is nearer S002
    (Hangzhou) than S001 (Shanghai) is."""
    for s in load_demo_json()["stores"]:
        operations.update_store(
            hq.db, s["code"], region="华东", latitude=s["lat"], longitude=s["lon"]
        )


def manager(store: str) -> StaffMember:
    number = {"S002": "2004", "S003": "3004"}[store]
    return StaffMember(number, f"店长 {store}", Role.MANAGER)


def stock(t: HeadlessTerminal) -> StockService:
    assert t.terminal.stock is not None
    return t.terminal.stock


def hq_transfer(hq: EmbeddedHQ, transfer_id: str) -> tuple[str, list[tuple[int, ...]]] | None:
    """HQ's state of the transfer and its lines (requested, approved, shipped, received)."""
    t, ln = m.transfers, m.transfer_lines
    with hq.db.read() as conn:
        state = conn.execute(
            select(t.c.state).where(t.c.transfer_id == uuid.UUID(transfer_id))
        ).scalar()
        if state is None:
            return None
        lines = conn.execute(
            select(
                ln.c.requested_milli, ln.c.approved_milli, ln.c.shipped_milli, ln.c.received_milli
            ).where(ln.c.transfer_id == uuid.UUID(transfer_id))
        ).all()
    return str(state), [tuple(r) for r in lines]


def hq_state_is(t: HeadlessTerminal, transfer_id: str, state: str) -> bool:
    """The till holds HQ's word that the transfer is in ``state`` (from the feed)."""
    try:
        row = stock(t).transfer(transfer_id)
    except Exception:  # not on this till yet
        return False
    return row.hq_state == state and row.state == state and not row.syncing


def levels_by_store(view: StockView) -> dict[str, int]:
    return {lv.store: lv.on_hand_milli for lv in view.levels}


def test_scenario_9_transfer_with_a_short_receipt_reaches_hq_and_both_tills(
    hq: EmbeddedHQ, terminals: Enrol
) -> None:
    """GIVEN the demo chain at HQ with its stores placed on the map, enrolled tills at S002
    and S003 that follow every store's levels, and 矿泉水 at S001 300, S002 12, S003 240
    WHEN S002 looks 矿泉水 up, its manager requests 48 from S003, S003's manager approves
    and ships 48 once the request reaches its till, and S002's manager receives 46
    THEN HQ holds S003 at 192 and S002 at 58, the ledger sums to both levels and a
    shortfall alert of 2 stands; both tills show the transfer received with 48 shipped and
    46 received, S002 sees S003 at 192 and itself at 58, S003 itself at 192, and each
    till has its store's shortfall alert."""
    place_stores(hq)
    s2 = terminals("S002", config=ALL_STOCK)
    s3 = terminals("S003", config=ALL_STOCK)
    for store, qty in OPENING.items():
        operations.move_stock(hq.db, "receive", store, WATER, qty, "opening stock")

    # S002 looks up: itself first, then S003 (nearest) with 240, then S001.
    found = stock(s2).find("矿泉水")
    assert [i.sku for i in found] == [WATER]

    def placed_view() -> StockView | None:
        view = stock(s2).lookup(WATER)
        codes = [lv.store for lv in view.levels]
        located = all(lv.distance_km is not None for lv in view.levels[1:])
        return view if codes == ["S002", "S003", "S001"] and located else None

    view = wait_until(placed_view, what="S002's look-up of every store, nearest first")
    s003 = view.levels[1]
    assert (s003.on_hand_milli, s003.available_milli) == (240_000, 240_000)
    assert s003.distance_km is not None and view.levels[2].distance_km is not None
    assert s003.distance_km < view.levels[2].distance_km
    assert view.levels[0].own and view.levels[0].on_hand_milli == 12_000
    assert view.levels[2].on_hand_milli == 300_000

    # S002's manager asks S003 for 48; the request reaches HQ and S003's till.
    asked = stock(s2).request_transfer(manager("S002"), "S003", [(WATER, 48_000)])
    tid = asked.id
    assert asked.state == "requested"
    wait_until(lambda: hq_transfer(hq, tid) is not None, what="the request at HQ")
    assert hq_transfer(hq, tid) == ("requested", [(48_000, None, None, None)])
    wait_until(lambda: hq_state_is(s3, tid, "requested"), what="the request on S003's till")
    assert stock(s3).steps_for(manager("S003"), stock(s3).transfer(tid)) == ("approve", "refuse")

    # S003's manager approves and ships 48.
    stock(s3).approve(manager("S003"), tid)
    stock(s3).ship(manager("S003"), tid)
    wait_until(lambda: hq_state_is(s2, tid, "shipped"), what="the shipment on S002's till")
    assert level(hq.db, "S003", WATER) == 192_000
    assert level(hq.db, "S002", WATER) == 12_000  # in transit, not yet here
    own = stock(s2).lookup(WATER).levels[0]
    assert (own.store, own.in_transit_milli) == ("S002", 48_000)
    assert stock(s2).steps_for(manager("S002"), stock(s2).transfer(tid)) == ("receive",)

    # S002's manager counts 46 of the 48 in.
    stock(s2).receive(manager("S002"), tid, [(WATER, 46_000)])
    wait_until(lambda: hq_state_is(s2, tid, "received"), what="HQ's word on S002's till")
    wait_until(lambda: hq_state_is(s3, tid, "received"), what="HQ's word on S003's till")

    # At HQ: both levels, the ledger and the discrepancy.
    assert hq_transfer(hq, tid) == ("received", [(48_000, 48_000, 48_000, 46_000)])
    assert level(hq.db, "S003", WATER) == 192_000
    assert level(hq.db, "S002", WATER) == 58_000
    for store in ("S002", "S003"):
        assert ledger_sum(hq.db, store, WATER) == level(hq.db, store, WATER)
    assert moves(hq.db, "S003", WATER, "transfer_out") == [-48_000]
    assert moves(hq.db, "S002", WATER, "transfer_in") == [46_000]
    short = {
        store: [(a.qty_milli, a.ref) for a in alerts(hq.db, store, WATER, "transfer_shortfall")]
        for store in ("S002", "S003")
    }
    assert short == {"S002": [(2_000, tid)], "S003": [(2_000, tid)]}

    # On both tills: the transfer as received, with the discrepancy on its line.
    for t in (s2, s3):
        row = stock(t).transfer(tid)
        assert (row.state, row.hq_state, row.from_store, row.to_store) == (
            "received", "received", "S003", "S002",
        )  # fmt: skip
        (line,) = row.lines
        assert (line.sku, line.requested_milli, line.shipped_milli, line.received_milli) == (
            WATER, 48_000, 48_000, 46_000,
        )  # fmt: skip
        assert stock(t).steps_for(manager(t.store), row) == ()

    # The levels each till shows, once HQ's levels have come down the feed.
    def s2_levels() -> dict[str, int] | None:
        shown = levels_by_store(stock(s2).lookup(WATER))
        return shown if shown["S003"] == 192_000 and shown["S002"] == 58_000 else None

    assert wait_until(s2_levels, what="S002's levels after the receipt") == {
        "S002": 58_000,
        "S003": 192_000,
        "S001": 300_000,
    }
    assert stock(s2).lookup(WATER).levels[0].in_transit_milli == 0
    wait_until(
        lambda: stock(s3).lookup(WATER).levels[0].on_hand_milli == 192_000,
        what="S003's own level after shipping",
    )
    assert s3.item(WATER).stock_milli == 192_000
    assert s2.item(WATER).stock_milli == 58_000

    # Each till has its own store's shortfall alert, as HQ sent it.
    for t, on_hand in ((s2, 58_000), (s3, 192_000)):
        got = wait_until(
            lambda t=t: [a for a in stock(t).alerts() if a.kind == "transfer_shortfall"],
            what=f"the shortfall alert on {t.store}'s till",
        )
        assert [(a.sku, a.on_hand_milli) for a in got] == [(WATER, on_hand)]
        assert stock(t).alert_count() == 1
