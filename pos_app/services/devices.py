"""The device board: what the terminal knows about each device right now.

The print worker reports the printer and the cash drawer, the scanner hub reports each
serial scanner, the keyboard-wedge filter reports its scans. The status panel reads a
snapshot. No I/O happens here: reports are cheap and may come from any thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from pos_app.services.ports import Clock

__all__ = ["DeviceBoard", "DeviceState"]


@dataclass(frozen=True, slots=True)
class DeviceState:
    """One device as the status panel shows it.

    Attributes:
        key: Stable identifier: ``printer``, ``drawer``, ``scanner:wedge``,
            ``scanner:<port>``.
        kind: ``printer``, ``drawer`` or ``scanner``.
        name: How it is reached, e.g. ``network 192.168.1.50:9100``.
        online: Reachable and ready; ``None`` while not known (never tried, or a
            printer whose status cannot be read).
        problem: Why it is not ready, as a code (``paper_out``, ``cover_open``,
            ``offline``, ``timeout``, ``config``, ``error``, ``unplugged``); ``None`` when
            ready.
        error: The last error message, kept after the device recovers.
        error_code: The problem code of that error.
        error_at: When that error happened (UTC).
        changed_at: When ``online`` last changed (UTC).
        used_at: Last successful use: a printed job, an opened drawer, a scan (UTC).
        note: A warning that does not stop the device (``paper_near_end``).
    """

    key: str
    kind: str
    name: str
    online: bool | None = None
    problem: str | None = None
    error: str | None = None
    error_code: str | None = None
    error_at: datetime | None = None
    changed_at: datetime | None = None
    used_at: datetime | None = None
    note: str | None = None


Listener = Callable[[tuple[DeviceState, ...]], None]


class DeviceBoard:
    """Thread-safe register of device states; listeners hear about every change.

    Listeners run on the reporting thread (the print worker, a scanner's reader) and
    must return quickly; the UI hands the snapshot to the GUI thread.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, DeviceState] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def snapshot(self) -> tuple[DeviceState, ...]:
        """Every device, printer first, then drawer, then scanners by key."""
        order = {"printer": 0, "drawer": 1, "scanner": 2}
        with self._lock:
            states = list(self._states.values())
        return tuple(sorted(states, key=lambda s: (order.get(s.kind, 9), s.key)))

    def get(self, key: str) -> DeviceState | None:
        with self._lock:
            return self._states.get(key)

    def register(self, key: str, kind: str, name: str) -> None:
        """Adds a device (or renames it after reconfiguration: its state starts over)."""
        with self._lock:
            old = self._states.get(key)
            if old is not None and old.name == name and old.kind == kind:
                return
            self._states[key] = DeviceState(key, kind, name)
        self._notify()

    def remove(self, key: str) -> None:
        with self._lock:
            if self._states.pop(key, None) is None:
                return
        self._notify()

    def report_ok(self, key: str, *, note: str | None = None, used: bool = False) -> None:
        """The device answered and is ready (``used``: it just did its work)."""
        now = self._clock.now()
        self._update(
            key,
            lambda s: replace(
                s,
                online=True,
                problem=None,
                note=note,
                changed_at=now if s.online is not True else s.changed_at,
                used_at=now if used else s.used_at,
            ),
        )

    def report_problem(self, key: str, problem: str, error: str) -> None:
        """The device is unreachable or not ready: ``problem`` code and message."""
        now = self._clock.now()
        self._update(
            key,
            lambda s: replace(
                s,
                online=False,
                problem=problem,
                error=error,
                error_code=problem,
                error_at=now,
                note=None,
                changed_at=now if s.online is not False else s.changed_at,
            ),
        )

    def report_unknown(self, key: str, note: str | None = None) -> None:
        """The device's state cannot be read (a printer reached through a file)."""
        self._update(key, lambda s: replace(s, online=None, problem=None, note=note))

    def note_use(self, key: str) -> None:
        """Records a successful use without telling listeners (scans are frequent)."""
        now = self._clock.now()
        with self._lock:
            state = self._states.get(key)
            if state is not None:
                self._states[key] = replace(state, used_at=now)

    def _update(self, key: str, change: Callable[[DeviceState], DeviceState]) -> None:
        with self._lock:
            state = self._states.get(key)
            if state is None:
                return
            new = change(state)
            if new == state:
                return
            self._states[key] = new
        self._notify()

    def _notify(self) -> None:
        snapshot = self.snapshot()
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(snapshot)
