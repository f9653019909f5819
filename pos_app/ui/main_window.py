"""MainWindow: top bar, the screen stack and the status bar."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLayout,
    QMainWindow,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from pos_app.i18n import LANGUAGES
from pos_app.services.auth import StaffMember
from pos_app.services.checkout import SaleRecord
from pos_app.services.printing import DrawerResult, JobNotPrinted, PrintJobInfo, QueueState
from pos_app.services.receipts import LOCAL_TZ
from pos_app.ui.checkout_screen import CheckoutScreen, CheckoutViewModel
from pos_app.ui.context import UiContext
from pos_app.ui.devices_screen import DevicesScreen, problem_text
from pos_app.ui.login_screen import LoginScreen
from pos_app.ui.menu_panel import MenuPanel, MenuViewModel
from pos_app.ui.shift_screens import ShiftFlow
from pos_app.ui.sync_status import OfflineBanner, SyncIndicator
from pos_app.ui.tender_screen import SaleDoneScreen, TenderScreen
from pos_app.ui.widgets import TouchButton

if TYPE_CHECKING:
    from pos_app.ui.device_settings_screen import DeviceSettingsScreen
    from pos_app.ui.pickup_screen import PickupScreen
    from pos_app.ui.return_screen import ReturnScreen
    from pos_app.ui.stock_screens import StockHub


class CurrentPageStack(QStackedWidget):
    """A stack that asks for the room its current page needs: one page shows at a time, so
    the tallest page (the shift's float count) must not make the checkout screen, with the
    offline banner above it, ask for more than a 768-pixel panel."""

    def __init__(self) -> None:
        super().__init__()
        # The stacked layout would otherwise pin the widget's minimum to its largest page.
        stacked = self.layout()
        if stacked is not None:
            stacked.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.currentChanged.connect(self._page_changed)

    def _page_changed(self, _index: int) -> None:
        self.updateGeometry()
        parent = self.parentWidget()
        around = parent.layout() if parent is not None else None
        if around is not None:
            around.invalidate()

    def sizeHint(self) -> QSize:
        page = self.currentWidget()
        return page.sizeHint() if page is not None else super().sizeHint()

    def minimumSizeHint(self) -> QSize:
        page = self.currentWidget()
        return page.minimumSizeHint() if page is not None else super().minimumSizeHint()

    def hasHeightForWidth(self) -> bool:
        # A page's wrapped labels give it a preferred height for its width; the stack
        # offers its page the room there is, down to the page's minimum.
        return False


class MainWindow(QMainWindow):
    """The terminal's one window. ``ready`` fires once the first screen is shown."""

    language_changed = Signal(str)
    scanner_settings_changed = Signal(object)  # ScannerSettings, saved by a manager

    def __init__(self, ctx: UiContext) -> None:
        super().__init__()
        self.setObjectName("MainWindow")
        self.ctx = ctx
        self.vm = CheckoutViewModel(ctx)
        central = QWidget()
        root = QVBoxLayout(central)
        root.setContentsMargins(8, 8, 8, 8)
        top = QHBoxLayout()
        self.store_label = QLabel()
        self.store_label.setObjectName("store_label")
        self.cashier_label = QLabel()
        self.cashier_label.setObjectName("cashier_label")
        self.clock_label = QLabel()
        self.language_button = TouchButton()
        self.language_button.setObjectName("language")
        self.language_button.setMaximumWidth(120)
        self.language_button.clicked.connect(self._on_language_clicked)
        self.sign_out_button = TouchButton()
        self.sign_out_button.setObjectName("sign_out")
        self.sign_out_button.setMaximumWidth(160)
        self.sign_out_button.clicked.connect(self._on_sign_out_clicked)
        # Hardware: the unprinted-receipts indicator, the device panel, the settings.
        self.unprinted_button = TouchButton(role="alert")
        self.unprinted_button.setObjectName("unprinted")
        self.unprinted_button.clicked.connect(self._on_devices_clicked)
        self.unprinted_button.hide()
        self.devices_button = TouchButton()
        self.devices_button.setObjectName("devices")
        self.devices_button.setMaximumWidth(140)
        self.devices_button.clicked.connect(self._on_devices_clicked)
        self.settings_button = TouchButton()
        self.settings_button.setObjectName("device_settings")
        self.settings_button.setMaximumWidth(140)
        self.settings_button.clicked.connect(self._on_settings_clicked)
        self.returns_button = TouchButton()
        self.returns_button.setObjectName("returns")
        self.returns_button.setMaximumWidth(140)
        self.returns_button.clicked.connect(self._on_returns_clicked)
        self._return_screen: ReturnScreen | None = None
        # The store's name gives way first on a narrow panel: the buttons keep their text.
        self.store_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top.addWidget(self.store_label, 1)
        top.addWidget(self.unprinted_button)
        top.addWidget(self.cashier_label)
        top.addWidget(self.clock_label)
        top.addWidget(self.returns_button)
        top.addWidget(self.devices_button)
        top.addWidget(self.settings_button)
        top.addWidget(self.language_button)
        top.addWidget(self.sign_out_button)
        root.addLayout(top)

        self.stack = CurrentPageStack()
        self.login = LoginScreen(ctx)
        self.menu_vm = MenuViewModel(self.vm)
        self.menu_panel = MenuPanel(self.menu_vm) if ctx.menu is not None else None
        self.checkout = CheckoutScreen(self.vm, menu_panel=self.menu_panel)
        self.tender = TenderScreen(self.vm)
        self.done = SaleDoneScreen(self.vm)
        # Built on first use: they are seldom opened and cost start-up time.
        self._devices_screen: DevicesScreen | None = None
        self._settings_screen: DeviceSettingsScreen | None = None
        self._stock_hub: StockHub | None = None
        self._pickup_screen: PickupScreen | None = None
        self._return_to: QWidget = self.login
        for screen in (
            self.login,
            self.checkout,
            self.tender,
            self.done,
        ):
            self.stack.addWidget(screen)
        # Offline, a coloured strip across the selling screens (set up with the sync below).
        self.offline_banner: OfflineBanner | None = None
        if ctx.sync is not None:
            self.offline_banner = OfflineBanner(ctx.sync, ctx.translator)
            root.addWidget(self.offline_banner)
            self.stack.currentChanged.connect(self._on_stack_current_changed)
        root.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.shift_flow: ShiftFlow | None = None
        if ctx.shifts is not None:
            self.shift_flow = ShiftFlow(
                ctx,
                ctx.shifts,
                self.stack,
                current_staff=lambda: self.vm.cashier,
                cart_in_progress=self._cart_in_progress,
                to_checkout=self._show_checkout,
                to_login=self.show_login,
                message=self.checkout.banner.show_message,
            )
            self.checkout.shift_requested.connect(self.shift_flow.menu)
        self.sync_label = QLabel()
        self.sync_indicator: SyncIndicator | None = None
        if ctx.sync is not None:
            self.sync_indicator = SyncIndicator(
                ctx.sync,
                ctx.translator,
                may_retry=lambda: self.vm.cashier is not None and self.vm.cashier.can_approve,
            )
            self.statusBar().addPermanentWidget(self.sync_indicator)
            ctx.sync.data_changed.connect(self._on_sync_data_changed)
        else:
            self.sync_label.setObjectName("sync_status")
            self.statusBar().addPermanentWidget(self.sync_label)

        self.login.signed_in.connect(self._on_login_signed_in)
        self.checkout.pay_requested.connect(self._on_checkout_pay_requested)
        self.checkout.reprint_requested.connect(self._on_reprint_requested)
        self.checkout.stock_requested.connect(self._on_checkout_stock_requested)
        self.checkout.pickups_requested.connect(self._on_checkout_pickups_requested)
        self.tender.back_requested.connect(lambda: self.stack.setCurrentWidget(self.checkout))
        self.tender.sale_completed.connect(self._on_tender_sale_completed)
        self.done.next_sale_requested.connect(self._on_done_next_sale_requested)
        self.done.reprint_requested.connect(self._on_reprint_requested)
        ctx.hardware.job_printed.connect(self._on_job_printed)
        ctx.hardware.job_not_printed.connect(self._on_job_not_printed)
        ctx.hardware.queue_changed.connect(self._on_queue_changed)
        ctx.hardware.drawer_result.connect(self._on_drawer_result)
        ctx.hardware.serial_scanned.connect(self.handle_scan)

        self._clock = QTimer(self)
        self._clock.timeout.connect(self._on_clock_timeout)
        self._clock.start(1000)
        self.resize(1280, 800)
        self.retranslate()
        self._on_queue_changed(ctx.printing.state)
        self.show_login()

    # -- navigation -------------------------------------------------------------------
    def show_login(self) -> None:
        self.vm.end()
        self.stack.setCurrentWidget(self.login)
        self.login.reset()
        self._refresh_top()

    def handle_wedge_scan(self, code: str) -> None:
        """A keyboard-wedge scan (from the application's event filter)."""
        self.ctx.devices.note_use("scanner:wedge")
        self.handle_scan(code)

    def handle_scan(self, code: str) -> None:
        """Routes a scanner's code to whatever screen can use it."""
        current = self.stack.currentWidget()
        if current is not None and current is self._settings_screen:
            self._settings_screen.show_scan(code)
            return
        if current is not None and current is self._stock_hub:
            self._stock_hub.handle_scan(code)
            return
        if current is not None and current is self._pickup_screen:
            self._pickup_screen.handle_scan(code)
            return
        if current is self.done:
            self._on_done_next_sale_requested()
            current = self.checkout
        if current is self.checkout:
            self.checkout.handle_scan(code)
        elif current is self.tender:
            self.tender.handle_scan(code)
        elif current is not None and current is self._return_screen:
            self._return_screen.handle_scan(code)

    def _on_login_signed_in(self, member: StaffMember) -> None:
        self.vm.start(member)
        if self.menu_panel is not None:
            self.menu_vm.reload()
        self._refresh_top()
        if self.shift_flow is not None and self.shift_flow.after_sign_in(member):
            return
        self._show_checkout()

    def _show_checkout(self) -> None:
        self.stack.setCurrentWidget(self.checkout)
        self.checkout.scan_input.setFocus()

    def _cart_in_progress(self) -> bool:
        return self.vm.draft is not None and not self.vm.draft.cart.is_empty

    def _on_checkout_pay_requested(self) -> None:
        if self.tender.begin():
            self.stack.setCurrentWidget(self.tender)

    def _on_tender_sale_completed(self, sale: SaleRecord) -> None:
        # The receipt was queued with the sale; the print worker reports back.
        self.done.show_sale(sale)
        self.stack.setCurrentWidget(self.done)
        self._refresh_status()

    def _on_done_next_sale_requested(self) -> None:
        self.vm.new_sale()
        self.stack.setCurrentWidget(self.checkout)
        self.checkout.scan_input.setFocus()

    def _on_reprint_requested(self) -> None:
        """Print again: the sale's own receipt if it has not printed yet (retried now),
        otherwise a copy marked 重印/COPY (audited, no drawer kick)."""
        on_done = self.stack.currentWidget() is self.done
        sale = self.done.sale if on_done else None
        sale = sale or self.ctx.checkout.last_sale()
        if sale is None:
            self.checkout.banner.show_message(self.ctx.translator.t("error.no_last_sale"), "warn")
            return
        waiting = any(
            j.sale_id == sale.id and not j.is_copy and j.state == "pending"
            for j in self.ctx.printing.state.jobs
        )
        if waiting:
            self.ctx.printing.retry_now()
        else:
            staff = self.vm.cashier.number if self.vm.cashier else None
            self.ctx.printing.reprint(sale.id, staff)
        if on_done:
            self.done.set_print_state("printing")
        else:
            key = "print.retrying" if waiting else "print.reprinting"
            self.checkout.banner.show_message(self.ctx.translator.t(key), "info")

    def _on_job_printed(self, job: PrintJobInfo, png: bytes) -> None:
        if self.done.sale is not None and self.done.sale.id == job.sale_id:
            self.done.set_print_state("printed", png)
        self._last_preview = png

    def _on_job_not_printed(self, event: JobNotPrinted) -> None:
        job = event.job
        if self.done.sale is not None and self.done.sale.id == job.sale_id:
            self.done.set_print_state("failed", problem=event.problem)
        elif self.stack.currentWidget() is self.checkout and job.kind == "receipt":
            self.checkout.banner.show_message(
                self.ctx.translator.t(
                    "print.failed_named", error=problem_text(self.ctx, event.problem)
                ),
                "error",
            )

    def _on_queue_changed(self, state: QueueState) -> None:
        """Keeps "paid, receipt not printed" in sight on every screen while any is."""
        self._queue = state
        self.unprinted_button.setVisible(state.unprinted > 0)
        self._refresh_unprinted()

    def _refresh_unprinted(self) -> None:
        state = getattr(self, "_queue", None)
        if state is None or not state.unprinted:
            return
        t = self.ctx.translator.t
        text = t("print.unprinted", count=state.unprinted)
        if state.printer.online is False:
            text += " · " + problem_text(self.ctx, state.printer.problem)
        self.unprinted_button.setText(text)

    def _on_drawer_result(self, result: DrawerResult) -> None:
        t = self.ctx.translator.t
        if result.ok and result.reason == "no_sale":
            self.checkout.banner.show_message(t("drawer.opened"), "info")
        elif not result.ok:
            text = t("drawer.failed", problem=problem_text(self.ctx, result.problem))
            if self.stack.currentWidget() is self.done:
                self.done.banner.show_message(text, "error")
            else:
                self.checkout.banner.show_message(text, "error")

    def _on_devices_clicked(self) -> None:
        if self.stack.currentWidget() is not self.devices_screen:
            self._remember_screen()
        self.devices_screen.open_for(self.vm.cashier)
        self.stack.setCurrentWidget(self.devices_screen)

    def _on_settings_clicked(self) -> None:
        staff = self.vm.cashier
        if staff is None or not staff.can_configure:
            return
        if self.stack.currentWidget() is not self.settings_screen:
            self._remember_screen()
        self.settings_screen.open_for(staff)
        self.stack.setCurrentWidget(self.settings_screen)

    def _on_returns_clicked(self) -> None:
        """Returns are rung up between sales: not with a basket on the checkout screen."""
        staff = self.vm.cashier
        if staff is None or self.ctx.returns is None:
            return
        if self.stack.currentWidget() in (self.tender, self._return_screen):
            return
        if self.vm.draft is not None and not self.vm.draft.cart.is_empty:
            self.checkout.banner.show_message(
                self.ctx.translator.t("error.sale_in_progress"), "warn"
            )
            return
        self.return_screen.open_for(staff)
        self.stack.setCurrentWidget(self.return_screen)

    @property
    def return_screen(self) -> ReturnScreen:
        """The return screen (built when first needed)."""
        if self._return_screen is None:
            from pos_app.ui.return_screen import ReturnScreen

            assert self.ctx.returns is not None
            screen = ReturnScreen(self.ctx, self.ctx.returns)
            screen.back_requested.connect(self._on_done_next_sale_requested)
            self.stack.addWidget(screen)
            self._return_screen = screen
        return self._return_screen

    def _remember_screen(self) -> None:
        current = self.stack.currentWidget()
        if current is None:
            return
        if current not in (self._devices_screen, self._settings_screen, self._return_screen):
            self._return_to = current

    @property
    def devices_screen(self) -> DevicesScreen:
        """The device panel (built when first needed)."""
        if self._devices_screen is None:
            screen = DevicesScreen(self.ctx)
            screen.back_requested.connect(self._on_hardware_back_requested)
            self.stack.addWidget(screen)
            self._devices_screen = screen
        return self._devices_screen

    @property
    def settings_screen(self) -> DeviceSettingsScreen:
        """The manager's device settings (built when first needed)."""
        if self._settings_screen is None:
            from pos_app.ui.device_settings_screen import DeviceSettingsScreen

            screen = DeviceSettingsScreen(self.ctx)
            screen.back_requested.connect(self._on_hardware_back_requested)
            screen.scanners_saved.connect(self.scanner_settings_changed)
            self.stack.addWidget(screen)
            self._settings_screen = screen
        return self._settings_screen

    def _on_hardware_back_requested(self) -> None:
        self.stack.setCurrentWidget(self._return_to)
        if self._return_to is self.checkout:
            self.checkout.scan_input.setFocus()

    def _on_sign_out_clicked(self) -> None:
        if self.vm.draft is not None and not self.vm.draft.cart.is_empty:
            self.checkout.banner.show_message(
                self.ctx.translator.t("error.sale_in_progress"), "warn"
            )
            return
        self.show_login()

    def _on_language_clicked(self) -> None:
        langs = list(LANGUAGES)
        current = self.ctx.translator.language
        self.set_language(langs[(langs.index(current) + 1) % len(langs)])

    def set_language(self, language: str) -> None:
        self.ctx.translator.set_language(language)
        self.retranslate()
        self.language_changed.emit(language)

    # -- text -------------------------------------------------------------------------
    def _on_stack_current_changed(self, _index: int) -> None:
        if self.offline_banner is not None:
            current = self.stack.currentWidget()
            self.offline_banner.show_on_screen(current in (self.checkout, self.tender))

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        self.setWindowTitle(t("app.title"))
        self.language_button.setText(t("app.other_language"))
        self.sign_out_button.setText(t("app.sign_out"))
        self.devices_button.setText(t("app.devices"))
        self.settings_button.setText(t("app.settings"))
        self.returns_button.setText(t("return.open"))
        for screen in (
            self.login,
            self.checkout,
            self.tender,
            self.done,
            self._devices_screen,
            self._settings_screen,
            self._return_screen,
            self._stock_hub,
            self.shift_flow,
        ):
            if screen is not None:
                screen.retranslate()
        self._refresh_unprinted()
        self._refresh_top()
        self._refresh_status()

    def _refresh_top(self) -> None:
        lang = self.ctx.translator.language
        self.store_label.setText(f"{self.ctx.store_name(lang)}  ·  {self.ctx.terminal_id}")
        cashier = self.vm.cashier
        t = self.ctx.translator.t
        self.cashier_label.setText(
            t("app.cashier", name=cashier.name, role=t(f"role.{cashier.role.value}"))
            if cashier
            else ""
        )
        self.sign_out_button.setVisible(cashier is not None)
        self.returns_button.setVisible(cashier is not None and self.ctx.returns is not None)
        self.settings_button.setVisible(cashier is not None and cashier.can_configure)
        self._on_clock_timeout()

    def _refresh_status(self) -> None:
        if self.sync_indicator is not None:
            self.sync_indicator.refresh()
        if self.offline_banner is not None:
            self.offline_banner.refresh()
            return
        depth = self.ctx.checkout.outbox_depth()
        self.sync_label.setText(self.ctx.translator.t("status.standalone", depth=depth))

    def _on_sync_data_changed(self, kinds: frozenset[str]) -> None:
        if "store" in kinds:
            self._refresh_top()
        if self.menu_panel is not None and kinds & {"menu", "item", "price", "sold_out"}:
            self.menu_vm.reload()
        if "pickup" in kinds:
            self.checkout.show_pickups()
            if self._pickup_screen is not None:
                self._pickup_screen.refresh()
        if kinds & {"stock", "transfer", "alert"}:
            self.checkout.show_stock_alerts()
            if self._stock_hub is not None:
                self._stock_hub.data_changed()

    @property
    def stock_hub(self) -> StockHub:
        """The stock screens (built when first needed)."""
        if self._stock_hub is None:
            from pos_app.ui.stock_screens import StockHub

            assert self.ctx.stock is not None
            self._stock_hub = StockHub(self.ctx, self.ctx.stock, lambda: self.vm.cashier)
            self._stock_hub.back_requested.connect(self._on_hardware_back_requested)
            self.stack.addWidget(self._stock_hub)
        return self._stock_hub

    @property
    def pickup_screen(self) -> PickupScreen:
        """The 待自提 list (built when first needed)."""
        if self._pickup_screen is None:
            from pos_app.ui.pickup_screen import PickupScreen

            assert self.ctx.pickups is not None
            screen = PickupScreen(self.ctx, self.ctx.pickups, lambda: self.vm.cashier)
            screen.back_requested.connect(self._on_pickup_back_requested)
            screen.collected.connect(lambda _sale: self._refresh_status())
            self.stack.addWidget(screen)
            self._pickup_screen = screen
        return self._pickup_screen

    def _on_checkout_pickups_requested(self) -> None:
        if self.vm.draft is not None and not self.vm.draft.cart.is_empty:
            self.checkout.banner.show_message(
                self.ctx.translator.t("error.sale_in_progress"), "warn"
            )
            return
        self.pickup_screen.open()
        self.stack.setCurrentWidget(self.pickup_screen)

    def _on_pickup_back_requested(self) -> None:
        self.checkout.show_pickups()
        self.stack.setCurrentWidget(self.checkout)
        self.checkout.scan_input.setFocus()

    def _on_checkout_stock_requested(self) -> None:
        self._return_to = self.checkout
        self.stock_hub.open()
        self.stack.setCurrentWidget(self.stock_hub)

    def _on_clock_timeout(self) -> None:
        self.clock_label.setText(datetime.now(LOCAL_TZ).strftime("%H:%M"))
