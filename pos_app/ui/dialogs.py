"""Modal touch dialogs: supervisor approval, discount, weight entry, product search."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pos_app.domain.cart import MILLI, Cart, CartError, Discount, zhe_discount, zhe_text
from pos_app.domain.money import mul_div_round
from pos_app.services.auth import StaffMember
from pos_app.services.catalog import SearchHit
from pos_app.services.errors import SignInError
from pos_app.ui.context import UiContext
from pos_app.ui.errors import error_text
from pos_app.ui.pinyin_keyboard import PinyinKeyboard
from pos_app.ui.widgets import Banner, Keypad, TouchButton, apply_key
from sync_client.contract.money import MoneyParseError, format_yuan, parse_yuan


class ApprovalDialog(QDialog):
    """A supervisor types staff number and PIN to approve ``action``."""

    def __init__(
        self,
        ctx: UiContext,
        action: str,
        requested_by: str,
        reason: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ApprovalDialog")
        self.ctx, self.action, self.requested_by = ctx, action, requested_by
        self.approver: StaffMember | None = None
        t = ctx.translator.t
        self.setWindowTitle(t("approval.title"))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(reason))
        self.number = QLineEdit()
        self.number.setObjectName("approver_number")
        self.number.setPlaceholderText(t("login.staff_number"))
        self.pin = QLineEdit()
        self.pin.setObjectName("approver_pin")
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setPlaceholderText(t("login.pin"))
        layout.addWidget(self.number)
        layout.addWidget(self.pin)
        self.banner = Banner()
        layout.addWidget(self.banner)
        keypad = Keypad()
        keypad.key_pressed.connect(self._on_keypad_key_pressed)
        layout.addWidget(keypad)
        row = QHBoxLayout()
        cancel = TouchButton(t("common.cancel"))
        cancel.clicked.connect(self.reject)
        self.ok = TouchButton(t("approval.approve"), role="primary")
        self.ok.setObjectName("approve")
        self.ok.clicked.connect(self._on_ok_clicked)
        row.addWidget(cancel)
        row.addWidget(self.ok)
        layout.addLayout(row)
        self.number.setFocus()

    def _on_keypad_key_pressed(self, key: str) -> None:
        field = self.pin if self.focusWidget() is self.pin else self.number
        field.setText(apply_key(field.text(), key, max_len=8))

    def _on_ok_clicked(self) -> None:
        try:
            self.approver = self.ctx.auth.approve(
                self.number.text(),
                self.pin.text(),
                action=self.action,
                requested_by=self.requested_by,
            )
        except SignInError as exc:
            self.pin.clear()
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        self.accept()


class DiscountDialog(QDialog):
    """A discount in 折 as cashiers say it (8折, 85折, 9.5折) or an amount off; ``discount``
    holds the choice. With ``base_fen`` (what the discount applies to) every rate shows
    the amount it takes off and the price after it."""

    # The rates offered as one tap, as percent off: 9.5折 9折 8.5折 8折 7折 5折.
    PERCENTS = (5, 10, 15, 20, 30, 50)

    def __init__(
        self,
        ctx: UiContext,
        title: str,
        parent: QWidget | None = None,
        *,
        base_fen: int | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("DiscountDialog")
        t = ctx.translator.t
        self._t = t
        self.base_fen = base_fen
        self.discount: Discount | None = None
        self.removed = False
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        heading = title
        if base_fen is not None:
            heading = t("discount.base", title=title, amount=format_yuan(base_fen))
        layout.addWidget(QLabel(heading))
        grid = QGridLayout()
        for i, pct in enumerate(self.PERCENTS):
            discount = Discount(percent_bp=pct * 100)
            b = TouchButton(self._rate_text(discount))
            b.setObjectName(f"pct_{pct}")
            b.clicked.connect(lambda _=False, d=discount: self._choose(d))
            grid.addWidget(b, i // 3, i % 3)
        layout.addLayout(grid)
        self.amount = QLineEdit()
        self.amount.setObjectName("discount_amount")
        self.amount.setPlaceholderText(t("discount.amount_placeholder"))
        self.amount.textChanged.connect(self._on_amount_text_changed)
        layout.addWidget(self.amount)
        self.preview = QLabel()
        self.preview.setObjectName("discount_preview")
        layout.addWidget(self.preview)
        self.banner = Banner()
        layout.addWidget(self.banner)
        self.keypad = Keypad(decimal=True)
        self.keypad.key_pressed.connect(
            lambda k: self.amount.setText(apply_key(self.amount.text(), k))
        )
        layout.addWidget(self.keypad)
        row = QHBoxLayout()
        for name, text, slot in (
            ("discount_remove", t("discount.remove"), self._on_remove_clicked),
            ("discount_cancel", t("common.cancel"), self.reject),
            ("discount_apply_zhe", t("discount.apply_zhe"), self._on_apply_zhe_clicked),
            ("discount_apply", t("discount.apply_amount"), self._on_apply_clicked),
        ):
            b = TouchButton(text, role="primary" if name.startswith("discount_apply") else "")
            b.setObjectName(name)
            b.clicked.connect(slot)
            row.addWidget(b)
        layout.addLayout(row)

    def _rate_text(self, discount: Discount) -> str:
        assert discount.percent_bp is not None
        rate = self._t("discount.zhe", rate=zhe_text(discount.percent_bp))
        if self.base_fen is None:
            return rate
        return self._t("discount.zhe_off", rate=rate, off=format_yuan(discount.on(self.base_fen)))

    def _on_amount_text_changed(self, text: str) -> None:
        """Shows what the typed number takes off, read as 折 and as yuan."""
        self.banner.clear_message()
        if not text or self.base_fen is None:
            self.preview.clear()
            return
        parts = []
        try:
            zhe = zhe_discount(text)
        except CartError:
            pass
        else:
            parts.append(self._preview(zhe))
        try:
            fen = parse_yuan(text)
        except MoneyParseError:
            fen = 0
        if fen > 0:
            parts.append(self._preview(Discount(amount_fen=fen)))
        self.preview.setText(self._t("discount.or").join(parts))

    def _preview(self, discount: Discount) -> str:
        assert self.base_fen is not None
        off = discount.on(self.base_fen)
        what = (
            self._t("discount.zhe", rate=zhe_text(discount.percent_bp))
            if discount.percent_bp is not None
            else self._t("discount.amount_off")
        )
        return self._t(
            "discount.preview",
            what=what,
            off=format_yuan(off),
            after=format_yuan(self.base_fen - off),
        )

    def _choose(self, discount: Discount) -> None:
        self.discount = discount
        self.accept()

    def _on_apply_zhe_clicked(self) -> None:
        try:
            discount = zhe_discount(self.amount.text())
        except CartError:
            self.banner.show_message(self._t("discount.bad_zhe"), "error")
            return
        self._choose(discount)

    def _on_apply_clicked(self) -> None:
        try:
            fen = parse_yuan(self.amount.text())
            if fen <= 0:
                raise MoneyParseError("zero")
        except MoneyParseError:
            self.banner.show_message(self._t("error.bad_amount"), "error")
            return
        self._choose(Discount(amount_fen=fen))

    def _on_remove_clicked(self) -> None:
        self.removed = True
        self.accept()


class WeightDialog(QDialog):
    """Keys in a weight in kg for a weighed item chosen without a scale label."""

    def __init__(
        self, ctx: UiContext, name: str, unit_price_fen: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("WeightDialog")
        t = ctx.translator.t
        self.qty_milli: int | None = None
        self.setWindowTitle(t("weight.title"))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"{name}  {format_yuan(unit_price_fen)}/kg"))
        self.field = QLineEdit()
        self.field.setObjectName("weight_kg")
        self.field.setPlaceholderText(t("weight.placeholder"))
        layout.addWidget(self.field)
        self.banner = Banner()
        layout.addWidget(self.banner)
        keypad = Keypad(decimal=True)
        keypad.key_pressed.connect(lambda k: self.field.setText(apply_key(self.field.text(), k)))
        layout.addWidget(keypad)
        ok = TouchButton(t("common.ok"), role="primary")
        ok.setObjectName("weight_ok")
        ok.clicked.connect(self._on_ok_clicked)
        layout.addWidget(ok)
        self._t = t

    def _on_ok_clicked(self) -> None:
        try:
            kg = Decimal(self.field.text())
            grams = int(kg * MILLI)
            if kg <= 0 or kg * MILLI != grams or grams > 99_999:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            self.banner.show_message(self._t("error.bad_weight"), "error")
            return
        self.qty_milli = grams
        self.accept()


class QuantityDialog(QDialog):
    """Keys in the selected line's quantity: whole pieces for a counted item, kg (to the
    gram) for a weighed one. ``qty_milli`` holds the answer (pieces × 1000 or grams); the
    new line amount is shown as the digits are tapped."""

    MAX_PIECES = Cart.MAX_QTY_MILLI // MILLI

    def __init__(
        self,
        ctx: UiContext,
        name: str,
        unit_price_fen: int,
        qty_milli: int,
        *,
        weighed: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("QuantityDialog")
        t = ctx.translator.t
        self._t = t
        self.weighed = weighed
        self.unit_price_fen = unit_price_fen
        self.qty_milli: int | None = None
        self.setWindowTitle(t("quantity.title"))
        layout = QVBoxLayout(self)
        unit = t("quantity.per_kg") if weighed else t("quantity.per_piece")
        self.item = QLabel(f"{name}  {format_yuan(unit_price_fen)}{unit}")
        layout.addWidget(self.item)
        self.field = QLineEdit()
        self.field.setObjectName("quantity_value")
        self.field.setReadOnly(True)
        self.field.setPlaceholderText(
            t("quantity.placeholder_kg") if weighed else t("quantity.placeholder_pieces")
        )
        self.field.textChanged.connect(self._on_field_text_changed)
        layout.addWidget(self.field)
        self.amount = QLabel()
        self.amount.setObjectName("quantity_amount")
        layout.addWidget(self.amount)
        self.banner = Banner()
        layout.addWidget(self.banner)
        self.keypad = Keypad(decimal=weighed)
        self.keypad.key_pressed.connect(self._on_keypad_key_pressed)
        layout.addWidget(self.keypad)
        row = QHBoxLayout()
        cancel = TouchButton(t("common.cancel"))
        cancel.setObjectName("quantity_cancel")
        cancel.clicked.connect(self.reject)
        self.ok = TouchButton(t("common.ok"), role="primary")
        self.ok.setObjectName("quantity_ok")
        self.ok.clicked.connect(self._on_ok_clicked)
        row.addWidget(cancel)
        row.addWidget(self.ok)
        layout.addLayout(row)
        self._current = qty_milli
        self._on_field_text_changed("")

    def _on_keypad_key_pressed(self, key: str) -> None:
        self.banner.clear_message()
        self.field.setText(apply_key(self.field.text(), key, max_len=6 if self.weighed else 4))

    def _parsed(self) -> int | None:
        """The keyed quantity in milli units, or None when it is not one."""
        text = self.field.text()
        if not text:
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            return None
        milli = value * MILLI
        if value <= 0 or milli != int(milli):
            return None
        if not self.weighed and value != int(value):
            return None
        return int(milli)

    def _on_field_text_changed(self, _text: str) -> None:
        qty = self._parsed()
        shown = qty if qty is not None else self._current
        amount = mul_div_round(self.unit_price_fen, shown, MILLI)
        self.amount.setText(self._t("quantity.amount", amount=format_yuan(amount)))

    def _on_ok_clicked(self) -> None:
        qty = self._parsed()
        too_big = self.weighed and qty is not None and qty > 99_999
        if qty is None or too_big or qty > Cart.MAX_QTY_MILLI:
            key = "quantity.bad_weight" if self.weighed else "quantity.bad_pieces"
            self.banner.show_message(self._t(key, max=self.MAX_PIECES), "error")
            return
        self.qty_milli = qty
        self.accept()


class SearchDialog(QDialog):
    """Search the catalogue by pinyin initials, name, SKU or barcode on a touch keyboard.

    Emits ``item_chosen(item_id)``; the dialog stays open so several items can be added.
    """

    item_chosen = Signal(int)

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SearchDialog")
        self.ctx = ctx
        t = ctx.translator.t
        self.setWindowTitle(t("search.title"))
        self.resize(900, 640)
        layout = QVBoxLayout(self)
        self.query = QLineEdit()
        self.query.setObjectName("search_query")
        self.query.setPlaceholderText(t("search.placeholder"))
        self.query.textChanged.connect(self._on_query_text_changed)
        layout.addWidget(self.query)
        self.results = QListWidget()
        self.results.setObjectName("search_results")
        self.results.itemClicked.connect(self._on_results_item_clicked)
        layout.addWidget(self.results, 1)
        # Letters first: pinyin initials find most items; 拼音 types a name in hanzi.
        self.keyboard = PinyinKeyboard(ctx.translator, pinyin=False)
        self.keyboard.key_pressed.connect(self._on_keyboard_key_pressed)
        layout.addWidget(self.keyboard)
        close = TouchButton(t("common.close"))
        close.setObjectName("search_close")
        close.clicked.connect(self.accept)
        layout.addWidget(close)
        self.hits: list[SearchHit] = []

    def _on_keyboard_key_pressed(self, key: str) -> None:
        text = self.query.text()
        if key == "space":
            text += " "
        else:
            text = apply_key(text, key, max_len=40)
        self.query.setText(text)

    def _on_query_text_changed(self, text: str) -> None:
        self.hits = self.ctx.catalog.search(text) if text.strip() else []
        self.results.clear()
        zh = self.ctx.translator.language.startswith("zh")
        t = self.ctx.translator.t
        for hit in self.hits:
            row = hit.row
            name = row.name_zh if zh else (row.name_en or row.name_zh)
            price = (
                format_yuan(row.price_fen) if row.price_fen is not None else t("search.no_price")
            )
            unit = "/kg" if row.unit == "kg" else ""
            stock = ""
            if hit.stock_milli is not None:
                qty = hit.stock_milli / MILLI
                stock = "  " + t("search.stock", qty=f"{qty:g}")
            item = QListWidgetItem(f"{name}    {price}{unit}    {row.sku}{stock}")
            item.setData(Qt.ItemDataRole.UserRole, row.item_id)
            if hit.item is None:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.results.addItem(item)

    def _on_results_item_clicked(self, item: QListWidgetItem) -> None:
        self.item_chosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))
