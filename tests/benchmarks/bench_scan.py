"""Scan event latency: from the last key (or byte) of a scan to the scan event.

* ``scan.wedge``: a keyboard-wedge scanner typing a 13-digit EAN into a focused text
  field at 2 ms per key (real time, the event loop running between keys), then Enter.
  Measured from sending the Enter key press to the application-wide
  ``ScanEventFilter`` emitting ``scanned``. The detection window is the Enter itself:
  no timer is waited for.
* ``scan.serial``: a serial scanner (``hardware.SerialScanner`` on a ``loop://`` port)
  that has sent the 13 digits; measured from writing the terminating CR to the
  scanner's callback on its reader thread.
* ``scan.serial_to_gui``: the same code, on to the GUI thread: from writing the CR to a
  slot connected to ``HardwareEvents.serial_scanned`` running in the GUI thread, which
  waits idle in its event loop (``ScannerHub`` -> ``HardwareEvents`` as the
  application wires them).

Goal: p99 <= 5 ms beyond the detection window. Nothing but the scanner runs, so the
figures are the cost of the scan path itself.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from tests.benchmarks._stats import Options, percentiles_ms

CODE = "6954321100014"
KEY_INTERVAL_S = 0.002


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _qapp() -> Any:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["bench-scan"])
    return app


def _wedge(samples: int, warmup: int) -> dict[str, Any]:
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QLineEdit, QVBoxLayout, QWidget

    from pos_app.ui.scan_filter import ScanEventFilter, ScanTimingClassifier

    app = _qapp()
    window = QWidget()
    field = QLineEdit(window)
    QVBoxLayout(window).addWidget(field)
    classifier = ScanTimingClassifier(clock=time.monotonic)
    scan_filter = ScanEventFilter(classifier, app)
    stamps: list[tuple[float, str]] = []
    scan_filter.scanned.connect(lambda code: stamps.append((time.perf_counter(), code)))
    app.installEventFilter(scan_filter)
    latencies: list[float] = []
    problems = 0
    try:
        window.show()
        window.activateWindow()
        QTest.qWaitForWindowActive(window, 5000)
        field.setFocus()
        app.processEvents()
        no_mod = Qt.KeyboardModifier.NoModifier
        press, release = QEvent.Type.KeyPress, QEvent.Type.KeyRelease
        digit = {str(d): Qt.Key(Qt.Key.Key_0.value + d) for d in range(10)}
        for i in range(warmup + samples):
            for ch in CODE:
                QApplication.sendEvent(field, QKeyEvent(press, digit[ch], no_mod, ch))
                QApplication.sendEvent(field, QKeyEvent(release, digit[ch], no_mod, ch))
                until = time.perf_counter() + KEY_INTERVAL_S
                while time.perf_counter() < until:
                    app.processEvents()
            stamps.clear()
            t0 = time.perf_counter()
            QApplication.sendEvent(field, QKeyEvent(press, Qt.Key.Key_Return, no_mod, "\r"))
            QApplication.sendEvent(field, QKeyEvent(release, Qt.Key.Key_Return, no_mod, "\r"))
            app.processEvents()
            if len(stamps) != 1 or stamps[0][1] != CODE or field.text():
                # The process was not scheduled for longer than the threshold between two
                # keys: the filter gave the first keys to the field and the rest became a
                # shorter scan. Counted, not timed.
                problems += 1
                field.clear()
                continue
            if i >= warmup:
                latencies.append(stamps[0][0] - t0)
    finally:
        app.removeEventFilter(scan_filter)
        window.close()
        window.deleteLater()
        scan_filter.deleteLater()
        app.processEvents()
    return {
        "name": "scan.wedge",
        "n": len(latencies),
        **percentiles_ms(latencies),
        "goal_p99_ms": 5,
        "sizes": {"code_chars": len(CODE), "key_interval_ms": KEY_INTERVAL_S * 1000},
        "detection_window_ms": 0,
        "threshold_ms": classifier.threshold * 1000,
        "split_scans": problems,
        "measured": "Enter key press sent -> ScanEventFilter.scanned emitted",
        "load_avg_1m": _load(),
    }


class _LoopCable:
    """Opens ``loop://`` ports the benchmark writes to, as a scanner's cable."""

    def __init__(self) -> None:
        self.ports: queue.Queue[Any] = queue.Queue()

    def open(self, _config: object) -> Any:
        import serial

        port = serial.serial_for_url("loop://", timeout=0.1)
        self.ports.put(port)
        return port


