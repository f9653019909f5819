"""Item 5: voiding a whole cart is confirmed (showing the amount), needs a supervisor
above the store's threshold, and every void is audited with who, what and the approver."""

from __future__ import annotations

import json

from sqlalchemy import text

from pos_app.app import Terminal
from pos_app.localdb.engine import read_session
from pos_app.ui.checkout_screen import VoidConfirmDialog
from pos_app.ui.dialogs import ApprovalDialog
from pos_app.ui.main_window import MainWindow
from tests.support import FakeClock
from tests.ui.helpers import scan, sign_in, tap, when_dialog

TARO = "6954321100014"  # 芋泥波波 ¥15.00


def _voids(terminal: Terminal) -> list[tuple[str, dict]]:
    with read_session(terminal.engine) as s:
        rows = s.execute(
            text("SELECT staff, detail FROM audit_log WHERE action = 'void.sale' ORDER BY id")
        ).all()
    return [(str(r[0]), json.loads(r[1])) for r in rows]


def test_one_tap_no_longer_voids_a_cart(
    qtbot, window: MainWindow, scan_clock: FakeClock, terminal: Terminal
):
    """GIVEN a cart of ¥15.00
    WHEN the cashier taps Void sale and then keeps the sale
    THEN the dialog showed ¥15.00, the cart is still there, and nothing is audited."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    shown: list[str] = []

    def keep(dialog: VoidConfirmDialog) -> None:
        shown.append(dialog.text.text())
        dialog.reject()

    when_dialog(VoidConfirmDialog, keep)
    tap(qtbot, window.checkout.void)
    assert "¥15.00" in shown[0]
    assert window.checkout.model.rowCount() == 1
    assert _voids(terminal) == []


def test_under_the_threshold_a_confirmed_void_is_audited(
    qtbot, window: MainWindow, scan_clock: FakeClock, terminal: Terminal
):
    """GIVEN a cart of ¥15.00 (under the ¥20.00 threshold)
    WHEN the cashier confirms the void
    THEN the cart empties without a supervisor, and the audit names the cashier, the
    amount and the line."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    when_dialog(VoidConfirmDialog, lambda d: d.ok.click())
    tap(qtbot, window.checkout.void)
    assert window.checkout.model.rowCount() == 0
    ((staff, detail),) = _voids(terminal)
    assert (staff, detail["amount_fen"], detail["approver"]) == ("1001", 1500, None)
    assert [v["sku"] for v in detail["voided"]] == ["MT001"]


def test_above_the_threshold_a_void_needs_a_supervisor(
    qtbot, window: MainWindow, scan_clock: FakeClock, terminal: Terminal
):
    """GIVEN a cart of ¥30.00 (over the ¥20.00 threshold)
    WHEN the cashier confirms and the supervisor dialog is cancelled, then confirms again
    and supervisor 1003 approves
    THEN the first attempt leaves the cart, the second voids it and the audit names the
    approver."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    scan(qtbot, window, scan_clock, TARO)

    def confirm_then(approval) -> object:
        def run(dialog: VoidConfirmDialog) -> None:
            when_dialog(ApprovalDialog, approval)
            dialog.ok.click()

        return run

    when_dialog(VoidConfirmDialog, confirm_then(lambda a: a.reject()))
    tap(qtbot, window.checkout.void)
    assert window.checkout.model.rowCount() == 1
    assert _voids(terminal) == []

    def approve(dialog: ApprovalDialog) -> None:
        dialog.number.setText("1003")
        dialog.pin.setText("135790")
        dialog.ok.click()

    when_dialog(VoidConfirmDialog, confirm_then(approve))
    tap(qtbot, window.checkout.void)
    assert window.checkout.model.rowCount() == 0
    ((staff, detail),) = _voids(terminal)
    assert (staff, detail["total_fen"], detail["approver"]) == ("1001", 3000, "1003")
