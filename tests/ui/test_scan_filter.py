"""Keyboard-wedge scans versus typing, through the application-wide filter."""

from __future__ import annotations

from PySide6.QtCore import Qt

from pos_app.ui.dialogs import SearchDialog
from pos_app.ui.main_window import MainWindow
from pos_app.ui.scan_filter import ScanTimingClassifier
from tests.support import FakeClock
from tests.ui.helpers import (
    HUMAN_KEY_INTERVAL,
    SCAN_KEY_INTERVAL,
    scan,
    sign_in,
    tap,
)
from tests.ui.helpers import (
    when_dialog as _when_dialog,
)

CODE = "6954321100014"


def test_fast_digits_become_one_scan_and_leave_no_text(
    qtbot, window: MainWindow, scan_clock: FakeClock
):
    """GIVEN the product search dialog is open with its search box focused
    WHEN 13 digits arrive at 5 ms per key followed by Enter
    THEN exactly one scan event is emitted with the code, the search box stays empty and
    the scanned item is in the cart."""
    sign_in(qtbot, window)
    scans: list[str] = []
    window.scan_filter.scanned.connect(scans.append)  # type: ignore[attr-defined]
    seen: dict[str, str] = {}

    def in_dialog(dialog: SearchDialog) -> None:
        dialog.query.setFocus()
        scan(qtbot, window, scan_clock, CODE, target=dialog.query)
        seen["query"] = dialog.query.text()
        dialog.accept()

    _when_dialog(SearchDialog, in_dialog)
    tap(qtbot, window.checkout.search_button)
    assert scans == [CODE]
    assert seen["query"] == ""
    assert window.checkout.model.rowCount() == 1


def test_human_typing_stays_text(qtbot, window: MainWindow, scan_clock: FakeClock):
    """GIVEN a focused text box WHEN the same digits are typed at 200 ms per key
    THEN they all land in the box, in order, and no scan is emitted."""
    sign_in(qtbot, window)
    box = window.checkout.scan_input
    box.setFocus()
    scans: list[str] = []
    window.scan_filter.scanned.connect(scans.append)  # type: ignore[attr-defined]
    for ch in CODE:
        scan_clock.advance(HUMAN_KEY_INTERVAL)
        qtbot.keyClick(box, ch)
    scan_clock.advance(HUMAN_KEY_INTERVAL)
    qtbot.waitUntil(lambda: box.text() == CODE, timeout=2000)
    assert scans == []


def test_typed_code_with_enter_still_adds_the_item(
    qtbot, window: MainWindow, scan_clock: FakeClock
):
    """GIVEN a barcode typed by hand into the scan field WHEN Enter is pressed
    THEN the item is added as if scanned (the field's own Enter handling)."""
    sign_in(qtbot, window)
    box = window.checkout.scan_input
    box.setFocus()
    for ch in CODE:
        scan_clock.advance(HUMAN_KEY_INTERVAL)
        qtbot.keyClick(box, ch)
    scan_clock.advance(HUMAN_KEY_INTERVAL)
    qtbot.waitUntil(lambda: box.text() == CODE, timeout=2000)
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert window.checkout.model.rowCount() == 1
    assert box.text() == ""


def test_classifier_rules():
    clock = FakeClock()
    c = ScanTimingClassifier(clock=clock, threshold=0.035, min_length=4)
    for ch in "12345678":
        clock.advance(SCAN_KEY_INTERVAL)
        c.feed(ch)
    clock.advance(SCAN_KEY_INTERVAL)
    assert c.end() == "12345678"
    c.reset()
    for ch in "123":
        clock.advance(SCAN_KEY_INTERVAL)
        c.feed(ch)
    assert c.end() is None  # too short for a scan
    c.reset()
    for i, ch in enumerate("12345678"):
        clock.advance(0.1 if i == 4 else SCAN_KEY_INTERVAL)
        c.feed(ch)
    assert c.end() is None  # one slow gap: typing
    c.reset()
    c2 = ScanTimingClassifier(clock=clock, prefix="]E0")
    for ch in "]E0" + "12345678":
        clock.advance(SCAN_KEY_INTERVAL)
        c2.feed(ch)
    assert c2.end() == "12345678"
