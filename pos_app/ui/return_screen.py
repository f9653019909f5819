"""ReturnScreen: find the original sale, choose what comes back, preview the refund,
confirm (with the approvals it needs), and see the return receipt; 整单撤销 of a sale of
this shift. ReturnViewModel behind it drives :class:`~pos_app.services.returns.ReturnService`.

Everything here runs on the GUI thread. The service's HQ calls (look-ups, the return
authorisation) come back as futures and are waited for with :func:`when_done`, never on
this thread; local finds arrive as completed futures through the same path.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pos_app.domain.cart import MILLI
from pos_app.domain.member import Member
from pos_app.services.auth import StaffMember
from pos_app.services.errors import ScanError, ServiceError
from pos_app.services.printing import JobNotPrinted, PrintJobInfo
from pos_app.services.receipts import LOCAL_TZ
from pos_app.services.returns import (
    FoundSale,
    NoReceiptLine,
    RefundPreview,
    ReturnChoice,
    ReturnDraft,
    ReturnError,
    ReturnRecord,
    ReturnService,
    approval_audit_action,
)
from pos_app.ui.context import UiContext
from pos_app.ui.dialogs import ApprovalDialog, WeightDialog
from pos_app.ui.errors import code_text, error_text
from pos_app.ui.futures import when_done
from pos_app.ui.widgets import Banner, TouchButton
from sync_client.contract import protocol as p
from sync_client.contract.money import format_yuan

SALE_REF_PREFIXES = ("CPS1", "CPR1")
"""Receipt QR codes (a return receipt's too, refused as not a sale's) start so."""


def _qty(qty_milli: int, unit: str) -> str:
    return f"{qty_milli / MILLI:.3f} kg" if unit == "kg" else str(qty_milli // MILLI)


def _local_time(when: Any) -> str:
    return str(when.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"))


class ReturnViewModel(QObject):
    """The return being rung up (GUI thread).

    Signals: ``changed`` (the draft, the results or the busy state moved), ``message``
    (text, kind) for the banner, ``completed`` (the committed ``ReturnRecord``).
    """

    changed = Signal()
    message = Signal(str, str)
    completed = Signal(object)

    def __init__(self, ctx: UiContext, service: ReturnService) -> None:
        super().__init__()
        self.ctx = ctx
        self.service = service
        self.cashier: StaffMember | None = None
        self.draft: ReturnDraft | None = None
        self.results: list[FoundSale] = []
        self.selected_line: int | None = None
        self.reason = ""
        self.busy = False
        self.last: ReturnRecord | None = None

    # -- life ---------------------------------------------------------------------------

    def open_for(self, cashier: StaffMember) -> None:
        self.cashier = cashier
        self.reset()

    def reset(self) -> None:
        """Abandons the return on screen (its HQ authorisation is given back)."""
        if self.draft is not None:
            self.service.cancel(self.draft)
        self.draft = None
        self.results = []
        self.selected_line = None
        self.reason = ""
        self.changed.emit()

    @property
    def no_receipt(self) -> bool:
        return self.draft is not None and self.draft.found is None

    @property
    def sale(self) -> p.SaleForReturn | None:
        return self.draft.found.sale if self.draft and self.draft.found else None

    def _fail(self, exc: BaseException) -> None:
        self.message.emit(error_text(self.ctx.translator, exc), "error")

    def _call(self, future: concurrent.futures.Future[Any], done: Callable[[Any], None]) -> None:
        """Waits for a service future off the GUI thread; ``done(result)`` runs here if
        the screen still shows the same return."""
        draft = self.draft
        self.busy = True
        self.changed.emit()

        def finish(f: concurrent.futures.Future[Any]) -> None:
            self.busy = False
            if draft is not self.draft:
                self.changed.emit()
                return
            exc = f.exception()
            if exc is not None:
                self._fail(exc)
            else:
                done(f.result())
            self.changed.emit()

        when_done(future, self, finish)

    # -- finding ------------------------------------------------------------------------

    def find_code(self, raw: str, store: str = "", day: str = "") -> None:
        """A scanned or typed code: a receipt QR, a member code, an item (without a
        receipt), else a receipt number at ``store`` on ``day`` (YYYY-MM-DD, optional)."""
        raw = raw.strip()
        if not raw or self.cashier is None:
            return
        members = self.ctx.members
        if raw.upper().startswith(SALE_REF_PREFIXES):
            self._start_find()
            self._call(self.service.find_by_ref(raw), lambda found: self.load(found))
        elif members is not None and members.is_member_code(raw):
            self._start_find()
            self._call(members.identify_code(raw), self._found_member)
        elif self.no_receipt:
            self.add_item(raw)
        else:
            self.find_receipt(raw, store, day)

    def _start_find(self) -> None:
        if self.draft is not None:
            self.service.cancel(self.draft)
        self.draft = None
        self.results = []

    def find_receipt(self, receipt_no: str, store: str, day: str) -> None:
        business_date: date | None = None
        if day.strip():
            try:
                business_date = date.fromisoformat(day.strip())
            except ValueError:
                self.message.emit(self.ctx.translator.t("return.bad_date"), "error")
                return
        self._start_find()
        self._call(
            self.service.find_by_receipt(receipt_no, store, business_date), self._show_results
        )

    def find_member(self, number_or_phone: str) -> None:
        """Sales of a member given by member number or by the phone number they give."""
        text = number_or_phone.strip()
        if not text:
            return
        self._start_find()
        members = self.ctx.members
        if members is not None and len(text) == 11 and text.startswith("1") and text.isdigit():
            self._call(members.identify_phone(text), self._found_member)
        else:
            self._call(self.service.find_by_member(text), self._show_results)

    def _found_member(self, member: Member) -> None:
        if member.number is None:  # signed up offline: no sales at HQ yet
            self._show_results([])
            return
        self._call(self.service.find_by_member(member.number), self._show_results)

    def _show_results(self, found: list[FoundSale]) -> None:
        if not found:
            self.message.emit(code_text(self.ctx.translator, "sale_not_found"), "error")
        elif len(found) == 1:
            self.load(found[0])
        else:
            self.results = found
            t = self.ctx.translator.t
            self.message.emit(t("return.results", count=len(found)), "info")

    def load(self, found: FoundSale) -> None:
        """Shows ``found`` with nothing chosen yet; says at once when it cannot come back."""
        assert self.cashier is not None
        self.results = []
        self.draft = self.service.new_draft(self.cashier, found)
        self.selected_line = found.sale.lines[0].line_no if found.sale.lines else None
        refusal = self.service.sale_refusal(found)
        if refusal is not None:
            self._fail(refusal)
        self.changed.emit()

    def start_no_receipt(self) -> None:
        """A return without a receipt: items are scanned, a manager approves."""
        if self.cashier is None:
            return
        self._start_find()
        self.draft = self.service.new_draft(self.cashier, None)
        self.selected_line = None
        self.message.emit(self.ctx.translator.t("return.no_receipt_hint"), "info")
        self.changed.emit()

    def add_item(self, code: str) -> None:
        """Scans an item into a return without a receipt (weighed goods ask the weight)."""
        if self.draft is None or self.draft.found is not None:
            return
        lang = self.ctx.translator.language
        try:
            hit = self.ctx.catalog.scan(code)
            item, qty = hit.item, hit.qty_milli
        except ScanError as exc:
            if exc.code != "needs_weight":
                self._fail(exc)
                return
            item = self.ctx.catalog.priced(exc.params["item_id"])
            dialog = WeightDialog(self.ctx, item.name(lang), item.unit_price_fen)
            if dialog.exec() != QDialog.DialogCode.Accepted or dialog.qty_milli is None:
                return
            qty = dialog.qty_milli
        self.draft.no_receipt.append(
            NoReceiptLine(
                item.item_id,
                item.sku,
                item.name(lang),
                "kg" if item.unit.value == "kg" else "piece",
                item.unit_price_fen,
                qty,
                self.reason,
            )
        )
        self.selected_line = len(self.draft.no_receipt)
        self.changed.emit()

    # -- choosing -----------------------------------------------------------------------

    def returnable(self, line_no: int) -> int:
        sale = self.sale
        if sale is None:
            return 0
        line = next((ln for ln in sale.lines if ln.line_no == line_no), None)
        return 0 if line is None else line.returnable_milli

    def chosen(self, line_no: int) -> int:
        if self.draft is None:
            return 0
        if self.draft.found is None:
            nls = self.draft.no_receipt
            return nls[line_no - 1].qty_milli if 0 < line_no <= len(nls) else 0
        choice = self.draft.choices.get(line_no)
        return 0 if choice is None else choice.qty_milli

    def set_quantity(self, line_no: int, qty_milli: int) -> None:
        """What comes back of a sold line, never beyond what is left of it."""
        if self.draft is None or self.draft.found is None:
            return
        qty = max(0, min(qty_milli, self.returnable(line_no)))
        choice = self.draft.choices.get(line_no)
        if choice is None:
            self.draft.choices[line_no] = ReturnChoice(qty, self.reason)
        else:
            choice.qty_milli = qty
        self.changed.emit()

    def step(self, delta_pieces: int) -> None:
        """The +/− stepper of the selected line (pieces; weighed goods step 100 g)."""
        if self.draft is None or self.selected_line is None:
            return
        if self.draft.found is None:
            nls = self.draft.no_receipt
            i = self.selected_line - 1
            if 0 <= i < len(nls) and nls[i].unit == "piece":
                qty = nls[i].qty_milli + delta_pieces * MILLI
                if qty <= 0:
                    del nls[i]
                    self.selected_line = len(nls) or None
                else:
                    nls[i] = replace(nls[i], qty_milli=qty)
                self.changed.emit()
            return
        unit = self.unit(self.selected_line)
        step = 100 if unit == "kg" else MILLI
        self.set_quantity(self.selected_line, self.chosen(self.selected_line) + delta_pieces * step)

    def unit(self, line_no: int) -> str:
        if self.draft is not None and self.draft.found is None:
            nls = self.draft.no_receipt
            return nls[line_no - 1].unit if 0 < line_no <= len(nls) else "piece"
        sale = self.sale
        line = next((ln for ln in sale.lines if ln.line_no == line_no), None) if sale else None
        return "piece" if line is None else line.unit

    def set_weight(self, text: str) -> bool:
        """The selected weighed line comes back by weight (kg, up to grams)."""
        if self.selected_line is None or self.unit(self.selected_line) != "kg":
            return False
        try:
            kg = Decimal(text.strip())
            grams = int(kg * MILLI)
            if kg < 0 or kg * MILLI != grams:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            self.message.emit(self.ctx.translator.t("error.bad_weight"), "error")
            return False
        if self.draft is not None and self.draft.found is None:
            i = self.selected_line - 1
            nls = self.draft.no_receipt
            if grams > 0:
                nls[i] = replace(nls[i], qty_milli=grams)
            self.changed.emit()
            return True
        if grams > self.returnable(self.selected_line):
            line = self._line_name(self.selected_line)
            self.message.emit(code_text(self.ctx.translator, "over_returnable", name=line), "error")
            return False
        self.set_quantity(self.selected_line, grams)
        return True

    def _line_name(self, line_no: int) -> str:
        sale = self.sale
        if sale is None:
            return ""
        return next((ln.name for ln in sale.lines if ln.line_no == line_no), "")

    def set_reason(self, code: str) -> None:
        """The reason of the selected line (and of the lines chosen next)."""
        self.reason = code
        if self.draft is None or self.selected_line is None:
            return
        if self.draft.found is None:
            i = self.selected_line - 1
            if 0 <= i < len(self.draft.no_receipt):
                self.draft.no_receipt[i] = replace(self.draft.no_receipt[i], reason=code)
        else:
            choice = self.draft.choices.get(self.selected_line)
            if choice is None:
                self.draft.choices[self.selected_line] = ReturnChoice(0, code)
            else:
                choice.reason = code
        for choice in self.draft.choices.values():
            if not choice.reason:
                choice.reason = code
        self.draft.no_receipt[:] = [
            nl if nl.reason else replace(nl, reason=code) for nl in self.draft.no_receipt
        ]
        self.changed.emit()

    def line_reason(self, line_no: int) -> str:
        if self.draft is None:
            return ""
        if self.draft.found is None:
            nls = self.draft.no_receipt
            return nls[line_no - 1].reason if 0 < line_no <= len(nls) else ""
        choice = self.draft.choices.get(line_no)
        return "" if choice is None else choice.reason

    def line_damaged(self, line_no: int) -> bool:
        if self.draft is None:
            return False
        if self.draft.found is None:
            nls = self.draft.no_receipt
            return 0 < line_no <= len(nls) and nls[line_no - 1].restock == "damaged"
        choice = self.draft.choices.get(line_no)
        return choice is not None and choice.restock == "damaged"

    def set_damaged(self, damaged: bool) -> None:
        """The selected line goes to the damaged bin (else back to sellable stock)."""
        if self.draft is None or self.selected_line is None:
            return
        restock: Any = "damaged" if damaged else "sellable"
        if self.draft.found is None:
            i = self.selected_line - 1
            if 0 <= i < len(self.draft.no_receipt):
                self.draft.no_receipt[i] = replace(self.draft.no_receipt[i], restock=restock)
        else:
            choice = self.draft.choices.get(self.selected_line)
            if choice is None:
                choice = self.draft.choices[self.selected_line] = ReturnChoice(0, self.reason)
            choice.restock = restock
        self.changed.emit()

    def preview(self) -> tuple[RefundPreview | None, ReturnError | None]:
        """The refund as confirming would make it, or why it cannot be made yet."""
        if self.draft is None:
            return None, None
        try:
            self.service.check(self.draft)
            return self.service.preview(self.draft), None
        except ReturnError as exc:
            return None, exc

    def points_shortfall(self, preview: RefundPreview) -> tuple[int, int] | None:
        """``(points the member has, points short)`` when the points taken back exceed
        what this till last heard the member has (HQ records the shortfall)."""
        sale, members = self.sale, self.ctx.members
        if sale is None or sale.member is None or members is None or not preview.points_reversed:
            return None
        member = members.cached(sale.member)
        if member is None or member.points >= preview.points_reversed:
            return None
        return member.points, preview.points_reversed - member.points

    # -- confirming ---------------------------------------------------------------------

    def confirm(self) -> None:
        """Checks, asks for each approval still needed, has HQ authorise the quantities
        (off this thread), then commits and prints."""
        draft = self.draft
        if draft is None or self.busy:
            return
        try:
            self.service.check(draft)
            preview = self.service.preview(draft)
        except ReturnError as exc:
            self._fail(exc)
            return
        t = self.ctx.translator.t
        for action in preview.needs:
            role = p.APPROVAL_MIN_ROLE[action]
            dialog = ApprovalDialog(
                self.ctx,
                approval_audit_action(action),
                draft.cashier.number,
                t(
                    "return.approval_reason",
                    action=t(f"return.action.{action}"),
                    role=t(f"return.role.{role}"),
                ),
            )
            if dialog.exec() != QDialog.DialogCode.Accepted or dialog.approver is None:
                return
            try:
                self.service.accept_approval(draft, action, dialog.approver)
            except ReturnError as exc:
                self._fail(exc)
                return
        self._call(self.service.authorise(draft), lambda _outcome: self._commit(draft))

    def _commit(self, draft: ReturnDraft) -> None:
        try:
            record = self.service.commit(draft)
        except ServiceError as exc:
            self._fail(exc)
            return
        self.last = record
        self.draft = None
        self.results = []
        self.completed.emit(record)

    def undoable(self) -> list[FoundSale]:
        return self.service.undoable_sales()

    def undo(self, sale_id: str) -> None:
        """整单撤销: the whole sale comes back; a supervisor approves on confirm."""
        if self.cashier is None:
            return
        self._start_find()
        try:
            self.draft = self.service.undo_draft(self.cashier, sale_id)
        except ReturnError as exc:
            self._fail(exc)
            self.changed.emit()
            return
        self.selected_line = None
        self.changed.emit()
        self.confirm()


class UndoDialog(QDialog):
    """This till's sales of the current shift; ``sale_id`` is the one to undo."""

    def __init__(self, ctx: UiContext, sales: list[FoundSale], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("UndoDialog")
        t = ctx.translator.t
        self.sale_id: str | None = None
        self.setWindowTitle(t("return.undo"))
        self.resize(640, 520)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(t("return.undo_title")))
        self.sales = QListWidget()
        self.sales.setObjectName("undo_sales")
        for found in sales:
            s = found.sale
            item = QListWidgetItem(
                f"{_local_time(s.completed_at)}   {s.receipt_no}   {format_yuan(s.total_fen)}"
            )
            item.setData(Qt.ItemDataRole.UserRole, str(s.sale_id))
            self.sales.addItem(item)
        if not sales:
            layout.addWidget(QLabel(t("return.undo_empty")))
        else:
            self.sales.setCurrentRow(0)
        layout.addWidget(self.sales, 1)
        row = QHBoxLayout()
        cancel = TouchButton(t("common.cancel"))
        cancel.setObjectName("undo_cancel")
        cancel.clicked.connect(self.reject)
        self.ok = TouchButton(t("return.undo"), role="danger")
        self.ok.setObjectName("undo_ok")
        self.ok.setEnabled(bool(sales))
        self.ok.clicked.connect(self._on_ok_clicked)
        row.addWidget(cancel)
        row.addWidget(self.ok)
        layout.addLayout(row)

    def _on_ok_clicked(self) -> None:
        item = self.sales.currentItem()
        if item is None:
            return
        self.sale_id = str(item.data(Qt.ItemDataRole.UserRole))
        self.accept()


