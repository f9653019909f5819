"""Stock across the chain at the till, on local data only: look-up nearest first with
freshness, transfer steps offline then synced, HQ refusing a step, counts while selling,
goods received, alerts, the printed slip and variance report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import text

from hardware import PROFILES, decode, render
from pos_app.app import Terminal
from pos_app.domain.tender import Payment
from pos_app.localdb.engine import read_session
from pos_app.localdb.replica import LocalReplica
from pos_app.services.auth import StaffMember
from pos_app.services.stock import StockError, StockService, age_parts, haversine_km
from sync_client.contract import protocol as p
from tests.services.conftest import STORE, RecordingPrinter, printed
from tests.support import FakeClock

TARO = "MT001"
TARO_CODE = "6954321100014"

STORES = [
    # Shanghai (this store), Hangzhou ~165 km, Suzhou ~85 km; S004 in the region without
    # coordinates, S005 elsewhere without either.
    p.StoreData(
        code="S001", name="人民广场店", region="华东", latitude=31.2336, longitude=121.4737
    ),
    p.StoreData(code="S002", name="西湖店", region="华东", latitude=30.2587, longitude=120.162),
    p.StoreData(code="S003", name="观前街店", region="华东", latitude=31.3106, longitude=120.6284),
    p.StoreData(code="S004", name="虹桥店", region="华东"),
    p.StoreData(code="S005", name="天河店", region="华南"),
]


class Feed:
    """HQ's feed as the till's replica takes it: numbered changes, one page at a time."""

    def __init__(self, terminal: Terminal) -> None:
        self.replica = LocalReplica(terminal.engine, STORE)
        self.seq = self.replica.cursor()
        self.clock = terminal.clock

    def send(self, *datas: object) -> None:
        changes: list[object] = []
        for d in datas:
            self.seq += 1
            at = self.clock.now()
            if isinstance(d, p.StoreData):
                changes.append(
                    p.StoreChange(seq=self.seq, key=d.code, store=None, created_at=at, data=d)
                )
            elif isinstance(d, p.StockData):
                changes.append(
                    p.StockChange(
                        seq=self.seq, key=f"{d.store}:{d.sku}", store=d.store, created_at=at, data=d
                    )
                )
            elif isinstance(d, p.TransferData):
                changes.append(
                    p.TransferChange(
                        seq=self.seq,
                        key=str(d.transfer_id),
                        store=d.from_store,
                        created_at=at,
                        data=d,
                    )
                )
            elif isinstance(d, p.StockAlertData):
                changes.append(
                    p.AlertChange(
                        seq=self.seq, key=str(d.alert_id), store=d.store, created_at=at, data=d
                    )
                )
        self.replica.apply_changes(changes, self.seq)  # type: ignore[arg-type]

    def level(self, store: str, on_hand: int, reserved: int = 0, ago_s: float = 0) -> p.StockData:
        return p.StockData(
            store=store,
            sku=TARO,
            on_hand_milli=on_hand,
            reserved_milli=reserved,
            available_milli=on_hand - reserved,
            updated_at=self.clock.now() - timedelta(seconds=ago_s),
        )

    def answer(self, status: str = "applied", code: str | None = None) -> None:
        """HQ answers every pending event with ``status``."""
        items = self.replica.pending(100)
        self.replica.apply_push_answer(
            items,
            p.PushResponse(
                results=[
                    p.EventResult(index=i, id=UUID(it.event_id), status=status, code=code)  # type: ignore[arg-type]
                    for i, it in enumerate(items)
                ],
                applied=len(items) if status == "applied" else 0,
                duplicate=0,
                rejected=len(items) if status == "rejected" else 0,
                head=self.seq,
            ),
        )


@pytest.fixture
def stock(terminal: Terminal) -> StockService:
    assert terminal.stock is not None
    return terminal.stock


@pytest.fixture
def feed(terminal: Terminal) -> Feed:
    f = Feed(terminal)
    f.send(*STORES)
    return f


@pytest.fixture
def manager(terminal: Terminal) -> StaffMember:
    return terminal.auth.sign_in("1004", "86420")


def outbox(terminal: Terminal) -> list[dict[str, object]]:
    with read_session(terminal.engine) as s:
        rows = s.execute(
            text("SELECT payload FROM outbox WHERE state = 'pending' ORDER BY seq")
        ).all()
    return [json.loads(r[0]) for r in rows]


def slip_text(printer: RecordingPrinter, terminal: Terminal, count: int) -> str:
    doc = printed(terminal, printer, count)[count - 1]
    profile = PROFILES["generic-80-gb18030"]
    return decode(
        render(doc, profile), profile.encoding, chinese_at_power_on=not profile.chinese_mode
    ).text


def test_haversine_and_ages() -> None:
    assert haversine_km(31.2336, 121.4737, 31.3106, 120.6284) == pytest.approx(80.6, abs=1)
    now = datetime(2025, 3, 1, tzinfo=UTC)
    assert age_parts(now - timedelta(seconds=3), now) == ("s", 3)
    assert age_parts(now - timedelta(minutes=5, seconds=2), now) == ("min", 5)
    assert age_parts(None, now) == ("never", 0)


def test_lookup_shows_this_store_first_then_nearest_with_levels_and_freshness(
    terminal: Terminal, stock: StockService, feed: Feed, cashier: StaffMember, clock: FakeClock
) -> None:
    """GIVEN every store's level of 芋泥波波 from the feed (S003 240, 3 s old) and a sale of
    1 here not yet synced
    WHEN the cashier looks it up by scan and by pinyin
    THEN this store comes first at HQ's level minus the sale, then S003 (80 km), S002
    (165 km), S004 (same region, no coordinates), S005; each with reserved, available
    and the age of its level."""
    feed.send(
        feed.level("S001", 10_000, reserved=2_000),
        feed.level("S002", 30_000),
        feed.level("S003", 240_000, reserved=4_000, ago_s=3),
        feed.level("S004", 5_000),
        feed.level("S005", 7_000),
    )
    draft = terminal.checkout.new_draft(cashier)
    terminal.checkout.scan(draft, TARO_CODE)
    pay = Payment(draft.cart.totals().total_fen)
    pay.add_card(pay.due_fen)
    terminal.checkout.complete(draft, pay)

    assert [i.sku for i in stock.find(TARO_CODE)] == [TARO]
    assert TARO in [i.sku for i in stock.find("ynbb")]
    view = stock.lookup(TARO)
    assert [lv.store for lv in view.levels] == ["S001", "S003", "S002", "S004", "S005"]
    mine, suzhou = view.levels[0], view.levels[1]
    assert (mine.own, mine.on_hand_milli, mine.reserved_milli, mine.available_milli) == (
        True, 9_000, 2_000, 7_000,
    )  # fmt: skip
    assert (suzhou.on_hand_milli, suzhou.available_milli) == (240_000, 236_000)
    assert suzhou.distance_km == pytest.approx(80.6, abs=1)
    assert age_parts(suzhou.updated_at, clock.now()) == ("s", 3)
    clock.advance(timedelta(hours=2))  # offline: the last-known level keeps its time
    assert age_parts(stock.lookup(TARO).levels[1].updated_at, clock.now()) == ("h", 2)


def test_only_a_manager_requests_and_the_request_is_an_outbox_event_offline(
    terminal: Terminal, stock: StockService, feed: Feed, cashier: StaffMember, manager: StaffMember
) -> None:
    with pytest.raises(StockError) as err:
        stock.request_transfer(cashier, "S003", [(TARO, 48_000)])
    assert err.value.code == "not_manager"
    with pytest.raises(StockError) as err:
        stock.request_transfer(manager, STORE, [(TARO, 48_000)])
    assert err.value.code == "transfer_wrong_store"

    row = stock.request_transfer(manager, "S003", [(TARO, 48_000)])
    assert row.transfer_no == "S001-T01-X00001"
    assert (row.state, row.syncing, row.from_store, row.to_store) == (
        "requested",
        True,
        "S003",
        STORE,
    )
    [event] = outbox(terminal)
    assert event["type"] == "transfer.requested"
    assert event["from_store"] == "S003" and event["lines"] == [{"sku": TARO, "qty_milli": 48_000}]
    # Only the sending store approves; the requester may cancel.
    assert stock.steps_for(manager, row) == ("cancel",)
    with pytest.raises(StockError) as err:
        stock.approve(manager, row.id)
    assert err.value.code == "transfer_wrong_store"
    feed.answer()
    assert stock.transfer(row.id).syncing is False
    assert stock.transfer(row.id).state == "requested"


def _incoming(feed: Feed, state: str = "requested", **line: int) -> p.TransferData:
    """A transfer S002 asked of this store, as HQ sends it."""
    data = p.TransferData(
        transfer_id=UUID("01900000-0000-7000-8000-0000000000aa"),
        transfer_no="S002-T01-X00007",
        from_store=STORE,
        to_store="S002",
        state=state,  # type: ignore[arg-type]
        lines=[p.TransferLineData(sku=TARO, requested_milli=48_000, **line)],
        requested_by="2004",
        requested_at=feed.clock.now(),
        updated_at=feed.clock.now(),
    )
    feed.send(data)
    return data


def test_the_sender_approves_and_ships_offline_then_hq_catches_up(
    terminal: Terminal,
    stock: StockService,
    feed: Feed,
    manager: StaffMember,
    printer: RecordingPrinter,
) -> None:
    """GIVEN S002's request for 48 of this store's 芋泥波波
    WHEN this store's manager approves 46 and ships them with HQ unreachable
    THEN both steps are outbox events in order, the transfer shows shipped (not synced)
    with 46 in transit to S002, and the transfer slip prints; once HQ took them and its
    feed says shipped, the transfer shows HQ's state."""
    data = _incoming(feed)
    tid = str(data.transfer_id)
    assert stock.steps_for(manager, stock.transfer(tid)) == ("approve", "refuse")
    stock.approve(manager, tid, [(TARO, 46_000)])
    row = stock.ship(manager, tid)
    assert (row.state, row.syncing, row.lines[0].shipped_milli) == ("shipped", True, 46_000)
    events = outbox(terminal)
    assert [e["type"] for e in events] == ["transfer.approved", "transfer.shipped"]
    assert events[1]["lines"] == [{"sku": TARO, "qty_milli": 46_000}]
    assert stock.lookup(TARO).levels  # the look-up still answers
    with read_session(terminal.engine) as s:
        from pos_app.localdb.transfers import in_transit_to

        assert in_transit_to(s, TARO) == {"S002": 46_000}
    slip = slip_text(printer, terminal, 1)
    assert "调拨单" in slip and "S002-T01-X00007" in slip and "48/46/-" in slip

    feed.answer()
    line = p.TransferLineData(
        sku=TARO, requested_milli=48_000, approved_milli=46_000, shipped_milli=46_000
    )
    feed.send(data.model_copy(update={"state": "shipped", "lines": [line]}))
    row = stock.transfer(tid)
    assert (row.state, row.hq_state, row.syncing) == ("shipped", "shipped", False)
    with pytest.raises(StockError) as err:
        stock.ship(manager, tid)
    assert err.value.code == "transfer_state"


