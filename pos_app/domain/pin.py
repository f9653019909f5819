"""Staff sign-in at the till: the lockout rule.

The PIN hash format itself is shared with HQ (which ships hashes to terminals so staff
can sign in offline) and lives in :mod:`sync_client.contract.pin`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """``max_attempts`` wrong PINs in a row lock the account for ``lock_for``."""

    max_attempts: int = 5
    lock_for: timedelta = timedelta(minutes=5)

    def after_failure(self, failed_attempts: int, now: datetime) -> tuple[int, datetime | None]:
        """The new failure count and, when it reaches the limit, the lock's end."""
        count = failed_attempts + 1
        if count >= self.max_attempts:
            return 0, now + self.lock_for
        return count, None
