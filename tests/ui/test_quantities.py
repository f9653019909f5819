"""Quantities as a cashier keys them: the 数量 keypad and a count typed before a scan."""

from __future__ import annotations

from PySide6.QtCore import Qt

from pos_app.app import Terminal
from pos_app.ui.dialogs import QuantityDialog
from pos_app.ui.main_window import MainWindow
from tests.support import FakeClock
from tests.ui.helpers import scan, sign_in, tap, type_text, when_dialog

TARO = "6954321100014"  # 芋泥波波 ¥15.00
WALNUT_LABEL = "2500101003569"  # 琥珀核桃仁 0.356 kg at ¥98.00/kg


def _key_in(qtbot, keys: str, seen: list[str]):
    """Taps ``keys`` on the quantity keypad, notes the amount shown, then 确定."""

    def act(dialog: QuantityDialog) -> None:
        for key in keys:
            tap(qtbot, dialog.keypad.buttons[key])
        seen.append(dialog.amount.text())
        tap(qtbot, dialog.ok)

    return act


def test_thirty_one_cups_in_four_taps(qtbot, window: MainWindow, scan_clock: FakeClock):
    """GIVEN one 芋泥波波 scanned
    WHEN the cashier taps 数量, 3, 1 and 确定
    THEN the line holds 31 cups, ¥465.00, as the keypad showed before 确定."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    seen: list[str] = []
    when_dialog(QuantityDialog, _key_in(qtbot, "31", seen))
    tap(qtbot, window.checkout.quantity)
    assert seen == ["小计 ¥465.00"]
    assert window.checkout.model.rowCount() == 1
    assert window.checkout.model.index(0, 1).data() == "31"
    assert window.checkout.values["total"].text() == "¥465.00"


def test_a_zero_quantity_is_refused_in_words_and_the_line_stays(
    qtbot, window: MainWindow, scan_clock: FakeClock
):
    """GIVEN one 芋泥波波 WHEN 0 is keyed on the quantity keypad THEN the keypad says which
    numbers it takes and, cancelled, leaves the line at one cup."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    said: list[str] = []

    def act(dialog: QuantityDialog) -> None:
        tap(qtbot, dialog.keypad.buttons["0"])
        tap(qtbot, dialog.ok)
        said.append(dialog.banner.text())
        dialog.reject()

    when_dialog(QuantityDialog, act)
    tap(qtbot, window.checkout.quantity)
    assert said == ["件数请输入 1 到 9999 的整数"]
    assert window.checkout.model.index(0, 1).data() == "1"


def test_weighed_line_takes_a_weight_and_a_label_line_is_fixed(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN 琥珀核桃仁 weighed by hand at 0.500 kg, and a scale label of it
    WHEN the cashier keys 0.75 for the hand-weighed line, then taps 数量 on the label's line
    THEN the first line is 0.750 kg (¥73.50) and the label's line is refused in words."""
    sign_in(qtbot, window)
    walnut = terminal.catalog.search("SN001")[0].row.item_id
    window.vm.add_item(walnut, weighed=True, qty_milli=500)
    seen: list[str] = []
    when_dialog(QuantityDialog, _key_in(qtbot, "0.75", seen))
    tap(qtbot, window.checkout.quantity)
    assert window.checkout.model.index(0, 1).data() == "0.750 kg"
    assert window.checkout.model.index(0, 4).data() == "¥73.50"
    assert seen == ["小计 ¥73.50"]

    scan(qtbot, window, scan_clock, WALNUT_LABEL)
    assert window.checkout.model.rowCount() == 2
    tap(qtbot, window.checkout.quantity)
    assert window.checkout.banner.text() == "秤签商品的数量不能修改"
    assert window.checkout.model.index(1, 1).data() == "0.356 kg"


def test_six_star_typed_then_a_scan_adds_six(qtbot, window: MainWindow, scan_clock: FakeClock):
    """GIVEN a cashier who types 6* on the keyboard
    WHEN the scanner reads 芋泥波波
    THEN one line of 6 cups (¥90.00) is added and the scan field is empty again."""
    sign_in(qtbot, window)
    type_text(qtbot, window.checkout.scan_input, "6*", scan_clock)
    scan(qtbot, window, scan_clock, TARO)
    qtbot.waitUntil(lambda: window.checkout.model.rowCount() == 1, timeout=2000)
    assert window.checkout.model.index(0, 1).data() == "6"
    assert window.checkout.values["total"].text() == "¥90.00"
    assert window.checkout.scan_input.text() == ""


def test_six_star_entered_waits_for_the_next_scan(qtbot, window: MainWindow, scan_clock: FakeClock):
    """GIVEN a cashier who types 6* and presses Enter
    THEN the banner says the next item counts six; WHEN 芋泥波波 is scanned, THEN 6 cups,
    and the scan after that adds one."""
    sign_in(qtbot, window)
    window.checkout.scan_input.setText("6*")
    qtbot.keyClick(window.checkout.scan_input, Qt.Key.Key_Return)
    assert window.checkout.banner.text() == "下一件 ×6：请扫码"
    scan(qtbot, window, scan_clock, TARO)
    assert window.checkout.model.index(0, 1).data() == "6"
    scan(qtbot, window, scan_clock, TARO)
    assert window.checkout.model.index(0, 1).data() == "7"


def test_counts_beyond_the_bound_and_weighed_labels_are_refused_in_words(
    qtbot, window: MainWindow, scan_clock: FakeClock
):
    """GIVEN a cart of one 芋泥波波
    WHEN 999*6954321100014, 0*6954321100014 and 3*<walnut scale label> are entered
    THEN each is refused in plain words (not 'invalid characters') and the cart is
    unchanged."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    said = []
    for entry in (f"999*{TARO}", f"0*{TARO}", f"3*{WALNUT_LABEL}"):
        window.checkout.scan_input.setText(entry)
        qtbot.keyClick(window.checkout.scan_input, Qt.Key.Key_Return)
        said.append(window.checkout.banner.text())
    assert said == [
        "一次最多乘 99 件，输入的是 999；更多请点「数量」输入",
        "「*」前请输入件数，例如 6* 再扫码（输入的是「0」）",
        "称重或秤签商品不能乘数量（×3），请逐个扫描或称重",
    ]
    assert window.checkout.model.rowCount() == 1
    assert window.checkout.model.index(0, 1).data() == "1"
    assert window.checkout.values["total"].text() == "¥15.00"
