"""A refusal reaches the cashier in her language: the payment screen in zh_CN."""

from __future__ import annotations

import re

from pos_app.ui.main_window import MainWindow
from tests.support import FakeClock
from tests.ui.helpers import scan, sign_in, tap, type_text

TARO = "6954321100014"  # 芋泥波波 ¥15.00
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def test_a_card_payment_over_the_total_is_refused_in_chinese(
    qtbot, window: MainWindow, scan_clock: FakeClock
):
    """GIVEN a zh_CN till with one 芋泥波波 (¥15.00) on the payment screen
    WHEN the cashier types ¥20 and taps Card
    THEN the domain refuses the tender and the banner says so in Chinese with both
    amounts in yuan, no English; nothing is paid."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    tap(qtbot, window.checkout.pay)
    tender = window.tender
    assert window.stack.currentWidget() is tender
    type_text(qtbot, tender.amount, "20", scan_clock)
    tap(qtbot, tender.card)
    text = tender.banner.text()
    assert text == "银行卡金额 ¥20.00 不能超过剩余应收 ¥15.00"
    assert not LATIN_WORD.search(text)
    assert tender.payment is not None and tender.payment.tenders == []
