"""Stock screens (库存): look-up across the chain, transfers (调拨), stock counts (盘点)
and goods received (收货), gathered in :class:`StockHub` behind the checkout's 库存
button. Every screen runs on the GUI thread; the stock service's calls are local SQLite
work of a few milliseconds, and HQ's proposals come back through ``when_done``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pos_app.services.auth import StaffMember
from pos_app.services.stock import (
    AlertInfo,
    ItemRef,
    StockService,
    StockView,
    TransferRow,
    age_parts,
    qty_text,
)
from pos_app.ui.context import UiContext
from pos_app.ui.errors import error_text
from pos_app.ui.widgets import Banner, TouchButton

StaffGetter = Callable[[], StaffMember | None]


def _table(columns: int) -> QTableWidget:
    table = QTableWidget(0, columns)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(44)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    return table


def _cell(text: str, align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _text(table: QTableWidget, row: int, column: int) -> str:
    cell = table.item(row, column)
    return cell.text().strip() if cell is not None else ""


class _Screen(QWidget):
    """What the stock screens share: the context, the service, the signed-in staff and a
    banner for errors and confirmations."""

    def __init__(self, ctx: UiContext, stock: StockService, staff: StaffGetter) -> None:
        super().__init__()
        self.ctx, self.stock, self._staff = ctx, stock, staff
        self.banner = Banner()

    def t(self, key: str, /, **params: Any) -> str:
        return self.ctx.translator.t(key, **params)

    def fail(self, exc: BaseException) -> None:
        self.banner.show_message(error_text(self.ctx.translator, exc), "error")

    def staff(self) -> StaffMember | None:
        return self._staff()

    def refresh(self) -> None:
        """Reloads what the screen shows (when it is opened or the feed changed)."""

    def handle_scan(self, code: str) -> None:
        """A scanner's code while the screen is shown."""

    def retranslate(self) -> None:
        """Sets every text in the current language."""


