"""A cashier takes payment codes (付款码) on the payment screen, against the gateway
simulator running as its own process and the real adapters (WeChat Pay's signed XML,
python-alipay-sdk, UnionPay's acp client), with the merchant secrets in a test keyring.

Every path a customer's code can take: paid at once, a password then paid, a password then
the cashier cancels (reversed at the provider), declined, already used, an answer lost
(the till asks again and the charge is found), the gateway unreachable (cash or card
offered), a code that is no payment code, and a code paying part of a mixed payment.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import text

from pos_app.app import Terminal, build_terminal
from pos_app.localdb.engine import read_session
from pos_app.ui.dialogs import ApprovalDialog
from pos_app.ui.main_window import MainWindow
from tests.paysim import MemoryKeyring, PaysimProcess, configure_store
from tests.support import FakeClock
from tests.ui.helpers import scan, sign_in, tap, type_text, when_dialog

pytestmark = pytest.mark.slow  # the simulator runs as a process

TARO = "6954321100014"  # 芋泥波波 ¥15.00
_rng = random.Random()


def wechat(tail: str) -> str:
    """A fresh WeChat Pay code (18 digits from 13) ending in ``tail``: what the simulator
    does with it depends on ``tail`` (see server_stub.paysim.ledger)."""
    return "13" + "".join(_rng.choice("0123456789") for _ in range(12)) + tail


def alipay(tail: str) -> str:
    return "28" + "".join(_rng.choice("0123456789") for _ in range(12)) + tail


@pytest.fixture
def gateway_url(paysim: PaysimProcess) -> str:
    """Where the till finds its gateway (a test parametrizes a dead address)."""
    return paysim.url


@pytest.fixture
def terminal(
    demo_db: Path, memory_keyring: MemoryKeyring, paysim: PaysimProcess, gateway_url: str
) -> Iterator[Terminal]:
    merchants = configure_store(demo_db, "S001", paysim, url=gateway_url)
    term = build_terminal(demo_db, language="zh_CN", print_retry=(0.05, 0.5), payment_poll_s=1.0)
    term.merchants = merchants  # type: ignore[attr-defined]
    yield term
    term.close()


def _to_payment(qtbot, window: MainWindow, clock: FakeClock) -> None:
    sign_in(qtbot, window)
    scan(qtbot, window, clock, TARO)
    tap(qtbot, window.checkout.pay)
    assert window.stack.currentWidget() is window.tender
    assert window.tender.values["due"].text() == "¥15.00"


def _scan_code(qtbot, window: MainWindow, clock: FakeClock, code: str) -> None:
    scan(qtbot, window, clock, code, target=window.tender.amount)


def _banner(window: MainWindow) -> str:
    return window.tender.banner.text()


def _tenders(terminal: Terminal) -> list[tuple[str, int, str | None]]:
    with read_session(terminal.engine) as session:
        rows = session.execute(
            text("SELECT kind, amount_fen, reference FROM sale_tender ORDER BY sale_id, idx")
        )
        return [(r[0], r[1], r[2]) for r in rows]


def test_a_code_that_pays_at_once_completes_the_sale(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock, paysim: PaysimProcess
):
    """GIVEN a cart of 芋泥波波 (¥15.00) on the payment screen
    WHEN the customer's WeChat Pay code is scanned
    THEN the sale completes with a ¥15.00 WeChat Pay tender naming the gateway order, and
    the provider holds that order paid once."""
    _to_payment(qtbot, window, scan_clock)
    _scan_code(qtbot, window, scan_clock, wechat("5128"))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done, timeout=10_000)
    [(kind, amount, order_no)] = _tenders(terminal)
    assert (kind, amount) == ("wechat_pay", 1500)
    assert order_no is not None and order_no.startswith("S001-T01-P")
    [held] = paysim.orders(order_no, terminal.merchants["wechat_pay"])
    assert (held["state"], held["amount_fen"], held["pay_calls"]) == ("paid", 1500, 1)


def test_a_password_shows_the_wait_then_the_sale_completes(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN the payment screen
    WHEN the wallet asks the customer for the password (USERPAYING) and she types it
    THEN the screen says 等待顾客输入密码… with a cancel button, and then the sale
    completes paid by WeChat Pay."""
    _to_payment(qtbot, window, scan_clock)
    _scan_code(qtbot, window, scan_clock, wechat("0000"))
    qtbot.waitUntil(lambda: _banner(window) == "等待顾客输入密码…", timeout=10_000)
    assert window.tender.paycode_cancel.isVisible()
    assert window.tender.paycode_cancel.text() == "取消付款"
    assert not window.tender.cash.isEnabled()
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done, timeout=15_000)
    assert [(k, a) for k, a, _ in _tenders(terminal)] == [("wechat_pay", 1500)]


