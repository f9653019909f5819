"""Every screen and dialog fits the store's panels: 1024×768, 1366×768 and 1920×1080.

Each screen is reached the way a cashier reaches it (sign in, scan, pay, open the device
panel...), then the window is given exactly the panel's size, as a maximised window is,
and :func:`tests.ui.fit.misfits` lists whatever is squeezed below its minimum, cut off by
its parent or the window's edge, or drawn over a sibling. Dialogs open at the size they
ask for, up to the panel less a title bar.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog, QWidget

from pos_app.app import Terminal
from pos_app.i18n import Translator
from pos_app.services.enrollment import EnrollResult, EnrollTicket
from pos_app.services.pickups import ReservedWarning
from pos_app.ui.checkout_screen import VoidConfirmDialog
from pos_app.ui.dialogs import (
    ApprovalDialog,
    DiscountDialog,
    QuantityDialog,
    SearchDialog,
    WeightDialog,
)
from pos_app.ui.enroll_screen import EnrollScreen
from pos_app.ui.main_window import MainWindow
from pos_app.ui.member_panel import CouponDialog, MemberPhoneDialog, TopupDialog
from pos_app.ui.pickup_screen import ReservedDialog
from pos_app.ui.return_screen import UndoDialog
from pos_app.ui.shift_screens import CashMoveDialog, ResumeShiftDialog, ShiftMenuDialog
from pos_app.ui.sync_status import SyncDetailsDialog
from pos_app.ui.tender_screen import PointsDialog
from server_stub.embedded import EmbeddedHQ
from tests.support import FakeClock
from tests.ui.enrolled import WAIT
from tests.ui.fit import SIZES, misfits, put_on_screen
from tests.ui.helpers import choose, open_shift_if_asked, scan, sign_in, tap

TARO = "6954321100014"  # 芋泥波波 ¥15.00
MANGO_L = "6954321100137"  # 杨枝甘露(大) ¥16.00
WALNUT_LABEL = "2500101003569"

DIALOG_FRAME = 40
"""Pixels of a panel's height a window manager's title bar takes from a dialog."""


class Survey:
    """Collects what does not fit, screen by screen, so one failure lists them all."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.seen: list[str] = []

    def window(self, win: MainWindow, name: str) -> None:
        for size in SIZES:
            put_on_screen(win, size)
            self._note(win, f"{name} {win.ctx.translator.language} {size[0]}×{size[1]}")

    def widget(self, top: QWidget, name: str, language: str) -> None:
        """A screen shown on its own (before the main window exists: enrolment)."""
        for size in SIZES:
            put_on_screen(top, size)
            self._note(top, f"{name} {language} {size[0]}×{size[1]}")
        top.close()

    def dialog(self, dialog: QDialog, name: str, language: str) -> None:
        for width, height in SIZES:
            put_on_screen(dialog, (width, height - DIALOG_FRAME))
            self._note(dialog, f"{name} {language} {width}×{height}")
        dialog.done(QDialog.DialogCode.Rejected)

    def _note(self, top: QWidget, where: str) -> None:
        self.seen.append(where)
        self.problems += [f"{where}: {m}" for m in misfits(top)]

    def assert_all_fit(self) -> None:
        assert not self.problems, "\n".join(self.problems)


@pytest.fixture
def survey() -> Iterator[Survey]:
    yield Survey()


def _screens_of_a_sale(qtbot, win: MainWindow, clock: FakeClock, survey: Survey) -> None:
    survey.window(win, "login")
    sign_in(qtbot, win)
    for code in (TARO, TARO, WALNUT_LABEL):
        scan(qtbot, win, clock, code)
    assert win.checkout.model.rowCount() == 2
    survey.window(win, "checkout")
    tap(qtbot, win.checkout.pay)
    survey.window(win, "tender")
    tap(qtbot, win.tender.quick_buttons[2])
    qtbot.waitUntil(lambda: win.done.print_status.text() not in ("", "正在打印小票……"))
    survey.window(win, "sale-done")
    tap(qtbot, win.devices_button)
    survey.window(win, "devices")
    tap(qtbot, win.devices_screen.back)
    sale = win.done.sale
    assert sale is not None
    tap(qtbot, win.done.next_sale)
    tap(qtbot, win.returns_button)
    survey.window(win, "returns")
    screen = win.return_screen
    scan(qtbot, win, clock, sale.reference, target=screen.scan_input)
    qtbot.waitUntil(lambda: screen.table.rowCount() == 2)
    survey.window(win, "return-found")
    # One 芋泥波波 back: the return's done page with its receipt preview.
    screen.table.selectRow(0)
    choose(screen.reason, "quality")
    tap(qtbot, screen.plus)
    tap(qtbot, screen.confirm)
    qtbot.waitUntil(lambda: screen.pages.currentWidget() is screen.done)
    survey.window(win, "return-done")
    tap(qtbot, screen.back_button)


