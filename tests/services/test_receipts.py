"""Receipts: what the customer's slip says, the signed QR code, and the cash drawer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hardware import Columns, Document, Item, QRCode, Text
from pos_app.app import Terminal
from pos_app.domain.cart import Discount
from pos_app.domain.ids import SaleRefError, verify_sale_ref
from pos_app.domain.tender import Payment
from pos_app.localdb.engine import read_session
from pos_app.localdb.models import Sale
from pos_app.localdb.sales import SaleRecord
from pos_app.services.auth import StaffMember
from pos_app.services.receipts import ReceiptService
from tests.services.conftest import RecordingPrinter, audit_actions, printed
from tests.support import FakeClock

TARO = "6954321100014"
MANGO_L = "6954321100137"
WALNUTS_356G = "2500101003569"


def _sell(
    terminal: Terminal,
    cashier: StaffMember,
    *,
    cash: int | None = None,
    card: int | None = None,
    discount: Discount | None = None,
) -> SaleRecord:
    draft = terminal.checkout.new_draft(cashier)
    for code in (TARO, MANGO_L, WALNUTS_356G):
        terminal.checkout.scan(draft, code)
    if discount is not None:
        terminal.checkout.set_basket_discount(draft, discount)
    payment = Payment(draft.cart.totals().total_fen)
    if card:
        payment.add_card(card)
    if cash:
        payment.add_cash(cash)
    return terminal.checkout.complete(draft, payment)


def _texts(document: Document) -> list[str]:
    """The free text lines of the slip (store name, title, footer...)."""
    return [b.text for b in document.blocks if isinstance(b, Text)]


def _pairs(document: Document) -> list[tuple[str, str]]:
    """Label and value of every two-column row (totals, tenders, receipt number...)."""
    return [(b.left, b.right) for b in document.blocks if isinstance(b, Columns)]


def _items(document: Document) -> list[tuple[str, str, str]]:
    """(name, detail, amount) of every sale line printed."""
    return [(b.name, b.detail, b.amount) for b in document.blocks if isinstance(b, Item)]


def _qr(document: Document) -> QRCode:
    (qr,) = [b for b in document.blocks if isinstance(b, QRCode)]
    return qr


def test_receipt_says_what_was_sold_and_paid(terminal: Terminal, cashier: StaffMember) -> None:
    """GIVEN a sale of 芋泥波波, 杨枝甘露(大) and 356 g of walnuts (¥65.89), paid ¥100 cash
    WHEN its receipt is built in Chinese
    THEN it shows the store, every line with quantity and amount, the total, the cash
    handed over and ¥34.11 change, and a QR code whose reference verifies under this
    terminal's secret as this sale."""
    sale = _sell(terminal, cashier, cash=10_000)
    document = terminal.receipts.document(sale)

    assert "茶语时光 人民广场店" in _texts(document)
    items = _items(document)
    assert [(name, amount) for name, _, amount in items] == [
        ("芋泥波波", "¥15.00"),
        ("杨枝甘露(大)", "¥16.00"),
        ("琥珀核桃仁", "¥34.89"),
    ]
    assert "0.356kg" in items[2][1] and "¥98.00/kg" in items[2][1]
    pairs = _pairs(document)
    assert ("合计", "¥65.89") in pairs
    assert ("现金", "¥100.00") in pairs
    assert ("找零", "¥34.11") in pairs
    assert ("单号", sale.receipt_no) in pairs
    assert ("时间", "2025-03-01 10:00:00") in pairs  # stored in UTC, printed in Shanghai time

    ref = verify_sale_ref(_qr(document).payload, terminal.identity.receipt_secret)
    assert (str(ref.sale_id), ref.store_code, ref.terminal_id) == (sale.id, "S001", "S001-T01")
    with pytest.raises(SaleRefError):
        verify_sale_ref(_qr(document).payload, b"another terminal's secret")
    assert document.cut


