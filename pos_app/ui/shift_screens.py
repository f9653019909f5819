"""Shift screens: open with a counted float, the shift menu (cash in/out, X report, hand
over, day close), the blind close with its figures, and the resume-or-close dialog for a
shift a crash left open.

Everything runs on the GUI thread; the shift service's calls are local SQLite writes of a
few milliseconds, the day close goes to HQ on the sync thread (``when_done``).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pos_app.domain.shift import CNY_DENOMINATIONS, CashCount, CountError
from pos_app.services.auth import StaffMember
from pos_app.services.errors import ApprovalRequired, ServiceError
from pos_app.services.shifts import (
    CloseResult,
    CloseReview,
    ShiftFigures,
    ShiftInfo,
    ShiftService,
)
from pos_app.ui.context import UiContext
from pos_app.ui.dialogs import ApprovalDialog
from pos_app.ui.errors import code_text, error_text
from pos_app.ui.futures import when_done
from pos_app.ui.widgets import Banner, Keypad, TouchButton, apply_key
from sync_client.contract.errors import ChainPosError
from sync_client.contract.money import MoneyParseError, format_yuan, parse_yuan


def _signed(fen: int) -> str:
    return ("+" if fen > 0 else "") + format_yuan(fen)


def denomination_label(ctx: UiContext, key: str) -> str:
    kind, value = key.split(":")
    fen = int(value)
    amount = f"¥{fen // 100}" if fen >= 100 else f"{fen // 10}角"
    if not ctx.translator.language.startswith("zh") and fen < 100:
        amount = f"¥{fen / 100:.1f}"
    return ctx.translator.t(f"shift.{kind}", amount=amount)


class CountGrid(QWidget):
    """Counts notes and coins: per denomination − / count / + taps, or a count or an
    amount keyed on the keypad for the selected denomination; a running total.

    ``changed`` fires with each change; ``count`` is the current :class:`CashCount`.
    """

    changed = Signal()

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.count = CashCount()
        self.selected = CNY_DENOMINATIONS[0].key
        self.by_amount = False
        self._entry = ""
        root = QHBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        grid = QGridLayout()
        grid.setSpacing(4)
        self.rows: dict[str, tuple[TouchButton, QLabel, QLabel]] = {}
        for r, d in enumerate(CNY_DENOMINATIONS):
            key = d.key
            name = TouchButton(role="key")
            name.setObjectName(f"denom_{key}")
            name.setMinimumWidth(110)
            name.clicked.connect(lambda _=False, k=key: self._select(k))
            minus = TouchButton("−")
            minus.setObjectName(f"minus_{key}")
            minus.clicked.connect(lambda _=False, k=key: self._tap(k, -1))
            plus = TouchButton("+")
            plus.setObjectName(f"plus_{key}")
            plus.clicked.connect(lambda _=False, k=key: self._tap(k, 1))
            n = QLabel("0")
            n.setObjectName(f"count_{key}")
            n.setAlignment(Qt.AlignmentFlag.AlignCenter)
            n.setMinimumWidth(60)
            amount = QLabel(format_yuan(0))
            amount.setObjectName(f"amount_{key}")
            amount.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            amount.setMinimumWidth(100)
            for c, w in enumerate((name, minus, n, plus, amount)):
                grid.addWidget(w, r, c)
            for b in (name, minus, plus):
                b.setMinimumHeight(44)
            self.rows[key] = (name, n, amount)
        root.addLayout(grid, 3)
        side = QVBoxLayout()
        self.total = QLabel()
        self.total.setObjectName("count_total")
        self.total.setProperty("role", "grand")
        side.addWidget(self.total)
        self.entry_label = QLabel()
        self.entry_label.setObjectName("count_entry")
        side.addWidget(self.entry_label)
        self.mode = TouchButton()
        self.mode.setObjectName("count_mode")
        self.mode.clicked.connect(self._on_mode_clicked)
        side.addWidget(self.mode)
        self.keypad = Keypad(decimal=True)
        self.keypad.key_pressed.connect(self._on_keypad_key_pressed)
        side.addWidget(self.keypad)
        self.enter = TouchButton(role="primary")
        self.enter.setObjectName("count_enter")
        self.enter.clicked.connect(self._on_enter_clicked)
        side.addWidget(self.enter)
        self.banner = Banner()
        side.addWidget(self.banner)
        root.addLayout(side, 2)
        self.retranslate()

    def set_count(self, count: CashCount) -> None:
        self.count = count
        self._entry = ""
        self._refresh()
        self.changed.emit()

    def _select(self, key: str) -> None:
        self.selected = key
        self._entry = ""
        self._refresh()

    def _tap(self, key: str, delta: int) -> None:
        self.selected = key
        self.set_count(self.count.tapped(key, delta))

    def _on_mode_clicked(self) -> None:
        self.by_amount = not self.by_amount
        self._entry = ""
        self.retranslate()

    def _on_keypad_key_pressed(self, key: str) -> None:
        self._entry = apply_key(self._entry, key, max_len=9)
        self._refresh()

    def _on_enter_clicked(self) -> None:
        """Applies the keyed number to the selected denomination: a count of pieces, or
        (in amount mode) an amount in yuan that must be a whole number of pieces."""
        text = self._entry.strip() or "0"
        try:
            if self.by_amount:
                count = self.count.with_amount(self.selected, parse_yuan(text))
            else:
                if not text.isdigit():
                    raise CountError("bad_count", f"{text!r} is not a number of pieces")
                count = self.count.with_count(self.selected, int(text))
        except MoneyParseError:
            self.banner.show_message(code_text(self.ctx.translator, "bad_amount"), "error")
            return
        except CountError as exc:
            self.banner.show_message(code_text(self.ctx.translator, exc.code), "error")
            return
        self.banner.clear_message()
        self.set_count(count)

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        for key, (name, _n, _a) in self.rows.items():
            name.setText(denomination_label(self.ctx, key))
        self.mode.setText(t("shift.by_amount") if not self.by_amount else t("shift.by_count"))
        self.enter.setText(t("shift.enter"))
        self._refresh()

    def _refresh(self) -> None:
        t = self.ctx.translator.t
        for key, (name, n, amount) in self.rows.items():
            pieces = self.count.count_of(key)
            value = int(key.split(":")[1])
            n.setText(str(pieces))
            amount.setText(format_yuan(pieces * value))
            name.setProperty("selected", key == self.selected)
        self.total.setText(t("shift.total", amount=format_yuan(self.count.total_fen)))
        label = denomination_label(self.ctx, self.selected)
        key = "shift.entry_amount" if self.by_amount else "shift.entry_count"
        self.entry_label.setText(t(key, denomination=label, value=self._entry or "0"))


class ShiftOpenScreen(QWidget):
    """Counting the float and opening the shift (开班). With ``shift.carry_over_cash``
    the last shift's counted cash is filled in; otherwise the cashier counts from zero.
    Emits ``opened(ShiftInfo)``; a manager may close the day from here instead
    (``day_close_requested``), since the day closes only when no shift is open."""

    opened = Signal(object)
    day_close_requested = Signal()

    def __init__(self, ctx: UiContext, shifts: ShiftService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ShiftOpenScreen")
        self.ctx, self.shifts = ctx, shifts
        self.staff: StaffMember | None = None
        self.carried_from: str | None = None
        root = QVBoxLayout(self)
        self.title = QLabel()
        self.title.setObjectName("shift_open_title")
        self.title.setProperty("role", "grand")
        root.addWidget(self.title)
        self.hint = QLabel()
        self.hint.setObjectName("shift_open_hint")
        self.hint.setWordWrap(True)
        root.addWidget(self.hint)
        self.grid = CountGrid(ctx)
        root.addWidget(self.grid, 1)
        self.banner = Banner()
        root.addWidget(self.banner)
        self.open_button = TouchButton(role="pay")
        self.open_button.setObjectName("shift_open")
        self.open_button.setMinimumHeight(72)
        self.open_button.clicked.connect(self._on_open_clicked)
        row = QHBoxLayout()
        self.day_close = TouchButton()
        self.day_close.setObjectName("open_day_close")
        self.day_close.clicked.connect(self.day_close_requested)
        self.day_close.hide()
        row.addWidget(self.day_close, 1)
        row.addWidget(self.open_button, 3)
        root.addLayout(row)
        self.retranslate()

    def open_for(self, staff: StaffMember) -> None:
        """Shows the screen for ``staff`` with the store's opening float filled in."""
        self.staff = staff
        self.banner.clear_message()
        float_fen, count, carried_from = self.shifts.opening_float()
        self.carried_from = carried_from
        self.day_close.setVisible(staff.can_configure)
        self.grid.set_count(count or CashCount())
        self._float_fen = float_fen
        self.retranslate()

    def _on_open_clicked(self) -> None:
        if self.staff is None:
            return
        try:
            info = self.shifts.open(self.staff, self.grid.count, carried_from=self.carried_from)
        except (ServiceError, ChainPosError) as exc:
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        self.opened.emit(info)

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        self.title.setText(t("shift.open_title"))
        fen = getattr(self, "_float_fen", 0)
        self.hint.setText(
            t("shift.carried_hint", amount=format_yuan(fen))
            if self.carried_from
            else t("shift.float_hint", amount=format_yuan(fen))
        )
        self.open_button.setText(t("shift.open"))
        self.day_close.setText(t("shift.action_day_close"))
        self.grid.retranslate()