class StockScreen(_Screen):
    """库存查询: find an item (scan, pinyin, name), see every store's level nearest first
    with how fresh it is, ask a store for goods from its row; this store's alerts."""

    transfer_requested = Signal(str)  # the new transfer's number

    def __init__(self, ctx: UiContext, stock: StockService, staff: StaffGetter) -> None:
        super().__init__(ctx, stock, staff)
        self.setObjectName("StockScreen")
        root = QVBoxLayout(self)
        row = QHBoxLayout()
        self.query = QLineEdit()
        self.query.setObjectName("stock_query")
        self.query.returnPressed.connect(self._on_find_clicked)
        self.find_button = TouchButton()
        self.find_button.setObjectName("stock_find")
        self.find_button.setMaximumWidth(140)
        self.find_button.clicked.connect(self._on_find_clicked)
        row.addWidget(self.query, 1)
        row.addWidget(self.find_button)
        root.addLayout(row)
        root.addWidget(self.banner)
        body = QHBoxLayout()
        self.results = QListWidget()
        self.results.setObjectName("stock_results")
        self.results.setMaximumWidth(260)
        self.results.itemClicked.connect(self._on_results_item_clicked)
        body.addWidget(self.results)
        self.levels = _table(7)
        self.levels.setObjectName("stock_levels")
        for c in range(1, 7):
            self.levels.horizontalHeader().setSectionResizeMode(
                c, QHeaderView.ResizeMode.ResizeToContents
            )
        body.addWidget(self.levels, 1)
        root.addLayout(body, 1)
        actions = QHBoxLayout()
        self.quantity = QSpinBox()
        self.quantity.setObjectName("request_qty")
        self.quantity.setRange(1, 100_000)
        self.quantity.setValue(1)
        self.quantity.setMinimumHeight(56)
        self.request_button = TouchButton(role="primary")
        self.request_button.setObjectName("request_transfer")
        self.request_button.clicked.connect(self._on_request_clicked)
        self.qty_label = QLabel()
        actions.addWidget(self.qty_label)
        actions.addWidget(self.quantity)
        actions.addWidget(self.request_button, 1)
        root.addLayout(actions)
        self.alerts = QListWidget()
        self.alerts.setObjectName("stock_alerts")
        self.alerts.setMaximumHeight(120)
        root.addWidget(self.alerts)
        self.view: StockView | None = None
        self._alert_rows: list[AlertInfo] = []
        self.retranslate()

    def retranslate(self) -> None:
        self.query.setPlaceholderText(self.t("stock.search"))
        self.find_button.setText(self.t("stock.find"))
        self.request_button.setText(self.t("stock.request"))
        self.qty_label.setText(self.t("stock.request_qty"))
        self.levels.setHorizontalHeaderLabels(
            [
                self.t(f"stock.col.{c}")
                for c in (
                    "store", "distance", "on_hand", "reserved", "available", "in_transit", "fresh",
                )
            ]
        )  # fmt: skip
        self._show_levels()
        self._show_alerts()

    def refresh(self) -> None:
        self._alert_rows = self.stock.alerts()
        self._show_alerts()
        if self.view is not None:
            self.show_item(self.view.item)

    def _show_alerts(self) -> None:
        self.alerts.clear()
        for a in self._alert_rows:
            self.alerts.addItem(self._alert_text(a))

    def _alert_text(self, a: AlertInfo) -> str:
        """The alert's line: what happened, the level and, where HQ says, how much is
        short (低于下限 还差 12) or the count's difference (+3 / -2)."""
        kind = self.t(f"stock.alert.{a.kind}")
        on_hand = qty_text(a.on_hand_milli)
        short = a.short_milli
        if short is not None and short > 0:
            missing = a.kind == "transfer_shortfall"
            key = "stock.alert_line_missing" if missing else "stock.alert_line_short"
            return self.t(key, name=a.name, kind=kind, qty=on_hand, short=qty_text(short))
        if a.kind == "count_variance" and a.qty_milli:
            sign = "+" if a.qty_milli > 0 else "-"
            diff = sign + qty_text(abs(a.qty_milli))
            return self.t("stock.alert_line_diff", name=a.name, kind=kind, qty=on_hand, diff=diff)
        return self.t("stock.alert_line", name=a.name, kind=kind, qty=on_hand)

    def handle_scan(self, code: str) -> None:
        self.query.setText(code)
        self._on_find_clicked()

    def _on_find_clicked(self) -> None:
        self.banner.clear_message()
        self.results.clear()
        try:
            found = self.stock.find(self.query.text())
        except Exception as exc:
            self.fail(exc)
            return
        for item in found:
            entry = QListWidgetItem(f"{item.name_zh}  {item.sku}")
            entry.setData(Qt.ItemDataRole.UserRole, item)
            self.results.addItem(entry)
        if len(found) == 1:
            self.show_item(found[0])
        elif not found:
            self.banner.show_message(self.t("error.search_empty"), "warn")

    def _on_results_item_clicked(self, entry: QListWidgetItem) -> None:
        item = entry.data(Qt.ItemDataRole.UserRole)
        if isinstance(item, ItemRef):
            self.show_item(item)

    def show_item(self, item: ItemRef) -> None:
        try:
            self.view = self.stock.lookup(item.sku)
        except Exception as exc:
            self.fail(exc)
            return
        self._show_levels()

    def _freshness(self, level_updated: Any) -> str:
        now = self.ctx.checkout.now()
        if level_updated is None:
            return self.t("stock.age.never")
        if not self.stock.online:
            return self.t("stock.offline_at", time=level_updated.astimezone().strftime("%H:%M"))
        unit, n = age_parts(level_updated, now)
        return self.t(f"stock.age.{unit}", n=n)

    def _show_levels(self) -> None:
        view = self.view
        self.levels.setRowCount(0)
        if view is None:
            return
        self.levels.setRowCount(len(view.levels))
        for r, lv in enumerate(view.levels):
            name = f"{lv.name} ({self.t('stock.this_store')})" if lv.own else lv.name
            dist = "" if lv.distance_km is None else self.t("stock.km", km=f"{lv.distance_km:.0f}")
            cells = (
                _cell(name),
                _cell(dist or lv.region),
                _cell(qty_text(lv.on_hand_milli), True),
                _cell(qty_text(lv.reserved_milli), True),
                _cell(qty_text(lv.available_milli), True),
                _cell(qty_text(lv.in_transit_milli) if lv.in_transit_milli else "", True),
                _cell(self._freshness(lv.updated_at)),
            )
            for c, cell in enumerate(cells):
                self.levels.setItem(r, c, cell)
        self.levels.selectRow(1 if len(view.levels) > 1 else 0)

    def _on_request_clicked(self) -> None:
        view, staff = self.view, self.staff()
        row = self.levels.currentRow()
        if view is None or staff is None or not 0 <= row < len(view.levels):
            return
        level = view.levels[row]
        try:
            done = self.stock.request_transfer(
                staff, level.store, [(view.item.sku, self.quantity.value() * 1000)]
            )
        except Exception as exc:
            self.fail(exc)
            return
        self.banner.show_message(self.t("stock.requested", no=done.transfer_no), "info")
        self.transfer_requested.emit(done.transfer_no)


