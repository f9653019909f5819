"""Returns at the till: found by receipt QR, partial returns (weighed goods by weight),
policy refusals, HQ authorisation (through a hand-written fake of HQ's return calls),
offline same-store returns, cross-store refusal offline, approvals, the refund split and
the return receipt."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from pos_app.app import Terminal
from pos_app.domain.ids import SaleRef, uuid7
from pos_app.domain.tender import Payment
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.models import OutboxEvent, ReturnAuth
from pos_app.localdb.pending_stock import stock_on_hand
from pos_app.localdb.replica import LocalReplica
from pos_app.localdb.sales import SaleRecord
from pos_app.localdb.store import set_setting
from pos_app.services.auth import StaffMember
from pos_app.services.receipts import LOCAL_TZ
from pos_app.services.returns import (
    FoundSale,
    NoReceiptLine,
    ReturnChoice,
    ReturnError,
    ReturnService,
)
from sync_client import HQRefused, HQUnavailable, SyncRunner
from sync_client.contract import protocol as p
from tests.services.conftest import FakeClock, printed

TARO = "6954321100014"  # 芋泥波波 ¥15.00, MILKTEA
WALNUTS_356G = "2500101003569"  # 琥珀核桃仁 ¥98.00/kg, 0.356 kg -> ¥34.89
T = 5.0


class FakeReturnHQ:
    """HQ's return calls in memory: authorisations granted against what is left of each
    line (every sale HQ was told about in ``sold``), refused ``not_returnable`` beyond
    it; ``down`` makes every call fail as unreachable. Records every call."""

    def __init__(self) -> None:
        self.sold: dict[UUID, dict[int, int]] = {}
        self.taken: dict[tuple[UUID, int], int] = {}
        self.auths: dict[UUID, p.ReturnAuthData] = {}
        self.lookups: list[p.SaleLookupRequest] = []
        self.sales: list[p.SaleForReturn] = []
        self.calls: list[str] = []
        self.down = False

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            raise HQUnavailable("fake HQ is down")

    async def lookup_sales(self, req: p.SaleLookupRequest) -> p.SaleLookupResponse:
        self._check("lookup_sales")
        self.lookups.append(req)
        return p.SaleLookupResponse(sales=self.sales)

    async def authorise_return(self, req: p.ReturnAuthRequest) -> p.ReturnAuthData:
        self._check("authorise_return")
        if req.auth_id in self.auths:
            return self.auths[req.auth_id]
        lines = self.sold.get(req.sale_id, {})
        for lq in req.lines:
            left = lines.get(lq.line_no, 0) - self.taken.get((req.sale_id, lq.line_no), 0)
            if lq.qty_milli > left:
                raise HQRefused(
                    409,
                    "not_returnable",
                    f"line {lq.line_no}: returned at S002",
                    {"line_no": lq.line_no, "left_milli": left, "returned_store": "S002"},
                )
        for lq in req.lines:
            key = (req.sale_id, lq.line_no)
            self.taken[key] = self.taken.get(key, 0) + lq.qty_milli
        now = datetime.now().astimezone()
        data = p.ReturnAuthData(
            auth_id=req.auth_id,
            sale_id=req.sale_id,
            store="S001",
            terminal="S001-T01",
            status="held",
            lines=req.lines,
            created_at=now,
            expires_at=now + timedelta(minutes=15),
        )
        self.auths[req.auth_id] = data
        return data

    async def get_return_auth(self, auth_id: UUID) -> p.ReturnAuthData:
        self._check("get_return_auth")
        return self.auths[auth_id]

    async def release_return_auth(self, auth_id: UUID) -> p.ReturnAuthData:
        self._check("release_return_auth")
        data = self.auths.get(auth_id)
        if data is None:
            raise HQRefused(404, "unknown_auth", "never made")
        if data.status != "held":  # gives back exactly once, like HQ
            return data
        for lq in data.lines:
            self.taken[(data.sale_id, lq.line_no)] -= lq.qty_milli
        released = data.model_copy(update={"status": "released"})
        self.auths[auth_id] = released
        return released


class Link:
    def __init__(self) -> None:
        self.online = False


@pytest.fixture
def runner() -> Iterator[SyncRunner]:
    r = SyncRunner("test-returns")
    r.start()
    yield r
    r.stop()


@pytest.fixture
def hq() -> FakeReturnHQ:
    return FakeReturnHQ()


@pytest.fixture
def link() -> Link:
    return Link()


@pytest.fixture
def returns(
    terminal: Terminal, clock: FakeClock, runner: SyncRunner, hq: FakeReturnHQ, link: Link
) -> ReturnService:
    return ReturnService(
        terminal.engine,
        clock,
        terminal.identity,
        terminal.auth,
        runner=runner,
        hq=lambda: hq,
        online=lambda: link.online,
        after_commit=lambda _r: terminal.printing.wake(),
    )


def sell(terminal: Terminal, cashier: StaffMember, *codes: str, card: int = 0) -> SaleRecord:
    draft = terminal.checkout.new_draft(cashier)
    for code in codes:
        terminal.checkout.scan(draft, code)
    payment = Payment(draft.cart.totals().total_fen)
    if card:
        payment.add_card(card, reference="UP-1")
    payment.add_cash(payment.remaining_fen)
    return terminal.checkout.complete(draft, payment)


def returned_events(terminal: Terminal) -> list[p.SaleReturned]:
    with read_session(terminal.engine) as session:
        rows = session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "sale.returned").order_by(OutboxEvent.seq)
        ).all()
        return [p.SaleReturned.model_validate_json(r.payload) for r in rows]


def test_offline_partial_return_of_a_weighed_item_by_weight_adds_up_to_the_line(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService
) -> None:
    """GIVEN 356 g of walnuts (¥34.89) and a 芋泥波波 sold at this till, HQ unreachable
    WHEN 100 g come back, then the other 256 g
    THEN each return is found from the receipt QR in the till's own database, refunds
    its share in cash (¥9.80 + ¥25.09 = ¥34.89 exactly), puts the goods back in the
    local stock view, queues a sale.returned event without authorisation, and a third
    return of the same line is refused."""
    sale = sell(terminal, cashier, WALNUTS_356G, TARO)
    item_id = sale.lines[0].item_id
    with read_session(terminal.engine) as session:
        before = stock_on_hand(session, item_id)
    found = returns.find_by_ref(sale.reference).result(T)
    assert found.local and found.sale.lines[0].returnable_milli == 356

    draft = returns.new_draft(cashier, found)
    draft.choices[1] = ReturnChoice(100, "quality")
    assert returns.authorise(draft).result(T) == "offline"
    first = returns.commit(draft)
    assert first.refund_fen == 3489 * 100 // 356 == 980
    assert [(r.kind, r.amount_fen) for r in first.refunds] == [("cash", 980)]

    again = returns.find_by_ref(sale.reference).result(T)
    assert (again.sale.lines[0].returned_milli, again.sale.lines[0].returnable_milli) == (100, 256)
    assert [r.receipt_no for r in again.sale.returns] == [first.receipt_no]
    draft = returns.new_draft(cashier, again)
    draft.choices[1] = ReturnChoice(256, "quality")
    second = returns.commit(draft)
    assert first.refund_fen + second.refund_fen == 3489

    with read_session(terminal.engine) as session:
        assert stock_on_hand(session, item_id) == (before or 0) + 356
    events = returned_events(terminal)
    assert [(e.authorisation, e.lines[0].qty_milli, e.refund_fen) for e in events] == [
        (None, 100, 980),
        (None, 256, 2509),
    ]
    assert events[0].original is not None and events[0].original.sale_id == UUID(sale.id)

    draft = returns.new_draft(cashier, returns.find_by_ref(sale.reference).result(T))
    draft.choices[1] = ReturnChoice(1, "quality")
    with pytest.raises(ReturnError) as exc:
        returns.commit(draft)
    assert exc.value.code == "over_returnable"


def test_the_return_receipt_carries_its_own_signed_code_and_opens_the_drawer(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService, printer: Any
) -> None:
    sale = sell(terminal, cashier, TARO)
    draft = returns.new_draft(cashier, returns.find_by_ref(sale.reference).result(T))
    draft.choices[1] = ReturnChoice(1000, "changed_mind")
    ret = returns.commit(draft)
    docs = printed(terminal, printer, 2)
    slip = docs[1]
    assert slip.open_drawer
    texts = json.dumps([repr(b) for b in slip.blocks], ensure_ascii=False)
    assert "退货单" in texts and ret.receipt_no in texts and sale.receipt_no in texts
    assert ret.reference.startswith("CPR1.") and ret.reference in texts


def test_a_forged_or_altered_receipt_code_is_refused(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService
) -> None:
    sale = sell(terminal, cashier, TARO)
    forged = SaleRef(UUID(sale.id), "S001", "S001-T01").sign(b"not the secret")
    altered = sale.reference[:-2] + ("A" if sale.reference[-2] != "A" else "B") + sale.reference[-1]
    for code in (forged, altered, "hello"):
        with pytest.raises(ReturnError) as exc:
            returns.find_by_ref(code).result(T)
        assert exc.value.code == "bad_receipt"


def test_a_sale_outside_the_window_is_refused_with_the_date(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService, clock: FakeClock
) -> None:
    sale = sell(terminal, cashier, TARO)
    clock.advance(timedelta(days=7, minutes=1))
    draft = returns.new_draft(cashier, returns.find_by_ref(sale.reference).result(T))
    draft.choices[1] = ReturnChoice(1000, "changed_mind")
    with pytest.raises(ReturnError) as exc:
        returns.check(draft)
    assert exc.value.code == "outside_window"
    assert exc.value.params["deadline"] == "2025-03-08"


def test_made_to_order_drinks_cannot_be_returned(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService
) -> None:
    with write_session(terminal.engine) as session:
        set_setting(session, "returns.non_returnable_categories", "MILKTEA,FRUITTEA")
        session.commit()
    sale = sell(terminal, cashier, TARO)
    draft = returns.new_draft(cashier, returns.find_by_ref(sale.reference).result(T))
    draft.choices[1] = ReturnChoice(1000, "changed_mind")
    with pytest.raises(ReturnError) as exc:
        returns.authorise(draft).result(T)
    assert exc.value.code == "not_returnable_item"
    assert exc.value.params["name"] == "芋泥波波"


def test_online_even_an_own_sale_is_authorised_by_hq_and_the_return_captures_it(
    terminal: Terminal,
    cashier: StaffMember,
    returns: ReturnService,
    hq: FakeReturnHQ,
    link: Link,
) -> None:
    sale = sell(terminal, cashier, TARO, TARO)
    hq.sold[UUID(sale.id)] = {1: 2000}
    link.online = True
    draft = returns.new_draft(cashier, returns.find_by_ref(sale.reference).result(T))
    draft.choices[1] = ReturnChoice(1000, "damaged", "damaged")
    assert returns.authorise(draft).result(T) == "hq"
    ret = returns.commit(draft)
    assert ret.authorisation_id is not None
    (event,) = returned_events(terminal)
    assert event.authorisation == UUID(ret.authorisation_id)
    assert event.lines[0].restock == "damaged"
    with read_session(terminal.engine) as session:
        row = session.get(ReturnAuth, ret.authorisation_id)
        assert row is not None and (row.state, row.return_id) == ("captured", ret.id)


def test_hq_refuses_a_line_another_store_returned_and_nothing_is_held(
    terminal: Terminal,
    cashier: StaffMember,
    returns: ReturnService,
    hq: FakeReturnHQ,
    link: Link,
) -> None:
    sale = sell(terminal, cashier, TARO)
    hq.sold[UUID(sale.id)] = {1: 1000}
    hq.taken[(UUID(sale.id), 1)] = 1000  # returned at S002 meanwhile
    link.online = True
    draft = returns.new_draft(cashier, returns.find_by_ref(sale.reference).result(T))
    draft.choices[1] = ReturnChoice(1000, "damaged")
    with pytest.raises(ReturnError) as exc:
        returns.authorise(draft).result(T)
    assert exc.value.code == "not_returnable" and "S002" in exc.value.params["detail"]
    # HQ's params reach the screen's text with the code: which line, where it went back.
    assert (exc.value.params["line_no"], exc.value.params["returned_store"]) == (1, "S002")
    with pytest.raises(ReturnError) as exc:
        returns.commit(draft)
    assert exc.value.code == "not_authorised"
    assert returned_events(terminal) == []


def test_a_cancelled_return_gives_its_authorisation_back(
    terminal: Terminal,
    cashier: StaffMember,
    returns: ReturnService,
    hq: FakeReturnHQ,
    link: Link,
) -> None:
    sale = sell(terminal, cashier, TARO)
    hq.sold[UUID(sale.id)] = {1: 1000}
    link.online = True
    draft = returns.new_draft(cashier, returns.find_by_ref(sale.reference).result(T))
    draft.choices[1] = ReturnChoice(1000, "damaged")
    returns.authorise(draft).result(T)
    auth_id = draft.auth_id
    returns.cancel(draft)
    done = threading.Event()
    returns.sweep().add_done_callback(lambda _f: done.set())
    assert done.wait(T)
    assert hq.taken[(UUID(sale.id), 1)] == 0
    with read_session(terminal.engine) as session:
        row = session.get(ReturnAuth, auth_id)
        assert row is not None and row.state == "released"


def test_an_abandoned_authorisation_is_released_at_start_up(
    terminal: Terminal, returns: ReturnService, hq: FakeReturnHQ, link: Link
) -> None:
    auth_id = str(uuid7())
    sale_id = uuid7()
    hq.sold[sale_id] = {1: 1000}
    asyncio.run(
        hq.authorise_return(
            p.ReturnAuthRequest(
                auth_id=UUID(auth_id), sale_id=sale_id, lines=[p.LineQty(line_no=1, qty_milli=1000)]
            )
        )
    )
    from pos_app.localdb import returns as repo

    with write_session(terminal.engine) as session:
        repo.add_auth(session, auth_id, str(sale_id), {1: 1000}, terminal.clock.now())
        session.commit()
    link.online = True
    assert returns.recover() == 1
    done = threading.Event()
    returns.sweep().add_done_callback(lambda _f: done.set())
    assert done.wait(T)
    assert hq.taken[(sale_id, 1)] == 0


def test_a_cross_store_receipt_is_refused_offline_with_the_alternatives(
    cashier: StaffMember, returns: ReturnService
) -> None:
    other = SaleRef(uuid7(), "S002", "S002-T01").sign(b"s002 secret")
    with pytest.raises(ReturnError) as exc:
        returns.find_by_ref(other).result(T)
    assert exc.value.code == "cross_store_offline"
    assert "no_receipt" in exc.value.params["alternatives"]


def _hq_sale(
    tenders: list[p.Tender], earned: int = 0, member: str | None = None
) -> p.SaleForReturn:
    total = sum(t.amount_fen for t in tenders)
    return p.SaleForReturn(
        sale_id=uuid7(),
        receipt_no="S002-T01-000007",
        store="S002",
        terminal="S002-T01",
        cashier="2001",
        completed_at=datetime(2025, 3, 1, 1, 0, tzinfo=datetime.now().astimezone().tzinfo),
        lines=[
            p.SoldLine(
                line_no=1,
                sku="MT001",
                name="芋泥波波",
                unit="piece",
                qty_milli=2000,
                unit_price_fen=total // 2,
                list_amount_fen=total,
                discount_fen=0,
                amount_fen=total,
                returned_milli=0,
                held_milli=0,
                returnable_milli=2000,
                refunded_fen=0,
            )
        ],
        subtotal_fen=total,
        discount_fen=0,
        rounding_fen=0,
        total_fen=total,
        tenders=tenders,
        change_fen=0,
        member=member,
        earned_points=earned,
    )


def test_a_cross_store_points_and_cash_sale_refunds_by_the_split_and_reverses_points(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService, hq: FakeReturnHQ, link: Link
) -> None:
    """GIVEN a sale at S002 paid ¥10 in points and ¥20 cash (¥50 handed over), 30 points
    earned, looked up through HQ
    WHEN one of its two items comes back here
    THEN the preview splits ¥15 as ¥5 points + ¥10 cash, takes back 15 points, and the
    committed event carries both refunds and the member."""
    sale = _hq_sale(
        [
            p.Tender(kind="points", amount_fen=1000),
            p.Tender(kind="cash", amount_fen=2000, tendered_fen=5000),
        ],
        earned=30,
        member="812345678903",
    )
    hq.sales = [sale]
    hq.sold[sale.sale_id] = {1: 2000}
    link.online = True
    other = SaleRef(sale.sale_id, "S002", "S002-T01").sign(b"s002")
    found = returns.find_by_ref(other).result(T)
    assert not found.local and hq.lookups[0].ref == other
    draft = returns.new_draft(cashier, found)
    draft.choices[1] = ReturnChoice(1000, "wrong_item")
    preview = returns.preview(draft)
    assert [(s.kind, s.amount_fen) for s in preview.split] == [("points", 500), ("cash", 1000)]
    assert preview.points_reversed == 15
    returns.authorise(draft).result(T)
    returns.commit(draft)
    (event,) = returned_events(terminal)
    assert [(t.kind, t.amount_fen) for t in event.refunds] == [("points", 500), ("cash", 1000)]
    assert (event.member, event.points_reversed) == ("812345678903", 15)


def test_a_payment_code_refund_needs_the_gateway(
    cashier: StaffMember, returns: ReturnService, hq: FakeReturnHQ, link: Link
) -> None:
    sale = _hq_sale([p.Tender(kind="other", amount_fen=3000, reference="WX-1")])
    draft = returns.new_draft(cashier, FoundSale(sale, False))
    draft.choices[1] = ReturnChoice(1000, "wrong_item")
    hq.sold[sale.sale_id] = {1: 2000}
    link.online = True
    returns.authorise(draft).result(T)
    with pytest.raises(ReturnError) as exc:
        returns.commit(draft)
    assert exc.value.code == "refund_gateway_missing"


class RecordingGateway:
    """A payment gateway for the returns service that records each refund it is asked
    for and refunds each refund id once, as the providers do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int, str | None, int | None, datetime | None]] = []
        self.refunded: dict[str, int] = {}

    def refund(
        self,
        refund_id: str,
        kind: str,
        amount_fen: int,
        reference: str | None,
        *,
        total_fen: int | None = None,
        placed_at: datetime | None = None,
    ) -> str:
        self.calls.append((refund_id, kind, amount_fen, reference, total_fen, placed_at))
        self.refunded.setdefault(refund_id, amount_fen)
        return f"RF-{refund_id}"