class ReturnScreen(QWidget):
    """The cashier's return screen (a page of the main window's stack)."""

    back_requested = Signal()

    COLUMNS = (
        ("return.col_line", 40),
        ("return.col_name", 0),
        ("return.col_sold", 80),
        ("return.col_unit_price", 96),
        ("return.col_discount", 76),
        ("return.col_price", 84),
        ("return.col_returned", 80),
        ("return.col_left", 80),
        ("return.col_back", 84),
    )

    def __init__(self, ctx: UiContext, service: ReturnService, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ReturnScreen")
        self.ctx = ctx
        self.vm = ReturnViewModel(ctx, service)
        self._print_state = "printing"
        self._problem: str | None = None
        self.pages = QStackedWidget()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.pages)
        self.work = QWidget()
        self.done = QWidget()
        self.pages.addWidget(self.work)
        self.pages.addWidget(self.done)
        self._build_work()
        self._build_done()
        self.vm.changed.connect(self._on_vm_changed)
        self.vm.message.connect(self._on_vm_message)
        self.vm.completed.connect(self._on_vm_completed)
        ctx.hardware.job_printed.connect(self._on_job_printed)
        ctx.hardware.job_not_printed.connect(self._on_job_not_printed)
        self.retranslate()

    # -- building ----------------------------------------------------------------------

    def _build_work(self) -> None:
        root = QVBoxLayout(self.work)
        root.setContentsMargins(0, 0, 0, 0)
        find = QHBoxLayout()
        self.scan_input = QLineEdit()
        self.scan_input.setObjectName("return_scan")
        self.scan_input.returnPressed.connect(self._on_find_clicked)
        self.find_button = TouchButton(role="primary")
        self.find_button.setObjectName("return_find")
        self.find_button.clicked.connect(self._on_find_clicked)
        self.no_receipt_button = TouchButton()
        self.no_receipt_button.setObjectName("return_no_receipt")
        self.no_receipt_button.clicked.connect(self.vm.start_no_receipt)
        self.undo_button = TouchButton(role="danger")
        self.undo_button.setObjectName("return_undo")
        self.undo_button.clicked.connect(self._on_undo_clicked)
        self.back_button = TouchButton()
        self.back_button.setObjectName("return_back")
        self.back_button.clicked.connect(self._on_back_clicked)
        find.addWidget(self.scan_input, 3)
        for b in (self.find_button, self.no_receipt_button, self.undo_button, self.back_button):
            b.setSizePolicy(b.sizePolicy().Policy.Preferred, b.sizePolicy().Policy.Fixed)
            find.addWidget(b)
        root.addLayout(find)
        more = QHBoxLayout()
        self.store_input = QLineEdit()
        self.store_input.setObjectName("return_store")
        self.date_input = QLineEdit()
        self.date_input.setObjectName("return_date")
        self.member_input = QLineEdit()
        self.member_input.setObjectName("return_member")
        self.member_input.returnPressed.connect(self._on_member_clicked)
        self.member_button = TouchButton()
        self.member_button.setObjectName("return_find_member")
        self.member_button.setSizePolicy(
            self.member_button.sizePolicy().Policy.Preferred,
            self.member_button.sizePolicy().Policy.Fixed,
        )
        self.member_button.clicked.connect(self._on_member_clicked)
        more.addWidget(self.store_input, 1)
        more.addWidget(self.date_input, 2)
        more.addWidget(self.member_input, 2)
        more.addWidget(self.member_button)
        root.addLayout(more)
        self.banner = Banner()
        self.banner.setObjectName("return_banner")
        root.addWidget(self.banner)

        body = QHBoxLayout()
        root.addLayout(body, 1)
        left = QVBoxLayout()
        body.addLayout(left, 5)
        self.sale_header = QLabel()
        self.sale_header.setObjectName("return_sale_header")
        self.sale_header.setWordWrap(True)
        self.sale_info = QLabel()
        self.sale_info.setObjectName("return_sale_info")
        self.sale_info.setWordWrap(True)
        self.earlier = QLabel()
        self.earlier.setObjectName("return_earlier")
        self.earlier.setWordWrap(True)
        for w in (self.sale_header, self.sale_info, self.earlier):
            left.addWidget(w)
        self.results = QListWidget()
        self.results.setObjectName("return_results")
        self.results.itemClicked.connect(self._on_results_item_clicked)
        left.addWidget(self.results, 1)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("return_lines")
        self.table.setStyleSheet("font-size: 16px;")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(44)
        header = self.table.horizontalHeader()
        for c, (_key, width) in enumerate(self.COLUMNS):
            if width:
                header.setSectionResizeMode(c, QHeaderView.ResizeMode.Fixed)
                header.resizeSection(c, width)
            else:
                header.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch)
        self.table.cellClicked.connect(self._on_table_cell_clicked)
        left.addWidget(self.table, 3)
        line = QHBoxLayout()
        self.minus = TouchButton("−")
        self.minus.setObjectName("return_minus")
        self.minus.clicked.connect(lambda: self.vm.step(-1))
        self.plus = TouchButton("+")
        self.plus.setObjectName("return_plus")
        self.plus.clicked.connect(lambda: self.vm.step(1))
        self.weight_input = QLineEdit()
        self.weight_input.setObjectName("return_weight")
        self.weight_input.returnPressed.connect(self._on_weight_set)
        self.weight_button = TouchButton()
        self.weight_button.setObjectName("return_weight_set")
        self.weight_button.clicked.connect(self._on_weight_set)
        self.reason = QComboBox()
        self.reason.setObjectName("return_reason")
        self.reason.setMinimumHeight(48)
        self.reason.activated.connect(self._on_reason_activated)
        # A toggle button, not a check box: a tap anywhere on it counts.
        self.damaged = TouchButton(role="danger")
        self.damaged.setCheckable(True)
        self.damaged.setObjectName("return_damaged")
        self.damaged.clicked.connect(self.vm.set_damaged)
        for widget, stretch in (
            (self.minus, 0),
            (self.plus, 0),
            (self.weight_input, 1),
            (self.weight_button, 0),
            (self.reason, 2),
        ):
            line.addWidget(widget, stretch)
        self.minus.setMaximumWidth(64)
        self.plus.setMaximumWidth(64)
        left.addLayout(line)
        left.addWidget(self.damaged)

        panel = QFrame()
        panel.setObjectName("return_preview")
        panel.setFrameShape(QFrame.Shape.StyledPanel)
        right = QVBoxLayout(panel)
        body.addWidget(panel, 3)
        self.total_label = QLabel()
        self.total = QLabel()
        self.total.setObjectName("return_total")
        self.total.setProperty("role", "grand")
        self.split = QLabel()
        self.split.setObjectName("return_split")
        self.points = QLabel()
        self.points.setObjectName("return_points")
        self.shortfall = QLabel()
        self.shortfall.setObjectName("return_shortfall")
        self.coupon = QLabel()
        self.coupon.setObjectName("return_coupon")
        self.needs = QLabel()
        self.needs.setObjectName("return_needs")
        self.why_not = QLabel()
        self.why_not.setObjectName("return_why_not")
        for w in (
            self.total_label,
            self.total,
            self.split,
            self.points,
            self.shortfall,
            self.coupon,
        ):
            right.addWidget(w)
        for w in (self.split, self.points, self.shortfall, self.coupon, self.needs, self.why_not):
            w.setWordWrap(True)
        right.addWidget(self.needs)
        right.addWidget(self.why_not)
        right.addStretch(1)
        self.confirm = TouchButton(role="pay")
        self.confirm.setObjectName("return_confirm")
        self.confirm.setMinimumHeight(80)
        self.confirm.clicked.connect(self.vm.confirm)
        self.cancel = TouchButton()
        self.cancel.setObjectName("return_cancel")
        self.cancel.clicked.connect(self._on_cancel_clicked)
        right.addWidget(self.confirm)
        right.addWidget(self.cancel)

    def _build_done(self) -> None:
        root = QHBoxLayout(self.done)
        left = QVBoxLayout()
        root.addLayout(left, 1)
        self.done_title = QLabel()
        self.done_title.setObjectName("return_done_title")
        self.done_title.setProperty("role", "grand")
        self.done_refund = QLabel()
        self.done_refund.setObjectName("return_done_refund")
        self.done_refund.setWordWrap(True)
        self.done_cash = QLabel()
        self.done_cash.setObjectName("return_done_cash")
        self.done_cash.setProperty("role", "change")
        self.done_cash.setWordWrap(True)
        self.done_points = QLabel()
        self.done_points.setObjectName("return_done_points")
        self.done_coupon = QLabel()
        self.done_coupon.setObjectName("return_done_coupon")
        self.done_coupon.setWordWrap(True)
        self.print_status = QLabel()
        self.print_status.setObjectName("return_print_status")
        self.print_status.setWordWrap(True)
        for w in (
            self.done_title,
            self.done_refund,
            self.done_cash,
            self.done_points,
            self.done_coupon,
            self.print_status,
        ):
            left.addWidget(w)
        left.addStretch(1)
        self.next_return = TouchButton(role="primary")
        self.next_return.setObjectName("return_next")
        self.next_return.clicked.connect(self._on_next_clicked)
        self.done_back = TouchButton(role="pay")
        self.done_back.setObjectName("return_done_back")
        self.done_back.clicked.connect(self._on_back_clicked)
        left.addWidget(self.next_return)
        left.addWidget(self.done_back)
        self.preview = QLabel()
        self.preview.setObjectName("return_receipt_preview")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidget(self.preview)
        scroll.setWidgetResizable(True)
        root.addWidget(scroll, 1)

    # -- entry points ------------------------------------------------------------------

    def open_for(self, cashier: StaffMember) -> None:
        """Shows an empty return for ``cashier`` (GUI thread)."""
        self.banner.clear_message()
        self.pages.setCurrentWidget(self.work)
        self.vm.open_for(cashier)
        self._fill_reasons()
        self.scan_input.clear()
        self.scan_input.setFocus()
        if self.ctx.sync is not None and not self.vm.service.online:
            self.banner.show_message(self.ctx.translator.t("return.offline_banner"), "warn")

    def handle_scan(self, code: str) -> None:
        """A scan from the wedge filter or a serial scanner while the screen is shown."""
        if self.pages.currentWidget() is self.done:
            self._on_next_clicked()
        self.banner.clear_message()
        self.vm.find_code(code, self.store_input.text(), self.date_input.text())

    # -- text --------------------------------------------------------------------------

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        self.scan_input.setPlaceholderText(t("return.scan_placeholder"))
        self.find_button.setText(t("return.find"))
        self.no_receipt_button.setText(t("return.no_receipt"))
        self.undo_button.setText(t("return.undo"))
        self.back_button.setText(t("return.back"))
        self.store_input.setPlaceholderText(t("return.store"))
        self.date_input.setPlaceholderText(t("return.date"))
        self.member_input.setPlaceholderText(t("return.member_no"))
        self.member_button.setText(t("return.find_member"))
        self.weight_input.setPlaceholderText(t("return.weight_kg"))
        self.weight_button.setText(t("return.set_weight"))
        self.damaged.setText(t("return.damaged"))
        self.total_label.setText(t("return.refund_total"))
        self.confirm.setText(t("return.confirm"))
        self.cancel.setText(t("return.cancel"))
        self.done_title.setText(t("return.refunded"))
        self.next_return.setText(t("return.next"))
        self.done_back.setText(t("return.back"))
        self.table.setHorizontalHeaderLabels([t(key) for key, _w in self.COLUMNS])
        self._fill_reasons()
        self._on_vm_changed()
        self._show_print_state()
        if self.vm.last is not None:
            self._show_done(self.vm.last)

    def _fill_reasons(self) -> None:
        zh = self.ctx.translator.language.startswith("zh")
        self.reason.blockSignals(True)
        self.reason.clear()
        self.reason.addItem(self.ctx.translator.t("return.choose_reason"), "")
        for r in self.vm.service.policy().reasons:
            self.reason.addItem(r.zh if zh else r.en, r.code)
        self.reason.setCurrentIndex(max(0, self.reason.findData(self.vm.reason)))
        self.reason.blockSignals(False)

    # -- slots -------------------------------------------------------------------------

    def _on_find_clicked(self) -> None:
        text = self.scan_input.text().strip()
        self.scan_input.clear()
        self.banner.clear_message()
        self.vm.find_code(text, self.store_input.text(), self.date_input.text())

    def _on_member_clicked(self) -> None:
        self.banner.clear_message()
        self.vm.find_member(self.member_input.text())

    def _on_undo_clicked(self) -> None:
        self.banner.clear_message()
        dialog = UndoDialog(self.ctx, self.vm.undoable(), self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.sale_id is not None:
            self.vm.undo(dialog.sale_id)

    def _on_back_clicked(self) -> None:
        self.vm.reset()
        self.vm.last = None
        self.pages.setCurrentWidget(self.work)
        self.back_requested.emit()

    def _on_cancel_clicked(self) -> None:
        self.banner.clear_message()
        self.vm.reset()

    def _on_next_clicked(self) -> None:
        self.vm.last = None
        self.pages.setCurrentWidget(self.work)
        self.banner.clear_message()
        self.vm.reset()
        self.scan_input.setFocus()

    def _on_results_item_clicked(self, item: QListWidgetItem) -> None:
        index = int(item.data(Qt.ItemDataRole.UserRole))
        if 0 <= index < len(self.vm.results):
            self.banner.clear_message()
            self.vm.load(self.vm.results[index])

    def _on_table_cell_clicked(self, row: int, _column: int) -> None:
        item = self.table.item(row, 0)
        if item is None:
            return
        self.vm.selected_line = int(item.data(Qt.ItemDataRole.UserRole))
        self.vm.changed.emit()

    def _on_weight_set(self) -> None:
        if self.vm.set_weight(self.weight_input.text()):
            self.weight_input.clear()

    def _on_reason_activated(self, index: int) -> None:
        self.vm.set_reason(str(self.reason.itemData(index) or ""))

    def _on_vm_message(self, text: str, kind: str) -> None:
        self.banner.show_message(text, kind)

    def _on_vm_changed(self) -> None:
        t = self.ctx.translator.t
        vm = self.vm
        draft = vm.draft
        sale = vm.sale
        self.results.setVisible(bool(vm.results))
        self.results.clear()
        for i, found in enumerate(vm.results):
            s = found.sale
            item = QListWidgetItem(
                f"{_local_time(s.completed_at)}  {s.store}  {s.receipt_no}  "
                f"{format_yuan(s.total_fen)}"
            )
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.results.addItem(item)
        self.sale_header.setVisible(sale is not None)
        self.sale_info.setVisible(sale is not None)
        self.earlier.setVisible(sale is not None and bool(sale.returns))
        if sale is not None:
            self.sale_header.setText(
                t(
                    "return.sale_header",
                    receipt=sale.receipt_no,
                    store=sale.store,
                    time=_local_time(sale.completed_at),
                )
            )
            tenders = " + ".join(
                f"{t(f'tender.{x.kind}')} {format_yuan(x.amount_fen)}" for x in sale.tenders
            )
            info = t("return.tenders", tenders=tenders)
            if sale.member:
                info += "  ·  " + t(
                    "return.sale_member", member=sale.member, points=sale.earned_points
                )
            self.sale_info.setText(info)
            self.earlier.setText(
                "\n".join(
                    t(
                        "return.earlier",
                        time=_local_time(r.returned_at),
                        store=r.store,
                        receipt=r.receipt_no,
                        amount=format_yuan(r.refund_fen),
                    )
                    for r in sale.returns
                )
            )
        self._fill_table()
        self._fill_line_controls()
        self._fill_preview()
        working = draft is not None
        for w in (self.confirm, self.cancel):
            w.setEnabled(working and not vm.busy)
        self.find_button.setEnabled(not vm.busy)
        self.undo_button.setEnabled(not vm.busy)
        if vm.busy:
            self.why_not.setText(t("return.busy"))

    def _fill_table(self) -> None:
        vm, draft, sale = self.vm, self.vm.draft, self.vm.sale
        rows: list[tuple[int, list[str]]] = []
        if sale is not None:
            for ln in sale.lines:
                suffix = "/kg" if ln.unit == "kg" else ""
                rows.append(
                    (
                        ln.line_no,
                        [
                            str(ln.line_no),
                            " ".join([ln.name, *(o.name for o in ln.options or ())]),
                            _qty(ln.qty_milli, ln.unit),
                            format_yuan(ln.unit_price_fen) + suffix,
                            format_yuan(-ln.discount_fen) if ln.discount_fen else "",
                            format_yuan(ln.amount_fen),
                            _qty(ln.returned_milli, ln.unit) if ln.returned_milli else "",
                            _qty(ln.returnable_milli, ln.unit),
                            _qty(vm.chosen(ln.line_no), ln.unit) if vm.chosen(ln.line_no) else "",
                        ],
                    )
                )
        elif draft is not None:
            for i, nl in enumerate(draft.no_receipt, start=1):
                suffix = "/kg" if nl.unit == "kg" else ""
                qty = _qty(nl.qty_milli, nl.unit)
                rows.append(
                    (
                        i,
                        [
                            str(i),
                            nl.name,
                            "",
                            format_yuan(nl.unit_price_fen) + suffix,
                            "",
                            format_yuan(nl.refund_fen),
                            "",
                            "",
                            qty,
                        ],
                    )
                )
        self.table.setVisible(draft is not None)
        self.table.setRowCount(len(rows))
        for r, (line_no, cells) in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c != 1:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                item.setData(Qt.ItemDataRole.UserRole, line_no)
                self.table.setItem(r, c, item)
            if line_no == vm.selected_line:
                self.table.selectRow(r)

    def _fill_line_controls(self) -> None:
        vm = self.vm
        selected = vm.draft is not None and vm.selected_line is not None
        weighed = selected and vm.selected_line is not None and vm.unit(vm.selected_line) == "kg"
        controls: tuple[QWidget, ...] = (self.minus, self.plus, self.reason, self.damaged)
        for control in controls:
            control.setEnabled(selected)
            control.setVisible(vm.draft is not None)
        self.weight_input.setVisible(bool(weighed))
        self.weight_button.setVisible(bool(weighed))
        if selected and vm.selected_line is not None:
            reason = vm.line_reason(vm.selected_line) or vm.reason
            self.reason.setCurrentIndex(max(0, self.reason.findData(reason)))
            self.damaged.setChecked(vm.line_damaged(vm.selected_line))

    def _fill_preview(self) -> None:
        t = self.ctx.translator.t
        preview, refusal = self.vm.preview()
        total = preview.refund_fen if preview is not None else 0
        self.total.setText(format_yuan(total))
        self.split.setText("")
        self.points.setText("")
        self.shortfall.setText("")
        self.coupon.setText("")
        self.needs.setText("")
        self.why_not.setText("")
        if preview is not None:
            self.split.setText(
                t(
                    "return.split",
                    split=" + ".join(
                        f"{t(f'tender.{s.kind}')} {format_yuan(s.amount_fen)}"
                        for s in preview.split
                    ),
                )
            )
            if preview.points_reversed:
                self.points.setText(f"{t('return.points_reversed')}: {preview.points_reversed}")
            short = self.vm.points_shortfall(preview)
            if short is not None:
                self.shortfall.setText(
                    t("return.points_shortfall", points=short[0], short=short[1])
                )
            if preview.coupon_back is not None:
                self.coupon.setText(f"{t('return.coupon_back')}: {preview.coupon_back.name}")
            if preview.needs:
                self.needs.setText(
                    t(
                        "return.needs",
                        actions="、".join(t(f"return.action.{a}") for a in preview.needs),
                    )
                )
        elif refusal is not None and self.vm.draft is not None:
            self.why_not.setText(error_text(self.ctx.translator, refusal))

    # -- after the commit ---------------------------------------------------------------

    def _on_vm_completed(self, record: ReturnRecord) -> None:
        self._print_state, self._problem = "printing", None
        self.preview.clear()
        self._show_done(record)
        self._show_print_state()
        self.pages.setCurrentWidget(self.done)

    def _show_done(self, record: ReturnRecord) -> None:
        t = self.ctx.translator.t
        self.done_refund.setText(
            t("return.done", receipt=record.receipt_no, amount=format_yuan(record.refund_fen))
            + "\n"
            + t(
                "return.split",
                split=" + ".join(
                    f"{t(f'tender.{r.kind}')} {format_yuan(r.amount_fen)}" for r in record.refunds
                ),
            )
        )
        cash = sum(r.amount_fen for r in record.refunds if r.kind == "cash")
        self.done_cash.setVisible(cash > 0)
        self.done_cash.setText(t("return.drawer_cash", amount=format_yuan(cash)))
        self.done_points.setVisible(record.points_reversed > 0)
        self.done_points.setText(f"{t('return.points_reversed')}: {record.points_reversed}")
        self.done_coupon.setVisible(record.coupon_back_name is not None)
        self.done_coupon.setText(f"{t('return.coupon_back')}: {record.coupon_back_name or ''}")

    def _is_this_return(self, job: PrintJobInfo) -> bool:
        last = self.vm.last
        return job.kind == "return" and last is not None and job.created_at == last.returned_at

    def _on_job_printed(self, job: PrintJobInfo, png: bytes) -> None:
        if not self._is_this_return(job):
            return
        self._print_state, self._problem = "printed", None
        if png:
            pixmap = QPixmap()
            pixmap.loadFromData(png, "PNG")
            self.preview.setPixmap(pixmap)
        self._show_print_state()

    def _on_job_not_printed(self, event: JobNotPrinted) -> None:
        if not self._is_this_return(event.job):
            return
        self._print_state, self._problem = "failed", event.problem
        self._show_print_state()

    def _show_print_state(self) -> None:
        t = self.ctx.translator.t
        if self._print_state == "failed":
            key = f"printer.problem.{self._problem}"
            problem = t(key) if self.ctx.translator.has(key) else str(self._problem)
            self.print_status.setText(t("return.print_failed", problem=problem))
        else:
            self.print_status.setText(t(f"return.{self._print_state}"))
