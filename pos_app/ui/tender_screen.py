"""TenderScreen: cash with change, card, mixed tenders. SaleDoneScreen: change and receipt."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from pos_app.domain.paycode import looks_like_paycode
from pos_app.domain.tender import AppliedTender, Payment, PaymentError, TenderKind
from pos_app.services.checkout import SaleRecord
from pos_app.services.errors import ServiceError
from pos_app.services.members import HoldResult
from pos_app.services.payments import PayOutcome
from pos_app.ui.checkout_screen import CheckoutViewModel
from pos_app.ui.context import UiContext
from pos_app.ui.dialogs import ApprovalDialog
from pos_app.ui.errors import code_text, error_text, provider_reason
from pos_app.ui.futures import when_done
from pos_app.ui.widgets import Banner, Keypad, TouchButton, apply_key
from sync_client.contract.money import MoneyParseError, format_yuan, parse_yuan

QUICK_CASH_FEN = (2000, 5000, 10000)
log = logging.getLogger("chainpos.ui.tender")


class TenderScreen(QWidget):
    """Takes payment for the current cart. Emits ``sale_completed(SaleRecord)`` once the
    sale is durably committed, or ``back_requested`` to return to the cart.

    A code scanned here is a payment code (付款码): it is charged the amount typed, or
    what remains, through the payment service on its worker thread. While the wallet asks
    the customer for the password the screen says so and offers to cancel (the charge is
    then reversed). ``paycode_settled(PayOutcome)`` is emitted when a charge ends, paid or
    not.
    """

    sale_completed = Signal(object)
    back_requested = Signal()
    paycode_settled = Signal(object)

    def __init__(self, vm: CheckoutViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("TenderScreen")
        self.vm = vm
        self.ctx = vm.ctx
        self.payment: Payment | None = None
        root = QHBoxLayout(self)
        left = QVBoxLayout()
        root.addLayout(left, 1)
        right = QVBoxLayout()
        root.addLayout(right, 1)

        grid = QGridLayout()
        self.labels: dict[str, QLabel] = {}
        self.values: dict[str, QLabel] = {}
        for row, key in enumerate(("due", "paid", "remaining", "change")):
            label, value = QLabel(), QLabel()
            value.setObjectName(f"tender_{key}")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setProperty("role", "grand" if key in ("due", "change") else "")
            grid.addWidget(label, row, 0)
            grid.addWidget(value, row, 1)
            self.labels[key], self.values[key] = label, value
        left.addLayout(grid)
        self.tenders = QListWidget()
        self.tenders.setObjectName("tender_list")
        left.addWidget(self.tenders, 1)
        self.remove_tender = TouchButton()
        self.remove_tender.setObjectName("remove_tender")
        self.remove_tender.clicked.connect(self._on_remove_tender_clicked)
        left.addWidget(self.remove_tender)
        self.banner = Banner()
        self.banner.setObjectName("tender_banner")
        left.addWidget(self.banner)
        # A charge paid with no sale (settled at start after a crash): use it or refund it.
        self.unclaimed = QWidget()
        self.unclaimed.setObjectName("unclaimed_notice")
        notice = QVBoxLayout(self.unclaimed)
        notice.setContentsMargins(0, 0, 0, 0)
        self.unclaimed_text = QLabel()
        self.unclaimed_text.setObjectName("unclaimed_text")
        self.unclaimed_text.setWordWrap(True)
        notice.addWidget(self.unclaimed_text)
        actions = QHBoxLayout()
        self.unclaimed_use = TouchButton(role="primary")
        self.unclaimed_use.setObjectName("unclaimed_use")
        self.unclaimed_use.clicked.connect(self._on_unclaimed_use_clicked)
        self.unclaimed_refund = TouchButton(role="danger")
        self.unclaimed_refund.setObjectName("unclaimed_refund")
        self.unclaimed_refund.clicked.connect(self._on_unclaimed_refund_clicked)
        actions.addWidget(self.unclaimed_use)
        actions.addWidget(self.unclaimed_refund)
        notice.addLayout(actions)
        self.unclaimed.setVisible(False)
        left.addWidget(self.unclaimed)
        self._unclaimed: list[PayOutcome] = []

        self.amount = QLineEdit()
        self.amount.setObjectName("tender_amount")
        self.amount.returnPressed.connect(self._on_amount_return_pressed)
        right.addWidget(self.amount)
        quick = QHBoxLayout()
        self.quick_buttons: list[TouchButton] = []
        for fen in QUICK_CASH_FEN:
            b = TouchButton(format_yuan(fen).replace(".00", ""), role="quick")
            b.setObjectName(f"cash_{fen // 100}")
            b.clicked.connect(lambda _=False, f=fen: self._take_cash(f))
            quick.addWidget(b)
            self.quick_buttons.append(b)
        self.exact = TouchButton(role="quick")
        self.exact.setObjectName("cash_exact")
        self.exact.clicked.connect(self._on_exact_clicked)
        quick.addWidget(self.exact)
        right.addLayout(quick)
        keypad = Keypad(decimal=True)
        keypad.key_pressed.connect(lambda k: self.amount.setText(apply_key(self.amount.text(), k)))
        right.addWidget(keypad)
        self.card_ref = QLineEdit()
        self.card_ref.setObjectName("card_reference")
        self.card_ref.setMaxLength(32)
        right.addWidget(self.card_ref)
        methods = QHBoxLayout()
        self.cash = TouchButton(role="primary")
        self.cash.setObjectName("tender_cash")
        self.cash.clicked.connect(self._on_cash_clicked)
        self.card = TouchButton(role="primary")
        self.card.setObjectName("tender_card")
        self.card.clicked.connect(self._on_card_clicked)
        methods.addWidget(self.cash)
        methods.addWidget(self.card)
        right.addLayout(methods)
        self.points = TouchButton(role="primary")
        self.points.setObjectName("tender_points")
        self.points.clicked.connect(lambda: self._on_account_clicked(TenderKind.POINTS))
        self.stored_value = TouchButton(role="primary")
        self.stored_value.setObjectName("tender_stored_value")
        self.stored_value.clicked.connect(lambda: self._on_account_clicked(TenderKind.STORED_VALUE))
        # Points and stored value share the cash/card row, and the member's balances sit
        # under the tenders: the keypad column fits a 768-pixel-high panel with a member.
        methods.addWidget(self.points)
        methods.addWidget(self.stored_value)
        self.account_info = QLabel()
        self.account_info.setObjectName("tender_account_info")
        self.account_info.setWordWrap(True)
        left.addWidget(self.account_info)
        self.paycode_cancel = TouchButton(role="danger")
        self.paycode_cancel.setObjectName("paycode_cancel")
        self.paycode_cancel.clicked.connect(self._on_paycode_cancel_clicked)
        self.paycode_cancel.setVisible(False)
        left.addWidget(self.paycode_cancel)
        self._holding = False
        self._charging = False
        self._cancel_wait: threading.Event | None = None
        bottom = QHBoxLayout()
        self.back = TouchButton()
        self.back.setObjectName("tender_back")
        self.back.clicked.connect(self._on_back_clicked)
        self.complete = TouchButton(role="pay")
        self.complete.setObjectName("tender_complete")
        self.complete.clicked.connect(self._on_complete_clicked)
        bottom.addWidget(self.back)
        bottom.addWidget(self.complete)
        right.addLayout(bottom)
        self.retranslate()

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        for key, label in self.labels.items():
            label.setText(t(f"tender.{key}"))
        self.amount.setPlaceholderText(t("tender.amount_placeholder"))
        self.card_ref.setPlaceholderText(t("tender.card_reference"))
        self.exact.setText(t("tender.exact"))
        self.cash.setText(t("tender.cash"))
        self.card.setText(t("tender.card"))
        self.points.setText(t("tender.points"))
        self.stored_value.setText(t("tender.stored_value"))
        self.back.setText(t("tender.back"))
        self.complete.setText(t("tender.complete"))
        self.remove_tender.setText(t("tender.remove"))
        self.paycode_cancel.setText(t("tender.paycode.cancel"))
        self.unclaimed_use.setText(t("tender.unclaimed.use"))
        self.unclaimed_refund.setText(t("tender.unclaimed.refund"))
        self._refresh()

    def begin(self) -> bool:
        self._holding = False
        self._charging = False
        self.paycode_cancel.setVisible(False)
        self.payment = self.vm.payment()
        self.amount.clear()
        self.card_ref.clear()
        self.banner.clear_message()
        self._load_unclaimed()
        self._refresh()
        return self.payment is not None

    def _refresh(self) -> None:
        p = self.payment
        t = self.ctx.translator.t
        self.values["due"].setText(format_yuan(p.due_fen if p else 0))
        self.values["paid"].setText(format_yuan(p.received_fen if p else 0))
        self.values["remaining"].setText(format_yuan(max(0, p.remaining_fen) if p else 0))
        self.values["change"].setText(format_yuan(p.change_fen if p else 0))
        self.tenders.clear()
        if p:
            for td in p.tenders:
                shown = td.tendered_fen if td.tendered_fen is not None else td.amount_fen
                ref = f"  ({td.reference})" if td.reference else ""
                if td.kind.from_account:
                    hold = self.vm.draft.holds.get(td.reference or "") if self.vm.draft else None
                    ref = (
                        "  " + t("tender.points_used", points=hold.amount)
                        if hold is not None and td.kind is TenderKind.POINTS
                        else ""
                    )
                self.tenders.addItem(f"{t('tender.' + td.kind.value)}  {format_yuan(shown)}{ref}")
        done = bool(p and p.is_complete)
        busy = self._holding or self._charging
        self.complete.setEnabled(done and not busy)
        for b in (self.cash, self.card, self.exact, *self.quick_buttons):
            b.setEnabled(bool(p) and not done and not busy)
        self.back.setEnabled(not (p and p.tenders) and not busy)
        self.remove_tender.setEnabled(not busy)
        self._show_unclaimed(bool(p) and not done and not busy)
        member = self.vm.member
        has_member = member is not None and self.ctx.members is not None
        for b in (self.points, self.stored_value):
            b.setVisible(has_member)
            b.setEnabled(bool(p) and not done and not busy)
        if member is None:
            self.account_info.setText("")
        else:
            refusal = self.vm.spend_refusal()
            info = t(
                "tender.account_info",
                name=member.name,
                points=member.points,
                balance=format_yuan(member.balance_fen),
            )
            if refusal is not None:
                info += "\n" + code_text(self.ctx.translator, refusal)
            self.account_info.setText(info)

    def _typed_amount(self) -> int | None:
        text = self.amount.text().strip()
        if not text:
            return None
        try:
            return parse_yuan(text)
        except MoneyParseError:
            self.banner.show_message(self.ctx.translator.t("error.bad_amount"), "error")
            return -1

    def _take_cash(self, fen: int) -> None:
        if self.payment is None:
            return
        try:
            self.payment.add_cash(fen)
        except PaymentError as exc:
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        self.amount.clear()
        self._after_tender()

    def _on_exact_clicked(self) -> None:
        if self.payment is not None and self.payment.remaining_fen > 0:
            self._take_cash(self.payment.remaining_fen)

    def _on_cash_clicked(self) -> None:
        fen = self._typed_amount()
        if fen is None and self.payment is not None:
            fen = self.payment.remaining_fen
        if fen is not None and fen >= 0:
            self._take_cash(fen)

    def _on_card_clicked(self) -> None:
        if self.payment is None:
            return
        fen = self._typed_amount()
        if fen == -1:
            return
        try:
            self.payment.add_card(
                fen if fen is not None else self.payment.remaining_fen,
                self.card_ref.text().strip() or None,
            )
        except PaymentError as exc:
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        self.amount.clear()
        self.card_ref.clear()
        self._after_tender()

    def _on_account_clicked(self, kind: TenderKind) -> None:
        """Points or stored value: HQ holds the amount for this sale first; the tender is
        added once HQ granted it. Offline, or without a fresh code scan, it says why."""
        payment, member, members = self.payment, self.vm.member, self.ctx.members
        if payment is None or member is None or members is None or self._holding:
            return
        refusal = self.vm.spend_refusal()
        if refusal is not None:
            self.banner.show_message(code_text(self.ctx.translator, refusal), "error")
            return
        typed = self._typed_amount()
        if typed == -1:
            return
        want = min(typed if typed is not None else payment.remaining_fen, payment.remaining_fen)
        rules = members.rules()
        if kind is TenderKind.POINTS:
            want = min(want, rules.value_fen(member.points))
            amount = min(rules.points_to_cover(want), member.points)
            short = "insufficient_points"
            if want > 0 and amount > 0:
                # How many: the most this sale can take is offered, the cashier may key fewer.
                dialog = PointsDialog(
                    self.ctx, member.name, member.points, amount, rules.value_fen, self
                )
                if dialog.exec() != QDialog.DialogCode.Accepted or dialog.points is None:
                    return
                amount = dialog.points
                want = rules.value_fen(amount)
        else:
            want = min(want, member.balance_fen)
            amount = want
            short = "insufficient_balance"
        if want <= 0 or amount <= 0:
            self.banner.show_message(code_text(self.ctx.translator, short), "error")
            return
        self._holding = True
        self.banner.show_message(self.ctx.translator.t("tender.holding"), "info")
        self._refresh()
        self.vm.hold_account(
            kind.value,
            amount,
            lambda hold: self._on_account_held(kind, hold),
            self._on_account_failed,
        )

    def _on_account_held(self, kind: TenderKind, hold: HoldResult) -> None:
        self._holding = False
        payment = self.payment
        if payment is None or payment.remaining_fen <= 0 or hold.value_fen <= 0:
            self.vm.release_hold(hold.hold_id)
            self._refresh()
            return
        try:
            payment.add_account(kind, min(hold.value_fen, payment.remaining_fen), hold.hold_id)
        except PaymentError as exc:
            self.vm.release_hold(hold.hold_id)
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            self._refresh()
            return
        self.amount.clear()
        self._after_tender()

    def _on_account_failed(self, exc: BaseException) -> None:
        self._holding = False
        self.banner.show_message(error_text(self.ctx.translator, exc), "error")
        self._refresh()

    def _on_remove_tender_clicked(self) -> None:
        row = self.tenders.currentRow()
        if self.payment and self.payment.tenders and not self._charging:
            removed = self.payment.remove(row if row >= 0 else len(self.payment.tenders) - 1)
            self.vm.release_tender(removed)
            if removed.kind.is_paycode:
                self._reverse_removed(removed)
            self._refresh()

    # -- payment codes --------------------------------------------------------------------

    def _on_amount_return_pressed(self) -> None:
        """A payment code typed or pasted into the amount field (no scanner at hand)."""
        code = self.amount.text().strip()
        if looks_like_paycode(code):
            self.amount.clear()
            self.handle_scan(code)

    def handle_scan(self, code: str) -> None:
        """A code scanned on this screen: charge it as a payment code (the amount typed,
        or what remains). Anything else is refused in plain words."""
        payment, t = self.payment, self.ctx.translator
        if payment is None or payment.is_complete or self._holding:
            return
        if self._charging:
            self.banner.show_message(t.t("tender.paycode.busy"), "error")
            return
        if not looks_like_paycode(code):
            self.banner.show_message(code_text(t, "paycode_unknown"), "error")
            return
        payments, worker, draft = self.ctx.payments, self.ctx.payment_worker, self.vm.draft
        if payments is None or worker is None or draft is None:
            self.banner.show_message(code_text(t, "gateway_not_configured"), "error")
            return
        typed = self._typed_amount()
        if typed == -1:
            return
        amount = typed if typed is not None else payment.remaining_fen
        if amount <= 0 or amount > payment.remaining_fen:
            self.banner.show_message(code_text(t, "paycode_over"), "error")
            return
        self._charging = True
        self.banner.show_message(t.t("tender.paycode.charging"), "info")
        self._refresh()
        future = worker.submit(
            payments.charge, code, amount, draft_id=draft.draft_id, cashier=draft.cashier.number
        )
        when_done(future, self, self._on_paycode_answered)

    def _on_paycode_answered(self, future: concurrent.futures.Future[PayOutcome]) -> None:
        try:
            outcome = future.result()
        except Exception as exc:
            log.warning("payment code charge failed: %s", type(exc).__name__)
            self._paycode_ended()
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        if outcome.state == "user_paying":
            self._wait_for_password(outcome)
            return
        self._paycode_ended()
        self.paycode_settled.emit(outcome)
        if outcome.paid:
            self._take_paycode(outcome)
            return
        t = self.ctx.translator
        self.banner.show_message(
            code_text(
                t, outcome.code or "paycode_declined", reason=provider_reason(t, outcome.reason)
            ),
            "error",
        )

    def _wait_for_password(self, outcome: PayOutcome) -> None:
        payments, worker = self.ctx.payments, self.ctx.payment_worker
        assert payments is not None and worker is not None
        self._cancel_wait = threading.Event()
        self.banner.show_message(self.ctx.translator.t("tender.paycode.waiting"), "info")
        self.paycode_cancel.setVisible(True)
        self.paycode_cancel.setEnabled(True)
        future = worker.submit(payments.wait_for_customer, outcome.order_no, self._cancel_wait)
        when_done(future, self, self._on_paycode_answered)

    def _on_paycode_cancel_clicked(self) -> None:
        if self._cancel_wait is not None:
            self._cancel_wait.set()
            self.paycode_cancel.setEnabled(False)
            self.banner.show_message(self.ctx.translator.t("tender.paycode.cancelling"), "info")

    def _paycode_ended(self) -> None:
        self._charging = False
        self._cancel_wait = None
        self.paycode_cancel.setVisible(False)
        self._refresh()

    def _take_paycode(self, outcome: PayOutcome) -> None:
        payment = self.payment
        try:
            if payment is None:
                raise PaymentError("payment_claimed", "the sale was left")
            payment.add_paycode(TenderKind(outcome.kind), outcome.amount_fen, outcome.order_no)
        except PaymentError as exc:
            # Paid, but this sale cannot take it: give the money back at once.
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            self._reverse_removed(
                AppliedTender(TenderKind(outcome.kind), outcome.amount_fen, None, outcome.order_no)
            )
            return
        self.amount.clear()
        self._after_tender()

    def _reverse_removed(self, tender: AppliedTender) -> None:
        """A paid payment-code tender taken off the sale is reversed (the customer gets the
        money back); the outcome shows in the banner."""
        payments, worker = self.ctx.payments, self.ctx.payment_worker
        if payments is None or worker is None or tender.reference is None:
            return
        future = worker.submit(payments.cancel, tender.reference)
        when_done(future, self, self._on_paycode_answered)

    # -- charges paid with no sale ------------------------------------------------------

    def _load_unclaimed(self) -> None:
        """Reads the paid charges no sale took (an indexed read of a few rows)."""
        payments = self.ctx.payments
        self._unclaimed = (
            payments.unclaimed_paid() if payments is not None and payments.available else []
        )

    def _show_unclaimed(self, usable: bool) -> None:
        first, t = self._first_unclaimed(), self.ctx.translator.t
        self.unclaimed.setVisible(first is not None)
        if first is None:
            return
        self.unclaimed_text.setText(
            t(
                "tender.unclaimed.notice",
                wallet=t(f"tender.{first.kind}"),
                amount=format_yuan(first.amount_fen),
            )
        )
        self.unclaimed_use.setEnabled(usable)
        self.unclaimed_refund.setEnabled(usable)

    def _first_unclaimed(self) -> PayOutcome | None:
        taken = set(self.payment.paycode_orders) if self.payment is not None else set()
        return next((o for o in self._unclaimed if o.order_no not in taken), None)

    def _on_unclaimed_use_clicked(self) -> None:
        """The paid charge pays (part of) this sale; the sale's commit takes it, once."""
        charge, payment = self._first_unclaimed(), self.payment
        if charge is None or payment is None:
            return
        try:
            payment.add_paycode(TenderKind(charge.kind), charge.amount_fen, charge.order_no)
        except PaymentError as exc:
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        self._after_tender()

    def _on_unclaimed_refund_clicked(self) -> None:
        """A supervisor approves, then the charge goes back to the customer's wallet
        through the gateway (on the payment worker)."""
        charge, draft = self._first_unclaimed(), self.vm.draft
        payments, worker = self.ctx.payments, self.ctx.payment_worker
        if charge is None or draft is None or payments is None or worker is None:
            return
        t = self.ctx.translator.t
        wallet, amount = t(f"tender.{charge.kind}"), format_yuan(charge.amount_fen)
        dialog = ApprovalDialog(
            self.ctx,
            "paycode_refund",
            draft.cashier.number,
            t("tender.unclaimed.refund_reason", wallet=wallet, amount=amount),
            self,
        )
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.approver is None:
            return
        self._charging = True
        self.banner.show_message(t("tender.unclaimed.refunding"), "info")
        self._refresh()
        future = worker.submit(
            payments.refund_unclaimed,
            charge.order_no,
            cashier=draft.cashier.number,
            approver=dialog.approver.number,
        )
        when_done(future, self, self._on_unclaimed_refunded)

    def _on_unclaimed_refunded(self, future: concurrent.futures.Future[PayOutcome]) -> None:
        self._charging = False
        self._load_unclaimed()
        try:
            outcome = future.result()
        except Exception as exc:
            log.warning("refund of an unclaimed charge failed: %s", type(exc).__name__)
            self._refresh()
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        t = self.ctx.translator.t
        self._refresh()
        self.banner.show_message(
            t(
                "tender.unclaimed.refunded",
                wallet=t(f"tender.{outcome.kind}"),
                amount=format_yuan(outcome.amount_fen),
            ),
            "info",
        )

    def _after_tender(self) -> None:
        self.banner.clear_message()
        self._refresh()
        if self.payment is not None and self.payment.is_complete:
            self._on_complete_clicked()

    def _on_back_clicked(self) -> None:
        self.payment = None
        self.back_requested.emit()

    def _on_complete_clicked(self) -> None:
        if self.payment is None or self.vm.draft is None:
            return
        try:
            sale = self.vm.complete_sale(self.payment)
        except ServiceError as exc:
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        self.payment = None
        self.sale_completed.emit(sale)