class TransfersScreen(_Screen):
    """调拨: this store's transfers in and out by state; the chosen one's lines and the
    steps the signed-in role may take (receiving with per-line counted quantities)."""

    def __init__(self, ctx: UiContext, stock: StockService, staff: StaffGetter) -> None:
        super().__init__(ctx, stock, staff)
        self.setObjectName("TransfersScreen")
        root = QHBoxLayout(self)
        self.list = QListWidget()
        self.list.setObjectName("transfer_list")
        self.list.setMaximumWidth(340)
        self.list.itemClicked.connect(self._on_list_item_clicked)
        root.addWidget(self.list)
        right = QVBoxLayout()
        self.title = QLabel()
        self.title.setObjectName("transfer_title")
        right.addWidget(self.title)
        right.addWidget(self.banner)
        self.lines = _table(5)
        self.lines.setObjectName("transfer_lines")
        self.lines.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        right.addWidget(self.lines, 1)
        self.reason = QLineEdit()
        self.reason.setObjectName("refuse_reason")
        right.addWidget(self.reason)
        buttons = QHBoxLayout()
        self.buttons: dict[str, TouchButton] = {}
        for step in ("approve", "refuse", "ship", "receive", "cancel"):
            b = TouchButton(role="danger" if step in ("refuse", "cancel") else "primary")
            b.setObjectName(f"transfer_{step}")
            b.clicked.connect(lambda _=False, s=step: self._on_step_clicked(s))
            buttons.addWidget(b)
            self.buttons[step] = b
        right.addLayout(buttons)
        root.addLayout(right, 1)
        self.current: TransferRow | None = None
        self.retranslate()

    def retranslate(self) -> None:
        self.lines.setHorizontalHeaderLabels(
            [
                self.t(f"transfer.col.{c}")
                for c in ("item", "requested", "approved", "shipped", "received")
            ]
        )
        self.reason.setPlaceholderText(self.t("transfer.refuse_reason"))
        for step, b in self.buttons.items():
            b.setText(self.t(f"transfer.{step}"))
        self.refresh()

    def _label(self, row: TransferRow) -> str:
        incoming = row.to_store == self.stock.store
        other = row.from_store if incoming else row.to_store
        text = (
            f"{self.t('transfer.in' if incoming else 'transfer.out')} {row.transfer_no} · "
            f"{other} · {self.t(f'transfer.state.{row.state}')}"
        )
        if row.syncing:
            text += f" · {self.t('transfer.syncing')}"
        return text

    def refresh(self) -> None:
        keep = self.current.id if self.current is not None else None
        self.list.clear()
        rows = self.stock.transfers()
        for row in rows:
            entry = QListWidgetItem(self._label(row))
            entry.setData(Qt.ItemDataRole.UserRole, row.id)
            self.list.addItem(entry)
        chosen = next((r for r in rows if r.id == keep), rows[0] if rows else None)
        self.show_transfer(chosen)

    def _on_list_item_clicked(self, entry: QListWidgetItem) -> None:
        self.banner.clear_message()
        self.show_transfer(self.stock.transfer(str(entry.data(Qt.ItemDataRole.UserRole))))

    def show_transfer(self, row: TransferRow | None) -> None:
        self.current = row
        self.lines.setRowCount(0)
        allowed = self.stock.steps_for(self.staff(), row) if row is not None else ()
        for step, b in self.buttons.items():
            b.setVisible(step in allowed)
        self.reason.setVisible("refuse" in allowed)
        if row is None:
            self.title.setText("")
            return
        self.title.setText(self._label(row))
        if row.step_error is not None:
            self.banner.show_message(self.t("transfer.step_refused", error=row.step_error), "error")
        self.lines.setRowCount(len(row.lines))
        editable = {"approve": 2, "ship": 3, "receive": 4}
        edit_col = next((c for s, c in editable.items() if s in allowed), None)
        for r, ln in enumerate(row.lines):
            proposed = {
                2: ln.approved_milli if ln.approved_milli is not None else ln.requested_milli,
                3: ln.shipped_milli if ln.shipped_milli is not None else ln.approved_milli,
                4: ln.received_milli if ln.received_milli is not None else ln.shipped_milli,
            }
            values = (ln.requested_milli, ln.approved_milli, ln.shipped_milli, ln.received_milli)
            name = _cell(f"{ln.name} {ln.sku}")
            name.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.lines.setItem(r, 0, name)
            for c, q in enumerate(values, start=1):
                if c == edit_col:
                    q = proposed[c]
                cell = _cell("" if q is None else qty_text(q), True)
                if c != edit_col:
                    cell.setFlags(Qt.ItemFlag.ItemIsEnabled)
                self.lines.setItem(r, c, cell)

    def quantities(self, column: int) -> list[tuple[str, int]]:
        """The quantities typed in ``column`` (pieces), per line."""
        assert self.current is not None
        out = []
        for r, ln in enumerate(self.current.lines):
            raw = _text(self.lines, r, column)
            out.append((ln.sku, round(float(raw or "0") * 1000)))
        return out

    def _on_step_clicked(self, step: str) -> None:
        row, staff = self.current, self.staff()
        if row is None or staff is None:
            return
        try:
            if step == "approve":
                done = self.stock.approve(staff, row.id, self.quantities(2))
            elif step == "ship":
                done = self.stock.ship(staff, row.id, self.quantities(3))
            elif step == "receive":
                done = self.stock.receive(staff, row.id, self.quantities(4))
            elif step == "refuse":
                done = self.stock.refuse(staff, row.id, self.reason.text())
            else:
                done = self.stock.cancel(staff, row.id)
        except ValueError:
            self.banner.show_message(self.t("error.bad_quantity"), "error")
            return
        except Exception as exc:
            self.fail(exc)
            return
        state = self.t(f"transfer.state.{done.state}")
        self.banner.show_message(self.t("transfer.done", no=done.transfer_no, state=state), "info")
        self.current = done
        self.refresh()