def test_every_screen_of_a_sale_fits_each_panel_in_chinese_and_english(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock, survey: Survey
):
    """GIVEN the till at S001 with its drink menu
    WHEN a cashier signs in, sells 芋泥波波 ×2 and a walnut label for ¥100 cash, opens the
    device panel and the return screen, in Chinese and then in English, and a manager
    opens the device settings
    THEN on 1024×768, 1366×768 and 1920×1080 nothing is squeezed, cut off or overlapping,
    and the window never asks for more than the panel."""
    _screens_of_a_sale(qtbot, window, scan_clock, survey)
    window.show_login()
    window.set_language("en")
    _screens_of_a_sale(qtbot, window, scan_clock, survey)
    window.show_login()
    window.set_language("zh_CN")
    sign_in(qtbot, window, "1004", "86420")
    tap(qtbot, window.settings_button)
    survey.window(window, "device-settings")
    assert len(survey.seen) == 2 * 8 * 3 + 3
    survey.assert_all_fit()


def test_the_shift_screens_fit_each_panel(
    qtbot, window: MainWindow, terminal: Terminal, survey: Survey
):
    """GIVEN a till that sells only in a shift
    WHEN the cashier counts the float and opens the shift, then counts the drawer to close
    THEN the open and close screens (in Chinese and English), the shift menu, the cash in
    and out dialogs and the resume dialog fit each panel."""
    from pos_app.localdb.engine import write_session
    from pos_app.localdb.store import set_setting

    with write_session(terminal.engine) as session:
        set_setting(session, "shift.required", True)
        session.commit()
    window.show_login()
    sign_in(qtbot, window)
    flow = window.shift_flow
    assert flow is not None
    qtbot.waitUntil(lambda: window.stack.currentWidget() is flow.open_screen)
    survey.window(window, "shift-open")
    window.set_language("en")
    survey.window(window, "shift-open")
    window.set_language("zh_CN")
    open_shift_if_asked(qtbot, window)
    staff = window.vm.cashier
    shift = flow.shifts.current()
    assert staff is not None and shift is not None
    survey.dialog(ShiftMenuDialog(window.ctx, staff, shift, window), "shift-menu", "zh_CN")
    survey.dialog(
        ResumeShiftDialog(window.ctx, flow.shifts.figures(), window), "shift-resume", "zh_CN"
    )
    for direction in ("in", "out"):
        survey.dialog(CashMoveDialog(window.ctx, direction, window), f"cash-{direction}", "zh_CN")
    flow.start_close(staff)
    survey.window(window, "shift-close")
    tap(qtbot, flow.close_screen.confirm)
    survey.window(window, "shift-close-figures")
    window.set_language("en")
    survey.window(window, "shift-close-figures")
    survey.assert_all_fit()


def test_every_dialog_fits_each_panel(qtbot, window: MainWindow, survey: Survey):
    """GIVEN a signed-in cashier
    WHEN the search, discount, weight, approval, phone look-up, void, undo-a-return and the
    drink options dialogs open
    (and the 折 discount, quantity and points dialogs, and the reserved-stock warning)
    THEN each fits each panel less its title bar, in Chinese and in English."""
    sign_in(qtbot, window)
    for language in ("zh_CN", "en"):
        window.set_language(language)
        t = window.ctx.translator.t
        dialogs: list[tuple[str, QDialog]] = [
            ("search", SearchDialog(window.ctx, window)),
            ("discount", DiscountDialog(window.ctx, t("checkout.line_discount"), window)),
            ("weight", WeightDialog(window.ctx, "琥珀核桃仁", 9800, window)),
            (
                "approval",
                ApprovalDialog(
                    window.ctx,
                    "discount",
                    "1001",
                    t("approval.discount_reason", share="20.0", limit="10.0"),
                    window,
                ),
            ),
            ("member-phone", MemberPhoneDialog(window.ctx, window)),
            ("void-confirm", VoidConfirmDialog(window.ctx, 6480, 2, window)),
            ("return-undo", UndoDialog(window.ctx, [], window)),
            (
                "discount-zhe",
                DiscountDialog(window.ctx, t("checkout.basket_discount"), window, base_fen=123_456),
            ),
            (
                "quantity",
                QuantityDialog(window.ctx, "芋泥波波", 1500, 1000, weighed=False, parent=window),
            ),
            (
                "quantity-kg",
                QuantityDialog(window.ctx, "琥珀核桃仁", 9800, 356, weighed=True, parent=window),
            ),
            (
                "points",
                PointsDialog(window.ctx, "王芳", 12_800, 3_100, lambda n: n, window),
            ),
            (
                "pickup-reserved",
                ReservedDialog(
                    window.ctx,
                    ReservedWarning("DR001", 3000, 1000, 4000, ("WX20250301-0042", "MT-88817")),
                    "农夫山泉矿泉水 550ml",
                    window,
                ),
            ),
        ]
        for name, dialog in dialogs:
            survey.dialog(dialog, name, language)
        panel = window.menu_panel
        assert panel is not None
        tap(qtbot, panel.tiles["MT001"])
        qtbot.waitUntil(lambda p=panel: p.sheet is not None and p.sheet.isVisible())
        assert panel.sheet is not None
        survey.dialog(panel.sheet, "options-sheet", language)
    survey.assert_all_fit()


