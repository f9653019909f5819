"""Serial scanners: started from the settings, reported on the device board.

Keyboard-wedge scanners need nothing here (the UI's event filter reads them); they
appear on the board as ``scanner:wedge`` with the time of the last scan.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pos_app.services.devices import DeviceBoard

if TYPE_CHECKING:
    from hardware import ScannerState, SerialPort, SerialScanner, SerialScannerConfig
    from pos_app.services.device_settings import ScannerSettings

__all__ = ["WEDGE", "ScannerHub"]

WEDGE = "scanner:wedge"


class ScannerHub:
    """Runs the configured serial scanners; every code goes to the subscribers.

    Subscribers are called on a scanner's reader thread with the code and the scanner's
    board key; they must hand the code to the GUI thread, not handle it there.

    Args:
        devices: The device board.
        opener: Opens serial ports (tests pass a ``loop://`` opener).
        reconnect_interval: Seconds between attempts to reopen a lost port.
    """

    def __init__(
        self,
        devices: DeviceBoard,
        *,
        opener: Callable[[SerialScannerConfig], SerialPort] | None = None,
        reconnect_interval: float = 2.0,
    ) -> None:
        self._devices = devices
        self._opener = opener
        self._reconnect = reconnect_interval
        self._lock = threading.Lock()
        self._scanners: list[SerialScanner] = []
        self._listeners: list[Callable[[str, str], None]] = []
        devices.register(WEDGE, "scanner", "keyboard wedge")

    def subscribe(self, listener: Callable[[str, str], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[str, str], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    @property
    def devices(self) -> tuple[str, ...]:
        """Ports of the running serial scanners."""
        with self._lock:
            return tuple(s.config.device for s in self._scanners)

    def configure(self, settings: ScannerSettings) -> None:
        """Stops the running serial scanners and starts the configured ones."""
        self.stop()
        started: list[SerialScanner] = []
        for config in settings.serial_configs():
            from hardware import SerialScanner  # pyserial: loaded only when one is set up

            key = f"scanner:{config.device}"
            self._devices.register(key, "scanner", f"serial {config.device} @ {config.baudrate}")
            scanner = SerialScanner(
                config,
                functools.partial(self._deliver, key=key),
                functools.partial(self._on_state, key),
                opener=self._opener,
                reconnect_interval=self._reconnect,
            )
            scanner.start()
            started.append(scanner)
        with self._lock:
            self._scanners = started

    def note_wedge_scan(self) -> None:
        """A keyboard-wedge scan arrived (GUI thread; cheap)."""
        self._devices.note_use(WEDGE)

    def stop(self) -> None:
        """Stops every serial scanner and removes it from the board."""
        with self._lock:
            scanners, self._scanners = self._scanners, []
        for scanner in scanners:
            scanner.stop()
            self._devices.remove(f"scanner:{scanner.config.device}")

    def _deliver(self, code: str, key: str) -> None:
        self._devices.note_use(key)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(code, key)

    def _on_state(self, key: str, state: ScannerState) -> None:
        if state.online:
            self._devices.report_ok(key)
        elif state.error is not None:
            self._devices.report_problem(key, "unplugged", state.error)