class PointsDialog(QDialog):
    """Asks how many points to spend, offering ``most`` (what covers the rest of the sale,
    or all the member has) and showing what the keyed points are worth."""

    def __init__(
        self,
        ctx: UiContext,
        name: str,
        have: int,
        most: int,
        value_fen: Callable[[int], int],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("PointsDialog")
        t = ctx.translator.t
        self._t, self._value_fen, self.most = t, value_fen, most
        self.points: int | None = None
        self.setWindowTitle(t("points.title"))
        layout = QVBoxLayout(self)
        self.have = QLabel(t("points.have", name=name, points=have, most=most))
        self.have.setObjectName("points_have")
        self.have.setWordWrap(True)
        layout.addWidget(self.have)
        self.field = QLineEdit(str(most))
        self.field.setObjectName("points_value")
        self.field.setReadOnly(True)
        self.field.setPlaceholderText(t("points.placeholder"))
        self.field.textChanged.connect(self._on_field_text_changed)
        layout.addWidget(self.field)
        self.worth = QLabel()
        self.worth.setObjectName("points_worth")
        layout.addWidget(self.worth)
        self.banner = Banner()
        layout.addWidget(self.banner)
        self.keypad = Keypad()
        self.keypad.key_pressed.connect(self._on_keypad_key_pressed)
        layout.addWidget(self.keypad)
        row = QHBoxLayout()
        cancel = TouchButton(t("common.cancel"))
        cancel.clicked.connect(self.reject)
        self.ok = TouchButton(t("common.ok"), role="primary")
        self.ok.setObjectName("points_ok")
        self.ok.clicked.connect(self._on_ok_clicked)
        row.addWidget(cancel)
        row.addWidget(self.ok)
        layout.addLayout(row)
        self._fresh = True  # the first digit replaces the offered number
        self._on_field_text_changed(self.field.text())

    def _on_keypad_key_pressed(self, key: str) -> None:
        self.banner.clear_message()
        current = "" if self._fresh and key not in ("back", "clear") else self.field.text()
        self._fresh = False
        self.field.setText(apply_key(current, key, max_len=9))

    def _on_field_text_changed(self, text: str) -> None:
        points = int(text) if text.isdigit() else 0
        self.worth.setText(
            self._t("points.value", points=points, amount=format_yuan(self._value_fen(points)))
        )

    def _on_ok_clicked(self) -> None:
        text = self.field.text()
        points = int(text) if text.isdigit() else 0
        if not 0 < points <= self.most or self._value_fen(points) <= 0:
            self.banner.show_message(self._t("points.bad", most=self.most), "error")
            return
        self.points = points
        self.accept()


class SaleDoneScreen(QWidget):
    """Shows the change to hand back, the receipt's state and its preview."""

    next_sale_requested = Signal()
    reprint_requested = Signal()

    def __init__(self, vm: CheckoutViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SaleDoneScreen")
        self.vm = vm
        self.ctx = vm.ctx
        self.sale: SaleRecord | None = None
        self._print_state = "printing"
        self._problem: str | None = None
        root = QHBoxLayout(self)
        left = QVBoxLayout()
        root.addLayout(left, 1)
        self.title = QLabel()
        self.title.setProperty("role", "grand")
        self.total = QLabel()
        self.total.setObjectName("done_total")
        self.received = QLabel()
        self.received.setObjectName("done_received")
        self.change = QLabel()
        self.change.setObjectName("done_change")
        self.change.setProperty("role", "change")
        self.receipt_no = QLabel()
        self.print_status = QLabel()
        self.print_status.setObjectName("print_status")
        self.print_status.setWordWrap(True)
        self.banner = Banner()
        self.banner.setObjectName("done_banner")
        for w in (
            self.title,
            self.total,
            self.received,
            self.change,
            self.receipt_no,
            self.print_status,
            self.banner,
        ):
            left.addWidget(w)
        left.addStretch(1)
        self.print_again = TouchButton()
        self.print_again.setObjectName("print_again")
        self.print_again.clicked.connect(self.reprint_requested)
        self.next_sale = TouchButton(role="pay")
        self.next_sale.setObjectName("next_sale")
        self.next_sale.setMinimumHeight(96)
        self.next_sale.clicked.connect(self.next_sale_requested)
        left.addWidget(self.print_again)
        left.addWidget(self.next_sale)
        self.preview = QLabel()
        self.preview.setObjectName("receipt_preview")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidget(self.preview)
        scroll.setWidgetResizable(True)
        root.addWidget(scroll, 1)
        self.retranslate()

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        self.title.setText(t("done.title"))
        self.print_again.setText(t("done.print_again"))
        self.next_sale.setText(t("done.next_sale"))
        if self.sale is not None:
            received = sum(
                td.tendered_fen if td.tendered_fen is not None else td.amount_fen
                for td in self.sale.tenders
            )
            self.total.setText(t("done.total", amount=format_yuan(self.sale.total_fen)))
            self.received.setText(t("done.received", amount=format_yuan(received)))
            self.change.setText(t("done.change", amount=format_yuan(self.sale.change_fen)))
            self.receipt_no.setText(t("done.receipt_no", no=self.sale.receipt_no))
        if self._print_state == "failed" and self._problem is not None:
            key = f"printer.problem.{self._problem}"
            problem = t(key) if self.ctx.translator.has(key) else self._problem
            self.print_status.setText(t("print.failed_problem", problem=problem))
        else:
            self.print_status.setText(t(f"print.{self._print_state}"))

    def show_sale(self, sale: SaleRecord) -> None:
        self.sale = sale
        self.preview.clear()
        self.banner.clear_message()
        self.set_print_state("printing")

    def set_print_state(
        self, state: str, preview_png: bytes = b"", problem: str | None = None
    ) -> None:
        """``state``: ``printing``, ``printed`` or ``failed`` (paid, receipt not printed,
        because of ``problem``: ``paper_out``, ``offline``...). The receipt stays queued
        after a failure and prints by itself once the printer is ready again."""
        self._print_state = state
        self._problem = problem
        self.print_status.setProperty("kind", "error" if state == "failed" else "info")
        self.print_status.style().unpolish(self.print_status)
        self.print_status.style().polish(self.print_status)
        self.print_again.setVisible(state == "failed")
        if preview_png:
            pixmap = QPixmap()
            pixmap.loadFromData(preview_png, "PNG")
            self.preview.setPixmap(pixmap)
        self.retranslate()