def test_another_till_s_payment_code_refund_names_the_charge_and_a_retry_refunds_once(
    terminal: Terminal,
    clock: FakeClock,
    runner: SyncRunner,
    cashier: StaffMember,
    hq: FakeReturnHQ,
    link: Link,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GIVEN another till's sale paid ¥30.00 by UnionPay, found at HQ with its charge time
    WHEN one of its two items comes back
    THEN the gateway is asked to refund ¥15.00 of that order naming its ¥30.00 total and
    its time; and when the return could not be saved after the refund, confirming again
    sends the refund under the same id (refunded once) and saves the return."""
    gateway = RecordingGateway()
    returns = ReturnService(
        terminal.engine,
        clock,
        terminal.identity,
        terminal.auth,
        runner=runner,
        hq=lambda: hq,
        online=lambda: link.online,
        gateway=gateway,
    )
    at = datetime(2025, 3, 1, 1, 0, tzinfo=datetime.now().astimezone().tzinfo)
    sale = _hq_sale(
        [p.Tender(kind="unionpay", amount_fen=3000, reference="S002-T01-P000009", placed_at=at)]
    )
    hq.sold[sale.sale_id] = {1: 2000}
    link.online = True
    draft = returns.new_draft(cashier, FoundSale(sale, False))
    draft.choices[1] = ReturnChoice(1000, "wrong_item")
    returns.authorise(draft).result(T)
    saving = returns._commit

    def lost_once(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(returns, "_commit", saving)
        raise OSError("disk full")

    monkeypatch.setattr(returns, "_commit", lost_once)
    with pytest.raises(ReturnError) as exc:
        returns.commit(draft)
    assert exc.value.code == "return_not_saved"
    record = returns.commit(draft)
    assert [c[1:] for c in gateway.calls] == [
        ("unionpay", 1500, "S002-T01-P000009", 3000, at),
        ("unionpay", 1500, "S002-T01-P000009", 3000, at),
    ]
    assert gateway.calls[0][0] == gateway.calls[1][0] == record.id
    assert gateway.refunded == {record.id: 1500}
    assert [(r.kind, r.amount_fen) for r in record.refunds] == [("unionpay", 1500)]


def test_a_refund_above_the_limit_needs_a_supervisor_whose_approval_travels(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService
) -> None:
    sale = sell(terminal, cashier, *([TARO] * 7))  # ¥105.00
    draft = returns.new_draft(cashier, returns.find_by_ref(sale.reference).result(T))
    draft.choices[1] = ReturnChoice(7000, "quality")
    with pytest.raises(ReturnError) as exc:
        returns.commit(draft)
    assert (exc.value.code, exc.value.params["action"]) == ("needs_approval", "refund_over_limit")
    returns.approve(draft, "refund_over_limit", "1003", "135790")
    returns.commit(draft)
    (event,) = returned_events(terminal)
    assert [(a.action, a.staff) for a in event.approvals] == [("refund_over_limit", "1003")]


def test_a_return_without_receipt_needs_a_manager_and_is_capped(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService
) -> None:
    item = terminal.catalog.scan(TARO).item
    draft = returns.new_draft(cashier, None)
    draft.no_receipt.append(
        NoReceiptLine(
            item.item_id, item.sku, item.name_zh, "piece", item.unit_price_fen, 1000, "other"
        )
    )
    with pytest.raises(ReturnError) as exc:
        returns.approve(draft, "return_without_receipt", "1003", "135790")
    assert exc.value.code == "not_approver"
    returns.approve(draft, "return_without_receipt", "1004", "86420")
    ret = returns.commit(draft)
    assert (ret.original_sale_id, ret.refund_fen) == (None, 1500)
    (event,) = returned_events(terminal)
    assert event.original is None and event.lines[0].original_line_no is None
    draft = returns.new_draft(cashier, None)
    draft.no_receipt.append(
        NoReceiptLine(
            item.item_id, item.sku, item.name_zh, "piece", item.unit_price_fen, 7000, "other"
        )
    )
    with pytest.raises(ReturnError) as exc:
        returns.check(draft)
    assert exc.value.code == "no_receipt_over_cap"


def test_undo_a_sale_just_made_is_a_full_return_with_a_supervisor(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService, clock: FakeClock
) -> None:
    signed_in = clock.now()
    sale = sell(terminal, cashier, TARO, WALNUTS_356G, card=1000)
    draft = returns.undo_draft(cashier, sale.id, signed_in)
    with pytest.raises(ReturnError) as exc:
        returns.commit(draft)
    assert exc.value.params["action"] == "sale_undo"
    returns.approve(draft, "sale_undo", "1003", "135790")
    ret = returns.commit(draft)
    assert ret.refund_fen == sale.total_fen
    assert sorted((r.kind, r.amount_fen) for r in ret.refunds) == sorted(
        (t.kind, t.amount_fen) for t in sale.tenders
    )
    with pytest.raises(ReturnError) as exc:
        returns.undo_draft(cashier, sale.id, signed_in)
    assert exc.value.code == "not_undoable"


def test_a_draft_read_before_another_return_of_the_line_cannot_return_it_twice(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService
) -> None:
    """GIVEN a 芋泥波波 sold here and found twice (two screens' worth of drafts), offline
    WHEN the first draft returns it
    THEN the second, read before that, is refused ``over_returnable`` at commit and
    nothing more is refunded."""
    sale = sell(terminal, cashier, TARO)
    first = returns.new_draft(cashier, returns.find_by_ref(sale.reference).result(T))
    second = returns.new_draft(cashier, returns.find_by_ref(sale.reference).result(T))
    for draft in (first, second):
        draft.choices[1] = ReturnChoice(1000, "changed_mind")
    returns.commit(first)
    with pytest.raises(ReturnError) as exc:
        returns.commit(second)
    assert (exc.value.code, exc.value.params["left_milli"]) == ("over_returnable", 0)
    assert [e.refund_fen for e in returned_events(terminal)] == [1500]


def test_undo_lists_the_open_shifts_sales_and_the_return_carries_the_shift(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService, clock: FakeClock
) -> None:
    """GIVEN a sale before the shift opened and one in it
    WHEN the cashier looks for a sale to undo (no time given)
    THEN only the shift's sale is offered, an approved undo is accepted from an approver
    the dialog already checked, and the return event names the shift."""
    from pos_app.domain.shift import CashCount

    before = sell(terminal, cashier, TARO)
    clock.advance(timedelta(minutes=5))
    assert terminal.shifts is not None
    shift = terminal.shifts.open(cashier, CashCount().with_count("note:10000", 1))
    clock.advance(timedelta(minutes=5))
    during = sell(terminal, cashier, TARO)
    assert [str(f.sale.sale_id) for f in returns.undoable_sales()] == [during.id]
    with pytest.raises(ReturnError):
        returns.undo_draft(cashier, before.id)
    draft = returns.undo_draft(cashier, during.id)
    with pytest.raises(ReturnError) as exc:
        returns.accept_approval(draft, "sale_undo", cashier)
    assert exc.value.code == "not_approver"
    supervisor = terminal.auth.approve(
        "1003", "135790", action="return.sale_undo", requested_by=cashier.number
    )
    returns.accept_approval(draft, "sale_undo", supervisor)
    ret = returns.commit(draft)
    (event,) = returned_events(terminal)
    assert ret.shift_id == shift.id and event.shift_id == UUID(shift.id)


# -- the sale's coupon --------------------------------------------------------------------


def _coupon_sale(terminal: Terminal, cashier: StaffMember, valid_until: datetime) -> SaleRecord:
    """A member's sale of 芋泥波波 and 杨枝甘露(大) (¥31.00) with a ¥5 coupon held at HQ,
    paid ¥26.00 in cash: the coupon spread over both lines."""
    from pos_app.domain.cart import CouponUse
    from tests.services.test_checkout_members import MANGO_L, _hold, _member

    draft = terminal.checkout.new_draft(cashier)
    draft.member = _member()
    terminal.checkout.scan(draft, TARO)
    terminal.checkout.scan(draft, MANGO_L)
    hold = _hold(terminal, draft, "coupon", 1, 500)
    draft.cart.coupon = CouponUse(hold.hold_id, str(uuid7()), "满30减5", 500, 3000, valid_until)
    payment = Payment(draft.cart.totals().total_fen)
    payment.add_cash(payment.due_fen)
    return terminal.checkout.complete(draft, payment)


def test_the_coupon_goes_back_with_the_last_line_of_the_sale_returned_offline(
    terminal: Terminal,
    cashier: StaffMember,
    returns: ReturnService,
    clock: FakeClock,
    printer: Any,
) -> None:
    """GIVEN a member's sale at this till that used a ¥5 coupon valid for a week, HQ
    unreachable
    WHEN 芋泥波波 comes back, then 杨枝甘露(大)
    THEN the first return refunds net of the coupon's share and keeps the coupon used;
    the second, which completes the sale, shows the coupon going back, names it in its
    event (HQ gives it back on ingest) and prints "优惠券已退回 满30减5"; the sale found
    again shows the coupon back, so no later return names it again."""
    sale = _coupon_sale(terminal, cashier, clock.now() + timedelta(days=7))
    assert sale.total_fen == 2600 and sale.member is not None
    found = returns.find_by_ref(sale.reference).result(T)
    assert found.sale.coupon is not None
    assert (found.sale.coupon.name, found.sale.coupon.value_fen, found.sale.coupon.back) == (
        "满30减5",
        500,
        False,
    )

    draft = returns.new_draft(cashier, found)
    draft.choices[1] = ReturnChoice(1000, "quality")
    assert returns.preview(draft).coupon_back is None
    first = returns.commit(draft)
    assert first.refund_fen == sale.lines[0].amount_fen < 1500
    assert first.coupon_back_id is None

    draft = returns.new_draft(cashier, returns.find_by_ref(sale.reference).result(T))
    draft.choices[2] = ReturnChoice(1000, "quality")
    preview = returns.preview(draft)
    assert preview.coupon_back is not None and preview.coupon_back.name == "满30减5"
    second = returns.commit(draft)
    assert first.refund_fen + second.refund_fen == 2600
    assert (second.coupon_back_id, second.coupon_back_name) == (
        str(found.sale.coupon.coupon_id),
        "满30减5",
    )
    events = returned_events(terminal)
    assert [e.coupon_back for e in events] == [None, found.sale.coupon.coupon_id]
    slip = printed(terminal, printer, 3)[2]
    texts = json.dumps([repr(b) for b in slip.blocks], ensure_ascii=False)
    assert "优惠券已退回" in texts and "满30减5" in texts
    again = returns.find_by_ref(sale.reference).result(T)
    assert again.sale.coupon is not None and again.sale.coupon.back


def test_an_expired_coupon_or_coupon_back_never_keeps_it_used(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService, clock: FakeClock
) -> None:
    """GIVEN a coupon sale returned whole WHEN the coupon has expired since, or the chain
    set ``returns.coupon_back = never`` THEN the return does not give the coupon back."""
    sale = _coupon_sale(terminal, cashier, clock.now() + timedelta(days=1))
    clock.advance(timedelta(days=2))
    draft = returns.new_draft(cashier, returns.find_by_ref(sale.reference).result(T))
    draft.choices = {1: ReturnChoice(1000, "quality"), 2: ReturnChoice(1000, "quality")}
    assert returns.preview(draft).coupon_back is None

    with write_session(terminal.engine) as session:
        set_setting(session, "returns.coupon_back", "never")
        session.commit()
    fresh = _coupon_sale(terminal, cashier, clock.now() + timedelta(days=7))
    draft = returns.new_draft(cashier, returns.find_by_ref(fresh.reference).result(T))
    draft.choices = {1: ReturnChoice(1000, "quality"), 2: ReturnChoice(1000, "quality")}
    assert returns.preview(draft).coupon_back is None
    assert returns.commit(draft).coupon_back_id is None


def test_a_cross_store_return_of_what_is_left_names_the_coupon_hq_shows(
    terminal: Terminal,
    cashier: StaffMember,
    returns: ReturnService,
    hq: FakeReturnHQ,
    link: Link,
    clock: FakeClock,
) -> None:
    """GIVEN another store's coupon sale of two pieces, one already returned there, as
    HQ shows it
    WHEN the other piece comes back here with HQ's authorisation
    THEN the event names the coupon to give back; had HQ shown it given back already,
    nothing would name it."""
    base = _hq_sale([p.Tender(kind="cash", amount_fen=2500)], member="812345678903")
    line = base.lines[0].model_copy(
        update={"returned_milli": 1000, "returnable_milli": 1000, "refunded_fen": 1250}
    )
    coupon = p.SaleCoupon(
        coupon_id=uuid7(),
        name="满20减5",
        value_fen=500,
        valid_until=clock.now() + timedelta(days=3),
    )
    sale = base.model_copy(update={"lines": [line], "coupon": coupon})
    hq.sales = [sale]
    hq.sold[sale.sale_id] = {1: 1000}
    link.online = True
    found = returns.find_by_ref(SaleRef(sale.sale_id, "S002", "S002-T01").sign(b"s2")).result(T)
    draft = returns.new_draft(cashier, found)
    draft.choices[1] = ReturnChoice(1000, "changed_mind")
    assert returns.authorise(draft).result(T) == "hq"
    assert returns.preview(draft).coupon_back == coupon
    returns.commit(draft)
    (event,) = returned_events(terminal)
    assert event.coupon_back == coupon.coupon_id and event.authorisation is not None

    back = FoundSale(
        sale.model_copy(update={"coupon": coupon.model_copy(update={"back": True})}), False
    )
    draft = returns.new_draft(cashier, back)
    draft.choices[1] = ReturnChoice(1000, "changed_mind")
    assert returns.preview(draft).coupon_back is None


def test_a_line_returned_elsewhere_meanwhile_is_refused_saying_where_and_when(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService, hq: FakeReturnHQ, link: Link
) -> None:
    """GIVEN another store's sale of two pieces found through HQ
    WHEN, before the cashier confirms, S003 returns one of them and this till asks HQ for
    both
    THEN HQ refuses, and the cashier reads which store took it back, when, with which
    return receipt and what is left, in Chinese, from HQ's record of the sale."""
    from pos_app.i18n import Translator
    from pos_app.ui.errors import error_text

    sale = _hq_sale([p.Tender(kind="cash", amount_fen=3000)])
    hq.sales = [sale]
    hq.sold[sale.sale_id] = {1: 2000}
    link.online = True
    found = returns.find_by_ref(SaleRef(sale.sale_id, "S002", "S002-T01").sign(b"s2")).result(T)
    when = datetime(2025, 3, 1, 6, 30, tzinfo=datetime.now().astimezone().tzinfo)
    elsewhere = p.EarlierReturn(
        return_id=uuid7(),
        receipt_no="S003-T01-R000004",
        store="S003",
        terminal="S003-T01",
        returned_at=when,
        lines=[p.LineQty(line_no=1, qty_milli=1000)],
        refund_fen=1500,
    )
    line = sale.lines[0].model_copy(update={"returned_milli": 1000, "returnable_milli": 1000})
    hq.sales = [sale.model_copy(update={"lines": [line], "returns": [elsewhere]})]
    hq.taken[(sale.sale_id, 1)] = 1000
    draft = returns.new_draft(cashier, found)
    draft.choices[1] = ReturnChoice(2000, "changed_mind")
    with pytest.raises(ReturnError) as refused:
        returns.authorise(draft).result(T)
    assert refused.value.code == "already_returned"
    assert refused.value.params["store"] == "S003"
    assert hq.lookups[-1].receipt_no == sale.receipt_no
    text = error_text(Translator("zh_CN"), refused.value)
    local = when.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    assert text == f"芋泥波波 已于 {local} 在门店 S003 退过（退货单 S003-T01-R000004），现可退 1"
    with read_session(terminal.engine) as session:
        assert session.scalars(select(ReturnAuth.state)).all() == ["released"]


def test_a_cup_sold_under_second_cup_half_price_is_refunded_at_what_was_paid_for_it(
    terminal: Terminal, cashier: StaffMember, returns: ReturnService, clock: FakeClock
) -> None:
    """GIVEN two 杨枝甘露 (¥16.00 each) sold under 第二件半价 for ¥24.00, HQ unreachable
    WHEN one cup comes back, then the other
    THEN each refunds ¥12.00, half of what the line cost after the promotion, never the
    list price: together exactly the ¥24.00 paid."""
    definition = {
        "id": 41,
        "version": 1,
        "name_zh": "第二件半价",
        "kind": "nth_item",
        "params": {"n": 2, "percent_bp": 5000},
        "targets": {"items": ["FT001"]},
        "starts_at": (clock.now() - timedelta(days=1)).isoformat(),
    }
    change = p.PromotionChange(
        seq=1,
        key="41",
        store=None,
        created_at=clock.now(),
        data=p.PromotionData(id=41, version=1, definition=definition),
    )
    assert LocalReplica(terminal.engine, "S001").apply_changes([change], 1).quarantined == 0
    sale = sell(terminal, cashier, "6954321100137", "6954321100137")
    assert (sale.lines[0].list_amount_fen, sale.lines[0].amount_fen) == (3200, 2400)
    refunds = []
    for _ in range(2):
        draft = returns.new_draft(cashier, returns.find_by_ref(sale.reference).result(T))
        draft.choices[1] = ReturnChoice(1000, "quality")
        refunds.append(returns.commit(draft).refund_fen)
    assert refunds == [1200, 1200]