class CountScreen(_Screen):
    """盘点: start a count of a zone (or the whole store), scan to count, submit; a
    manager approves or rejects with the variance list beside the counted one."""

    def __init__(self, ctx: UiContext, stock: StockService, staff: StaffGetter) -> None:
        super().__init__(ctx, stock, staff)
        self.setObjectName("CountScreen")
        root = QVBoxLayout(self)
        top = QHBoxLayout()
        self.zone = QLineEdit()
        self.zone.setObjectName("count_zone")
        self.start_button = TouchButton(role="primary")
        self.start_button.setObjectName("count_start")
        self.start_button.clicked.connect(self._on_start_clicked)
        top.addWidget(self.zone, 1)
        top.addWidget(self.start_button)
        root.addLayout(top)
        self.status = QLabel()
        self.status.setObjectName("count_status")
        root.addWidget(self.status)
        root.addWidget(self.banner)
        self.scan_input = QLineEdit()
        self.scan_input.setObjectName("count_scan")
        self.scan_input.returnPressed.connect(self._on_scan_input_return_pressed)
        root.addWidget(self.scan_input)
        self.table = _table(4)
        self.table.setObjectName("count_lines")
        root.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.submit_button = TouchButton(role="primary")
        self.submit_button.setObjectName("count_submit")
        self.submit_button.clicked.connect(self._on_submit_clicked)
        self.approve_button = TouchButton(role="primary")
        self.approve_button.setObjectName("count_approve")
        self.approve_button.clicked.connect(lambda: self._on_decide(True))
        self.reject_button = TouchButton(role="danger")
        self.reject_button.setObjectName("count_reject")
        self.reject_button.clicked.connect(lambda: self._on_decide(False))
        for b in (self.submit_button, self.approve_button, self.reject_button):
            buttons.addWidget(b)
        root.addLayout(buttons)
        self.retranslate()

    def retranslate(self) -> None:
        self.zone.setPlaceholderText(self.t("count.zone"))
        self.start_button.setText(self.t("count.start"))
        self.scan_input.setPlaceholderText(self.t("count.scan"))
        self.submit_button.setText(self.t("count.submit"))
        self.approve_button.setText(self.t("count.approve"))
        self.reject_button.setText(self.t("count.reject"))
        self.table.setHorizontalHeaderLabels(
            [self.t(f"count.col.{c}") for c in ("item", "counted", "book", "variance")]
        )
        self.refresh()

    def refresh(self) -> None:
        info = self.stock.open_count()
        self.table.setRowCount(0)
        open_ = info is not None and info.status == "open"
        submitted = info is not None and info.status == "submitted"
        staff = self.staff()
        manager = staff is not None and staff.role.rank >= 2
        self.start_button.setVisible(info is None)
        self.zone.setVisible(info is None)
        self.scan_input.setVisible(open_)
        self.submit_button.setVisible(open_)
        self.approve_button.setVisible(submitted and manager)
        self.reject_button.setVisible(submitted and manager)
        if info is None:
            self.status.setText(self.t("count.none"))
            return
        status = self.t(f"count.status.{info.status}")
        self.status.setText(self.t("count.status", no=info.count_no, status=status))
        book = {v.sku: v for v in self.stock.variance(info.id)} if submitted else {}
        self.table.setRowCount(len(info.lines))
        for r, ln in enumerate(info.lines):
            v = book.get(ln.sku)
            cells = (
                _cell(f"{ln.name} {ln.sku}"),
                _cell(qty_text(ln.counted_milli), True),
                _cell("" if v is None else qty_text(v.book_milli), True),
                _cell("" if v is None else qty_text(v.variance_milli), True),
            )
            for c, cell in enumerate(cells):
                self.table.setItem(r, c, cell)
        if open_:
            self.scan_input.setFocus()

    def handle_scan(self, code: str) -> None:
        self.scan_input.setText(code)
        self._on_scan_input_return_pressed()

    def _on_start_clicked(self) -> None:
        staff = self.staff()
        if staff is None:
            return
        try:
            self.stock.start_count(staff, self.zone.text())
        except Exception as exc:
            self.fail(exc)
            return
        self.banner.clear_message()
        self.refresh()

    def _on_scan_input_return_pressed(self) -> None:
        code = self.scan_input.text().strip()
        self.scan_input.clear()
        info = self.stock.open_count()
        if not code or info is None or info.status != "open":
            return
        try:
            found = self.stock.find(code, limit=2)
            if len(found) != 1:
                self.banner.show_message(self.t("error.unknown_code", key=code), "error")
                return
            self.stock.count_item(info.id, found[0])
        except Exception as exc:
            self.fail(exc)
            return
        self.banner.clear_message()
        self.refresh()

    def _on_submit_clicked(self) -> None:
        info, staff = self.stock.open_count(), self.staff()
        if info is None or staff is None:
            return
        try:
            self.stock.submit_count(staff, info.id)
        except Exception as exc:
            self.fail(exc)
            return
        self.refresh()

    def _on_decide(self, approved: bool) -> None:
        info, staff = self.stock.open_count(), self.staff()
        if info is None or staff is None:
            return
        try:
            done = self.stock.decide_count(staff, info.id, approved)
        except Exception as exc:
            self.fail(exc)
            return
        status = self.t(f"count.status.{done.status}")
        self.banner.show_message(self.t("count.status", no=done.count_no, status=status), "info")
        self.refresh()


