"""Online orders at the till, on local data: the warning when a sale dips into stock held
for online orders, and pick-up orders from HQ's feed matched by their scanned code and
handed over as one sale paid in the channel."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from pos_app.app import Terminal
from pos_app.localdb.engine import read_session
from pos_app.localdb.models import OutboxEvent
from pos_app.localdb.replica import LocalReplica
from pos_app.services.auth import StaffMember
from pos_app.services.errors import CheckoutError
from pos_app.services.pickups import PickupError, PickupService
from sync_client.contract import pickup as codes
from sync_client.contract import protocol as p
from tests.services.conftest import STORE

TARO = "MT001"


def _send(terminal: Terminal, *datas: p.StockData | p.PickupData) -> None:
    replica = LocalReplica(terminal.engine, STORE)
    seq = replica.cursor()
    at = datetime.now(UTC)
    changes: list[p.StockChange | p.PickupChange] = []
    for d in datas:
        seq += 1
        if isinstance(d, p.StockData):
            key = f"{d.store}:{d.sku}"
            changes.append(p.StockChange(seq=seq, key=key, store=d.store, created_at=at, data=d))
        else:
            key = str(d.reservation_id)
            changes.append(p.PickupChange(seq=seq, key=key, store=d.store, created_at=at, data=d))
    replica.apply_changes(changes, seq)  # type: ignore[arg-type]


def _level(on_hand: int, reserved: int) -> p.StockData:
    return p.StockData(
        store=STORE,
        sku=TARO,
        on_hand_milli=on_hand,
        reserved_milli=reserved,
        available_milli=on_hand - reserved,
        updated_at=datetime.now(UTC),
    )


def _order(code: str, qty: int = 2000, status: str = "confirmed") -> p.PickupData:
    rid = uuid.uuid4()
    return p.PickupData(
        reservation_id=rid,
        order_id="MP-20261204-1",
        channel="mini",
        store=STORE,
        status=status,  # type: ignore[arg-type]
        lines=[p.SkuQty(sku=TARO, qty_milli=qty)],
        code_hash=codes.code_hash(rid, code),
        confirmed_at=datetime.now(UTC),
    )


@pytest.fixture
def pickups(terminal: Terminal) -> PickupService:
    assert terminal.pickups is not None
    return terminal.pickups


def _item_id(terminal: Terminal) -> int:
    return terminal.catalog.scan("6954321100014").item.item_id


def test_selling_into_stock_held_for_online_orders_warns_with_the_orders(
    terminal: Terminal, pickups: PickupService
):
    """GIVEN 3 taro at this store, 2 held for online orders (one a known pick-up order)
    WHEN the cart would take 1, then 2 THEN 1 needs no warning; 2 warns with 1 available,
    2 reserved and the pick-up order's number."""
    _send(terminal, _level(3000, 2000), _order("ABCD-EFGH-JKMN"))
    item = _item_id(terminal)
    assert pickups.reserved_warning(item, 1000) is None
    warning = pickups.reserved_warning(item, 2000)
    assert warning is not None
    assert (warning.available_milli, warning.reserved_milli) == (1000, 2000)
    assert warning.orders == ("MP-20261204-1",)
    _send(terminal, _level(3000, 0))
    assert pickups.reserved_warning(item, 3000) is None


def test_a_scanned_pickup_code_hands_the_order_over_as_one_sale(
    terminal: Terminal, pickups: PickupService, cashier: StaffMember
):
    """GIVEN a paid pick-up order of 2 taro from the feed WHEN the customer's code is
    scanned (lower case, no dashes) and the order collected THEN one sale of 2 taro is
    recorded, paid with a channel tender naming the order, its event names the
    reservation; the order leaves the list, and collecting it again is refused."""
    order = _order("ABCD-EFGH-JKMN")
    _send(terminal, _level(5000, 2000), order)
    (waiting,) = pickups.open_orders()
    assert waiting.order_id == "MP-20261204-1"
    assert [(ln.sku, ln.qty_milli) for ln in waiting.lines] == [(TARO, 2000)]
    with pytest.raises(PickupError) as wrong:
        pickups.match("ABCD-EFGH-JKMP")
    assert wrong.value.code == "pickup_code_wrong"
    found = pickups.match("abcdefghjkmn")
    assert found.reservation_id == str(order.reservation_id)

    sale = pickups.collect(cashier, found)
    assert [(t.kind, t.reference) for t in sale.tenders] == [("channel", "MP-20261204-1")]
    assert sum(ln.qty_milli for ln in sale.lines) == 2000
    with read_session(terminal.engine) as s:
        payloads = s.scalars(select(OutboxEvent.payload)).all()
    events = [p.SaleCompleted.model_validate_json(x) for x in payloads]
    assert [e.pickup for e in events] == [order.reservation_id]
    assert pickups.open_orders() == []
    with pytest.raises(CheckoutError) as again:
        pickups.collect(cashier, found)
    assert again.value.code == "pickup_collected"
    with read_session(terminal.engine) as s:
        assert len(s.scalars(select(OutboxEvent.payload)).all()) == 1


def test_orders_collected_or_cancelled_at_hq_leave_the_list(
    terminal: Terminal, pickups: PickupService
):
    """GIVEN a waiting order WHEN HQ's feed says it was cancelled THEN it is not listed."""
    order = _order("ABCD-EFGH-JKMN")
    _send(terminal, order)
    assert len(pickups.open_orders()) == 1
    _send(terminal, order.model_copy(update={"status": "cancelled"}))
    assert pickups.open_orders() == []