def test_cancelling_during_the_password_reverses_the_charge(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock, paysim: PaysimProcess
):
    """GIVEN a code waiting for the customer's password
    WHEN the cashier taps 取消付款
    THEN the order is reversed at the provider, the screen says the customer was not
    charged, nothing was tendered and cash still pays the sale."""
    _to_payment(qtbot, window, scan_clock)
    _scan_code(qtbot, window, scan_clock, wechat("0001"))
    qtbot.waitUntil(lambda: window.tender.paycode_cancel.isVisible(), timeout=10_000)
    tap(qtbot, window.tender.paycode_cancel)
    qtbot.waitUntil(lambda: _banner(window) == "付款已取消，顾客未被扣款", timeout=10_000)
    assert window.tender.tenders.count() == 0
    assert window.tender.values["remaining"].text() == "¥15.00"
    with read_session(terminal.engine) as session:
        [(order_no, state)] = session.execute(
            text("SELECT order_no, state FROM payment_intent")
        ).all()
    assert state == "reversed"
    [held] = paysim.orders(order_no, terminal.merchants["wechat_pay"])
    assert held["state"] == "reversed" and held["refunds"] == {}
    tap(qtbot, window.tender.exact)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done)
    assert [(k, a) for k, a, _ in _tenders(terminal)] == [("cash", 1500)]


@pytest.mark.parametrize(
    ("tail", "shown"),
    [("0002", "付款未成功：余额不足"), ("0003", "该付款码已使用，请顾客刷新付款码")],
)
def test_a_declined_or_used_code_says_why_and_charges_nothing(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock, tail: str, shown: str
):
    """GIVEN the payment screen
    WHEN the code is declined (balance) or was already used
    THEN the screen says which in plain Chinese, and the sale is still to be paid."""
    _to_payment(qtbot, window, scan_clock)
    _scan_code(qtbot, window, scan_clock, wechat(tail))
    qtbot.waitUntil(lambda: _banner(window) == shown, timeout=10_000)
    assert window.tender.tenders.count() == 0
    assert window.tender.cash.isEnabled()
    assert window.stack.currentWidget() is window.tender


def test_a_lost_answer_is_asked_about_and_the_paid_charge_is_taken(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock, paysim: PaysimProcess
):
    """GIVEN the provider charges the code but its answer comes after the till stopped
    waiting (timeout)
    WHEN the till asks the provider about the order
    THEN it finds it paid and the sale completes with it, charged once."""
    _to_payment(qtbot, window, scan_clock)
    _scan_code(qtbot, window, scan_clock, wechat("0004"))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done, timeout=15_000)
    [(kind, amount, order_no)] = _tenders(terminal)
    assert (kind, amount) == ("wechat_pay", 1500)
    [held] = paysim.orders(str(order_no), terminal.merchants["wechat_pay"])
    assert (held["state"], held["pay_calls"], held["refunds"]) == ("paid", 1, {})


