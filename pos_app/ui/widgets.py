"""Touch widgets shared by the screens: big buttons, keypads, an on-screen keyboard."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QSizePolicy, QWidget

MIN_TOUCH = 56  # px: a fingertip on a 15" 1024x768 panel


class TouchButton(QPushButton):
    def __init__(self, text: str = "", parent: QWidget | None = None, *, role: str = "") -> None:
        super().__init__(text, parent)
        self.setMinimumHeight(MIN_TOUCH)
        self.setMinimumWidth(MIN_TOUCH)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        if role:
            self.setProperty("role", role)


def keep_words(*buttons: QPushButton) -> None:
    """Each button at least as wide as its text (call again when the text changes): on a
    narrow panel the layout then shrinks the stretchable parts, never a button's words."""
    for button in buttons:
        button.setMinimumWidth(max(MIN_TOUCH, button.sizeHint().width()))


class Keypad(QWidget):
    """Digits, a decimal point (optional), backspace and clear; emits ``key_pressed``.

    Keys: ``"0"``-``"9"``, ``"."``, ``"00"``, ``"back"``, ``"clear"``.
    """

    key_pressed = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, decimal: bool = False) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setSpacing(6)
        grid.setContentsMargins(0, 0, 0, 0)
        keys = ["7", "8", "9", "4", "5", "6", "1", "2", "3", "." if decimal else "00", "0", "back"]
        self.buttons: dict[str, TouchButton] = {}
        for i, key in enumerate(keys):
            button = TouchButton("⌫" if key == "back" else key, self, role="key")
            button.setObjectName(f"key_{key}")
            button.clicked.connect(lambda _=False, k=key: self.key_pressed.emit(k))
            grid.addWidget(button, i // 3, i % 3)
            self.buttons[key] = button
        # C is a column beside the digits, not a fifth row: four rows of keys leave the
        # payment and count screens room on a 768-pixel-high panel.
        clear = TouchButton("C", self, role="key")
        clear.setObjectName("key_clear")
        clear.clicked.connect(lambda: self.key_pressed.emit("clear"))
        grid.addWidget(clear, 0, 3, 4, 1)
        self.buttons["clear"] = clear


def apply_key(current: str, key: str, *, max_len: int = 12) -> str:
    """The field text after a keypad key."""
    if key == "back":
        return current[:-1]
    if key == "clear":
        return ""
    if key == "." and "." in current:
        return current
    if len(current) + len(key) > max_len:
        return current
    return current + key


class OnScreenKeyboard(QWidget):
    """Letters and digits for pinyin initials, codes and English names."""

    key_pressed = Signal(str)

    ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setSpacing(4)
        grid.setContentsMargins(0, 0, 0, 0)
        self.buttons: dict[str, TouchButton] = {}
        for r, row in enumerate(self.ROWS):
            for c, ch in enumerate(row):
                button = TouchButton(ch.upper(), self, role="key")
                button.setObjectName(f"osk_{ch}")
                button.clicked.connect(lambda _=False, k=ch: self.key_pressed.emit(k))
                grid.addWidget(button, r, c * 2 + (r - 1 if r > 1 else 0), 1, 2)
                self.buttons[ch] = button
        for col, (key, label) in enumerate((("space", "␣"), ("back", "⌫"), ("clear", "C"))):
            button = TouchButton(label, self, role="key")
            button.setObjectName(f"osk_{key}")
            button.clicked.connect(lambda _=False, k=key: self.key_pressed.emit(k))
            grid.addWidget(button, 4, 4 + col * 4, 1, 4)
            self.buttons[key] = button


class Banner(QLabel):
    """A one-line message strip: ``kind`` is ``info``, ``warn`` or ``error`` (QSS styled)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.hide()

    def show_message(self, text: str, kind: str = "info") -> None:
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        self.setText(text)
        self.show()

    def clear_message(self) -> None:
        self.setText("")
        self.hide()
