"""LoginScreen: staff number and PIN on a keypad."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from pos_app.services.auth import StaffMember
from pos_app.services.errors import SignInError
from pos_app.ui.context import UiContext
from pos_app.ui.errors import error_text
from pos_app.ui.widgets import Banner, Keypad, TouchButton, apply_key


class LoginScreen(QWidget):
    signed_in = Signal(object)  # StaffMember

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("LoginScreen")
        self.ctx = ctx
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        col = QVBoxLayout()
        outer.addLayout(col, 2)
        outer.addStretch(1)
        self.title = QLabel()
        self.title.setObjectName("login_title")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        col.addWidget(self.title)
        self.store = QLabel()
        self.store.setAlignment(Qt.AlignmentFlag.AlignCenter)
        col.addWidget(self.store)
        self.number = QLineEdit()
        self.number.setObjectName("staff_number")
        self.number.setMaxLength(16)
        self.pin = QLineEdit()
        self.pin.setObjectName("pin")
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setMaxLength(8)
        self.number.returnPressed.connect(self.pin.setFocus)
        self.pin.returnPressed.connect(self._on_sign_in_clicked)
        col.addWidget(self.number)
        col.addWidget(self.pin)
        self.banner = Banner()
        col.addWidget(self.banner)
        self.keypad = Keypad()
        self.keypad.key_pressed.connect(self._on_keypad_key_pressed)
        col.addWidget(self.keypad)
        self.sign_in_button = TouchButton(role="primary")
        self.sign_in_button.setObjectName("sign_in")
        self.sign_in_button.clicked.connect(self._on_sign_in_clicked)
        col.addWidget(self.sign_in_button)
        self.retranslate()

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        self.title.setText(t("login.title"))
        self.store.setText(
            self.ctx.store_name(self.ctx.translator.language) + "  ·  " + self.ctx.terminal_id
        )
        self.number.setPlaceholderText(t("login.staff_number"))
        self.pin.setPlaceholderText(t("login.pin"))
        self.sign_in_button.setText(t("login.sign_in"))
        self.banner.clear_message()

    def reset(self) -> None:
        self.number.clear()
        self.pin.clear()
        self.banner.clear_message()
        self.number.setFocus()

    def _on_keypad_key_pressed(self, key: str) -> None:
        field = self.pin if self.focusWidget() is self.pin else self.number
        field.setText(apply_key(field.text(), key, max_len=field.maxLength()))

    def _on_sign_in_clicked(self) -> None:
        if not self.number.text().strip():
            self.number.setFocus()
            return
        try:
            member: StaffMember = self.ctx.auth.sign_in(self.number.text(), self.pin.text())
        except SignInError as exc:
            self.pin.clear()
            self.pin.setFocus()
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return
        self.reset()
        self.signed_in.emit(member)