class CashMoveDialog(QDialog):
    """备用金补充 (``in``) or 取款 (``out``): an amount and a reason; ``amount_fen`` and
    ``reason`` hold them once accepted."""

    REASONS = ("shift.reason_safe", "shift.reason_change", "shift.reason_other")

    def __init__(self, ctx: UiContext, direction: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("CashMoveDialog")
        t = ctx.translator.t
        self.ctx, self.direction = ctx, direction
        self.amount_fen = 0
        self.reason = ""
        self.setWindowTitle(t(f"shift.cash_{direction}"))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(t(f"shift.cash_{direction}")))
        self.amount = QLineEdit()
        self.amount.setObjectName("cash_amount")
        self.amount.setPlaceholderText(t("shift.amount_placeholder"))
        layout.addWidget(self.amount)
        self.reason_field = QLineEdit()
        reasons = QHBoxLayout()
        for key in self.REASONS:
            b = TouchButton(t(key))
            b.setObjectName(key.replace(".", "_"))
            b.clicked.connect(lambda _=False, k=key: self.reason_field.setText(t(k)))
            reasons.addWidget(b)
        layout.addLayout(reasons)
        self.reason_field.setObjectName("cash_reason")
        self.reason_field.setPlaceholderText(t("shift.reason_placeholder"))
        layout.addWidget(self.reason_field)
        self.banner = Banner()
        layout.addWidget(self.banner)
        keypad = Keypad(decimal=True)
        keypad.key_pressed.connect(lambda k: self.amount.setText(apply_key(self.amount.text(), k)))
        layout.addWidget(keypad)
        row = QHBoxLayout()
        cancel = TouchButton(t("common.cancel"))
        cancel.clicked.connect(self.reject)
        ok = TouchButton(t("common.ok"), role="primary")
        ok.setObjectName("cash_ok")
        ok.clicked.connect(self._on_ok_clicked)
        row.addWidget(cancel)
        row.addWidget(ok)
        layout.addLayout(row)

    def _on_ok_clicked(self) -> None:
        try:
            fen = parse_yuan(self.amount.text())
            if fen <= 0:
                raise MoneyParseError("zero")
        except MoneyParseError:
            self.banner.show_message(code_text(self.ctx.translator, "bad_amount"), "error")
            return
        if not self.reason_field.text().strip():
            self.banner.show_message(self.ctx.translator.t("shift.reason_missing"), "error")
            return
        self.amount_fen, self.reason = fen, self.reason_field.text().strip()
        self.accept()