def test_a_step_hq_refuses_shows_hqs_state_and_the_reason(
    terminal: Terminal, stock: StockService, feed: Feed, manager: StaffMember
) -> None:
    """GIVEN an approval taken here while HQ had the transfer cancelled
    WHEN HQ refuses the step
    THEN the transfer shows HQ's state (cancelled) and the refusal, and offers no step."""
    data = _incoming(feed)
    tid = str(data.transfer_id)
    stock.approve(manager, tid)
    feed.send(data.model_copy(update={"state": "cancelled"}))
    assert stock.transfer(tid).state == "approved"  # the step waits to be pushed
    feed.answer("rejected", code="conflict")
    row = stock.transfer(tid)
    assert (row.state, row.syncing) == ("cancelled", False)
    assert row.step_error is not None and "conflict" in row.step_error
    assert stock.steps_for(manager, row) == ()


def test_the_receiver_counts_what_arrived_and_the_shortfall_prints(
    terminal: Terminal,
    stock: StockService,
    feed: Feed,
    manager: StaffMember,
    printer: RecordingPrinter,
) -> None:
    data = p.TransferData(
        transfer_id=UUID("01900000-0000-7000-8000-0000000000bb"),
        transfer_no="S001-T01-X00003",
        from_store="S003",
        to_store=STORE,
        state="shipped",
        lines=[
            p.TransferLineData(
                sku=TARO, requested_milli=48_000, approved_milli=48_000, shipped_milli=48_000
            )
        ],
        requested_by="1004",
        requested_at=feed.clock.now(),
        updated_at=feed.clock.now(),
    )
    feed.send(data)
    assert stock.lookup(TARO).levels[0].in_transit_milli == 48_000
    with pytest.raises(StockError) as err:
        stock.receive(manager, str(data.transfer_id), [(TARO, 46_000), ("MT002", 1_000)])
    assert err.value.code == "bad_quantity"
    row = stock.receive(manager, str(data.transfer_id), [(TARO, 46_000)])
    assert (row.state, row.lines[0].received_milli) == ("received", 46_000)
    assert stock.lookup(TARO).levels[0].in_transit_milli == 0
    assert outbox(terminal)[-1]["lines"] == [{"sku": TARO, "qty_milli": 46_000}]
    slip = slip_text(printer, terminal, 1)
    assert "48/48/46" in slip and "短缺 Short" in slip


