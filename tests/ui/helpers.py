"""Cashier gestures shared by the screen tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from pos_app.ui.main_window import MainWindow
from tests.support import FakeClock

SCAN_KEY_INTERVAL = 0.005
HUMAN_KEY_INTERVAL = 0.2


def tap(qtbot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def sign_in(qtbot, win: MainWindow, number: str = "1001", pin: str = "1234") -> None:
    """Taps the staff number and PIN on the login keypad, then Sign in."""
    login = win.login
    login.number.setFocus()
    tap(qtbot, login.keypad.buttons["clear"])
    for digit in number:
        tap(qtbot, login.keypad.buttons[digit])
    login.pin.setFocus()
    tap(qtbot, login.keypad.buttons["clear"])
    for digit in pin:
        tap(qtbot, login.keypad.buttons[digit])
    tap(qtbot, login.sign_in_button)


def scan(
    qtbot, win: MainWindow, clock: FakeClock, code: str, target: QWidget | None = None
) -> None:
    """A wedge scanner types ``code`` at 5 ms per key into the focused widget, then Enter."""
    widget = target or win.checkout.scan_input
    widget.setFocus()
    for ch in code:
        clock.advance(SCAN_KEY_INTERVAL)
        qtbot.keyClick(widget, ch)
    clock.advance(SCAN_KEY_INTERVAL)
    qtbot.keyClick(widget, Qt.Key.Key_Return)


def when_dialog(cls: type, action: Callable[[Any], object]) -> None:
    """Runs ``action(dialog)`` as soon as a modal dialog of ``cls`` is open (modal dialogs
    block in ``exec()``, so the test's gestures on them run from the event loop)."""

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, cls):
            action(dialog)
        else:
            QTimer.singleShot(10, poll)

    QTimer.singleShot(0, poll)


def type_text(qtbot, widget: QWidget, text: str, clock: FakeClock) -> None:
    """A person types ``text`` into ``widget`` at 200 ms per key (the scan filter hands
    the keys on once it is sure they are not a scan)."""
    widget.setFocus()
    for ch in text:
        clock.advance(HUMAN_KEY_INTERVAL)
        qtbot.keyClick(widget, ch)
    clock.advance(HUMAN_KEY_INTERVAL)
    qtbot.waitUntil(lambda: widget.text().endswith(text), timeout=2000)  # type: ignore[attr-defined]


def choose(combo: Any, data: object) -> None:
    """Picks the entry of a combo box whose data is ``data``, as a tap in its list does."""
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def open_shift_if_asked(qtbot, win: MainWindow) -> None:
    """After sign-in at a till that sells only in a shift: counts a ¥500 float (five
    ¥100 notes) and opens the shift, as a cashier does on the open screen."""
    flow = win.shift_flow
    if flow is None or win.stack.currentWidget() is not flow.open_screen:
        return
    plus = flow.open_screen.grid.findChild(QWidget, "plus_note:10000")
    for _ in range(5):
        tap(qtbot, plus)
    tap(qtbot, flow.open_screen.open_button)