class ReceiveScreen(_Screen):
    """收货: scan the goods in with their quantities and the delivery note's number."""

    def __init__(self, ctx: UiContext, stock: StockService, staff: StaffGetter) -> None:
        super().__init__(ctx, stock, staff)
        self.setObjectName("ReceiveScreen")
        root = QVBoxLayout(self)
        self.document = QLineEdit()
        self.document.setObjectName("receive_document")
        root.addWidget(self.document)
        self.scan_input = QLineEdit()
        self.scan_input.setObjectName("receive_scan")
        self.scan_input.returnPressed.connect(self._on_scan_input_return_pressed)
        root.addWidget(self.scan_input)
        root.addWidget(self.banner)
        self.table = _table(2)
        self.table.setObjectName("receive_lines")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        root.addWidget(self.table, 1)
        self.book_button = TouchButton(role="primary")
        self.book_button.setObjectName("receive_book")
        self.book_button.clicked.connect(self._on_book_clicked)
        root.addWidget(self.book_button)
        self.items: list[ItemRef] = []
        self.retranslate()

    def retranslate(self) -> None:
        self.document.setPlaceholderText(self.t("receive.document"))
        self.scan_input.setPlaceholderText(self.t("receive.scan"))
        self.book_button.setText(self.t("receive.book"))
        self.table.setHorizontalHeaderLabels(
            [self.t("receive.col.item"), self.t("receive.col.qty")]
        )

    def handle_scan(self, code: str) -> None:
        self.scan_input.setText(code)
        self._on_scan_input_return_pressed()

    def _on_scan_input_return_pressed(self) -> None:
        code = self.scan_input.text().strip()
        self.scan_input.clear()
        if not code:
            return
        try:
            found = self.stock.find(code, limit=2)
        except Exception as exc:
            self.fail(exc)
            return
        if len(found) != 1:
            self.banner.show_message(self.t("error.unknown_code", key=code), "error")
            return
        item = found[0]
        self.banner.clear_message()
        for r, known in enumerate(self.items):
            if known.sku == item.sku:
                self.table.setItem(
                    r, 1, _cell(str(int(float(_text(self.table, r, 1) or "0")) + 1), True)
                )
                return
        self.items.append(item)
        r = self.table.rowCount()
        self.table.setRowCount(r + 1)
        name = _cell(f"{item.name_zh} {item.sku}")
        name.setFlags(Qt.ItemFlag.ItemIsEnabled)
        self.table.setItem(r, 0, name)
        self.table.setItem(r, 1, _cell("1", True))

    def _on_book_clicked(self) -> None:
        staff = self.staff()
        if staff is None or not self.items:
            return
        try:
            lines = [
                (it.sku, round(float(_text(self.table, r, 1) or "0") * 1000))
                for r, it in enumerate(self.items)
            ]
            self.stock.receive_goods(staff, lines, self.document.text())
        except ValueError:
            self.banner.show_message(self.t("error.bad_quantity"), "error")
            return
        except Exception as exc:
            self.fail(exc)
            return
        self.banner.show_message(self.t("receive.done", lines=len(lines)), "info")
        self.items = []
        self.table.setRowCount(0)
        self.document.clear()


