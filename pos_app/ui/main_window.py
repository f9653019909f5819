"""MainWindow: top bar, the screen stack and the status bar."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from pos_app.i18n import LANGUAGES
from pos_app.services.auth import StaffMember
from pos_app.services.checkout import SaleRecord
from pos_app.services.receipts import LOCAL_TZ
from pos_app.ui.checkout_screen import CheckoutScreen, CheckoutViewModel
from pos_app.ui.context import UiContext
from pos_app.ui.login_screen import LoginScreen
from pos_app.ui.sync_status import SyncIndicator
from pos_app.ui.tender_screen import SaleDoneScreen, TenderScreen
from pos_app.ui.widgets import TouchButton


class MainWindow(QMainWindow):
    """The terminal's one window. ``ready`` fires once the first screen is shown."""

    language_changed = Signal(str)

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
        top.addWidget(self.store_label, 1)
        top.addWidget(self.cashier_label)
        top.addWidget(self.clock_label)
        top.addWidget(self.language_button)
        top.addWidget(self.sign_out_button)
        root.addLayout(top)

        self.stack = QStackedWidget()
        self.login = LoginScreen(ctx)
        self.checkout = CheckoutScreen(self.vm)
        self.tender = TenderScreen(self.vm)
        self.done = SaleDoneScreen(self.vm)
        for screen in (self.login, self.checkout, self.tender, self.done):
            self.stack.addWidget(screen)
        root.addWidget(self.stack, 1)
        self.setCentralWidget(central)
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
        self.tender.back_requested.connect(lambda: self.stack.setCurrentWidget(self.checkout))
        self.tender.sale_completed.connect(self._on_tender_sale_completed)
        self.done.next_sale_requested.connect(self._on_done_next_sale_requested)
        self.done.reprint_requested.connect(self._on_reprint_requested)
        ctx.receipts.printed.connect(self._on_receipts_printed)
        ctx.receipts.failed.connect(self._on_receipts_failed)

        self._clock = QTimer(self)
        self._clock.timeout.connect(self._on_clock_timeout)
        self._clock.start(1000)
        self.resize(1280, 800)
        self.retranslate()
        self.show_login()

    # -- navigation -------------------------------------------------------------------
    def show_login(self) -> None:
        self.vm.end()
        self.stack.setCurrentWidget(self.login)
        self.login.reset()
        self._refresh_top()

    def handle_scan(self, code: str) -> None:
        """Routes a scanner's code to whatever screen can use it."""
        current = self.stack.currentWidget()
        if current is self.done:
            self._on_done_next_sale_requested()
            current = self.checkout
        if current is self.checkout:
            self.checkout.handle_scan(code)

    def _on_login_signed_in(self, member: StaffMember) -> None:
        self.vm.start(member)
        self.stack.setCurrentWidget(self.checkout)
        self.checkout.scan_input.setFocus()
        self._refresh_top()

    def _on_checkout_pay_requested(self) -> None:
        if self.tender.begin():
            self.stack.setCurrentWidget(self.tender)

    def _on_tender_sale_completed(self, sale: SaleRecord) -> None:
        self.done.show_sale(sale)
        self.stack.setCurrentWidget(self.done)
        self.ctx.receipts.submit(sale, staff=sale.cashier)
        self._refresh_status()

    def _on_done_next_sale_requested(self) -> None:
        self.vm.new_sale()
        self.stack.setCurrentWidget(self.checkout)
        self.checkout.scan_input.setFocus()

    def _on_reprint_requested(self) -> None:
        sale = self.done.sale if self.stack.currentWidget() is self.done else None
        sale = sale or self.ctx.checkout.last_sale()
        if sale is None:
            self.checkout.banner.show_message(self.ctx.translator.t("error.no_last_sale"), "warn")
            return
        reprint = self.stack.currentWidget() is not self.done or self.done._print_state == "printed"
        staff = self.vm.cashier.number if self.vm.cashier else None
        self.ctx.receipts.submit(sale, reprint=reprint, staff=staff)
        if self.stack.currentWidget() is self.done:
            self.done.set_print_state("printing")
        else:
            self.checkout.banner.show_message(self.ctx.translator.t("print.reprinting"), "info")

    def _on_receipts_printed(self, sale_id: str, png: bytes) -> None:
        if self.done.sale is not None and self.done.sale.id == sale_id:
            self.done.set_print_state("printed", png)
        self._last_preview = png

    def _on_receipts_failed(self, sale_id: str, error: str) -> None:
        if self.done.sale is not None and self.done.sale.id == sale_id:
            self.done.set_print_state("failed")
        else:
            self.checkout.banner.show_message(
                self.ctx.translator.t("print.failed_named", error=error), "error"
            )

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
    def retranslate(self) -> None:
        t = self.ctx.translator.t
        self.setWindowTitle(t("app.title"))
        self.language_button.setText(t("app.other_language"))
        self.sign_out_button.setText(t("app.sign_out"))
        for screen in (self.login, self.checkout, self.tender, self.done):
            screen.retranslate()
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
        self._on_clock_timeout()

    def _refresh_status(self) -> None:
        if self.sync_indicator is not None:
            self.sync_indicator.refresh()
            return
        depth = self.ctx.checkout.outbox_depth()
        self.sync_label.setText(self.ctx.translator.t("status.standalone", depth=depth))

    def _on_sync_data_changed(self, kinds: frozenset[str]) -> None:
        if "store" in kinds:
            self._refresh_top()

    def _on_clock_timeout(self) -> None:
        self.clock_label.setText(datetime.now(LOCAL_TZ).strftime("%H:%M"))