def _serial(samples: int, warmup: int) -> dict[str, Any]:
    from hardware import SerialScanner, SerialScannerConfig

    cable = _LoopCable()
    got: queue.Queue[tuple[float, str]] = queue.Queue()
    scanner = SerialScanner(
        SerialScannerConfig("loop"),
        lambda code: got.put((time.perf_counter(), code)),
        opener=cable.open,
    )
    scanner.start()
    latencies: list[float] = []
    problems = 0
    try:
        port = cable.ports.get(timeout=5)
        body = CODE.encode()
        for i in range(warmup + samples):
            port.write(body)
            time.sleep(0.001)  # the digits arrive before the terminator, as on a cable
            t0 = time.perf_counter()
            port.write(b"\r")
            t1, code = got.get(timeout=5)
            if code != CODE:
                problems += 1
                continue
            if i >= warmup:
                latencies.append(t1 - t0)
    finally:
        scanner.stop()
    return {
        "name": "scan.serial",
        "n": len(latencies),
        **percentiles_ms(latencies),
        "goal_p99_ms": 5,
        "sizes": {"code_chars": len(CODE), "port": "loop://"},
        "detection_window_ms": 0,
        "problems": problems,
        "measured": "CR written -> SerialScanner callback (reader thread)",
        "load_avg_1m": _load(),
    }


class _NoPrinting:
    """HardwareEvents also listens to the print queue; nothing prints here."""

    def subscribe(self, _listener: object) -> None:
        pass

    def unsubscribe(self, _listener: object) -> None:
        pass


def _serial_to_gui(samples: int, warmup: int) -> dict[str, Any]:
    from PySide6.QtCore import QEventLoop, QTimer

    from pos_app.services.device_settings import ScannerSettings
    from pos_app.services.devices import DeviceBoard
    from pos_app.services.ports import SystemClock
    from pos_app.services.scanners import ScannerHub
    from pos_app.ui.context import HardwareEvents

    _qapp()
    cable = _LoopCable()
    board = DeviceBoard(SystemClock())
    hub = ScannerHub(board, opener=cable.open)
    events = HardwareEvents(_NoPrinting(), board, hub)  # type: ignore[arg-type]
    loop = QEventLoop()
    received: list[tuple[float, str, bool]] = []

    def on_scan(code: str) -> None:
        received.append((time.perf_counter(), code, threading.current_thread() is main))
        loop.quit()

    main = threading.current_thread()
    events.serial_scanned.connect(on_scan)
    hub.configure(ScannerSettings(serial_device="loop://"))
    latencies: list[float] = []
    problems = 0
    try:
        port = cable.ports.get(timeout=5)
        body = CODE.encode()
        for i in range(warmup + samples):
            received.clear()
            port.write(body)
            time.sleep(0.001)
            t0 = time.perf_counter()
            port.write(b"\r")
            QTimer.singleShot(5000, loop.quit)  # never hang on a lost scan
            loop.exec()
            if len(received) != 1 or received[0][1] != CODE or not received[0][2]:
                problems += 1
                continue
            if i >= warmup:
                latencies.append(received[0][0] - t0)
    finally:
        events.detach()
        hub.stop()
    return {
        "name": "scan.serial_to_gui",
        "n": len(latencies),
        **percentiles_ms(latencies),
        "goal_p99_ms": 5,
        "sizes": {"code_chars": len(CODE), "port": "loop://"},
        "detection_window_ms": 0,
        "problems": problems,
        "measured": "CR written -> slot of HardwareEvents.serial_scanned on the GUI thread "
        "(queued signal; the GUI thread idle in its event loop)",
        "load_avg_1m": _load(),
    }


def run(opts: Options) -> Iterator[dict[str, Any]]:
    samples, warmup = (100, 10) if opts.quick else (1000, 50)
    yield _wedge(samples, warmup)
    yield _serial(samples, warmup)
    yield _serial_to_gui(samples, warmup)