def test_a_count_while_selling_does_not_show_the_sales_as_variance(
    terminal: Terminal,
    stock: StockService,
    feed: Feed,
    cashier: StaffMember,
    manager: StaffMember,
    clock: FakeClock,
    printer: RecordingPrinter,
) -> None:
    """GIVEN this store's level of 芋泥波波 is 10
    WHEN a cashier counts 9 on the shelf (scans), then 2 are sold before the count is
    submitted and a manager approves it
    THEN the variance report shows book 10, counted 9, variance -1 (not -3): the sales
    after the scan are accounted for; the events carry counted_at; only a manager decides."""
    feed.send(feed.level("S001", 10_000))
    count = stock.start_count(cashier, "A1 货架")
    with pytest.raises(StockError):
        stock.start_count(cashier)
    item = stock.find(TARO_CODE)[0]
    for _ in range(8):
        stock.count_item(count.id, item)
    stock.count_item(count.id, item, 1_000)
    scanned_at = clock.now()
    clock.advance(60)
    for _ in range(2):
        draft = terminal.checkout.new_draft(cashier)
        terminal.checkout.scan(draft, TARO_CODE)
        pay = Payment(draft.cart.totals().total_fen)
        pay.add_card(pay.due_fen)
        terminal.checkout.complete(draft, pay)
    info = stock.submit_count(cashier, count.id)
    assert info.status == "submitted" and info.lines[0].counted_milli == 9_000
    [variance] = stock.variance(count.id)
    assert (variance.book_milli, variance.counted_milli, variance.variance_milli) == (
        10_000,
        9_000,
        -1_000,
    )
    submitted = next(e for e in outbox(terminal) if e["type"] == "stock.count_submitted")
    assert submitted["zone"] == "A1 货架"
    assert submitted["lines"][0]["counted_milli"] == 9_000  # type: ignore[index]
    assert submitted["lines"][0]["counted_at"].startswith(scanned_at.strftime("%Y-%m-%dT%H:%M"))  # type: ignore[index]

    with pytest.raises(StockError) as err:
        stock.decide_count(cashier, count.id, True)
    assert err.value.code == "not_manager"
    assert stock.decide_count(manager, count.id, True).status == "approved"
    assert outbox(terminal)[-1]["type"] == "stock.count_decided"
    # Two receipts printed before the report.
    report = slip_text(printer, terminal, 3)
    assert "盘点差异报告" in report and "10/9/-1" in report and "A1 货架" in report