class StockHub(QWidget):
    """The four stock screens behind tabs, with a way back to the checkout."""

    back_requested = Signal()

    def __init__(self, ctx: UiContext, stock: StockService, staff: StaffGetter) -> None:
        super().__init__()
        self.setObjectName("StockHub")
        self.ctx = ctx
        root = QVBoxLayout(self)
        tabs = QHBoxLayout()
        self.lookup = StockScreen(ctx, stock, staff)
        self.transfers = TransfersScreen(ctx, stock, staff)
        self.count = CountScreen(ctx, stock, staff)
        self.receive = ReceiveScreen(ctx, stock, staff)
        self.stack = QStackedWidget()
        self.tabs: dict[str, TouchButton] = {}
        for key, screen in (
            ("lookup", self.lookup),
            ("transfers", self.transfers),
            ("count", self.count),
            ("receive", self.receive),
        ):
            b = TouchButton()
            b.setObjectName(f"stock_tab_{key}")
            b.setCheckable(True)
            b.clicked.connect(lambda _=False, s=screen: self.show_screen(s))
            tabs.addWidget(b)
            self.tabs[key] = b
            self.stack.addWidget(screen)
        self.back_button = TouchButton()
        self.back_button.setObjectName("stock_back")
        self.back_button.clicked.connect(self.back_requested)
        tabs.addWidget(self.back_button)
        root.addLayout(tabs)
        root.addWidget(self.stack, 1)
        self.retranslate()

    def screens(self) -> tuple[_Screen, ...]:
        return (self.lookup, self.transfers, self.count, self.receive)

    def show_screen(self, screen: _Screen) -> None:
        self.stack.setCurrentWidget(screen)
        for b, s in zip(self.tabs.values(), self.screens(), strict=True):
            b.setChecked(s is screen)
        screen.refresh()

    def open(self) -> None:
        """Shown from the checkout: the look-up first, everything reloaded."""
        self.show_screen(self.lookup)
        self.lookup.query.setFocus()

    def handle_scan(self, code: str) -> None:
        current = self.stack.currentWidget()
        if isinstance(current, _Screen):
            current.handle_scan(code)

    def data_changed(self) -> None:
        """HQ's feed brought changes: reload the screen shown."""
        current = self.stack.currentWidget()
        if isinstance(current, _Screen) and self.isVisible():
            current.refresh()

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        for key, b in self.tabs.items():
            b.setText(t(f"stock.tab.{key}"))
        self.back_button.setText(t("stock.back"))
        for screen in self.screens():
            screen.retranslate()
