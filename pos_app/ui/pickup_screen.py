"""Online orders at the till: the pick-up list (待自提) and the warning shown when a sale
dips into stock online orders hold.

Runs on the GUI thread; local reads take milliseconds, and HQ's answer to "ready" comes
back through :func:`pos_app.ui.futures.when_done`.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pos_app.domain.cart import CartError
from pos_app.domain.tender import PaymentError
from pos_app.services.auth import StaffMember
from pos_app.services.errors import ServiceError
from pos_app.services.pickups import PickupInfo, PickupService, ReservedWarning
from pos_app.ui.context import UiContext
from pos_app.ui.errors import error_text
from pos_app.ui.futures import when_done
from pos_app.ui.widgets import Banner, TouchButton
from sync_client.contract.money import format_yuan

__all__ = ["PickupScreen", "ReservedDialog"]

StaffGetter = Callable[[], StaffMember | None]


def _qty(qty_milli: int) -> str:
    return f"{qty_milli / 1000:g}"


class ReservedDialog(QDialog):
    """ "Reserved for online orders": the cashier sells anyway (accept) or takes the
    quantity back off the cart (reject)."""

    def __init__(
        self, ctx: UiContext, warning: ReservedWarning, name: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ReservedDialog")
        t = ctx.translator.t
        self.setWindowTitle(t("pickup.reserved_title"))
        root = QVBoxLayout(self)
        orders = "、".join(warning.orders) if warning.orders else t("pickup.orders_unknown")
        self.text = QLabel(
            t(
                "pickup.reserved_text",
                name=name,
                available=_qty(max(0, warning.available_milli)),
                reserved=_qty(warning.reserved_milli),
                orders=orders,
            )
        )
        self.text.setObjectName("reserved_text")
        self.text.setWordWrap(True)
        root.addWidget(self.text)
        row = QHBoxLayout()
        self.sell = TouchButton(t("pickup.sell_anyway"), role="primary")
        self.sell.setObjectName("reserved_sell")
        self.sell.clicked.connect(self.accept)
        self.keep = TouchButton(t("pickup.keep_for_order"))
        self.keep.setObjectName("reserved_keep")
        self.keep.clicked.connect(self.reject)
        row.addWidget(self.keep)
        row.addWidget(self.sell)
        root.addLayout(row)


class PickupScreen(QWidget):
    """This store's paid pick-up orders: mark one ready; scan (or type) the customer's
    pick-up code to hand the order over as a sale paid online."""

    back_requested = Signal()
    collected = Signal(object)  # SaleRecord

    def __init__(
        self,
        ctx: UiContext,
        pickups: PickupService,
        staff: StaffGetter,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("PickupScreen")
        self.ctx = ctx
        self.pickups = pickups
        self.staff = staff
        self._orders: list[PickupInfo] = []
        root = QVBoxLayout(self)
        top = QHBoxLayout()
        self.title = QLabel()
        self.title.setObjectName("pickup_title")
        top.addWidget(self.title, 1)
        self.back_button = TouchButton()
        self.back_button.setObjectName("pickup_back")
        self.back_button.clicked.connect(self.back_requested)
        top.addWidget(self.back_button)
        root.addLayout(top)
        self.banner = Banner()
        self.banner.setObjectName("pickup_banner")
        root.addWidget(self.banner)
        code_row = QHBoxLayout()
        self.code_input = QLineEdit()
        self.code_input.setObjectName("pickup_code")
        self.code_input.returnPressed.connect(self._on_collect_clicked)
        code_row.addWidget(self.code_input, 1)
        self.collect_button = TouchButton(role="primary")
        self.collect_button.setObjectName("pickup_collect")
        self.collect_button.clicked.connect(self._on_collect_clicked)
        code_row.addWidget(self.collect_button)
        root.addLayout(code_row)
        self.list = QListWidget()
        self.list.setObjectName("pickup_list")
        root.addWidget(self.list, 1)
        self.ready_button = TouchButton()
        self.ready_button.setObjectName("pickup_ready")
        self.ready_button.clicked.connect(self._on_ready_clicked)
        root.addWidget(self.ready_button)
        self.retranslate()

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        self.title.setText(t("pickup.title"))
        self.back_button.setText(t("pickup.back"))
        self.code_input.setPlaceholderText(t("pickup.code_placeholder"))
        self.collect_button.setText(t("pickup.collect"))
        self.ready_button.setText(t("pickup.mark_ready"))
        self.refresh()

    def open(self) -> None:
        """Shown from the checkout: the list reloaded, the code field ready for a scan."""
        self.banner.clear_message()
        self.refresh()
        self.code_input.setFocus()

    def refresh(self) -> None:
        t = self.ctx.translator.t
        self._orders = self.pickups.open_orders()
        self.list.clear()
        for o in self._orders:
            lines = "，".join(f"{ln.name}×{_qty(ln.qty_milli)}" for ln in o.lines)
            state = t("pickup.ready") if o.ready else t("pickup.not_ready")
            item = QListWidgetItem(f"{o.order_id}  {o.channel}  {state}\n{lines}")
            item.setData(Qt.ItemDataRole.UserRole, o.reservation_id)
            self.list.addItem(item)

    def handle_scan(self, code: str) -> None:
        """A scanned pick-up code hands its order over."""
        self.code_input.setText(code)
        self._on_collect_clicked()

    def _selected(self) -> PickupInfo | None:
        row = self.list.currentRow()
        return self._orders[row] if 0 <= row < len(self._orders) else None

    def _on_ready_clicked(self) -> None:
        order = self._selected()
        if order is None:
            return
        t = self.ctx.translator.t

        def done(f: concurrent.futures.Future[bool]) -> None:
            exc = f.exception()
            if exc is not None:
                self.banner.show_message(error_text(self.ctx.translator, exc), "error")
                return
            self.banner.show_message(t("pickup.marked_ready", order=order.order_id), "info")

        when_done(self.pickups.mark_ready(order.reservation_id), self, done)

    def _on_collect_clicked(self) -> None:
        code = self.code_input.text().strip()
        staff = self.staff()
        if not code or staff is None:
            return
        try:
            order = self.pickups.match(code)
            sale = self.pickups.collect(staff, order)
        except (ServiceError, CartError, PaymentError) as exc:
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        self.code_input.clear()
        self.banner.show_message(
            self.ctx.translator.t(
                "pickup.collected",
                order=order.order_id,
                receipt=sale.receipt_no,
                total=format_yuan(sale.total_fen),
            ),
            "info",
        )
        self.refresh()
        self.collected.emit(sale)