class ShiftMenuDialog(QDialog):
    """The shift menu (班次): ``choice`` is ``cash_in``, ``cash_out``, ``x_report``,
    ``close`` or ``day_close`` (managers only) once accepted."""

    def __init__(
        self,
        ctx: UiContext,
        staff: StaffMember,
        info: ShiftInfo | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ShiftMenuDialog")
        t = ctx.translator.t
        self.choice = ""
        self.setWindowTitle(t("shift.menu"))
        layout = QVBoxLayout(self)
        if info is not None:
            layout.addWidget(
                QLabel(
                    t("shift.current", shift_no=info.shift_no, float=format_yuan(info.float_fen))
                )
            )
        actions = ["cash_in", "cash_out", "x_report", "close"] if info is not None else []
        if staff.can_configure:
            actions.append("day_close")
        for action in actions:
            b = TouchButton(t(f"shift.action_{action}"), role="danger" if action == "close" else "")
            b.setObjectName(f"shift_{action}")
            b.clicked.connect(lambda _=False, a=action: self._choose(a))
            layout.addWidget(b)
        cancel = TouchButton(t("common.cancel"))
        cancel.setObjectName("shift_menu_cancel")
        cancel.clicked.connect(self.reject)
        layout.addWidget(cancel)

    def _choose(self, action: str) -> None:
        self.choice = action
        self.accept()


class ResumeShiftDialog(QDialog):
    """A shift was found open at start (a crash or power loss): its figures so far, and
    continue it (``choice`` ``resume``) or close it now (``close``)."""

    def __init__(
        self, ctx: UiContext, figures: ShiftFigures, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ResumeShiftDialog")
        t = ctx.translator.t
        self.choice = ""
        self.setWindowTitle(t("shift.resume_title"))
        layout = QVBoxLayout(self)
        info = figures.shift
        self.summary = QLabel(
            t(
                "shift.resume_text",
                shift_no=info.shift_no,
                staff=info.staff,
                opened=info.opened_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                float=format_yuan(info.float_fen),
                sales=figures.counts.sales_count,
                sales_total=format_yuan(figures.counts.sales_fen),
                expected=format_yuan(figures.expected_cash_fen),
            )
        )
        self.summary.setObjectName("resume_summary")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        row = QHBoxLayout()
        for choice, role in (("close", "danger"), ("resume", "primary")):
            b = TouchButton(t(f"shift.resume_{choice}"), role=role)
            b.setObjectName(f"resume_{choice}")
            b.clicked.connect(lambda _=False, c=choice: self._choose(c))
            row.addWidget(b)
        layout.addLayout(row)

    def _choose(self, choice: str) -> None:
        self.choice = choice
        self.accept()


FIGURE_ROWS = (
    ("sales", "sales_count", "sales_fen"),
    ("returns", "returns_count", "refunds_fen"),
    ("voids", "voids_count", None),
    ("discounts", None, "discounts_fen"),
    ("no_sale", "no_sale_opens", None),
    ("unsynced", "unsynced_events", None),
    ("unprinted", "unprinted_receipts", None),
)


class ShiftCloseScreen(QWidget):
    """Hand over / close (交班): a blind count first — the expected figures stay hidden
    until the count is confirmed — then per tender expected / counted / over-short and
    the shift's counts; past the store's threshold a reason and a supervisor. 打印交接单
    closes the shift and queues the slip; emits ``closed(CloseResult)``, or
    ``cancelled`` to go back to selling."""

    closed = Signal(object)
    cancelled = Signal()
    figures_shown = Signal()

    def __init__(self, ctx: UiContext, shifts: ShiftService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ShiftCloseScreen")
        self.ctx, self.shifts = ctx, shifts
        self.staff: StaffMember | None = None
        self.review: CloseReview | None = None
        self.cart_in_progress = False
        root = QVBoxLayout(self)
        self.title = QLabel()
        self.title.setObjectName("shift_close_title")
        self.title.setProperty("role", "grand")
        root.addWidget(self.title)
        self.banner = Banner()
        self.banner.setObjectName("shift_close_banner")
        root.addWidget(self.banner)
        # Step 1: the blind count.
        self.count_step = QWidget()
        count_layout = QVBoxLayout(self.count_step)
        count_layout.setContentsMargins(0, 0, 0, 0)
        self.grid = CountGrid(ctx)
        count_layout.addWidget(self.grid, 1)
        row = QHBoxLayout()
        self.back = TouchButton()
        self.back.setObjectName("shift_close_back")
        self.back.clicked.connect(self.cancelled)
        self.confirm = TouchButton(role="primary")
        self.confirm.setObjectName("count_confirm")
        self.confirm.clicked.connect(self._on_confirm_clicked)
        row.addWidget(self.back)
        row.addWidget(self.confirm)
        count_layout.addLayout(row)
        root.addWidget(self.count_step, 1)
        # Step 2: the figures.
        self.figures_step = QWidget()
        fig_layout = QVBoxLayout(self.figures_step)
        fig_layout.setContentsMargins(0, 0, 0, 0)
        tables = QHBoxLayout()
        self.tenders = QTableWidget(0, 4)
        self.tenders.setObjectName("close_tenders")
        self.counts = QTableWidget(0, 3)
        self.counts.setObjectName("close_counts")
        for table in (self.tenders, self.counts):
            table.verticalHeader().setVisible(False)
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            table.verticalHeader().setDefaultSectionSize(40)
        # The item names (开钱箱（无销售）…) are read whole; the figures share the rest.
        self.counts.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents
        )
        tables.addWidget(self.tenders, 3)
        tables.addWidget(self.counts, 2)
        fig_layout.addLayout(tables, 1)
        self.over_short = QLabel()
        self.over_short.setObjectName("close_over_short")
        self.over_short.setProperty("role", "grand")
        fig_layout.addWidget(self.over_short)
        self.reason = QLineEdit()
        self.reason.setObjectName("close_reason")
        fig_layout.addWidget(self.reason)
        row = QHBoxLayout()
        self.recount = TouchButton()
        self.recount.setObjectName("close_recount")
        self.recount.clicked.connect(self._on_recount_clicked)
        self.print_slip = TouchButton(role="pay")
        self.print_slip.setObjectName("print_slip")
        self.print_slip.clicked.connect(self._on_print_slip_clicked)
        row.addWidget(self.recount)
        row.addWidget(self.print_slip)
        fig_layout.addLayout(row)
        root.addWidget(self.figures_step, 1)
        self.retranslate()
        self._show_count_step()

    def open_for(self, staff: StaffMember, *, cart_in_progress: bool = False) -> None:
        """Starts a close for ``staff`` with an empty blind count."""
        self.staff = staff
        self.cart_in_progress = cart_in_progress
        self.review = None
        self.grid.set_count(CashCount())
        self.reason.clear()
        self.banner.clear_message()
        self._show_count_step()

    def _show_count_step(self) -> None:
        self.figures_step.hide()
        self.count_step.show()
        self.tenders.setRowCount(0)
        self.counts.setRowCount(0)

    def _on_recount_clicked(self) -> None:
        self.review = None
        self._show_count_step()

    def _on_confirm_clicked(self) -> None:
        try:
            review = self.shifts.review_close(self.grid.count)
        except ServiceError as exc:
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        self.show_review(review)

    def show_review(self, review: CloseReview) -> None:
        """Fills the figures of a confirmed count and shows them."""
        self.review = review
        t = self.ctx.translator.t
        f = review.figures
        self.tenders.setRowCount(len(f.tenders))
        for r, tender in enumerate(f.tenders):
            cash = tender.kind == "cash"
            cells = (
                t(f"tender.{tender.kind}")
                if self.ctx.translator.has(f"tender.{tender.kind}")
                else tender.kind,
                format_yuan(tender.expected_fen),
                format_yuan(review.counted.total_fen) if cash else "—",
                _signed(review.over_short_fen) if cash else "—",
            )
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.tenders.setItem(r, c, item)
        counts = f.counts
        self.counts.setRowCount(len(FIGURE_ROWS))
        for r, (key, n_attr, fen_attr) in enumerate(FIGURE_ROWS):
            row_cells = (
                t(f"shift.fig_{key}"),
                "" if n_attr is None else str(getattr(counts, n_attr)),
                "" if fen_attr is None else format_yuan(getattr(counts, fen_attr)),
            )
            for c, text in enumerate(row_cells):
                self.counts.setItem(r, c, QTableWidgetItem(text))
        diff = review.over_short_fen
        key = "shift.even" if diff == 0 else ("shift.over" if diff > 0 else "shift.short")
        self.over_short.setText(t(key, amount=format_yuan(abs(diff))))
        self.reason.setVisible(review.needs_sign_off)
        if review.needs_sign_off:
            self.banner.show_message(
                t("shift.sign_off_needed", threshold=format_yuan(review.threshold_fen)), "warn"
            )
        else:
            self.banner.clear_message()
        self.count_step.hide()
        self.figures_step.show()
        self.figures_shown.emit()

    def _on_print_slip_clicked(self) -> None:
        if self.staff is None or self.review is None:
            return
        t = self.ctx.translator.t
        approver: StaffMember | None = None
        reason = self.reason.text().strip() or None
        if self.review.needs_sign_off:
            if reason is None:
                self.banner.show_message(code_text(self.ctx.translator, "reason_required"), "error")
                return
            if not self.staff.can_approve:
                dialog = ApprovalDialog(
                    self.ctx,
                    "over_short",
                    self.staff.number,
                    t("shift.approval_reason", amount=_signed(self.review.over_short_fen)),
                    self,
                )
                if dialog.exec() != QDialog.DialogCode.Accepted or dialog.approver is None:
                    return
                approver = dialog.approver
        try:
            result = self.shifts.close(
                self.staff,
                self.review.counted,
                cart_in_progress=self.cart_in_progress,
                reason=reason,
                approver=approver,
                store_name=self.ctx.store_name("zh_CN"),
            )
        except (ServiceError, ApprovalRequired) as exc:
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        self.closed.emit(result)

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        self.title.setText(t("shift.close_title"))
        self.back.setText(t("common.back"))
        self.confirm.setText(t("shift.confirm_count"))
        self.recount.setText(t("shift.recount"))
        self.print_slip.setText(t("shift.print_slip"))
        self.reason.setPlaceholderText(t("shift.reason_placeholder"))
        self.tenders.setHorizontalHeaderLabels(
            [
                t("shift.col_tender"),
                t("shift.col_expected"),
                t("shift.col_counted"),
                t("shift.col_over_short"),
            ]
        )
        self.counts.setHorizontalHeaderLabels(
            [t("shift.col_item"), t("shift.col_count"), t("shift.col_amount")]
        )
        self.grid.retranslate()
        if self.review is not None:
            self.show_review(self.review)


class ShiftFlow(QObject):
    """Puts the shift screens in the window's stack and runs the shift steps around
    selling: after sign-in (resume-or-close a shift found open, or open one first when
    the store sells only in a shift), the shift menu, the close and its way back to
    sign-in. The window hands it its stack and where to go next; GUI thread only.

    Args:
        current_staff: who is signed in (None: nobody).
        cart_in_progress: whether a sale with goods is on screen (blocks the close).
        to_checkout / to_login: show those screens.
        message: ``(text, kind)`` on the checkout banner.
    """

    def __init__(
        self,
        ctx: UiContext,
        shifts: ShiftService,
        stack: QStackedWidget,
        *,
        current_staff: Callable[[], StaffMember | None],
        cart_in_progress: Callable[[], bool],
        to_checkout: Callable[[], None],
        to_login: Callable[[], None],
        message: Callable[[str, str], None],
    ) -> None:
        super().__init__(stack)
        self.ctx, self.shifts, self.stack = ctx, shifts, stack
        self._staff, self._cart = current_staff, cart_in_progress
        self._to_checkout, self._to_login, self._message = to_checkout, to_login, message
        self.open_screen = ShiftOpenScreen(ctx, shifts)
        self.close_screen = ShiftCloseScreen(ctx, shifts)
        stack.addWidget(self.open_screen)
        stack.addWidget(self.close_screen)
        self.open_screen.opened.connect(self._on_open_screen_opened)
        self.open_screen.day_close_requested.connect(self._on_open_screen_day_close_requested)
        self.close_screen.closed.connect(self._on_close_screen_closed)
        self.close_screen.cancelled.connect(self._to_checkout)
        self.resume_checked = False
        self.last_day_report: Any = None

    def after_sign_in(self, staff: StaffMember) -> bool:
        """Runs the shift step a sign-in needs; True when a shift screen is now shown
        (otherwise the window goes on to selling)."""
        current = self.shifts.current()
        if current is not None and not self.resume_checked:
            self.resume_checked = True
            dialog = ResumeShiftDialog(self.ctx, self.shifts.figures(), self.stack.window())
            dialog.exec()
            if dialog.choice == "close":
                self.start_close(staff)
                return True
            return False
        self.resume_checked = True
        if current is None and self.shifts.settings().required:
            self.open_screen.open_for(staff)
            self.stack.setCurrentWidget(self.open_screen)
            return True
        return False

    def _on_open_screen_day_close_requested(self) -> None:
        if self.open_screen.staff is not None:
            self.close_day(self.open_screen.staff)

    def _say(self, text: str, kind: str) -> None:
        if self.stack.currentWidget() is self.open_screen:
            self.open_screen.banner.show_message(text, kind)
        else:
            self._message(text, kind)

    def _on_open_screen_opened(self, _info: ShiftInfo) -> None:
        self._to_checkout()

    def start_close(self, staff: StaffMember) -> None:
        self.close_screen.open_for(staff, cart_in_progress=self._cart())
        self.stack.setCurrentWidget(self.close_screen)

    def _on_close_screen_closed(self, _result: CloseResult) -> None:
        self._to_login()

    def menu(self) -> None:
        """The shift menu (班次) from the checkout screen."""
        staff = self._staff()
        if staff is None:
            return
        t = self.ctx.translator.t
        info = self.shifts.current()
        dialog = ShiftMenuDialog(self.ctx, staff, info, self.stack.window())
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        choice = dialog.choice
        if choice in ("cash_in", "cash_out"):
            self.move_cash(staff, choice.removeprefix("cash_"))
        elif choice == "x_report":
            try:
                self.shifts.x_report(staff)
            except ServiceError as exc:
                self._message(error_text(self.ctx.translator, exc), "error")
                return
            self._message(t("shift.x_printed"), "info")
        elif choice == "close":
            if self._cart():
                self._message(t("shift.cart_first"), "warn")
                return
            self.start_close(staff)
        elif choice == "day_close":
            self.close_day(staff)

    def move_cash(self, staff: StaffMember, direction: str) -> None:
        dialog = CashMoveDialog(self.ctx, direction, self.stack.window())
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        approver: StaffMember | None = None
        if not staff.can_approve:
            approval = ApprovalDialog(
                self.ctx,
                "cash_movement",
                staff.number,
                f"{self.ctx.translator.t(f'shift.cash_{direction}')} "
                f"{format_yuan(dialog.amount_fen)} · {dialog.reason}",
                self.stack.window(),
            )
            if approval.exec() != QDialog.DialogCode.Accepted or approval.approver is None:
                return
            approver = approval.approver
        try:
            self.shifts.move_cash(staff, direction, dialog.amount_fen, dialog.reason, approver)
        except ServiceError as exc:
            self._message(error_text(self.ctx.translator, exc), "error")
            return
        self._message(
            self.ctx.translator.t("shift.moved", amount=format_yuan(dialog.amount_fen)), "info"
        )

    def close_day(self, staff: StaffMember) -> None:
        """日结: HQ must answer (offline: a plain refusal); the Z report prints."""
        t = self.ctx.translator.t
        self._say(t("shift.day_closing"), "info")

        def done(future: concurrent.futures.Future[Any]) -> None:
            try:
                self.last_day_report = future.result()
            except Exception as exc:
                self._say(error_text(self.ctx.translator, exc), "error")
                return
            self._say(t("shift.day_closed"), "info")

        when_done(self.shifts.close_day(staff), self, done)

    def retranslate(self) -> None:
        self.open_screen.retranslate()
        self.close_screen.retranslate()


__all__ = [
    "CashMoveDialog",
    "CloseResult",
    "CountGrid",
    "ResumeShiftDialog",
    "ShiftCloseScreen",
    "ShiftFlow",
    "ShiftMenuDialog",
    "ShiftOpenScreen",
]
