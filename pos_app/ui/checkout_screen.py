"""CheckoutScreen: scan, search, the cart, discounts, voids; CheckoutViewModel behind it."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from pos_app.domain.barcode import BarcodeError, split_multiplier
from pos_app.domain.cart import MILLI, CartError, CartLine, CouponUse, Discount, Totals, Unit
from pos_app.domain.member import Coupon, Member, MemberSource
from pos_app.domain.tender import AppliedTender, Payment
from pos_app.services.auth import StaffMember
from pos_app.services.checkout import SaleDraft, SaleRecord
from pos_app.services.errors import ApprovalRequired, ScanError, ServiceError
from pos_app.services.members import HoldResult, MemberError
from pos_app.services.pickups import ReservedWarning
from pos_app.ui.context import UiContext
from pos_app.ui.dialogs import (
    ApprovalDialog,
    DiscountDialog,
    QuantityDialog,
    SearchDialog,
    WeightDialog,
)
from pos_app.ui.errors import code_text, error_text
from pos_app.ui.futures import when_done
from pos_app.ui.member_panel import (
    CONSENT_VERSION,
    CouponDialog,
    MemberPanel,
    MemberPhoneDialog,
    TopupDialog,
)
from pos_app.ui.pickup_screen import ReservedDialog
from pos_app.ui.widgets import Banner, TouchButton
from sync_client.contract.money import format_yuan

if TYPE_CHECKING:
    from pos_app.ui.menu_panel import MenuPanel


class VoidConfirmDialog(QDialog):
    """Asks the cashier to confirm voiding the whole cart, showing what it is worth."""

    def __init__(
        self, ctx: UiContext, total_fen: int, lines: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("VoidConfirmDialog")
        t = ctx.translator.t
        self.setWindowTitle(t("checkout.void_confirm_title"))
        layout = QVBoxLayout(self)
        self.text = QLabel(t("checkout.void_confirm", amount=format_yuan(total_fen), lines=lines))
        self.text.setObjectName("void_confirm_text")
        self.text.setWordWrap(True)
        layout.addWidget(self.text)
        row = QHBoxLayout()
        cancel = TouchButton(t("common.cancel"))
        cancel.setObjectName("keep_sale")
        cancel.clicked.connect(self.reject)
        self.ok = TouchButton(t("checkout.void_sale"), role="danger")
        self.ok.setObjectName("confirm_void")
        self.ok.clicked.connect(self.accept)
        row.addWidget(cancel)
        row.addWidget(self.ok)
        layout.addLayout(row)


class CheckoutViewModel(QObject):
    """Holds the sale in progress for the screens; runs on the GUI thread."""

    cart_changed = Signal()
    message = Signal(str, str)  # text, kind (info / warn / error)
    line_added = Signal(int)
    reserved_warned = Signal(object, int, int)  # ReservedWarning, line no, qty_milli added
    member_changed = Signal()

    def __init__(self, ctx: UiContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.draft: SaleDraft | None = None
        self.selected_line: int | None = None
        self.member_busy = False
        # The count typed as "6*" before a scan, waiting for the code.
        self.pending_count: int | None = None

    @property
    def cashier(self) -> StaffMember | None:
        return self.draft.cashier if self.draft else None

    def start(self, cashier: StaffMember) -> None:
        self._release_leftovers()
        self.draft = self.ctx.checkout.new_draft(cashier)
        self.selected_line = None
        self.member_busy = False
        self.pending_count = None
        self.cart_changed.emit()
        self.member_changed.emit()

    def end(self) -> None:
        self._release_leftovers()
        self.draft = None
        self.cart_changed.emit()
        self.member_changed.emit()

    def _release_leftovers(self) -> None:
        """Gives back the holds of the sale being left that no committed sale captured."""
        if self.draft is not None and self.draft.holds and self.ctx.members is not None:
            self.ctx.members.release_draft(self.draft.draft_id)

    def new_sale(self) -> None:
        assert self.draft is not None
        self.start(self.draft.cashier)

    def totals(self) -> Totals | None:
        return self.draft.cart.totals() if self.draft else None

    def _fail(self, exc: Exception) -> None:
        self.message.emit(error_text(self.ctx.translator, exc), "error")

    def scan(self, raw: str) -> bool:
        """A scan or a typed entry. ``6*`` before a code adds six; ``6*`` alone waits for
        the next scan (shown as a banner until then)."""
        if self.draft is None:
            return False
        try:
            multiplied = split_multiplier(raw)
        except BarcodeError as exc:
            self.pending_count = None
            self._fail(exc)
            return False
        count = self.pending_count or 1
        if multiplied is not None:
            if not multiplied.code:
                self.pending_count = multiplied.count
                self.message.emit(
                    self.ctx.translator.t("checkout.multiplier_pending", count=multiplied.count),
                    "info",
                )
                return True
            count, raw = multiplied.count, multiplied.code
        self.pending_count = None
        if self.ctx.members is not None and self.ctx.members.is_member_code(raw):
            self.identify_code(raw)
            return True
        before = self._quantities()
        try:
            line = self.ctx.checkout.scan(self.draft, raw, count)
        except ScanError as exc:
            if exc.code == "needs_weight" and count != 1:
                self._fail(ScanError("multiplier_not_pieces", "weighed item", count=count))
                return False
            if exc.code == "needs_weight":
                item = self.ctx.catalog.priced(exc.params["item_id"])
                return self.add_item(
                    item.item_id,
                    item.name(self.ctx.translator.language),
                    item.unit_price_fen,
                    weighed=True,
                )
            self._fail(exc)
            return False
        except CartError as exc:
            self._fail(exc)
            return False
        self.selected_line = line.line_no
        self.cart_changed.emit()
        self.line_added.emit(line.line_no)
        self._check_reserved(line.line_no, line.qty_milli - before.get(line.line_no, 0))
        return True

    def _quantities(self) -> dict[int, int]:
        if self.draft is None:
            return {}
        return {ln.line_no: ln.qty_milli for ln in self.draft.cart.lines}

    def quantities(self) -> dict[int, int]:
        """Each line's quantity, before an addition (see :meth:`show_added`)."""
        return self._quantities()

    def show_added(self, line: CartLine, before: dict[int, int]) -> None:
        """Tells the screen a line was added (or grew) by another panel (the menu's tiles):
        selects it and warns when online orders hold the stock it takes."""
        self.selected_line = line.line_no
        self.cart_changed.emit()
        self.line_added.emit(line.line_no)
        self._check_reserved(line.line_no, line.qty_milli - before.get(line.line_no, 0))

    def _check_reserved(self, line_no: int, added_milli: int) -> None:
        """Warns (``reserved_warned``) when the cart now takes more of the line's item than
        this store has available beyond what online orders hold."""
        if self.ctx.pickups is None or self.draft is None or added_milli <= 0:
            return
        item_id = self.draft.cart.line(line_no).item.item_id
        wanted = sum(ln.qty_milli for ln in self.draft.cart.lines if ln.item.item_id == item_id)
        warning = self.ctx.pickups.reserved_warning(item_id, wanted)
        if warning is not None:
            self.reserved_warned.emit(warning, line_no, added_milli)

    def take_back(self, line_no: int, qty_milli: int) -> None:
        """The cashier keeps reserved goods for the online order: the quantity just added
        comes off the line (the whole line if that was all of it)."""
        if self.draft is None:
            return
        line = self.draft.cart.line(line_no)
        if line.qty_milli > qty_milli:
            self.draft.cart.set_quantity(line_no, line.qty_milli - qty_milli)
        else:
            self.ctx.checkout.record_void(self.draft, line_no=line_no)
            self.draft.cart.remove(line_no)
            if self.selected_line == line_no:
                self.selected_line = (
                    self.draft.cart.lines[-1].line_no if self.draft.cart.lines else None
                )
        self.cart_changed.emit()

    def add_item(
        self,
        item_id: int,
        name: str = "",
        unit_price_fen: int = 0,
        *,
        weighed: bool = False,
        qty_milli: int | None = None,
    ) -> bool:
        if self.draft is None:
            return False
        if weighed and qty_milli is None:
            dialog = WeightDialog(self.ctx, name, unit_price_fen)
            if dialog.exec() != QDialog.DialogCode.Accepted or dialog.qty_milli is None:
                return False
            qty_milli = dialog.qty_milli
        before = self._quantities()
        try:
            line = self.ctx.checkout.add_item(self.draft, item_id, qty_milli or MILLI)
        except (ServiceError, CartError) as exc:
            self._fail(exc)
            return False
        self.selected_line = line.line_no
        self.cart_changed.emit()
        self.line_added.emit(line.line_no)
        self._check_reserved(line.line_no, line.qty_milli - before.get(line.line_no, 0))
        return True

    def change_quantity(self, delta_pieces: int) -> None:
        if self.draft is None or self.selected_line is None:
            return
        line = self.draft.cart.line(self.selected_line)
        if line.item.unit is Unit.KG:
            self.message.emit(self.ctx.translator.t("error.weighed_quantity"), "warn")
            return
        new_qty = line.qty_milli + delta_pieces * MILLI
        try:
            if new_qty <= 0:
                self.remove_line()
                return
            self.draft.cart.set_quantity(line.line_no, new_qty)
        except CartError as exc:
            self._fail(exc)
            return
        self.cart_changed.emit()
        self._check_reserved(line.line_no, delta_pieces * MILLI)

    def set_quantity(self, qty_milli: int) -> bool:
        """Sets the selected line's quantity as keyed in on the quantity keypad: pieces
        × 1000 for counted items, grams for weighed ones (a scale label's line is fixed)."""
        if self.draft is None or self.selected_line is None:
            return False
        line = self.draft.cart.line(self.selected_line)
        try:
            self.draft.cart.set_quantity(line.line_no, qty_milli)
        except CartError as exc:
            self._fail(exc)
            return False
        self.cart_changed.emit()
        self._check_reserved(line.line_no, qty_milli - line.qty_milli)
        return True

    def remove_line(self) -> None:
        if self.draft is None or self.selected_line is None:
            return
        self.ctx.checkout.record_void(self.draft, line_no=self.selected_line)
        self.draft.cart.remove(self.selected_line)
        self.selected_line = self.draft.cart.lines[-1].line_no if self.draft.cart.lines else None
        self.cart_changed.emit()

    def void_sale(self) -> bool:
        """Voids the whole cart: the cashier confirms (the dialog shows the amount); above
        the store's ``void.approval_above_fen`` a supervisor approves; the service audits
        who voided what and who approved. Returns whether the cart was voided."""
        if self.draft is None or (self.draft.cart.is_empty and self.draft.member is None):
            return False
        t = self.ctx.translator.t
        totals = self.draft.cart.totals()
        confirm = VoidConfirmDialog(self.ctx, totals.total_fen, len(self.draft.cart.lines))
        if confirm.exec() != QDialog.DialogCode.Accepted:
            return False
        approver: StaffMember | None = None
        if self.ctx.checkout.void_needs_approval(self.draft):
            dialog = ApprovalDialog(
                self.ctx,
                "void",
                self.draft.cashier.number,
                t("approval.void_reason", amount=format_yuan(totals.total_fen)),
            )
            if dialog.exec() != QDialog.DialogCode.Accepted or dialog.approver is None:
                return False
            approver = dialog.approver
        try:
            self.ctx.checkout.record_void(self.draft, approver=approver)
        except ServiceError as exc:
            self._fail(exc)
            return False
        self.new_sale()
        self.message.emit(t("checkout.voided"), "info")
        return True

    def apply_discount(
        self, line_no: int | None, discount: Discount | None, approver: StaffMember | None = None
    ) -> bool:
        """Applies a discount; asks for a supervisor when the limit is exceeded."""
        if self.draft is None:
            return False
        try:
            if line_no is None:
                self.ctx.checkout.set_basket_discount(self.draft, discount, approver)
            else:
                self.ctx.checkout.set_line_discount(self.draft, line_no, discount, approver)
        except ApprovalRequired as exc:
            t = self.ctx.translator.t
            dialog = ApprovalDialog(
                self.ctx,
                "discount",
                self.draft.cashier.number,
                t(
                    "approval.discount_reason",
                    share=f"{exc.params['share_bp'] / 100:.1f}",
                    limit=f"{exc.params['limit_bp'] / 100:.1f}",
                ),
            )
            if dialog.exec() != QDialog.DialogCode.Accepted or dialog.approver is None:
                return False
            return self.apply_discount(line_no, discount, dialog.approver)
        except (ServiceError, CartError) as exc:
            self._fail(exc)
            return False
        self.cart_changed.emit()
        return True

    def complete_sale(self, payment: Payment) -> SaleRecord:
        """Completes the sale; when a discount of the final cart is over the limit, asks
        for a supervisor and completes again with them as approver.

        Raises:
            ServiceError: the service's refusal (``discount_over_limit`` again when the
                supervisor dialog was cancelled).
        """
        assert self.draft is not None
        try:
            return self.ctx.checkout.complete(self.draft, payment)
        except ApprovalRequired as exc:
            if exc.code != "discount_over_limit":
                raise
            t = self.ctx.translator.t
            dialog = ApprovalDialog(
                self.ctx,
                "discount",
                self.draft.cashier.number,
                t(
                    "approval.discount_reason",
                    share=f"{exc.params['share_bp'] / 100:.1f}",
                    limit=f"{exc.params['limit_bp'] / 100:.1f}",
                ),
            )
            if dialog.exec() != QDialog.DialogCode.Accepted or dialog.approver is None:
                raise
            return self.ctx.checkout.complete(self.draft, payment, dialog.approver)

    def open_drawer(self) -> bool:
        """No-sale drawer open: a supervisor approves it (unless the cashier is one),
        the print worker kicks the drawer and audits it; the result comes back as
        ``HardwareEvents.drawer_result``."""
        if self.draft is None:
            return False
        cashier = self.draft.cashier
        approver: StaffMember | None = cashier if cashier.can_approve else None
        if approver is None:
            t = self.ctx.translator.t
            dialog = ApprovalDialog(
                self.ctx, "no_sale", cashier.number, t("approval.no_sale_reason")
            )
            if dialog.exec() != QDialog.DialogCode.Accepted or dialog.approver is None:
                return False
            approver = dialog.approver
        self.ctx.printing.open_drawer(cashier, approver)
        self.message.emit(self.ctx.translator.t("drawer.opening"), "info")
        return True

    # -- members ------------------------------------------------------------------------

    @property
    def member(self) -> Member | None:
        return self.draft.member if self.draft else None

    def _member_call(
        self,
        future: concurrent.futures.Future[Any],
        done: Callable[[Any], None],
        failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Waits for a member call off the GUI thread; ``done(result)`` runs on the GUI
        thread if the same sale is still on screen."""
        draft = self.draft
        self.member_busy = True
        self.member_changed.emit()

        def finish(f: concurrent.futures.Future[Any]) -> None:
            self.member_busy = False
            if draft is not self.draft:
                self.member_changed.emit()
                return
            exc = f.exception()
            if exc is not None:
                (failed or self._member_failed)(exc)
            else:
                done(f.result())
            self.member_changed.emit()

        when_done(future, self, finish)

    def _member_failed(self, exc: BaseException) -> None:
        self.message.emit(error_text(self.ctx.translator, exc), "error")

    def identify_code(self, raw: str) -> None:
        """A scanned member app code or card code: identify the member (HQ, or offline
        from what this till remembers)."""
        if self.ctx.members is None or self.draft is None:
            return
        self._member_call(self.ctx.members.identify_code(raw), self._set_member)

    def identify_phone(self, phone: str) -> None:
        if self.ctx.members is None or self.draft is None:
            return
        self._member_call(self.ctx.members.identify_phone(phone), self._set_member)

    def sign_up(self, phone: str, name: str) -> None:
        if self.ctx.members is None or self.draft is None:
            return
        future = self.ctx.members.sign_up(phone, name, CONSENT_VERSION, self.draft.cashier.number)
        self._member_call(future, self._set_member)

    def _set_member(self, member: Member) -> None:
        assert self.draft is not None
        old = self.draft.member
        if old is not None and old.number != member.number:
            self.remove_coupon()
        self.draft.member = member
        t = self.ctx.translator.t
        if member.source is MemberSource.HQ:
            self.message.emit(t("member.identified", name=member.name), "info")
        elif member.source is MemberSource.SIGNUP:
            self.message.emit(t("member.signed_up_offline", name=member.name), "warn")
        else:
            self.message.emit(t("error.offline"), "warn")

    def clear_member(self) -> None:
        if self.draft is None or self.draft.member is None:
            return
        self.remove_coupon()
        self.draft.member = None
        self.member_changed.emit()

    def spend_refusal(self) -> str | None:
        """Why the sale's member cannot spend now (an ``error.<code>`` key), or None."""
        members, member = self.ctx.members, self.member
        if members is None or member is None:
            return "no_member"
        if not members.online:
            return "offline"
        return member.spend_refusal(self.ctx.checkout.now())

    def _after_hold(self, hold: HoldResult) -> None:
        assert self.draft is not None and self.draft.member is not None
        self.draft.holds[hold.hold_id] = hold
        self.draft.member = replace(
            self.draft.member, points=hold.points_after, balance_fen=hold.balance_after_fen
        )

    def use_coupon(self, coupon: Coupon) -> None:
        if self.draft is None or self.ctx.members is None:
            return
        refusal = self.spend_refusal()
        if refusal is not None:
            self.message.emit(code_text(self.ctx.translator, refusal), "error")
            return
        member = self.draft.member
        assert member is not None
        self.remove_coupon()
        draft = self.draft

        def held(hold: HoldResult) -> None:
            self._after_hold(hold)
            draft.cart.coupon = CouponUse(
                hold.hold_id,
                coupon.coupon_id,
                coupon.name,
                hold.value_fen,
                coupon.min_spend_fen,
                coupon.valid_until,
            )
            self.cart_changed.emit()

        future = self.ctx.members.hold_coupon(draft.draft_id, member, coupon)
        self._member_call(future, held)

    def remove_coupon(self) -> None:
        if self.draft is None or self.draft.cart.coupon is None:
            return
        self.release_hold(self.draft.cart.coupon.hold_id)
        self.draft.cart.coupon = None
        self.cart_changed.emit()

    def hold_account(
        self,
        kind: str,
        amount: int,
        done: Callable[[HoldResult], None],
        failed: Callable[[BaseException], None],
    ) -> None:
        """Asks HQ to hold ``amount`` points or fen of stored value for this sale."""
        if self.draft is None or self.ctx.members is None or self.draft.member is None:
            failed(MemberError("no_member", "no member"))
            return
        members, draft, member = self.ctx.members, self.draft, self.draft.member
        if kind == "points":
            future = members.hold_points(draft.draft_id, member, amount)
        else:
            future = members.hold_stored_value(draft.draft_id, member, amount)

        def held(hold: HoldResult) -> None:
            self._after_hold(hold)
            done(hold)

        self._member_call(future, held, failed)

    def release_hold(self, hold_id: str) -> None:
        """Gives a hold of this sale back (a tender or the coupon removed)."""
        if self.draft is None or self.ctx.members is None:
            return
        hold = self.draft.holds.pop(hold_id, None)
        self.ctx.members.release(hold_id)
        member = self.draft.member
        if hold is not None and member is not None:
            if hold.kind == "points":
                member = replace(member, points=member.points + hold.amount)
            elif hold.kind == "stored_value":
                member = replace(member, balance_fen=member.balance_fen + hold.amount)
            self.draft.member = member
            self.member_changed.emit()

    def release_tender(self, tender: AppliedTender) -> None:
        if tender.kind.from_account and tender.reference:
            self.release_hold(tender.reference)

    def payment(self) -> Payment | None:
        totals = self.totals()
        if totals is None or self.draft is None or self.draft.cart.is_empty:
            return None
        return Payment(totals.total_fen)


class CartTableModel(QAbstractTableModel):
    """The cart as rows: name, quantity, unit price, discount, amount."""

    COLUMNS = ("cart.name", "cart.qty", "cart.price", "cart.discount", "cart.amount")

    def __init__(self, vm: CheckoutViewModel) -> None:
        super().__init__()
        self.vm = vm
        self._totals: Totals | None = None
        vm.cart_changed.connect(self.refresh)

    def refresh(self) -> None:
        self.beginResetModel()
        self._totals = self.vm.totals()
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self._totals is None else len(self._totals.lines)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return len(self.COLUMNS)

    def line_no_at(self, row: int) -> int:
        assert self._totals is not None
        return self._totals.lines[row].line.line_no

    def row_of(self, line_no: int) -> int | None:
        if self._totals is None:
            return None
        for row, pl in enumerate(self._totals.lines):
            if pl.line.line_no == line_no:
                return row
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if self._totals is None or not index.isValid():
            return None
        pl = self._totals.lines[index.row()]
        line = pl.line
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        col = index.column()
        if role == Qt.ItemDataRole.ToolTipRole and col == 0 and (line.options or pl.promotions):
            # A drink's choices may not fit the column: the whole text on a long press.
            role = Qt.ItemDataRole.DisplayRole
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if col == 0:
            language = self.vm.ctx.translator.language
            name = line.item.name(language)
            rows = [name]
            if line.options:
                # The choices under the name, each with what it adds (大杯+¥3.00).
                parts = [
                    o.name(language) + (f"+{format_yuan(o.price_fen)}" if o.price_fen else "")
                    for o in line.options
                ]
                rows.append(" ".join(parts))
            if pl.promotions:
                # Which promotion took how much off this line (第二件半价 -¥8.00).
                names = {a.promotion_id: a.name(language) for a in self._totals.promotions}
                rows.append(
                    " ".join(
                        f"{names.get(s.promotion_id, '')} {format_yuan(-s.amount_fen)}"
                        for s in pl.promotions
                    )
                )
            return "\n".join(rows)
        if col == 1:
            if line.item.unit is Unit.KG:
                return f"{line.qty_milli / MILLI:.3f} kg"
            return str(line.qty_milli // MILLI)
        if col == 2:
            suffix = "/kg" if line.item.unit is Unit.KG else ""
            return format_yuan(line.unit_price_fen) + suffix
        if col == 3:
            return format_yuan(-pl.discount_fen) if pl.discount_fen else ""
        return format_yuan(pl.amount_fen)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.vm.ctx.translator.t(self.COLUMNS[section])
        return None


class CheckoutScreen(QWidget):
    pay_requested = Signal()
    reprint_requested = Signal()
    stock_requested = Signal()
    shift_requested = Signal()
    pickups_requested = Signal()

    def __init__(
        self,
        vm: CheckoutViewModel,
        parent: QWidget | None = None,
        menu_panel: MenuPanel | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("CheckoutScreen")
        self.menu_panel = menu_panel
        self.vm = vm
        self.ctx = vm.ctx
        root = QHBoxLayout(self)
        # Little above and below: with the offline banner over it, the screen still fits
        # a 768-pixel panel with a member, the menu and the cart.
        margins = root.contentsMargins()
        root.setContentsMargins(margins.left(), 4, margins.right(), 4)
        left = QVBoxLayout()
        root.addLayout(left, 3)
        right = QVBoxLayout()
        root.addLayout(right, 2)

        scan_row = QHBoxLayout()
        self.scan_input = QLineEdit()
        self.scan_input.setObjectName("scan_input")
        self.scan_input.returnPressed.connect(self._on_scan_input_return_pressed)
        scan_row.addWidget(self.scan_input, 1)
        self.search_button = TouchButton()
        self.search_button.setObjectName("search")
        self.search_button.setSizePolicy(
            self.search_button.sizePolicy().horizontalPolicy(),
            self.search_button.sizePolicy().Policy.Fixed,
        )
        self.search_button.clicked.connect(self._on_search_clicked)
        scan_row.addWidget(self.search_button)
        self.stock_button = TouchButton()
        self.stock_button.setObjectName("stock")
        self.stock_button.setMaximumWidth(150)
        self.stock_button.clicked.connect(self.stock_requested)
        self.stock_button.setVisible(self.ctx.stock is not None)
        scan_row.addWidget(self.stock_button)
        self.shift_button = TouchButton()
        self.shift_button.setObjectName("shift_menu")
        self.shift_button.setMaximumWidth(120)
        self.shift_button.setVisible(self.ctx.shifts is not None)
        self.shift_button.clicked.connect(self.shift_requested)
        scan_row.addWidget(self.shift_button)
        self.pickups_button = TouchButton()
        self.pickups_button.setObjectName("pickups")
        self.pickups_button.setMaximumWidth(150)
        self.pickups_button.clicked.connect(self.pickups_requested)
        self.pickups_button.setVisible(self.ctx.pickups is not None)
        scan_row.addWidget(self.pickups_button)
        left.addLayout(scan_row)
        self.banner = Banner()
        self.banner.setObjectName("checkout_banner")
        left.addWidget(self.banner)
        if menu_panel is not None:
            left.addWidget(menu_panel, 5)

        self.model = CartTableModel(vm)
        self.table = QTableView()
        self.table.setObjectName("cart")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(52)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # Fixed widths: sizing to contents re-measures every row on each scan.
        for c, width in ((1, 120), (2, 130), (3, 110), (4, 130)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.Fixed)
            header.resizeSection(c, width)
        self.table.clicked.connect(self._on_table_clicked)
        left.addWidget(self.table, 4 if menu_panel is not None else 1)

        line_row = QHBoxLayout()
        self.minus = TouchButton("−")
        self.minus.setObjectName("qty_minus")
        self.minus.clicked.connect(lambda: self.vm.change_quantity(-1))
        self.plus = TouchButton("+")
        self.plus.setObjectName("qty_plus")
        self.plus.clicked.connect(lambda: self.vm.change_quantity(1))
        # 数量: the selected line's quantity (or weight) on a keypad.
        self.quantity = TouchButton()
        self.quantity.setObjectName("qty_keypad")
        self.quantity.clicked.connect(self._on_quantity_clicked)
        self.remove = TouchButton(role="danger")
        self.remove.setObjectName("remove_line")
        self.remove.clicked.connect(self.vm.remove_line)
        self.line_discount = TouchButton()
        self.line_discount.setObjectName("line_discount")
        self.line_discount.clicked.connect(self._on_line_discount_clicked)
        # 再来一份: the selected drink again, same options (with the menu's tiles only).
        self.same_again = TouchButton()
        self.same_again.setObjectName("same_again")
        self.same_again.setVisible(menu_panel is not None)
        if menu_panel is not None:
            self.same_again.clicked.connect(menu_panel.vm.same_again)
        for b in (
            self.minus,
            self.plus,
            self.quantity,
            self.same_again,
            self.remove,
            self.line_discount,
        ):
            line_row.addWidget(b)
        left.addLayout(line_row)

        self.member_panel = MemberPanel(self.ctx)
        self.member_panel.identify_requested.connect(self._on_member_panel_identify_requested)
        self.member_panel.clear_requested.connect(self.vm.clear_member)
        self.member_panel.coupon_requested.connect(self._on_member_panel_coupon_requested)
        self.member_panel.topup_requested.connect(self._on_member_panel_topup_requested)
        right.addWidget(self.member_panel)

        totals = QGridLayout()
        self.labels: dict[str, QLabel] = {}
        self.values: dict[str, QLabel] = {}
        for row, key in enumerate(("items", "subtotal", "discount", "coupon", "rounding", "total")):
            label, value = QLabel(), QLabel()
            value.setObjectName(f"total_{key}")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if key == "total":
                label.setProperty("role", "grand")
                value.setProperty("role", "grand")
            totals.addWidget(label, row, 0)
            totals.addWidget(value, row, 1)
            self.labels[key], self.values[key] = label, value
        right.addLayout(totals)
        right.addStretch(1)
        grid = QGridLayout()
        self.basket_discount = TouchButton()
        self.basket_discount.setObjectName("basket_discount")
        self.basket_discount.clicked.connect(self._on_basket_discount_clicked)
        self.void = TouchButton(role="danger")
        self.void.setObjectName("void_sale")
        self.void.clicked.connect(self.vm.void_sale)
        self.reprint = TouchButton()
        self.reprint.setObjectName("reprint")
        self.reprint.clicked.connect(self.reprint_requested)
        self.drawer = TouchButton()
        self.drawer.setObjectName("open_drawer")
        self.drawer.clicked.connect(self._on_drawer_clicked)
        self.pay = TouchButton(role="pay")
        self.pay.setObjectName("pay")
        self.pay.setMinimumHeight(64)  # the biggest key, yet leaves the member's rows room
        self.pay.clicked.connect(self._on_pay_clicked)
        grid.addWidget(self.basket_discount, 0, 0)
        grid.addWidget(self.void, 0, 1)
        grid.addWidget(self.reprint, 1, 0)
        grid.addWidget(self.drawer, 1, 1)
        grid.addWidget(self.pay, 2, 0, 1, 2)
        right.addLayout(grid)

        vm.cart_changed.connect(self._on_vm_cart_changed)
        vm.member_changed.connect(self._on_vm_member_changed)
        vm.message.connect(self._on_vm_message)
        vm.line_added.connect(self._on_vm_line_added)
        vm.reserved_warned.connect(self._on_vm_reserved_warned)
        self.reserved_dialog: ReservedDialog | None = None
        self.retranslate()

    def show_stock_alerts(self) -> None:
        """The 库存 button, with this store's open stock alerts as a badge."""
        stock = self.ctx.stock
        count = stock.alert_count() if stock is not None else 0
        t = self.ctx.translator.t
        self.stock_button.setText(
            t("stock.button_alerts", count=count) if count else t("stock.button")
        )
        self.stock_button.setProperty("role", "alert" if count else "")

    def show_pickups(self) -> None:
        """The 待自提 button, with how many paid pick-up orders wait here."""
        pickups = self.ctx.pickups
        count = len(pickups.open_orders()) if pickups is not None else 0
        t = self.ctx.translator.t
        self.pickups_button.setText(
            t("pickup.button_count", count=count) if count else t("pickup.button")
        )

    def _on_vm_reserved_warned(self, warning: ReservedWarning, line_no: int, added: int) -> None:
        # Not modal (exec): the cashier answers with a tap and the scan loop keeps running.
        assert self.vm.draft is not None
        name = self.vm.draft.cart.line(line_no).item.name(self.ctx.translator.language)
        dialog = ReservedDialog(self.ctx, warning, name, self)
        dialog.rejected.connect(lambda: self.vm.take_back(line_no, added))
        dialog.finished.connect(lambda _result: self._on_reserved_dialog_finished(dialog))
        self.reserved_dialog = dialog
        dialog.open()

    def _on_reserved_dialog_finished(self, dialog: ReservedDialog) -> None:
        if self.reserved_dialog is dialog:
            self.reserved_dialog = None
        dialog.deleteLater()
        self.scan_input.setFocus()

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        self.scan_input.setPlaceholderText(t("checkout.scan_placeholder"))
        self.search_button.setText(t("checkout.search"))
        self.show_stock_alerts()
        self.shift_button.setText(t("app.shift"))
        self.show_pickups()
        self.remove.setText(t("checkout.remove_line"))
        self.quantity.setText(t("checkout.quantity"))
        self.line_discount.setText(t("checkout.line_discount"))
        self.same_again.setText(t("menu.same_again"))
        if self.menu_panel is not None:
            self.menu_panel.retranslate()
        self.basket_discount.setText(t("checkout.basket_discount"))
        self.void.setText(t("checkout.void_sale"))
        self.reprint.setText(t("checkout.reprint"))
        self.drawer.setText(t("checkout.open_drawer"))
        self.pay.setText(t("checkout.pay"))
        for key, label in self.labels.items():
            label.setText(t(f"totals.{key}"))
        self.member_panel.retranslate()
        self.model.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, 4)
        self.model.refresh()
        self._on_vm_cart_changed()

    def _on_scan_input_return_pressed(self) -> None:
        text = self.scan_input.text().strip()
        self.scan_input.clear()
        if text:
            self.banner.clear_message()
            self.vm.scan(text)

    def handle_scan(self, code: str) -> None:
        """A scan from the wedge filter or a serial scanner. A count typed as ``6*`` in the
        scan field (Enter not pressed) applies to this scan."""
        self.banner.clear_message()
        typed = self.scan_input.text().strip()
        if typed.endswith(("*", "\u00d7")):
            self.scan_input.clear()
            code = typed + code
        self.vm.scan(code)

    def _on_search_clicked(self) -> None:
        dialog = SearchDialog(self.ctx, self)
        dialog.item_chosen.connect(self._on_search_item_chosen)
        dialog.exec()

    def _on_search_item_chosen(self, item_id: int) -> None:
        item = self.ctx.catalog.priced(item_id)
        self.vm.add_item(
            item_id,
            item.name(self.ctx.translator.language),
            item.unit_price_fen,
            weighed=item.unit is Unit.KG,
        )

    def _on_table_clicked(self, index: QModelIndex) -> None:
        self.vm.selected_line = self.model.line_no_at(index.row())

    def _on_quantity_clicked(self) -> None:
        draft, line_no = self.vm.draft, self.vm.selected_line
        if draft is None or line_no is None:
            return
        line = draft.cart.line(line_no)
        weighed = line.item.unit is Unit.KG
        # A scale label's weight is the scale's word: only a weight keyed in by hand changes.
        if line.fixed_amount_fen is not None or (weighed and line.barcode is not None):
            self.banner.show_message(code_text(self.ctx.translator, "fixed_line"), "warn")
            return
        self.banner.clear_message()
        dialog = QuantityDialog(
            self.ctx,
            line.item.name(self.ctx.translator.language),
            line.unit_price_fen,
            line.qty_milli,
            weighed=weighed,
            parent=self,
        )
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.qty_milli is not None:
            self.vm.set_quantity(dialog.qty_milli)

    def _on_line_discount_clicked(self) -> None:
        if self.vm.selected_line is None:
            return
        line = self.vm.draft.cart.line(self.vm.selected_line) if self.vm.draft else None
        dialog = DiscountDialog(
            self.ctx,
            self.ctx.translator.t("checkout.line_discount"),
            self,
            base_fen=line.list_amount_fen if line is not None else None,
        )
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.vm.apply_discount(
                self.vm.selected_line, None if dialog.removed else dialog.discount
            )

    def _on_basket_discount_clicked(self) -> None:
        if self.vm.draft is None or self.vm.draft.cart.is_empty:
            return
        totals = self.vm.draft.cart.totals()
        dialog = DiscountDialog(
            self.ctx,
            self.ctx.translator.t("checkout.basket_discount"),
            self,
            base_fen=totals.subtotal_fen - totals.line_discount_fen,
        )
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.vm.apply_discount(None, None if dialog.removed else dialog.discount)

    def _on_drawer_clicked(self) -> None:
        self.banner.clear_message()
        self.vm.open_drawer()

    def _on_pay_clicked(self) -> None:
        if self.vm.draft is not None and not self.vm.draft.cart.is_empty:
            self.pay_requested.emit()

    def _on_vm_cart_changed(self) -> None:
        totals = self.vm.totals()
        empty = totals is None or not totals.lines
        values = {
            "items": str(totals.item_count) if totals else "0",
            "subtotal": format_yuan(totals.subtotal_fen if totals else 0),
            "discount": format_yuan(-((totals.discount_fen - totals.coupon_fen) if totals else 0)),
            "coupon": format_yuan(-(totals.coupon_fen if totals else 0)),
            "rounding": format_yuan(-(totals.rounding_fen if totals else 0)),
            "total": format_yuan(totals.total_fen if totals else 0),
        }
        for key, text in values.items():
            self.values[key].setText(text)
        coupon = self.vm.draft.cart.coupon if self.vm.draft else None
        self.labels["coupon"].setVisible(coupon is not None)
        self.values["coupon"].setVisible(coupon is not None)
        if coupon is not None:
            self.labels["coupon"].setText(f"{self.ctx.translator.t('totals.coupon')} {coupon.name}")
        self._on_vm_member_changed()
        for b in (
            self.pay,
            self.void,
            self.basket_discount,
            self.minus,
            self.plus,
            self.quantity,
            self.remove,
            self.line_discount,
            self.same_again,
        ):
            b.setEnabled(not empty)
        if self.vm.selected_line is not None:
            row = self.model.row_of(self.vm.selected_line)
            if row is not None:
                self.table.selectRow(row)

    def _on_vm_member_changed(self) -> None:
        coupon = self.vm.draft.cart.coupon if self.vm.draft else None
        self.member_panel.show_member(
            self.vm.member, self.vm.member_busy, coupon.name if coupon else None
        )

    def _on_member_panel_identify_requested(self) -> None:
        dialog = MemberPhoneDialog(self.ctx, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.banner.clear_message()
        if dialog.action == "sign_up":
            self.vm.sign_up(dialog.phone, dialog.name)
        else:
            self.vm.identify_phone(dialog.phone)

    def _on_member_panel_coupon_requested(self) -> None:
        member, draft = self.vm.member, self.vm.draft
        if member is None or draft is None:
            return
        if draft.cart.coupon is not None:
            self.vm.remove_coupon()
            return
        totals = draft.cart.totals()
        spend = totals.after_line_discounts_fen - totals.basket_discount_fen
        dialog = CouponDialog(self.ctx, member, spend, self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.coupon is not None:
            self.banner.clear_message()
            self.vm.use_coupon(dialog.coupon)

    def _on_member_panel_topup_requested(self) -> None:
        member, draft = self.vm.member, self.vm.draft
        if member is None or draft is None or self.ctx.members is None:
            return
        dialog = TopupDialog(self.ctx, member, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            record = self.ctx.members.topup(
                member, dialog.amount_fen, dialog.tenders, draft.cashier.number
            )
        except ServiceError as exc:
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        change = sum(t.change_fen for t in record.tenders)
        self.banner.show_message(
            self.ctx.translator.t(
                "member.topped_up",
                amount=format_yuan(record.amount_fen),
                change=format_yuan(change),
                receipt=record.receipt_no,
            ),
            "info",
        )

    def _on_vm_line_added(self, line_no: int) -> None:
        row = self.model.row_of(line_no)
        if row is not None:
            self.table.scrollTo(self.model.index(row, 0))

    def _on_vm_message(self, text: str, kind: str) -> None:
        self.banner.show_message(text, kind)
