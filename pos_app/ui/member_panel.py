"""The member panel of the checkout screen and its dialogs: phone look-up, sign-up,
coupons and stored-value top-up.

A member is identified by scanning their app or card code (the checkout screen routes
such scans here), or by the phone number they give. The panel shows name, masked phone,
tier, points, stored value and usable coupons, and says plainly when HQ cannot be
reached: the sale still earns points, but nothing can be spent.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pos_app.domain.member import Coupon, Member, MemberSource
from pos_app.domain.tender import AppliedTender, Payment, PaymentError
from pos_app.ui.context import UiContext
from pos_app.ui.errors import error_text
from pos_app.ui.pinyin_keyboard import PinyinKeyboard
from pos_app.ui.widgets import (
    Banner,
    Keypad,
    TouchButton,
    apply_key,
    keep_words,
)
from sync_client.contract.money import MoneyParseError, format_yuan, parse_yuan

CONSENT_VERSION = "privacy-2026-11"
"""The privacy notice a customer agrees to at sign-up (``member.consent_text``)."""

TOPUP_AMOUNTS_FEN = (10000, 20000, 50000)


def _local(ctx: UiContext, when: object) -> str:
    from datetime import datetime

    from pos_app.services.receipts import LOCAL_TZ

    if not isinstance(when, datetime):
        return ""
    return when.astimezone(LOCAL_TZ).strftime("%Y-%m-%d")


class MemberPanel(QFrame):
    """Shows the sale's member, or how to identify one. Emits what the cashier asks for;
    the checkout screen carries it out."""

    identify_requested = Signal()
    clear_requested = Signal()
    coupon_requested = Signal()
    topup_requested = Signal()

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("member_panel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.ctx = ctx
        self.member: Member | None = None
        self.busy = False
        self.coupon_in_use: str | None = None
        layout = QVBoxLayout(self)
        self.title = QLabel()
        self.title.setObjectName("member_title")
        self.title.setProperty("role", "grand")
        layout.addWidget(self.title)
        grid = QGridLayout()
        self.labels: dict[str, QLabel] = {}
        self.values: dict[str, QLabel] = {}
        # Two figures a row: five rows under the title squeezed the checkout screen's
        # column into slivers on a 768-pixel-high panel.
        grid.setHorizontalSpacing(12)
        for n, key in enumerate(("phone", "tier", "points", "balance", "coupons")):
            label, value = QLabel(), QLabel()
            value.setObjectName(f"member_{key}")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            row, column = divmod(n, 2)
            grid.addWidget(label, row, column * 2)
            grid.addWidget(value, row, column * 2 + 1)
            self.labels[key], self.values[key] = label, value
        layout.addLayout(grid)
        self.note = QLabel()
        self.note.setObjectName("member_note")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        buttons = QHBoxLayout()
        self.identify = TouchButton()
        self.identify.setObjectName("member_identify")
        self.identify.clicked.connect(self.identify_requested)
        self.coupon = TouchButton()
        self.coupon.setObjectName("member_coupon")
        self.coupon.clicked.connect(self.coupon_requested)
        self.topup = TouchButton()
        self.topup.setObjectName("member_topup")
        self.topup.clicked.connect(self.topup_requested)
        self.clear = TouchButton(role="danger")
        self.clear.setObjectName("member_clear")
        self.clear.clicked.connect(self.clear_requested)
        for b in (self.identify, self.coupon, self.topup, self.clear):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.setVisible(ctx.members is not None)
        self.retranslate()

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        for key, label in self.labels.items():
            label.setText(t(f"member.{key}"))
        self.identify.setText(t("member.identify"))
        self.coupon.setText(t("member.use_coupon"))
        self.topup.setText(t("member.topup"))
        self.clear.setText(t("member.clear"))
        self.show_member(self.member, self.busy, self.coupon_in_use)

    def show_member(
        self, member: Member | None, busy: bool = False, coupon_in_use: str | None = None
    ) -> None:
        """Fills the panel (runs on the GUI thread). ``coupon_in_use``: the name of the
        coupon on the cart (the coupon button then takes it off)."""
        t = self.ctx.translator.t
        self.member, self.busy, self.coupon_in_use = member, busy, coupon_in_use
        has = member is not None
        for key in self.labels:
            self.labels[key].setVisible(has)
            self.values[key].setVisible(has)
        self.coupon.setVisible(has)
        self.topup.setVisible(has)
        self.clear.setVisible(has)
        self.identify.setVisible(not has)
        self.identify.setEnabled(not busy)
        if member is None:
            self.title.setText(t("member.looking_up") if busy else t("member.none"))
            self.note.setText(t("member.scan_hint"))
            self.note.show()
            return
        self.title.setText(member.name)
        self.values["phone"].setText(member.phone_masked)
        tier_key = f"member.tier.{member.tier}"
        self.values["tier"].setText(
            t(tier_key) if self.ctx.translator.has(tier_key) else member.tier
        )
        known = member.source in (MemberSource.HQ, MemberSource.CACHE, MemberSource.SIGNUP)
        self.values["points"].setText(str(member.points) if known else "—")
        self.values["balance"].setText(format_yuan(member.balance_fen) if known else "—")
        self.values["coupons"].setText(
            str(len(member.coupons)) if member.source is MemberSource.HQ else "—"
        )
        self.coupon.setText(t("member.remove_coupon") if coupon_in_use else t("member.use_coupon"))
        keep_words(self.coupon, self.topup, self.clear)
        self.coupon.setEnabled(
            not busy
            and (coupon_in_use is not None or bool(member.coupons))
            and member.source is MemberSource.HQ
        )
        self.topup.setEnabled(member.number is not None or member.signup_id is not None)
        note = {
            MemberSource.HQ: "",
            MemberSource.CACHE: t("member.note_cache"),
            MemberSource.CODE: t("member.note_code"),
            MemberSource.SIGNUP: t("member.note_signup"),
        }[member.source]
        if member.source is MemberSource.HQ and member.spend_until is None:
            note = t("member.note_phone")
        if busy:
            note = t("member.looking_up")
        self.note.setText(note)
        self.note.setVisible(bool(note))


class MemberPhoneDialog(QDialog):
    """The cashier types the number the customer gives: look the member up, or sign them
    up. ``phone`` holds the number; ``action`` is ``identify`` or ``sign_up``, with
    ``name`` and ``consent`` for a sign-up."""

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MemberPhoneDialog")
        t = ctx.translator.t
        self.ctx = ctx
        self.action = ""
        self.phone = ""
        self.name = ""
        self.setWindowTitle(t("member.phone_title"))
        layout = QVBoxLayout(self)
        self.phone_edit = QLineEdit()
        self.phone_edit.setObjectName("member_phone")
        self.phone_edit.setPlaceholderText(t("member.phone_placeholder"))
        self.phone_edit.setMaxLength(20)
        layout.addWidget(self.phone_edit)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("member_name")
        self.name_edit.setPlaceholderText(t("member.name_placeholder"))
        self.name_edit.setMaxLength(64)
        layout.addWidget(self.name_edit)
        self.consent = QCheckBox(t("member.consent_text"))
        self.consent.setObjectName("member_consent")
        layout.addWidget(self.consent)
        self.banner = Banner()
        layout.addWidget(self.banner)
        # The digits beside the letters, not under them: stacked, the dialog was taller
        # than a 768-pixel panel and its buttons could not be reached.
        keys = QHBoxLayout()
        keypad = Keypad()
        keypad.key_pressed.connect(self._on_keypad_key_pressed)
        keys.addWidget(keypad)
        # Names in hanzi through pinyin on a Chinese till; 英文 for a Latin name.
        zh = ctx.translator.language.startswith("zh")
        self.keyboard = PinyinKeyboard(ctx.translator, pinyin=zh)
        self.keyboard.key_pressed.connect(self._on_keyboard_key_pressed)
        keys.addWidget(self.keyboard, 1)
        layout.addLayout(keys)
        row = QHBoxLayout()
        cancel = TouchButton(t("common.cancel"))
        cancel.clicked.connect(self.reject)
        self.sign_up = TouchButton(t("member.sign_up"))
        self.sign_up.setObjectName("member_sign_up")
        self.sign_up.clicked.connect(self._on_sign_up_clicked)
        self.look_up = TouchButton(t("member.look_up"), role="primary")
        self.look_up.setObjectName("member_look_up")
        self.look_up.clicked.connect(self._on_look_up_clicked)
        for b in (cancel, self.sign_up, self.look_up):
            row.addWidget(b)
        layout.addLayout(row)
        self.phone_edit.setFocus()

    def _on_keypad_key_pressed(self, key: str) -> None:
        self.phone_edit.setText(apply_key(self.phone_edit.text(), key, max_len=20))

    def _on_keyboard_key_pressed(self, key: str) -> None:
        self.name_edit.setText(apply_key(self.name_edit.text(), key, max_len=64))

    def _digits(self) -> str | None:
        phone = self.phone_edit.text().strip()
        if sum(c.isdigit() for c in phone) < 11:
            self.banner.show_message(self.ctx.translator.t("error.bad_phone"), "error")
            return None
        return phone

    def _on_look_up_clicked(self) -> None:
        phone = self._digits()
        if phone is not None:
            self.phone, self.action = phone, "identify"
            self.accept()

    def _on_sign_up_clicked(self) -> None:
        t = self.ctx.translator.t
        phone = self._digits()
        if phone is None:
            return
        name = self.name_edit.text().strip()
        if not name:
            self.banner.show_message(t("member.name_required"), "error")
            return
        if not self.consent.isChecked():
            self.banner.show_message(t("error.consent_required"), "error")
            return
        self.phone, self.name, self.action = phone, name, "sign_up"
        self.accept()


class CouponDialog(QDialog):
    """Lists the member's coupons; ``coupon`` is the one chosen. Coupons the sale does
    not reach yet are shown but cannot be chosen."""

    def __init__(
        self, ctx: UiContext, member: Member, spend_fen: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("CouponDialog")
        t = ctx.translator.t
        self.coupon: Coupon | None = None
        self._coupons = member.coupons
        self.setWindowTitle(t("member.coupons_title"))
        layout = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setObjectName("coupon_list")
        now = ctx.checkout.now()
        for c in member.coupons:
            item = QListWidgetItem(
                t(
                    "member.coupon_row",
                    name=c.name,
                    value=format_yuan(c.value_fen),
                    min=format_yuan(c.min_spend_fen),
                    until=_local(ctx, c.valid_until),
                )
            )
            if not c.usable(now, spend_fen):
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.list.addItem(item)
        layout.addWidget(self.list)
        row = QHBoxLayout()
        cancel = TouchButton(t("common.cancel"))
        cancel.clicked.connect(self.reject)
        self.use = TouchButton(t("member.use_coupon"), role="primary")
        self.use.setObjectName("coupon_use")
        self.use.clicked.connect(self._on_use_clicked)
        row.addWidget(cancel)
        row.addWidget(self.use)
        layout.addLayout(row)

    def _on_use_clicked(self) -> None:
        row = self.list.currentRow()
        item = self.list.item(row) if row >= 0 else None
        if item is None or not item.flags() & Qt.ItemFlag.ItemIsEnabled:
            return
        self.coupon = self._coupons[row]
        self.accept()


class TopupDialog(QDialog):
    """Stored value bought with cash or card: choose or type the amount, take payment.
    ``tenders`` holds the payment once accepted."""

    def __init__(self, ctx: UiContext, member: Member, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("TopupDialog")
        t = ctx.translator.t
        self.ctx = ctx
        self.amount_fen = 0
        self.tenders: list[AppliedTender] = []
        self.setWindowTitle(t("member.topup_title", name=member.name))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(t("member.topup_title", name=member.label)))
        self.amount = QLineEdit()
        self.amount.setObjectName("topup_amount")
        self.amount.setPlaceholderText(t("member.topup_amount"))
        quick = QHBoxLayout()
        for fen in TOPUP_AMOUNTS_FEN:
            b = TouchButton(format_yuan(fen).replace(".00", ""), role="quick")
            b.setObjectName(f"topup_{fen // 100}")
            b.clicked.connect(lambda _=False, f=fen: self.amount.setText(f"{f // 100}"))
            quick.addWidget(b)
        layout.addLayout(quick)
        layout.addWidget(self.amount)
        self.tendered = QLineEdit()
        self.tendered.setObjectName("topup_tendered")
        self.tendered.setPlaceholderText(t("member.topup_tendered"))
        layout.addWidget(self.tendered)
        keypad = Keypad(decimal=True)
        keypad.key_pressed.connect(self._on_keypad_key_pressed)
        layout.addWidget(keypad)
        self.banner = Banner()
        layout.addWidget(self.banner)
        row = QHBoxLayout()
        cancel = TouchButton(t("common.cancel"))
        cancel.clicked.connect(self.reject)
        self.cash = TouchButton(t("tender.cash"), role="primary")
        self.cash.setObjectName("topup_cash")
        self.cash.clicked.connect(lambda: self._take("cash"))
        self.card = TouchButton(t("tender.card"), role="primary")
        self.card.setObjectName("topup_card")
        self.card.clicked.connect(lambda: self._take("card"))
        for b in (cancel, self.cash, self.card):
            row.addWidget(b)
        layout.addLayout(row)

    def _on_keypad_key_pressed(self, key: str) -> None:
        field = self.tendered if self.focusWidget() is self.tendered else self.amount
        field.setText(apply_key(field.text(), key))

    def _take(self, kind: str) -> None:
        t = self.ctx.translator.t
        try:
            amount = parse_yuan(self.amount.text().strip() or "0")
            tendered_text = self.tendered.text().strip()
            tendered = parse_yuan(tendered_text) if tendered_text else amount
        except MoneyParseError:
            self.banner.show_message(t("error.bad_amount"), "error")
            return
        if amount <= 0:
            self.banner.show_message(t("error.bad_amount"), "error")
            return
        payment = Payment(amount)
        try:
            if kind == "cash":
                payment.add_cash(tendered)
            else:
                payment.add_card(amount)
        except PaymentError as exc:
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        if not payment.is_complete:
            self.banner.show_message(
                t("error.not_paid", remaining_fen=payment.remaining_fen), "error"
            )
            return
        self.amount_fen, self.tenders = amount, list(payment.tenders)
        self.accept()
