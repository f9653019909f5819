"""The customer display follows the till: items and total, 请出示付款码 while paying, the
change after cash; it opens on a second screen only, and a store setting turns it off."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QGuiApplication

from pos_app.cli import main as chainpos
from pos_app.localdb.engine import open_database, read_session
from pos_app.localdb.store import all_settings
from pos_app.ui.customer_display import (
    CustomerDisplay,
    display_enabled,
    display_screen,
    open_customer_display,
)
from pos_app.ui.main_window import MainWindow
from tests.support import FakeClock
from tests.ui.helpers import scan, sign_in, tap

TARO = "6954321100014"  # 芋泥波波 ¥15.00
WALNUT_LABEL = "2500101003569"  # 琥珀核桃仁 0.356 kg -> ¥34.89


def _lines(display: CustomerDisplay) -> list[str]:
    return [display.lines.item(i).text() for i in range(display.lines.count())]


def test_the_display_follows_a_cash_sale(qtbot, window: MainWindow, scan_clock: FakeClock):
    display = CustomerDisplay(window)
    qtbot.addWidget(display)
    assert display.header.text() == "欢迎光临" and _lines(display) == []
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    scan(qtbot, window, scan_clock, TARO)
    scan(qtbot, window, scan_clock, WALNUT_LABEL)
    assert _lines(display) == ["芋泥波波  ×2    ¥29.96", "琥珀核桃仁  0.356 kg    ¥34.84"]
    assert display.total.text() == "合计 ¥64.80"

    tap(qtbot, window.checkout.pay)
    assert display.header.text() == "请付款"
    assert display.prompt.text() == "请出示付款码"
    assert display.total.text() == "合计 ¥64.80"
    tap(qtbot, window.tender.back)  # the cashier goes back to the cart
    assert display.prompt.text() == "" and display.header.text() == "欢迎光临"
    assert len(_lines(display)) == 2

    tap(qtbot, window.checkout.pay)
    tap(qtbot, window.tender.quick_buttons[2])  # ¥100 cash
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done)
    assert display.header.text() == "谢谢惠顾"
    assert display.total.text() == "实收 ¥100.00"
    assert display.prompt.text() == "找零 ¥35.20"
    assert _lines(display) == []

    tap(qtbot, window.done.next_sale)  # the change stays up for the customer
    assert display.prompt.text() == "找零 ¥35.20"
    scan(qtbot, window, scan_clock, TARO)  # until the next customer's first item
    assert _lines(display) == ["芋泥波波  ×1    ¥15.00"]
    assert display.total.text() == "合计 ¥15.00" and display.prompt.text() == ""


def test_the_display_speaks_english_when_the_till_does(
    qtbot, window: MainWindow, scan_clock: FakeClock
):
    display = CustomerDisplay(window)
    qtbot.addWidget(display)
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    window.set_language("en")
    assert display.header.text() == "Welcome"
    assert display.total.text() == "Total ¥15.00"
    tap(qtbot, window.checkout.pay)
    assert display.prompt.text() == "Please show your payment code"


class _Screen:
    def __init__(self, x: int) -> None:
        self.rect = QRect(x, 0, 800, 600)

    def geometry(self) -> QRect:
        return self.rect


def test_placement_takes_the_screen_after_the_tills():
    a, b, c = _Screen(0), _Screen(1366), _Screen(2166)
    assert display_screen([]) is None
    assert display_screen([a]) is None
    assert display_screen([a, b]) is b
    assert display_screen([a, b], index=1) is None  # the second till of the demo
    assert display_screen([a, b, c], index=1) is c
    assert display_enabled("auto") and not display_enabled("off")
    assert not display_enabled(False)


def test_one_screen_or_the_setting_off_opens_no_display(qtbot, window: MainWindow):
    screens = len(QGuiApplication.screens())
    if screens != 1:  # offscreen (the test command) always has exactly one
        pytest.skip(f"needs a platform with one screen, this one has {screens}")
    assert open_customer_display(window, "auto") is None
    assert open_customer_display(window, "off") is None


def test_a_second_screen_gets_the_display_frameless_over_all_of_it(
    qtbot, monkeypatch, window: MainWindow
):
    import pos_app.ui.customer_display as cd

    second = _Screen(1366)
    monkeypatch.setattr(cd.QGuiApplication, "screens", staticmethod(lambda: [_Screen(0), second]))
    display = open_customer_display(window, "auto")
    assert display is not None
    qtbot.addWidget(display)
    assert display.geometry() == second.rect
    assert display.isVisible() and display.header.text() == "欢迎光临"
    assert not display.isActiveWindow()  # the till keeps the keys


def test_the_setting_is_changed_with_chainpos_config(demo_db: Path, capsys):
    assert chainpos(["config", "--db", str(demo_db), "customer_display", "off"]) == 0
    assert chainpos(["config", "--db", str(demo_db), "customer_display", "maybe"]) == 2
    assert "auto, off" in capsys.readouterr().err
    engine = open_database(demo_db)
    try:
        with read_session(engine) as session:
            assert all_settings(session)["customer_display"] == "off"
    finally:
        engine.dispose()
