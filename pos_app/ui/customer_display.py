"""The customer display (客显): a second window facing the customer, as Chinese tills have.

When a second screen is connected, :func:`open_customer_display` places a frameless
full-screen window on it (``QGuiApplication.screens()[1]``) that follows the till's
checkout: the items and the total while the cashier scans, 请出示付款码 and the amount
due while paying, what was paid and the change after the sale, a welcome between sales.
The store setting ``customer_display`` (``auto``, the default, or ``off``; ``chainpos
config customer_display off``) turns it off. The window only reads the checkout's
signals: nothing on it is touched, and it never takes the focus from the till.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QListWidget, QVBoxLayout, QWidget

from pos_app.domain.cart import MILLI
from pos_app.ui.main_window import MainWindow
from sync_client.contract.money import format_yuan

SETTING = "customer_display"
SETTING_VALUES = ("auto", "off")


class HasGeometry(Protocol):
    def geometry(self) -> QRect: ...


def display_screen(screens: Sequence[HasGeometry], index: int = 0) -> HasGeometry | None:
    """The screen the ``index``-th till's customer display goes on: the screen after the
    till's own (screens[1] for the first till), or None when there is no such screen."""
    wanted = 1 + index
    return screens[wanted] if len(screens) > wanted else None


def display_enabled(setting: object) -> bool:
    """Whether the store setting lets the display open (``off`` or false turns it off)."""
    return setting not in ("off", False, "false", "0", 0)


class CustomerDisplay(QWidget):
    """What the customer sees; :meth:`follow` ties it to a till's main window."""

    def __init__(self, window: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("CustomerDisplay")
        self.window_ = window
        self.vm = window.vm
        self.t = window.ctx.translator.t
        self.mode = "idle"  # idle / cart / paying / paid
        self.paid_fen = 0
        self.change_fen = 0
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating, True)
        # Closing the till ends the program even while this window is open.
        self.setAttribute(Qt.WidgetAttribute.WA_QuitOnClose, False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        self.header = QLabel()
        self.header.setObjectName("cd_header")
        self.header.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.header.setProperty("role", "grand")
        layout.addWidget(self.header)
        self.lines = QListWidget()
        self.lines.setObjectName("cd_lines")
        self.lines.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.lines.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        layout.addWidget(self.lines, 1)
        self.total = QLabel()
        self.total.setObjectName("cd_total")
        self.total.setProperty("role", "grand")
        self.total.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.total)
        self.prompt = QLabel()
        self.prompt.setObjectName("cd_prompt")
        self.prompt.setProperty("role", "change")
        self.prompt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prompt.setWordWrap(True)
        layout.addWidget(self.prompt)
        self.follow()
        self.refresh()

    def follow(self) -> None:
        w = self.window_
        self.vm.cart_changed.connect(self._on_cart_changed)
        w.stack.currentChanged.connect(self._on_screen_changed)
        w.tender.sale_completed.connect(self._on_sale_completed)
        w.language_changed.connect(lambda _lang: self.refresh())
        self.setWindowTitle(self.t("cd.title"))

    # -- what drives it ------------------------------------------------------------
    def _on_cart_changed(self) -> None:
        totals = self.vm.totals()
        has_lines = totals is not None and bool(totals.lines)
        if self.mode == "paid" and not has_lines:
            return  # the change stays up until the next customer's first item
        if self.mode != "paying":
            self.mode = "cart" if has_lines else "idle"
        self.refresh()

    def _on_screen_changed(self, _index: int) -> None:
        current = self.window_.stack.currentWidget()
        if current is self.window_.tender:
            self.mode = "paying"
        elif self.mode == "paying":
            totals = self.vm.totals()
            self.mode = "cart" if totals is not None and totals.lines else "idle"
        self.refresh()

    def _on_sale_completed(self, sale: object) -> None:
        self.mode = "paid"
        self.paid_fen = int(getattr(sale, "total_fen", 0)) + int(getattr(sale, "change_fen", 0))
        self.change_fen = int(getattr(sale, "change_fen", 0))
        self.refresh()

    # -- what it shows -------------------------------------------------------------
    def refresh(self) -> None:
        t = self.t
        language = self.window_.ctx.translator.language
        self.setWindowTitle(t("cd.title"))
        totals = self.vm.totals()
        self.lines.clear()
        if self.mode in ("cart", "paying") and totals is not None:
            for priced in totals.lines:
                line = priced.line
                qty = line.qty_milli / MILLI
                qty_text = f"{qty:g} kg" if line.item.unit == "kg" else f"×{qty:g}"
                self.lines.addItem(
                    f"{line.item.name(language)}  {qty_text}    {format_yuan(priced.amount_fen)}"
                )
        if self.mode == "idle":
            self.header.setText(t("cd.welcome"))
            self.total.setText("")
            self.prompt.setText("")
        elif self.mode == "cart":
            assert totals is not None
            self.header.setText(t("cd.welcome"))
            self.total.setText(t("cd.total", amount=format_yuan(totals.total_fen)))
            self.prompt.setText(
                t("cd.saved", amount=format_yuan(totals.discount_fen))
                if totals.discount_fen
                else ""
            )
        elif self.mode == "paying":
            due = totals.total_fen if totals is not None else 0
            self.header.setText(t("cd.paying"))
            self.total.setText(t("cd.total", amount=format_yuan(due)))
            self.prompt.setText(t("cd.show_paycode"))
        else:
            self.header.setText(t("cd.thanks"))
            self.total.setText(t("cd.paid", amount=format_yuan(self.paid_fen)))
            self.prompt.setText(
                t("cd.change", amount=format_yuan(self.change_fen)) if self.change_fen else ""
            )


def open_customer_display(
    window: MainWindow, setting: object = "auto", index: int = 0
) -> CustomerDisplay | None:
    """Opens the display on the screen after the till's when there is one and the store
    setting allows it; returns it (the caller keeps it), or None."""
    if not display_enabled(setting):
        return None
    screen = display_screen(QGuiApplication.screens(), index)
    if screen is None:
        return None
    display = CustomerDisplay(window)
    display.setWindowFlag(Qt.WindowType.FramelessWindowHint, True)
    display.setGeometry(screen.geometry())
    display.show()
    return display