def test_discounts_are_shown(terminal: Terminal, supervisor: StaffMember) -> None:
    sale = _sell(terminal, supervisor, card=6589 - 589, discount=Discount(amount_fen=589))
    pairs = _pairs(terminal.receipts.document(sale))
    assert ("优惠", "-¥5.89") in pairs
    assert ("合计", "¥60.00") in pairs


def test_cash_opens_the_drawer_card_does_not_reprint_never(
    terminal: Terminal, cashier: StaffMember
) -> None:
    cash_sale = _sell(terminal, cashier, cash=10_000)
    card_sale = _sell(terminal, cashier, card=6589)
    mixed_sale = _sell(terminal, cashier, card=589, cash=6000)
    assert terminal.receipts.document(cash_sale).open_drawer
    assert not terminal.receipts.document(card_sale).open_drawer
    assert terminal.receipts.document(mixed_sale).open_drawer
    reprint = terminal.receipts.document(cash_sale, reprint=True)
    assert not reprint.open_drawer
    assert any("重印" in line for line in _texts(reprint))
    assert not any("重印" in line for line in _texts(terminal.receipts.document(cash_sale)))


def test_english_receipt_labels(
    terminal: Terminal, cashier: StaffMember, clock: FakeClock, printer: RecordingPrinter
) -> None:
    sale = _sell(terminal, cashier, cash=7000)
    english = ReceiptService(terminal.engine, "S001", "en")
    document = english.document(sale)
    assert "TeaTime People's Square" in _texts(document)
    assert "SALES RECEIPT" in _texts(document)
    pairs = _pairs(document)
    assert ("TOTAL", "¥65.89") in pairs
    assert ("Cash", "¥70.00") in pairs
    assert ("Change", "¥4.11") in pairs
    assert not any(label in ("合计", "找零", "现金", "单号") for label, _ in pairs)


def test_the_sale_receipt_and_a_reprint_go_through_the_queue(
    terminal: Terminal, cashier: StaffMember, printer: RecordingPrinter, clock: FakeClock
) -> None:
    """GIVEN a cash sale, whose receipt the print worker prints by itself
    WHEN the cashier asks for a reprint three minutes later
    THEN a second receipt prints, marked as a copy, without opening the drawer, with the
    same signed QR reference, and the reprint is audited."""
    sale = _sell(terminal, cashier, cash=10_000)
    printed(terminal, printer, 1)
    clock.advance(timedelta(minutes=3))
    terminal.printing.reprint(sale.id, "1001")
    documents = printed(terminal, printer, 2)
    assert [d.open_drawer for d in documents] == [True, False]
    assert _qr(documents[0]).payload == _qr(documents[1]).payload == sale.reference
    assert "*** 重印 ***" not in _texts(documents[0])
    assert "*** 重印 ***" in _texts(documents[1])
    assert audit_actions(terminal)[-1] == ("1001", "receipt.reprint")


def test_paper_out_fails_the_print_not_the_sale(
    terminal: Terminal, cashier: StaffMember, printer: RecordingPrinter
) -> None:
    """GIVEN a printer out of paper
    WHEN a cash sale completes
    THEN the sale is recorded, its receipt waits in the queue (the drawer is still kicked,
    for the change), and once paper is back it prints once, without a second kick."""
    printer.paper_out = True
    sale = _sell(terminal, cashier, cash=10_000)
    assert terminal.printing.wait_for(
        lambda s: s.unprinted == 1 and s.printer.problem == "paper_out", 5
    )
    assert printer.documents == []
    assert printer.kicks == 1
    with read_session(terminal.engine) as session:
        assert session.scalars(select(Sale.receipt_no)).all() == [sale.receipt_no]
    printer.paper_out = False
    (document,) = printed(terminal, printer, 1)
    assert _qr(document).payload == sale.reference
    assert not document.open_drawer and printer.kicks == 1
    assert terminal.printing.wait_for(lambda s: s.unprinted == 0, 5)
