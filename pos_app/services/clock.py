"""The terminal's clock on HQ's time.

Prices switch at HQ's ``effective_at``; every terminal must read that instant the same
way whatever its own clock says. :class:`HqClock` adds the offset the sync client measured
(HQ minus local) to a base clock. The offset is set from the sync thread and read from
any thread: a float assignment is atomic, so no lock is needed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pos_app.services.ports import Clock

MAX_OFFSET_S = 7 * 24 * 3600.0
"""An offset larger than a week is a broken measurement, not a clock: it is ignored."""


class HqClock:
    """A :class:`Clock` whose ``now`` is HQ's wall time; ``monotonic`` is the base's."""

    def __init__(self, base: Clock, offset_s: float = 0.0) -> None:
        self.base = base
        self._offset = timedelta(seconds=offset_s)

    @property
    def offset_s(self) -> float:
        return self._offset.total_seconds()

    def set_offset(self, offset_s: float) -> None:
        if abs(offset_s) <= MAX_OFFSET_S:
            self._offset = timedelta(seconds=offset_s)

    def now(self) -> datetime:
        return self.base.now() + self._offset

    def monotonic(self) -> float:
        return self.base.monotonic()
