"""The Qt binding must not leak or over-release references on the till's hot paths.

A binding that drops a reference to ``None`` or ``True`` on each call aborts the process
("Fatal Python error: none_dealloc") after a few thousand scans; this checks the exact
calls a scan makes, many times over, so an upgrade that brings such a bug back fails here
instead of in a store.
"""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

CALLS = 5000


class _Emitter(QObject):
    happened = Signal()
    carried = Signal(str, str)


def test_void_calls_and_emits_keep_singleton_refcounts(qapp):
    label = QLabel()
    emitter = _Emitter()
    received: list[tuple[str, str]] = []
    emitter.carried.connect(lambda a, b: received.append((a, b)))
    # Collect earlier tests' garbage first and keep the collector out of the loop, so
    # the counts move only by what these calls do.
    gc.collect()
    gc.disable()
    try:
        before = {name: sys.getrefcount(obj) for name, obj in (("None", None), ("True", True))}
        for _ in range(CALLS):
            label.setText("")
            label.setEnabled(True)
            emitter.happened.emit()
            emitter.carried.emit("x", "error")
        after = {name: sys.getrefcount(obj) for name, obj in (("None", None), ("True", True))}
    finally:
        gc.enable()
    assert len(received) == CALLS
    # A handful of references may come and go with caches; a per-call leak is thousands.
    assert abs(after["None"] - before["None"]) < 100, (before, after)
    assert abs(after["True"] - before["True"]) < 100, (before, after)
