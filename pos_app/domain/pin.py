"""Staff PINs: scrypt hashes and the lockout rule.

Hash format (shared with HQ, which ships hashes to terminals so staff can sign in
offline): ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sync_client.contract.errors import ChainPosError

DEFAULT_N = 2**14
"""scrypt cost: about 50 ms and 16 MiB per check on a till-class CPU."""


class PinFormatError(ChainPosError, ValueError):
    """The PIN is not 4 to 8 digits (``bad_pin``), or a stored hash is malformed
    (``bad_pin_hash``)."""


def validate_pin(pin: str) -> None:
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        raise PinFormatError("bad_pin", "a PIN is 4 to 8 digits")


def hash_pin(
    pin: str, *, n: int = DEFAULT_N, r: int = 8, p: int = 1, salt: bytes | None = None
) -> str:
    validate_pin(pin)
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def verify_pin(pin: str, stored: str) -> bool:
    """Constant-time check of ``pin`` against a stored hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        salt_b, digest_b = base64.b64decode(salt), base64.b64decode(digest)
        n_i, r_i, p_i = int(n), int(r), int(p)
    except ValueError as exc:
        raise PinFormatError("bad_pin_hash", "stored PIN hash is malformed") from exc
    if not (pin.isascii() and pin.isdigit()):
        return False
    candidate = hashlib.scrypt(
        pin.encode(), salt=salt_b, n=n_i, r=r_i, p=p_i, dklen=len(digest_b), maxmem=2**27
    )
    return hmac.compare_digest(candidate, digest_b)


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