def test_the_enrolment_screen_fits_each_panel(qtbot, survey: Survey):
    """GIVEN a till never enrolled WHEN it starts on the enrolment screen, in Chinese and
    in English, with an error showing THEN it fits each panel."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        for language in ("zh_CN", "en"):
            screen = EnrollScreen(Translator(language), _never_enrols, executor)
            qtbot.addWidget(screen)
            screen.banner.show_message(
                screen.translator.t("enroll.error.unreachable", detail="ConnectError"), "error"
            )
            survey.widget(screen, "enrol", language)
    survey.assert_all_fit()


def _never_enrols(ticket: EnrollTicket, name: str) -> EnrollResult:
    raise AssertionError("the fit test never submits")


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[EmbeddedHQ]:
    """HQ on loopback with the demo chain (the member panel shows only at an enrolled till)."""
    from pos_app.localdb.seed import load_demo_json
    from server_stub.demo import seed_chain
    from tests.support import sell_without_shifts
    from tests.sync.conftest import start_hq

    server = start_hq(f"sqlite:///{tmp_path / 'hq.sqlite3'}")
    seed_chain(server.db, load_demo_json())
    sell_without_shifts(server.db)
    yield server
    server.stop()


@pytest.fixture
def member_till(qtbot, qapp, hq: EmbeddedHQ, tmp_path: Path):  # type: ignore[no-untyped-def]
    from tests.ui.test_members_ui import Till

    till = Till(qtbot, qapp, hq, tmp_path / "till")
    yield till
    till.close()


def test_the_member_panel_and_its_dialogs_fit_each_panel(
    qtbot, hq: EmbeddedHQ, member_till, survey: Survey
):
    """GIVEN a gold member with points, stored value and a coupon, at an S002 till online
    WHEN the cashier opens the pick-up orders and the sync details, scans two drinks and
    the member's card, opens the coupon and top-up
    dialogs, goes to pay (in Chinese and English) and opens each stock screen
    THEN the pick-up screen, the sync details, the checkout screen with the member's rows,
    the dialogs, the payment screen with the points and stored-value buttons and the stock
    screens fit each panel."""
    from tests.server.member_helpers import add_member, card_code

    number, _phone = add_member(hq.db, hq.keys, points=1280, balance_fen=5000, tier="gold")
    win = member_till.win
    assert win.checkout.pickups_button.isVisible()
    tap(qtbot, win.checkout.pickups_button)
    assert win.stack.currentWidget() is win.pickup_screen
    survey.window(win, "pickups")
    tap(qtbot, win.pickup_screen.back_button)
    assert win.ctx.sync is not None
    details = SyncDetailsDialog(win.ctx.sync, win.ctx.translator, win)
    qtbot.waitUntil(lambda: details.fields["credentials"].text() != "", timeout=WAIT)
    survey.dialog(details, "sync", "zh_CN")
    for code in (TARO, MANGO_L, card_code(hq.keys, number)):
        scan(qtbot, win, member_till.clock, code)
    panel = win.checkout.member_panel
    qtbot.waitUntil(lambda: panel.title.text() == "王芳", timeout=WAIT)
    survey.window(win, "checkout-member")
    member = win.vm.member
    assert member is not None
    survey.dialog(CouponDialog(win.ctx, member, 3100, win), "member-coupon", "zh_CN")
    survey.dialog(TopupDialog(win.ctx, member, win), "member-topup", "zh_CN")
    tap(qtbot, win.checkout.pay)
    assert win.tender.points.isVisible()
    survey.window(win, "tender-member")
    win.set_language("en")
    survey.window(win, "tender-member")
    tap(qtbot, win.tender.back)
    survey.window(win, "checkout-member")
    win.set_language("zh_CN")
    assert win.checkout.stock_button.isVisible()
    tap(qtbot, win.checkout.stock_button)
    hub = win.stock_hub
    assert len(hub.tabs) == 4
    for key, tab in hub.tabs.items():
        tap(qtbot, tab)
        survey.window(win, f"stock-{key}")
    tap(qtbot, hub.back_button)
    survey.assert_all_fit()
