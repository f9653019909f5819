"""Checkout: building a sale, discounts with approval, payment and the durable commit."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import event, func, select, text

from pos_app.app import Terminal
from pos_app.domain.cart import Discount
from pos_app.domain.tender import Payment
from pos_app.localdb.catalog import add_price
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.models import OutboxEvent, PrintJob, Sale, SaleLine, SaleTender
from pos_app.localdb.pending_stock import stock_on_hand
from pos_app.localdb.sales import get_sale
from pos_app.services.auth import StaffMember
from pos_app.services.checkout import SaleDraft
from pos_app.services.errors import ApprovalRequired, CheckoutError
from sync_client.contract.protocol import SaleCompleted
from tests.services.conftest import audit_actions
from tests.support import START, FakeClock

TARO = "6954321100014"  # 芋泥波波 ¥15.00
MANGO_L = "6954321100137"  # 杨枝甘露(大) ¥16.00
WALNUTS_356G = "2500101003569"  # 琥珀核桃仁 ¥98.00/kg, 0.356 kg -> ¥34.89


def _outbox(terminal: Terminal) -> list[SaleCompleted]:
    with read_session(terminal.engine) as session:
        payloads = session.scalars(select(OutboxEvent.payload).order_by(OutboxEvent.seq)).all()
    return [SaleCompleted.model_validate_json(p) for p in payloads]


def _count(terminal: Terminal, model: type) -> int:
    with read_session(terminal.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _three_lines(terminal: Terminal, cashier: StaffMember) -> SaleDraft:
    draft = terminal.checkout.new_draft(cashier)
    for code in (TARO, TARO, MANGO_L, WALNUTS_356G):
        terminal.checkout.scan(draft, code)
    return draft


def _pay_exact(draft: SaleDraft) -> Payment:
    payment = Payment(draft.cart.totals().total_fen)
    payment.add_card(payment.due_fen)
    return payment


def test_a_three_line_sale_paid_by_card_and_cash(
    terminal: Terminal, cashier: StaffMember, clock: FakeClock
) -> None:
    """GIVEN two 芋泥波波 (one merged line), a large 杨枝甘露 and 356 g of walnuts: ¥80.89
    WHEN the customer pays ¥50.00 by card and hands over ¥50.00 cash
    THEN the sale S001-T01-000001 is recorded with ¥19.11 change, each line with its
    price version, the stock goes down, and the outbox event says the same as the sale."""
    draft = _three_lines(terminal, cashier)
    clock.advance(timedelta(minutes=2))
    totals = draft.cart.totals()
    assert [ln.qty_milli for ln in draft.cart.lines] == [2000, 1000, 356]
    assert totals.total_fen == 3000 + 1600 + 3489
    payment = Payment(totals.total_fen)
    payment.add_card(5000, reference="UP-778899")
    payment.add_cash(5000)

    sale = terminal.checkout.complete(draft, payment)

    assert sale.receipt_no == "S001-T01-000001"
    assert (sale.total_fen, sale.change_fen, sale.cashier) == (8089, 1911, "1001")
    assert (sale.started_at, sale.completed_at) == (START, START + timedelta(minutes=2))
    assert [(ln.sku, ln.qty_milli, ln.amount_fen, ln.price_version) for ln in sale.lines] == [
        ("MT001", 2000, 3000, 1),
        ("FT001", 1000, 1600, 11),
        ("SN001", 356, 3489, 39),
    ]
    with read_session(terminal.engine) as session:
        assert get_sale(session, sale.id) == sale
        taro_id = sale.lines[0].item_id
        assert stock_on_hand(session, taro_id) == 240_000 - 2000
        stored_versions = (
            session.execute(
                text("SELECT price_version FROM sale_line WHERE sale_id=:s ORDER BY line_no"),
                {"s": sale.id},
            )
            .scalars()
            .all()
        )
        assert stored_versions == [1, 11, 39]

    (event_,) = _outbox(terminal)
    assert event_.sale_id == UUID(sale.id)
    assert (event_.receipt_no, event_.store, event_.terminal, event_.cashier) == (
        "S001-T01-000001",
        "S001",
        "S001-T01",
        "1001",
    )
    assert (event_.subtotal_fen, event_.discount_fen, event_.total_fen, event_.change_fen) == (
        sale.subtotal_fen,
        sale.discount_fen,
        sale.total_fen,
        sale.change_fen,
    )
    assert [
        (
            ln.line_no,
            ln.sku,
            ln.barcode,
            ln.qty_milli,
            ln.unit_price_fen,
            ln.price_version,
            ln.list_amount_fen,
            ln.discount_fen,
            ln.amount_fen,
        )
        for ln in event_.lines
    ] == [
        (
            ln.line_no,
            ln.sku,
            ln.barcode,
            ln.qty_milli,
            ln.unit_price_fen,
            ln.price_version,
            ln.list_amount_fen,
            ln.discount_fen,
            ln.amount_fen,
        )
        for ln in sale.lines
    ]
    assert [(t.kind, t.amount_fen, t.tendered_fen, t.reference) for t in event_.tenders] == [
        ("card", 5000, None, "UP-778899"),
        ("cash", 3089, 5000, None),
    ]
    assert terminal.checkout.outbox_depth() == 1
    assert terminal.checkout.last_sale() == sale


def test_receipt_numbers_count_up_per_terminal(terminal: Terminal, cashier: StaffMember) -> None:
    numbers = []
    for _ in range(3):
        draft = terminal.checkout.new_draft(cashier)
        terminal.checkout.scan(draft, TARO)
        numbers.append(terminal.checkout.complete(draft, _pay_exact(draft)).receipt_no)
    assert numbers == ["S001-T01-000001", "S001-T01-000002", "S001-T01-000003"]
    assert [e.receipt_no for e in _outbox(terminal)] == numbers


def test_a_discount_over_the_limit_needs_a_supervisor(
    terminal: Terminal, cashier: StaffMember
) -> None:
    """GIVEN a cashier with a 10% discount limit and a ¥15.00 cup
    WHEN the cashier gives 20% off the line without, then with, a supervisor's approval
    THEN the first is refused (ApprovalRequired, 2000 bp over 1000 bp) and the cart is
    unchanged; the second applies, and the sale records who approved it."""
    draft = terminal.checkout.new_draft(cashier)
    line = terminal.checkout.scan(draft, TARO)
    with pytest.raises(ApprovalRequired) as err:
        terminal.checkout.set_line_discount(draft, line.line_no, Discount(percent_bp=2000))
    assert (err.value.code, err.value.params["share_bp"], err.value.params["limit_bp"]) == (
        "discount_over_limit",
        2000,
        1000,
    )
    assert draft.cart.totals().total_fen == 1500

    approver = terminal.auth.approve(
        "1003", "135790", action="discount", requested_by=cashier.number, share_bp=2000
    )
    terminal.checkout.set_line_discount(
        draft, line.line_no, Discount(percent_bp=2000), approver=approver
    )
    sale = terminal.checkout.complete(draft, _pay_exact(draft))
    assert (sale.discount_fen, sale.total_fen) == (300, 1200)
    assert ("1003", "approved.discount") in audit_actions(terminal)
    assert ("1001", "sale.approved_discounts") in audit_actions(terminal)


def test_a_cashier_cannot_approve_their_own_discount(
    terminal: Terminal, cashier: StaffMember
) -> None:
    draft = terminal.checkout.new_draft(cashier)
    terminal.checkout.scan(draft, TARO)
    with pytest.raises(ApprovalRequired):
        terminal.checkout.set_basket_discount(draft, Discount(amount_fen=500), approver=cashier)
    assert draft.cart.basket_discount is None


def test_a_discount_at_the_limit_needs_no_approval(
    terminal: Terminal, cashier: StaffMember
) -> None:
    draft = terminal.checkout.new_draft(cashier)
    terminal.checkout.scan(draft, TARO)
    terminal.checkout.set_basket_discount(draft, Discount(amount_fen=150))  # exactly 10%
    assert draft.cart.totals().total_fen == 1350
    with pytest.raises(ApprovalRequired):
        terminal.checkout.set_basket_discount(draft, Discount(amount_fen=151))
    assert draft.cart.totals().total_fen == 1350


def test_a_supervisor_at_the_till_needs_no_approver(
    terminal: Terminal, supervisor: StaffMember
) -> None:
    draft = terminal.checkout.new_draft(supervisor)
    terminal.checkout.scan(draft, TARO)
    terminal.checkout.set_basket_discount(draft, Discount(percent_bp=5000))
    sale = terminal.checkout.complete(draft, _pay_exact(draft))
    assert (sale.cashier, sale.total_fen) == ("1003", 750)


def test_complete_refuses_an_empty_cart(terminal: Terminal, cashier: StaffMember) -> None:
    draft = terminal.checkout.new_draft(cashier)
    with pytest.raises(CheckoutError) as err:
        terminal.checkout.complete(draft, Payment(0))
    assert err.value.code == "empty_cart"
    assert _count(terminal, Sale) == 0


def test_complete_refuses_an_unpaid_sale(terminal: Terminal, cashier: StaffMember) -> None:
    draft = terminal.checkout.new_draft(cashier)
    terminal.checkout.scan(draft, TARO)
    payment = Payment(1500)
    payment.add_cash(1000)
    with pytest.raises(CheckoutError) as err:
        terminal.checkout.complete(draft, payment)
    assert (err.value.code, err.value.params["remaining_fen"]) == ("not_paid", 500)
    assert _count(terminal, Sale) == 0


def test_complete_refuses_a_payment_for_another_total(
    terminal: Terminal, cashier: StaffMember
) -> None:
    """GIVEN a sale paid in full at ¥15.00
    WHEN another cup is scanned before completing
    THEN completion is refused as total_changed; nothing is recorded."""
    draft = terminal.checkout.new_draft(cashier)
    terminal.checkout.scan(draft, TARO)
    payment = _pay_exact(draft)
    terminal.checkout.scan(draft, MANGO_L)
    with pytest.raises(CheckoutError) as err:
        terminal.checkout.complete(draft, payment)
    assert err.value.code == "total_changed"
    assert _count(terminal, Sale) == 0


class DiskFull:
    """Makes SQLite report 'database or disk is full' when the outbox row is inserted,
    i.e. after the sale, lines, tenders and stock were written in the same transaction.

    Installed at the driver: while it is on, the engine's new connections are ``sqlite3``
    connections that raise the driver's own error for that statement (the sale is written
    on the connection's ``sqlite3`` handle, below SQLAlchemy). The pool is emptied on the
    way in and out, so no connection outlives it.
    """

    def __init__(self, terminal: Terminal) -> None:
        self._engine = terminal.engine
        self.failures = 0
        fault = self

        class _FullDisk(sqlite3.Connection):
            def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
                fault._check(sql)
                return super().execute(sql, *args)

            def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
                fault._check(sql)
                return super().executemany(sql, *args)

        self._factory = _FullDisk

    def _check(self, sql: str) -> None:
        if sql.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            self.failures += 1
            raise sqlite3.OperationalError("database or disk is full")

    def _on_connect(self, _dialect: Any, _record: Any, _cargs: Any, cparams: Any) -> None:
        cparams["factory"] = self._factory

    def __enter__(self) -> DiskFull:
        event.listen(self._engine, "do_connect", self._on_connect)
        self._engine.dispose()
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self._engine, "do_connect", self._on_connect)
        self._engine.dispose()


def test_a_failed_commit_saves_nothing_and_the_sale_can_be_retried(
    terminal: Terminal, cashier: StaffMember
) -> None:
    """GIVEN a paid 3-line sale
    WHEN the disk fills up while the sale is being written
    THEN complete raises CheckoutError commit_failed naming the cause, and no sale, line,
    tender, outbox row, print job, stock change or receipt number is left behind;
    AND WHEN the same draft and payment are completed again once space is back
    THEN the sale is recorded once, as S001-T01-000001."""
    draft = _three_lines(terminal, cashier)
    payment = _pay_exact(draft)
    with read_session(terminal.engine) as session:
        stock_before = session.execute(
            text("SELECT item_id, local_sold_milli FROM stock_level ORDER BY item_id")
        ).all()

    with DiskFull(terminal) as disk_full, pytest.raises(CheckoutError) as err:
        terminal.checkout.complete(draft, payment)
    assert disk_full.failures == 1
    assert err.value.code == "commit_failed"
    assert "database or disk is full" in err.value.params["detail"]
    for model in (Sale, SaleLine, SaleTender, OutboxEvent, PrintJob):
        assert _count(terminal, model) == 0, model.__name__
    with read_session(terminal.engine) as session:
        assert (
            session.execute(
                text("SELECT item_id, local_sold_milli FROM stock_level ORDER BY item_id")
            ).all()
            == stock_before
        )
        assert session.execute(text("SELECT COUNT(*) FROM counter")).scalar() == 0

    sale = terminal.checkout.complete(draft, payment)
    assert sale.receipt_no == "S001-T01-000001"
    counts = [_count(terminal, m) for m in (Sale, SaleLine, OutboxEvent, PrintJob)]
    assert counts == [1, 3, 1, 1]


def test_checkout_refuses_a_sale_the_protocol_would_refuse(
    terminal: Terminal, cashier: StaffMember
) -> None:
    """GIVEN a paid 3-line sale whose start time lost its time zone (HQ refuses such an
    event as invalid)
    WHEN the cashier completes it
    THEN complete raises CheckoutError sale_invalid naming the field, and nothing of the
    sale is saved: no sale, line, outbox event, print job or receipt number."""
    draft = _three_lines(terminal, cashier)
    payment = _pay_exact(draft)
    assert draft.started_at is not None
    draft.started_at = draft.started_at.replace(tzinfo=None)

    with pytest.raises(CheckoutError) as err:
        terminal.checkout.complete(draft, payment)
    assert err.value.code == "sale_invalid"
    assert "started_at" in err.value.params["detail"]
    for model in (Sale, SaleLine, SaleTender, OutboxEvent, PrintJob):
        assert _count(terminal, model) == 0, model.__name__
    with read_session(terminal.engine) as session:
        assert session.execute(text("SELECT COUNT(*) FROM counter")).scalar() == 0


def test_a_price_switch_applies_to_scans_after_its_moment_only(
    terminal: Terminal, cashier: StaffMember, clock: FakeClock
) -> None:
    """GIVEN HQ published ¥17.00 (version 9001) for 芋泥波波 effective at 10:30
    WHEN a cup is scanned at 10:00, the clock passes 10:30, and another cup is scanned
    THEN the first line keeps ¥15.00 / version 1, the second is ¥17.00 / version 9001,
    and the sale records both versions."""
    with write_session(terminal.engine) as session:
        add_price(
            session,
            version=9001,
            sku="MT001",
            price_fen=1700,
            effective_at=START + timedelta(minutes=30),
        )
        session.commit()
    draft = terminal.checkout.new_draft(cashier)
    terminal.checkout.scan(draft, TARO)
    assert terminal.catalog.scan(TARO).item.unit_price_fen == 1500

    clock.advance(timedelta(minutes=30))
    terminal.checkout.scan(draft, TARO)
    assert [
        (ln.item.unit_price_fen, ln.item.price_version, ln.qty_milli) for ln in draft.cart.lines
    ] == [(1500, 1, 1000), (1700, 9001, 1000)]

    sale = terminal.checkout.complete(draft, _pay_exact(draft))
    assert [(ln.unit_price_fen, ln.price_version) for ln in sale.lines] == [(1500, 1), (1700, 9001)]
    assert sale.total_fen == 3200
    assert [ln.price_version for ln in _outbox(terminal)[0].lines] == [1, 9001]


def test_a_void_before_payment_is_audited(terminal: Terminal, cashier: StaffMember) -> None:
    draft = _three_lines(terminal, cashier)
    terminal.checkout.record_void(draft, line_no=2)
    terminal.checkout.record_void(draft)
    assert audit_actions(terminal)[-2:] == [("1001", "void.line"), ("1001", "void.sale")]
    assert _count(terminal, Sale) == 0
