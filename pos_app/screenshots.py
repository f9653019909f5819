"""Renders every screen offscreen to PNG, in Chinese and English, at each store panel size
(1366×768, 1024×768, 1920×1080).

    python -m pos_app.screenshots --out docs/screens

Builds a throw-away terminal on demo data, drives it the way a cashier would (sign in,
scan, discount, pay) and grabs each screen and dialog.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication, QDialog, QWidget

if TYPE_CHECKING:
    from pos_app.app import Terminal
    from pos_app.ui.main_window import MainWindow

SCREEN_SIZES = ((1366, 768), (1024, 768), (1920, 1080))
"""The store panels every screen is rendered for; the first is the default, whose files
keep their plain names (``checkout-zh_CN.png``), the others carry the size
(``checkout-zh_CN-1024x768.png``)."""
SCREEN_SIZE = SCREEN_SIZES[0]
DIALOG_FRAME = 40
"""Pixels of the panel's height a window manager's title bar takes from a dialog."""


def _sized(path: Path, size: tuple[int, int]) -> Path:
    if size == SCREEN_SIZE:
        return path
    return path.with_name(f"{path.stem}-{size[0]}x{size[1]}{path.suffix}")


def _grab(widget: QWidget, path: Path) -> list[Path]:
    """Renders ``widget`` as it looks on each panel: a window maximised to the panel, a
    dialog at the size it asks for up to the panel. Returns the files written."""
    written: list[Path] = []
    is_window = widget.isWindow() and widget.parentWidget() is None
    before = widget.size()
    for size in SCREEN_SIZES:
        width, height = size
        if is_window:
            widget.resize(width, height)
        else:
            wanted = widget.sizeHint().expandedTo(widget.minimumSizeHint())
            widget.resize(min(wanted.width(), width), min(wanted.height(), height - DIALOG_FRAME))
        for _ in range(2):
            QApplication.processEvents()
        target = _sized(path, size)
        widget.grab().save(str(target))
        print(target)
        written.append(target)
    widget.resize(before)
    QApplication.processEvents()
    return written


def _wait_printed(window: MainWindow, timeout: float = 10.0) -> None:
    """Lets the print worker report on the receipt just taken (printed or not)."""
    deadline = time.monotonic() + timeout
    while window.done._print_state == "printing" and time.monotonic() < deadline:
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def render_all(out: Path, languages: tuple[str, ...] = ("zh_CN", "en")) -> list[Path]:
    from pos_app.app import build_terminal, build_window
    from pos_app.localdb.engine import open_database
    from pos_app.localdb.seed import load_demo
    from pos_app.ui.dialogs import ApprovalDialog, DiscountDialog, SearchDialog, WeightDialog
    from pos_app.ui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    apply_theme(app)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "terminal.db"
        engine = open_database(db)
        load_demo(engine, store_code="S001", terminal_id="S001-T01")
        engine.dispose()
        for lang in languages:
            terminal = build_terminal(db, language=lang)
            window = build_window(terminal)
            window.resize(*SCREEN_SIZE)
            window.show()

            def shot(
                name: str, widget: QWidget | None = None, lang: str = lang, main: QWidget = window
            ) -> None:
                written.extend(_grab(widget or main, out / f"{name}-{lang}.png"))

            shot("login")
            window.login.number.setText("1001")
            window.login.pin.setText("1234")
            window.login.sign_in_button.click()
            _open_shift(window, shot)
            for code in ("6954321100014", "6954321100014", "2500101003569"):
                window.handle_scan(code)
            window.checkout.scan_input.setText("yzgl")
            hits = terminal.catalog.search("yzgl")
            window.vm.add_item(hits[0].row.item_id)
            window.checkout.scan_input.clear()
            window.vm.apply_discount(None, None)
            shot("checkout")
            panel = window.menu_panel
            if panel is not None and "MT001" in panel.tiles:
                panel.tiles["MT001"].click()
                if panel.sheet is not None:
                    panel.sheet.buttons[("size", "large")].click()
                    panel.sheet.buttons[("topping", "pearl")].click()
                    shot("options-sheet", panel.sheet)
                    panel.sheet.add.click()
                    shot("checkout-drink")
            for name, dialog in (
                ("search", SearchDialog(window.ctx, window)),
                (
                    "discount",
                    DiscountDialog(
                        window.ctx, terminal.translator.t("checkout.line_discount"), window
                    ),
                ),
                ("weight", WeightDialog(window.ctx, "琥珀核桃仁", 9800, window)),
                (
                    "approval",
                    ApprovalDialog(
                        window.ctx,
                        "discount",
                        "1001",
                        terminal.translator.t(
                            "approval.discount_reason", share="20.0", limit="10.0"
                        ),
                        window,
                    ),
                ),
            ):
                if isinstance(dialog, SearchDialog):
                    dialog.query.setText("ynbb")
                dialog.show()
                shot(name, dialog)
                dialog.done(QDialog.DialogCode.Rejected)
            window.checkout.pay.click()
            window.tender.amount.setText("30")
            window.tender.card.click()
            shot("tender")
            window.tender.quick_buttons[2].click()
            _wait_printed(window)
            shot("sale-done")
            written.extend(_render_returns(window, terminal, out, lang))
            # The printer runs out of paper: the next receipt waits, in sight.
            terminal.virtual_printer.set_paper_out(True)
            window.done.next_sale.click()
            window.handle_scan("6954321100014")
            window.checkout.pay.click()
            window.tender.quick_buttons[0].click()
            _wait_printed(window)
            shot("sale-not-printed")
            window.devices_button.click()
            shot("devices")
            window.devices_screen.back.click()
            window.done.next_sale.click()
            window.sign_out_button.click()
            window.login.number.setText("1004")
            window.login.pin.setText("86420")
            window.login.sign_in_button.click()
            window.settings_button.click()
            shot("device-settings")
            terminal.virtual_printer.set_paper_out(False)
            _shift_shots(window, shot)
            window.close()
            terminal.close()
        written += _render_members(out, languages, Path(tmp))
    return written


def _no_shot(*_args: object) -> None:
    """A screen not photographed."""


def _open_shift(window: MainWindow, shot: Callable[..., None]) -> None:
    """On the open screen (the store sells only in a shift): a counted float, then 开班."""
    from pos_app.domain.shift import CashCount

    flow = window.shift_flow
    if flow is None or window.stack.currentWidget() is not flow.open_screen:
        return
    flow.open_screen.grid.set_count(
        CashCount()
        .with_count("note:10000", 3)
        .with_count("note:5000", 3)
        .with_amount("coin:100", 5000)
    )
    shot("shift-open")
    flow.open_screen.open_button.click()


def _shift_shots(window: MainWindow, shot: Callable[..., None]) -> None:
    """The shift menu, the blind count, the close figures and the resume dialog."""
    from pos_app.domain.shift import CashCount
    from pos_app.ui.shift_screens import ResumeShiftDialog, ShiftMenuDialog

    flow = window.shift_flow
    staff = window.vm.cashier
    if flow is None or staff is None or flow.shifts.current() is None:
        return
    for name, dialog in (
        ("shift-menu", ShiftMenuDialog(window.ctx, staff, flow.shifts.current(), window)),
        ("shift-resume", ResumeShiftDialog(window.ctx, flow.shifts.figures(), window)),
    ):
        dialog.show()
        shot(name, dialog)
        dialog.done(QDialog.DialogCode.Rejected)
    flow.start_close(staff)
    counted = max(0, flow.shifts.figures().expected_cash_fen - 200)  # ¥2 short
    notes, rest = divmod(counted, 10000)
    count = CashCount().with_count("note:10000", notes).with_amount("coin:10", rest - rest % 10)
    flow.close_screen.grid.set_count(count)
    shot("shift-close-count")
    flow.close_screen.confirm.click()
    shot("shift-close-figures")
    # Closed, so that the next language's run opens a shift of its own.
    flow.close_screen.reason.setText("找错零钱")
    flow.close_screen.print_slip.click()


def _wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the screen did not get there in time")
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def _render_returns(window: MainWindow, terminal: Terminal, out: Path, lang: str) -> list[Path]:
    """The return screen: the sale just made found by its receipt QR, one of each of
    its first two lines chosen, then the return done with its receipt. A store that
    sells only in a shift refused that sale: a shift is opened and it is paid again."""
    from pos_app.domain.shift import CashCount
    from pos_app.ui.return_screen import ReturnScreen

    if window.done.sale is None and window.vm.cashier is not None and terminal.shifts:
        if terminal.shifts.current() is None:
            terminal.shifts.open(window.vm.cashier, CashCount())
        window.tender.complete.click()
        _wait_printed(window)
    sale = window.done.sale
    assert sale is not None
    window.done.next_sale.click()
    window.returns_button.click()
    screen: ReturnScreen = window.return_screen
    window.handle_scan(sale.reference)
    _wait_for(lambda: screen.table.rowCount() > 0)
    screen.vm.set_reason("changed_mind")
    for line in sale.lines[:2]:
        screen.vm.selected_line = line.line_no
        screen.vm.set_quantity(
            line.line_no, min(line.qty_milli, 1000 if line.unit.value != "kg" else 100)
        )
    written = _grab(window, out / f"return-{lang}.png")
    screen.confirm.click()
    _wait_for(lambda: screen.pages.currentWidget() is screen.done)
    _wait_for(lambda: screen._print_state != "printing")
    written += _grab(window, out / f"return-done-{lang}.png")
    screen.done_back.click()
    return written


def _render_members(out: Path, languages: tuple[str, ...], tmp: Path) -> list[Path]:
    """The member screens, against a real HQ (embedded, on demo data with its members)
    and a terminal of S002 enrolled with it."""
    from pos_app.app import build_terminal, build_window
    from pos_app.localdb.engine import open_database
    from pos_app.localdb.seed import load_demo_json
    from pos_app.services.enrollment import EnrollmentService, EnrollTicket
    from pos_app.ui.member_panel import CouponDialog, MemberPhoneDialog, TopupDialog
    from server_stub import operations
    from server_stub.demo import seed_chain, seed_members
    from server_stub.embedded import EmbeddedHQ
    from server_stub.settings import Settings
    from sync_client import CredentialStore

    written: list[Path] = []
    hq = EmbeddedHQ(Settings(db_url=f"sqlite:///{tmp / 'hq.sqlite3'}")).start()
    try:
        seed_chain(hq.db, load_demo_json())
        assert hq.keys is not None
        demo_member = seed_members(hq.db, hq.keys)[0]
        for lang in languages:
            data = tmp / f"till-{lang}"
            creds = CredentialStore(data, use_keyring=False)
            engine = open_database(data / "terminal.db")
            code = operations.create_enroll_code(hq.db, "S002").code
            EnrollmentService(engine, creds).enroll(EnrollTicket(hq.url, "S002", code), lang)
            engine.dispose()
            terminal = build_terminal(data / "terminal.db", language=lang, credential_store=creds)
            window = build_window(terminal)
            window.resize(*SCREEN_SIZE)
            window.show()
            terminal.start_sync()
            try:
                members = terminal.members
                assert members is not None
                _wait_for(lambda members=members: members.online)

                def shot(name: str, widget: QWidget, lang: str = lang) -> None:
                    written.extend(_grab(widget, out / f"{name}-{lang}.png"))

                window.login.number.setText("2001")
                window.login.pin.setText("3579")
                window.login.sign_in_button.click()
                _open_shift(window, _no_shot)
                for scanned in ("6954321100014", "6954321100137", demo_member.card_code):
                    window.handle_scan(scanned)
                panel = window.checkout.member_panel
                _wait_for(lambda panel=panel: panel.title.text() == demo_member.name)
                shot("checkout-member", window)
                member = window.vm.member
                assert member is not None
                for name, dialog in (
                    ("member-phone", MemberPhoneDialog(window.ctx, window)),
                    ("member-coupon", CouponDialog(window.ctx, member, 3100, window)),
                    ("member-topup", TopupDialog(window.ctx, member, window)),
                ):
                    dialog.show()
                    shot(name, dialog)
                    dialog.done(QDialog.DialogCode.Rejected)
                window.checkout.pay.click()
                window.tender.amount.setText("5")
                window.tender.points.click()
                tender = window.tender
                _wait_for(lambda tender=tender: tender.tenders.count() == 1)
                shot("tender-member", window)
                window.tender.exact.click()
                _wait_printed(window)
                shot("sale-done-member", window)
            finally:
                window.close()
                terminal.close()
    finally:
        hq.stop()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pos_app.screenshots")
    parser.add_argument("--out", type=Path, default=Path("docs/screens"))
    parser.add_argument("--lang", action="append", choices=["zh_CN", "en"])
    args = parser.parse_args(argv)
    render_all(args.out, tuple(args.lang or ("zh_CN", "en")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
