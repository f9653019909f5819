"""Shifts at the till: open with a counted float, cash movements, X report, blind close
with over/short and sign-off, a shift a crash left open, and checkout's shift rule."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from pos_app.app import Terminal, build_terminal
from pos_app.domain.shift import CashCount
from pos_app.domain.tender import Payment
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.models import OutboxEvent, PrintJob, Sale
from pos_app.localdb.store import set_setting
from pos_app.services.auth import StaffMember
from pos_app.services.errors import ApprovalRequired, CheckoutError
from pos_app.services.shifts import ShiftError, ShiftService
from sync_client.contract import protocol
from tests.services.conftest import FakeClock, RecordingPrinter

TARO = "6954321100014"  # 芋泥波波 ¥15.00

FIVE_HUNDRED = (
    CashCount()
    .with_count("note:10000", 3)
    .with_count("note:5000", 2)
    .with_count("note:2000", 2)
    .with_count("note:1000", 4)
    .with_amount("coin:100", 1000)
    .with_count("note:100", 4)
    .tapped("coin:50", 10)
    .tapped("coin:10", 10)
)


@pytest.fixture(autouse=True)
def _shifts_required(terminal: Terminal) -> None:
    with write_session(terminal.engine) as session:
        set_setting(session, "shift.required", True)
        session.commit()


@pytest.fixture
def shifts(terminal: Terminal) -> ShiftService:
    assert terminal.shifts is not None
    return terminal.shifts


def _events(terminal: Terminal, kind: str) -> list[dict[str, object]]:
    with read_session(terminal.engine) as session:
        rows = session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.type == kind).order_by(OutboxEvent.seq)
        ).all()
    return [json.loads(r) for r in rows]


def _sell(terminal: Terminal, cashier: StaffMember, *, cash_fen: int | None) -> int:
    draft = terminal.checkout.new_draft(cashier)
    terminal.checkout.scan(draft, TARO)
    payment = Payment(draft.cart.totals().total_fen)
    if cash_fen is None:
        payment.add_card(payment.due_fen)
    else:
        payment.add_cash(cash_fen)
    terminal.checkout.complete(draft, payment)
    return payment.due_fen


def test_selling_needs_an_open_shift(terminal: Terminal, cashier: StaffMember) -> None:
    """GIVEN a store where selling needs an open shift (the default) and none is open
    WHEN a paid sale completes
    THEN it is refused with ``no_shift`` and nothing is recorded."""
    with pytest.raises(CheckoutError) as err:
        _sell(terminal, cashier, cash_fen=10000)
    assert err.value.code == "no_shift"
    with read_session(terminal.engine) as session:
        assert session.execute(text("SELECT COUNT(*) FROM sale")).scalar_one() == 0


def test_open_counts_the_float_and_writes_its_event(
    terminal: Terminal, shifts: ShiftService, cashier: StaffMember
) -> None:
    shift = shifts.open(cashier, FIVE_HUNDRED)
    assert shift.float_fen == 50000
    assert shift.shift_no == "S001-T01-S00001"
    (event,) = _events(terminal, "shift.opened")
    opened = protocol.ShiftOpened.model_validate(event)
    assert opened.float_fen == 50000
    assert sum(c.value_fen * c.count for c in opened.float_counts) == 50000
    assert shifts.current() == shift
    with pytest.raises(ShiftError) as err:
        shifts.open(cashier, FIVE_HUNDRED)
    assert err.value.code == "shift_open"


def test_a_full_shift_closes_two_yuan_short_with_sign_off(
    terminal: Terminal,
    shifts: ShiftService,
    cashier: StaffMember,
    supervisor: StaffMember,
    printer: RecordingPrinter,
) -> None:
    """GIVEN a shift opened with ¥500, a cash sale with change, a card sale and ¥200 to
    the safe
    WHEN the cashier counts ¥2 less than expected with a threshold of ¥1
    THEN the close needs a reason and a supervisor, and then records -¥2.00, sends the
    figures to HQ and prints the handover slip."""
    with write_session(terminal.engine) as session:
        set_setting(session, "shift.over_short_threshold_fen", 100)
        session.commit()
    shifts.open(cashier, FIVE_HUNDRED)
    cash_sale = _sell(terminal, cashier, cash_fen=10000)
    card_sale = _sell(terminal, cashier, cash_fen=None)
    with pytest.raises(ApprovalRequired):
        shifts.move_cash(cashier, "out", 20000, "存入保险柜")
    shifts.move_cash(cashier, "out", 20000, "存入保险柜", approver=supervisor)
    figures = shifts.figures()
    expected = 50000 + cash_sale - 20000
    assert figures.expected_cash_fen == expected
    assert figures.cash.change_fen == 10000 - cash_sale
    assert figures.counts.sales_count == 2
    assert figures.counts.sales_fen == cash_sale + card_sale
    assert {t.kind: t.expected_fen for t in figures.tenders} == {
        "cash": expected,
        "card": card_sale,
    }
    counted = CashCount().with_amount("note:100", expected - 200)
    review = shifts.review_close(counted)
    assert review.over_short_fen == -200 and review.needs_sign_off
    with pytest.raises(ShiftError) as err:
        shifts.close(cashier, counted)
    assert err.value.code == "reason_required"
    with pytest.raises(ApprovalRequired):
        shifts.close(cashier, counted, reason="找错零钱")
    result = shifts.close(cashier, counted, reason="找错零钱", approver=supervisor)
    assert result.review.over_short_fen == -200
    assert shifts.current() is None
    (event,) = _events(terminal, "shift.closed")
    closed = protocol.ShiftClosed.model_validate(event)
    assert (closed.expected_cash_fen, closed.counted_cash_fen, closed.over_short_fen) == (
        expected,
        expected - 200,
        -200,
    )
    assert closed.approval is not None and closed.approval.staff == supervisor.number
    assert closed.sales_count == 2
    (moved,) = _events(terminal, "shift.cash_moved")
    assert moved["direction"] == "out" and moved["amount_fen"] == 20000
    with read_session(terminal.engine) as session:
        kinds = session.scalars(select(PrintJob.kind).order_by(PrintJob.id)).all()
        assert kinds[-1] == "handover"
        shift_ids = set(session.scalars(select(Sale.shift_id)).all())
    assert shift_ids == {str(closed.shift_id)}
    assert result.next_float_fen == 50000  # fresh float: cash is not carried over


def test_a_shift_with_no_sales_closes(shifts: ShiftService, cashier: StaffMember) -> None:
    shifts.open(cashier, FIVE_HUNDRED)
    result = shifts.close(cashier, FIVE_HUNDRED)
    assert result.review.over_short_fen == 0
    assert result.review.figures.counts.sales_count == 0


def test_a_cart_in_progress_blocks_the_close(shifts: ShiftService, cashier: StaffMember) -> None:
    shifts.open(cashier, FIVE_HUNDRED)
    with pytest.raises(ShiftError) as err:
        shifts.close(cashier, FIVE_HUNDRED, cart_in_progress=True)
    assert err.value.code == "cart_in_progress"
    assert shifts.current() is not None


def test_carry_over_opens_with_the_counted_cash(
    terminal: Terminal, shifts: ShiftService, cashier: StaffMember
) -> None:
    with write_session(terminal.engine) as session:
        set_setting(session, "shift.carry_over_cash", True)
        session.commit()
    first = shifts.open(cashier, FIVE_HUNDRED)
    counted = FIVE_HUNDRED.with_count("note:5000", 1).with_amount("coin:100", 6000)
    shifts.close(cashier, counted)
    float_fen, count, carried = shifts.opening_float()
    assert float_fen == 50000 and carried == first.id
    assert count == counted
    second = shifts.open(cashier, count, carried_from=carried)
    assert second.carried_from == first.id


def test_x_report_leaves_the_shift_open(
    terminal: Terminal, shifts: ShiftService, cashier: StaffMember
) -> None:
    shifts.open(cashier, FIVE_HUNDRED)
    figures = shifts.x_report(cashier)
    assert figures.expected_cash_fen == 50000
    assert shifts.current() is not None
    with read_session(terminal.engine) as session:
        assert "report" in session.scalars(select(PrintJob.kind)).all()


def test_a_shift_left_open_is_found_after_a_restart(
    terminal: Terminal,
    shifts: ShiftService,
    cashier: StaffMember,
    clock: FakeClock,
    printer: RecordingPrinter,
) -> None:
    """GIVEN an open shift with a sale
    WHEN the till's database is opened again by a new terminal (a power loss)
    THEN the open shift is found with its figures intact and can be closed."""
    shift = shifts.open(cashier, FIVE_HUNDRED)
    due = _sell(terminal, cashier, cash_fen=10000)
    path = terminal.engine.url.database
    assert path is not None
    terminal.close()
    again = build_terminal(path, clock=clock, printer=printer, start_devices=False)
    try:
        assert again.shifts is not None
        found = again.shifts.current()
        assert found is not None and found.id == shift.id
        assert again.shifts.figures().expected_cash_fen == 50000 + due
        again.shifts.close(cashier, CashCount().with_amount("note:100", 50000 + due))
        assert again.shifts.current() is None
    finally:
        again.close()


def test_a_return_in_the_shift_is_refunded_out_of_its_figures(
    terminal: Terminal, shifts: ShiftService, cashier: StaffMember
) -> None:
    """GIVEN a shift opened with ¥500, a ¥15 cash sale and a card sale
    WHEN both come back in returns at this till (no shift id handed to the service)
    THEN each return belongs to the open shift, its sale.returned event names it, and the
    figures take the cash refund out of expected cash and the card refund out of the
    card's, with the returns counted and totalled."""
    from pos_app.services.returns import ReturnChoice, ReturnService

    shift = shifts.open(cashier, FIVE_HUNDRED)
    cash_sale = _sell(terminal, cashier, cash_fen=2000)
    card_sale = _sell(terminal, cashier, cash_fen=None)
    returns = ReturnService(terminal.engine, terminal.clock, terminal.identity, terminal.auth)
    with read_session(terminal.engine) as session:
        refs = (
            session.execute(
                select(Sale.reference).where(Sale.shift_id == shift.id).order_by(Sale.receipt_no)
            )
            .scalars()
            .all()
        )
    for ref in refs:
        found = returns.find_by_ref(ref).result(5)
        draft = returns.new_draft(cashier, found)
        draft.choices[1] = ReturnChoice(1000, "quality")
        assert returns.commit(draft).shift_id == shift.id
    figures = shifts.figures()
    assert figures.counts.returns_count == 2
    assert figures.counts.refunds_fen == cash_sale + card_sale
    assert figures.cash.refunds_fen == cash_sale
    assert {t.kind: t.expected_fen for t in figures.tenders} == {
        "cash": 50000,
        "card": 0,
    }
    assert {e["shift_id"] for e in _events(terminal, "sale.returned")} == {shift.id}
