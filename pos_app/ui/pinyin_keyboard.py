"""The on-screen keyboard with Chinese entry: pinyin letters in, hanzi candidates out.

:class:`PinyinKeyboard` wraps :class:`OnScreenKeyboard` with a mode key (拼音 / ABC) and
a candidate bar. In pinyin mode the letters typed wait in the bar ("wangfang") with the
hanzi and words they read as; tapping one sends it on as ``key_pressed`` (as if it were
one key) and leaves the letters not yet converted ("fang") for the next pick. Space picks
the first candidate; backspace and clear work on the letters first. In ABC mode every key
goes straight through, as on the plain keyboard (pinyin initials for the catalogue).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from pos_app.domain.pinyin_input import Candidate, PinyinTable
from pos_app.i18n import Translator
from pos_app.ui.widgets import MIN_TOUCH, OnScreenKeyboard, TouchButton

TABLE = Path(__file__).resolve().parents[2] / "resources" / "ime" / "pinyin.txt"
PAGE = 7  # candidates shown at once on a 1024 px wide dialog


@cache
def pinyin_table() -> PinyinTable:
    """The table shipped in resources (read once, on first use)."""
    return PinyinTable(TABLE.read_text(encoding="utf-8"))


class PinyinKeyboard(QWidget):
    """Letters, digits and a pinyin mode with a candidate bar; emits ``key_pressed`` like
    :class:`OnScreenKeyboard` (a hanzi or word is sent as one key)."""

    key_pressed = Signal(str)
    mode_changed = Signal(bool)  # True: pinyin

    def __init__(
        self, translator: Translator, parent: QWidget | None = None, *, pinyin: bool = True
    ) -> None:
        super().__init__(parent)
        self.t = translator.t
        self.letters = ""
        self.pinyin = pinyin
        self.page = 0
        self._candidates: list[Candidate] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        bar = QHBoxLayout()
        bar.setSpacing(4)
        self.composing = QLabel()
        self.composing.setObjectName("osk_composing")
        self.composing.setMinimumWidth(110)
        bar.addWidget(self.composing)
        self.prev_page = TouchButton("◀", role="key")
        self.prev_page.setObjectName("osk_prev")
        self.prev_page.clicked.connect(lambda: self._turn(-1))
        bar.addWidget(self.prev_page)
        self.candidate_buttons: list[TouchButton] = []
        for i in range(PAGE):
            button = TouchButton("", role="key")
            button.setObjectName(f"osk_candidate_{i}")
            # A candidate is one to four hanzi: a fingertip wide is enough, so the bar
            # shares what the dialog has instead of asking the style's 80 px per button.
            policy = button.sizePolicy()
            policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
            button.setSizePolicy(policy)
            button.setMinimumWidth(MIN_TOUCH)
            button.clicked.connect(lambda _=False, n=i: self.pick(self.page * PAGE + n))
            bar.addWidget(button, 1)
            self.candidate_buttons.append(button)
        self.next_page = TouchButton("▶", role="key")
        self.next_page.setObjectName("osk_next")
        self.next_page.clicked.connect(lambda: self._turn(1))
        bar.addWidget(self.next_page)
        layout.addLayout(bar)
        self.keys = OnScreenKeyboard()
        self.keys.key_pressed.connect(self._on_key)
        self.mode = TouchButton("", role="key")
        self.mode.setObjectName("osk_mode")
        self.mode.clicked.connect(lambda: self.set_pinyin(not self.pinyin))
        grid = self.keys.layout()
        assert isinstance(grid, QGridLayout)
        grid.addWidget(self.mode, 4, 0, 1, 4)
        layout.addWidget(self.keys)
        self.buttons = {**self.keys.buttons, "mode": self.mode}
        self.set_pinyin(pinyin)

    def set_pinyin(self, on: bool) -> None:
        """Pinyin mode (letters become hanzi) or ABC mode (letters go through)."""
        if self.letters and not on:
            # Letters not converted yet are kept as typed.
            self.key_pressed.emit(self.letters)
        self.pinyin = on
        self.letters = ""
        self.mode.setText(self.t("osk.pinyin") if on else self.t("osk.letters"))
        self._refresh()
        self.mode_changed.emit(on)

    def candidates(self) -> list[str]:
        """Every candidate for the letters typed (all pages)."""
        return [c.text for c in self._candidates]

    def shown(self) -> list[str]:
        """The candidates on the bar now."""
        return [b.text() for b in self.candidate_buttons if b.isEnabled() and b.text()]

    def pick(self, index: int) -> None:
        """Sends candidate ``index`` on; what it does not cover stays to be converted."""
        if not 0 <= index < len(self._candidates):
            return
        chosen = self._candidates[index]
        self.letters = pinyin_table().remaining(self.letters, chosen)
        self.key_pressed.emit(chosen.text)
        self._refresh()

    def _on_key(self, key: str) -> None:
        if not self.pinyin:
            self.key_pressed.emit(key)
            return
        if len(key) == 1 and key.isascii() and key.isalpha():
            if len(self.letters) < 24:
                self.letters += key
        elif key == "back" and self.letters:
            self.letters = self.letters[:-1]
        elif key == "space" and self.letters:
            if self._candidates:
                self.pick(0)
                return
            self.key_pressed.emit(self.letters)
            self.letters = ""
        elif key == "clear":
            self.letters = ""
            self.key_pressed.emit(key)
        else:
            self.key_pressed.emit(key)
        self._refresh()

    def _turn(self, step: int) -> None:
        last = max(0, (len(self._candidates) - 1) // PAGE)
        self.page = min(last, max(0, self.page + step))
        self._show_page()

    def _refresh(self) -> None:
        self._candidates = pinyin_table().candidates(self.letters) if self.letters else []
        self.page = 0
        self.composing.setText(" ".join(pinyin_table().segment(self.letters)))
        self._show_page()

    def _show_page(self) -> None:
        start = self.page * PAGE
        for i, button in enumerate(self.candidate_buttons):
            n = start + i
            text = self._candidates[n].text if n < len(self._candidates) else ""
            button.setText(text)
            button.setEnabled(bool(text))
        self.prev_page.setEnabled(self.page > 0)
        self.next_page.setEnabled(start + PAGE < len(self._candidates))
        for widget in (self.composing, self.prev_page, self.next_page, *self.candidate_buttons):
            widget.setVisible(self.pinyin)
        self.composing.setAlignment(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)
