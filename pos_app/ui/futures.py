"""Bringing the result of a ``concurrent.futures.Future`` back to the GUI thread."""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot


class _Relay(QObject):
    """Lives in the GUI thread; its signal, emitted on whatever thread completes the
    future, is queued to :meth:`_deliver` there."""

    finished = Signal(object)

    def __init__(self, parent: QObject, callback: Callable[[Any], None]) -> None:
        super().__init__(parent)
        self._callback = callback
        self.finished.connect(self._deliver)

    @Slot(object)
    def _deliver(self, future: concurrent.futures.Future[Any]) -> None:
        try:
            self._callback(future)
        finally:
            self.deleteLater()


def when_done(
    future: concurrent.futures.Future[Any],
    parent: QObject,
    callback: Callable[[concurrent.futures.Future[Any]], None],
) -> None:
    """Calls ``callback(future)`` on the GUI thread once ``future`` is done (at once, in
    the next event loop turn, if it already is). ``parent`` (a GUI-thread object) owns
    the relay, so nothing is delivered to a widget that was destroyed."""
    relay = _Relay(parent, callback)

    def emit(done: concurrent.futures.Future[Any]) -> None:
        # RuntimeError: the relay went with its parent, so nobody is waiting.
        with contextlib.suppress(RuntimeError):
            relay.finished.emit(done)

    future.add_done_callback(emit)