def test_a_typed_amount_by_code_and_the_rest_in_cash(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN ¥15.00 due
    WHEN the cashier types 10 and scans an Alipay code, then takes the rest in exact cash
    THEN the sale has ¥10.00 by Alipay and ¥5.00 cash."""
    _to_payment(qtbot, window, scan_clock)
    for key in ("1", "0"):
        tap(qtbot, window.tender.findChild(type(window.tender.cash), f"key_{key}"))
    _scan_code(qtbot, window, scan_clock, alipay("7310"))
    qtbot.waitUntil(lambda: window.tender.values["remaining"].text() == "¥5.00", timeout=10_000)
    assert window.tender.tenders.item(0).text().startswith("支付宝  ¥10.00")
    tap(qtbot, window.tender.exact)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done)
    assert [(k, a) for k, a, _ in _tenders(terminal)] == [("alipay", 1000), ("cash", 500)]


def test_something_that_is_no_payment_code_is_refused_in_plain_words(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN the payment screen
    WHEN an item's barcode is scanned there, in Chinese and then in English
    THEN it is refused as no WeChat Pay, Alipay or UnionPay code, and nothing is charged."""
    _to_payment(qtbot, window, scan_clock)
    _scan_code(qtbot, window, scan_clock, TARO)
    assert _banner(window) == "这不是微信、支付宝或云闪付的付款码"
    window.set_language("en")
    _scan_code(qtbot, window, scan_clock, TARO)
    assert _banner(window) == "This is not a WeChat Pay, Alipay or UnionPay payment code"
    assert window.tender.tenders.count() == 0
    with read_session(terminal.engine) as session:
        assert session.execute(text("SELECT count(*) FROM payment_intent")).scalar() == 0


@pytest.mark.parametrize("gateway_url", ["http://127.0.0.1:9"])
def test_an_unreachable_gateway_is_said_plainly_and_cash_still_pays(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN the store's gateway cannot be reached (connection refused)
    WHEN a payment code is scanned
    THEN the screen says so in plain Chinese and offers cash or card, nothing is owed to
    the gateway, and exact cash completes the sale."""
    _to_payment(qtbot, window, scan_clock)
    _scan_code(qtbot, window, scan_clock, wechat("6420"))
    qtbot.waitUntil(lambda: _banner(window) == "支付网关连不上，请改用现金或银行卡", timeout=10_000)
    assert window.tender.cash.isEnabled() and window.tender.card.isEnabled()
    with read_session(terminal.engine) as session:
        states = session.execute(text("SELECT state FROM payment_intent")).scalars().all()
    assert states == ["failed"]
    tap(qtbot, window.tender.exact)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done)
    assert [(k, a) for k, a, _ in _tenders(terminal)] == [("cash", 1500)]


def test_a_code_typed_into_the_amount_field_pays_without_a_scanner(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN the payment screen and no scanner at hand
    WHEN the cashier types the customer's UnionPay code into the amount field and presses
    Enter
    THEN it is charged like a scanned code and the sale completes."""
    _to_payment(qtbot, window, scan_clock)
    code = "62" + "".join(_rng.choice("0123456789") for _ in range(13)) + "4521"
    type_text(qtbot, window.tender.amount, code, scan_clock)
    qtbot.keyClick(window.tender.amount, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done, timeout=10_000)
    assert [(k, a) for k, a, _ in _tenders(terminal)] == [("unionpay", 1500)]


def _paid_without_sale(terminal: Terminal, amount_fen: int) -> str:
    """A WeChat Pay charge the gateway took for a sale that never completed (the till
    stopped after the charge was paid, and the start settled it as paid)."""
    assert terminal.payments is not None
    outcome = terminal.payments.charge(wechat("8123"), amount_fen, draft_id="lost", cashier="1001")
    assert outcome.state == "paid"
    return outcome.order_no


def _intent(terminal: Terminal, order_no: str) -> tuple[str, str | None]:
    with read_session(terminal.engine) as session:
        row = session.execute(
            text("SELECT state, sale_id FROM payment_intent WHERE order_no = :o"), {"o": order_no}
        ).one()
    return row[0], row[1]


def test_a_charge_paid_without_a_sale_is_shown_and_pays_the_current_sale(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock, paysim: PaysimProcess
):
    """GIVEN a WeChat Pay charge of ¥18.00 that reached the store's account while no sale
    completed
    WHEN the cashier opens the payment screen for a ¥30.00 sale
    THEN the screen says 有一笔微信支付 ¥18.00 已到账，未完成销售; 用于本单 puts it on this
    sale, cash pays the rest, and the sale takes the charge (once: the notice is gone)."""
    order_no = _paid_without_sale(terminal, 1800)
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    scan(qtbot, window, scan_clock, TARO)
    tap(qtbot, window.checkout.pay)
    tender = window.tender
    assert tender.unclaimed.isVisible()
    assert tender.unclaimed_text.text() == "有一笔微信支付 ¥18.00 已到账，未完成销售"
    assert (tender.unclaimed_use.text(), tender.unclaimed_refund.text()) == ("用于本单", "退款")
    tap(qtbot, tender.unclaimed_use)
    assert tender.values["remaining"].text() == "¥12.00"
    assert not tender.unclaimed.isVisible()
    tap(qtbot, tender.exact)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done, timeout=10_000)
    assert _tenders(terminal) == [("wechat_pay", 1800, order_no), ("cash", 1200, None)]
    state, sale_id = _intent(terminal, order_no)
    assert state == "paid" and sale_id is not None
    [held] = paysim.orders(order_no, terminal.merchants["wechat_pay"])
    assert (held["state"], held["refunds"]) == ("paid", {})


def test_a_charge_paid_without_a_sale_is_refunded_with_a_supervisor_s_approval(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock, paysim: PaysimProcess
):
    """GIVEN a WeChat Pay charge of ¥18.00 paid with no sale, and an English interface
    WHEN the cashier taps Refund and supervisor 1003 approves with his PIN
    THEN the gateway refunds the whole ¥18.00 to the customer's wallet, the screen says so,
    the notice is gone, and the charge can no longer pay a sale."""
    order_no = _paid_without_sale(terminal, 1800)
    window.set_language("en")
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    tap(qtbot, window.checkout.pay)
    tender = window.tender
    assert tender.unclaimed_text.text() == (
        "A WeChat Pay payment of ¥18.00 was received but no sale was completed"
    )
    assert (tender.unclaimed_use.text(), tender.unclaimed_refund.text()) == (
        "Use for this sale",
        "Refund",
    )

    def approve(dialog: ApprovalDialog) -> None:
        dialog.number.setText("1003")
        dialog.pin.setText("135790")
        dialog.ok.click()

    when_dialog(ApprovalDialog, approve)
    tap(qtbot, tender.unclaimed_refund)
    qtbot.waitUntil(
        lambda: _banner(window) == "¥18.00 refunded to the customer's WeChat Pay", timeout=10_000
    )
    assert not tender.unclaimed.isVisible()
    assert _intent(terminal, order_no) == ("refunded", None)
    [held] = paysim.orders(order_no, terminal.merchants["wechat_pay"])
    assert sum(held["refunds"].values()) == 1800  # type: ignore[union-attr]
    with read_session(terminal.engine) as session:
        staff = session.execute(
            text("SELECT staff FROM audit_log WHERE action = 'approved.paycode_refund'")
        ).all()
    assert staff == [("1003",)]
    # The cart's ¥15.00 is still due, and cash pays it.
    assert tender.values["remaining"].text() == "¥15.00"
