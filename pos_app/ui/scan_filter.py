"""Keyboard-wedge scanners: telling a scan from typing by inter-key timing.

A wedge scanner types a whole code within a few milliseconds per key and ends it with
Enter; a person needs 80 ms or more per key. The application-wide event filter holds
printable keys back for at most ``threshold`` seconds: when the next key comes sooner the
burst goes on; when Enter ends a fast burst of at least ``min_length`` characters it is a
scan, emitted once and never typed into the focused field; otherwise the held keys are
replayed, unchanged, to the widget that had focus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QWidget

_ENTER = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


@dataclass
class ScanTimingClassifier:
    """The timing rule alone, with an injectable clock (seconds, monotonic).

    ``feed(char)`` returns ``"hold"``; ``end()`` (Enter) returns the scanned text or
    ``None`` when the burst was typing. ``expired()`` tells whether the held keys have
    waited longer than the threshold and must go back to the field.
    """

    clock: Callable[[], float]
    threshold: float = 0.035
    min_length: int = 4
    prefix: str = ""
    suffix: str = ""
    _chars: list[str] = field(default_factory=list)
    _last: float | None = None
    _fast: bool = True

    def feed(self, char: str) -> None:
        now = self.clock()
        if self._last is not None and now - self._last > self.threshold:
            self._fast = False
        self._chars.append(char)
        self._last = now

    def expired(self) -> bool:
        return self._last is not None and self.clock() - self._last > self.threshold

    @property
    def pending(self) -> str:
        return "".join(self._chars)

    def end(self) -> str | None:
        """Enter pressed: the scan's text if the burst was a scan, else ``None``."""
        text, fast = self.pending, self._fast
        if self._last is not None and self.clock() - self._last > self.threshold:
            fast = False
        if not fast or len(text) < self.min_length:
            return None
        if self.prefix:
            if not text.startswith(self.prefix):
                return None
            text = text[len(self.prefix) :]
        if self.suffix:
            if not text.endswith(self.suffix):
                return None
            text = text[: -len(self.suffix)]
        return text

    def reset(self) -> list[str]:
        chars, self._chars, self._last, self._fast = self._chars, [], None, True
        return chars


class ScanEventFilter(QObject):
    """Installed on the QApplication; emits ``scanned(text)`` for every scan.

    Runs on the GUI thread. Keys typed slower than the threshold reach their widget
    ``threshold`` seconds late at most, unchanged.
    """

    scanned = Signal(str)

    def __init__(self, classifier: ScanTimingClassifier, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.classifier = classifier
        self._held: list[tuple[QWidget | None, QKeyEvent]] = []
        self._replaying = False
        self.enabled = True
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if self._replaying or not self.enabled:
            return False
        etype = event.type()
        if etype not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return False
        if not isinstance(watched, QWidget):
            # Key events reach the QWindow before the widget; act once, on the widget.
            return False
        # A key the filter lets through may propagate to parent widgets and be seen here
        # again; with nothing held that second look passes it on unchanged.
        assert isinstance(event, QKeyEvent)
        if etype == QEvent.Type.KeyRelease:
            return bool(self._held) or (event.key() in _ENTER and self._swallow_release)
        return self._on_key_press(watched, event)

    _swallow_release = False

    def _on_key_press(self, target: QWidget, event: QKeyEvent) -> bool:
        self._swallow_release = False
        if event.key() in _ENTER:
            if not self._held:
                return False
            text = self.classifier.end()
            if text is None:
                self._replay()
                return False
            self.classifier.reset()
            self._held.clear()
            self._timer.stop()
            self._swallow_release = True
            self.scanned.emit(text)
            return True
        char = event.text()
        modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if (
            len(char) != 1
            or not char.isprintable()
            or modifiers not in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier)
        ):
            self._replay()
            return False
        if self._held and self.classifier.expired():
            self._replay()
        self.classifier.feed(char)
        copy = QKeyEvent(
            event.type(),
            event.key(),
            event.modifiers(),
            event.text(),
            event.isAutoRepeat(),
            event.count(),
        )
        self._held.append((target, copy))
        self._timer.start(max(1, int(self.classifier.threshold * 1000) + 5))
        return True

    def _on_timer_timeout(self) -> None:
        if self._held and self.classifier.expired():
            self._replay()
        elif self._held:
            self._timer.start(2)

    def _replay(self) -> None:
        """Gives held keys back to the widget they were typed into."""
        held, self._held = self._held, []
        self.classifier.reset()
        self._timer.stop()
        self._replaying = True
        try:
            for target, event in held:
                if target is not None:
                    QApplication.sendEvent(target, event)
                    release = QKeyEvent(
                        QEvent.Type.KeyRelease, event.key(), event.modifiers(), event.text()
                    )
                    QApplication.sendEvent(target, release)
        finally:
            self._replaying = False