def test_goods_received_are_booked_by_a_manager(
    terminal: Terminal, stock: StockService, cashier: StaffMember, manager: StaffMember
) -> None:
    with pytest.raises(StockError):
        stock.receive_goods(cashier, [(TARO, 24_000)], "DN-1")
    with pytest.raises(StockError) as err:
        stock.receive_goods(manager, [(TARO, 0)], "DN-1")
    assert err.value.code == "bad_quantity"
    stock.receive_goods(manager, [(TARO, 24_000), ("MT002", 12_000)], "DN-20261204-01")
    event = outbox(terminal)[-1]
    assert event["type"] == "stock.received" and event["document"] == "DN-20261204-01"
    assert event["lines"] == [
        {"sku": TARO, "qty_milli": 24_000},
        {"sku": "MT002", "qty_milli": 12_000},
    ]


def test_alerts_of_this_store_for_the_badge(stock: StockService, feed: Feed) -> None:
    def alert(alert_id: int, store: str, resolved: bool = False) -> p.StockAlertData:
        return p.StockAlertData(
            alert_id=alert_id, store=store, sku=TARO, kind="low", on_hand_milli=2_000,
            min_milli=10_000, created_at=feed.clock.now(), resolved=resolved,
        )  # fmt: skip

    feed.send(alert(1, STORE), alert(2, "S002"), alert(3, STORE))
    assert stock.alert_count() == 2
    feed.send(alert(1, STORE, resolved=True))
    [left] = stock.alerts()
    assert (left.alert_id, left.name, left.min_milli) == (3, "芋泥波波", 10_000)


def test_proposals_need_hq(stock: StockService) -> None:
    with pytest.raises(StockError) as err:
        stock.proposals().result(timeout=5)
    assert err.value.code == "proposals_offline"
