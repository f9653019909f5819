"""Fakes and waits every test package shares, so each is written once.

* :class:`FakeClock` is the till's ``Clock`` port (``now()``, ``monotonic()``) and, called,
  the monotonic seconds the UI's scan filter reads; it moves only when a test advances it.
* :func:`wait_until` polls a condition another thread (HQ, the sync loop, a worker) makes
  true, with a generous deadline; it never asserts on elapsed time.
* :func:`fast_hash` hashes staff PINs with a tiny scrypt cost, so seeding is instant.
* :func:`error_code` reads the machine code of an HQ error answer or a rejected event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sync_client.contract.pin import hash_pin

START = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
"""Where a :class:`FakeClock`'s wall clock starts."""

DEADLINE_S = 30.0
"""How long :func:`wait_until` waits before failing: long enough for a loaded CI box."""


class FakeClock:
    """Wall-clock and monotonic time that move only when :meth:`advance` is called."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self._monotonic = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def __call__(self) -> float:
        """Monotonic seconds: the shape the scan filter's clock takes."""
        return self._monotonic

    def advance(self, delta: timedelta | float) -> None:
        """Moves both clocks forward by ``delta`` (a timedelta, or seconds)."""
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds


def wait_until(predicate: Callable[[], Any], timeout: float = DEADLINE_S, what: str = "") -> Any:
    """Polls ``predicate`` until it returns something truthy and returns that; fails
    after ``timeout`` seconds, naming ``what`` it waited for."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.005)  # yields to the thread that makes the predicate true


def fast_hash(pin: str) -> str:
    """A PIN hash with a tiny scrypt cost: the tests' staff sign in instantly."""
    return hash_pin(pin, n=2**4)


def sell_without_shifts(db: Any) -> None:
    """Chain-wide ``shift.required = false`` at an HQ (a ``server_stub.db.Database``), for
    tests about something else than shifts: their tills sell without opening one."""
    from server_stub import operations

    operations.set_config(db, None, "shift.required", False)


def error_code(answer: Any) -> str | None:
    """The machine code of an HQ error answer (an ``ErrorBody``) or of a rejected event
    result: ``code``, or what protocol 1 called it (``error``, ``reason``)."""
    body = answer.json() if hasattr(answer, "json") else answer
    for key in ("code", "error", "reason"):
        value = body.get(key)
        if isinstance(value, str):
            return value
    return None
