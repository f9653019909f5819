"""Pick-up codes (取货码) of online orders collected in a store.

HQ makes a code when a pick-up order is paid and gives it only to the order's channel
(which shows it to the customer); the store's tills get only :func:`code_hash`, bound to
the reservation, so a till can match a scanned code without ever holding the codes.

Pure standard library.
"""

from __future__ import annotations

import hashlib
import secrets
from uuid import UUID

__all__ = ["CODE_ALPHABET", "code_hash", "new_code", "normalise"]

# No 0/O, 1/I/L or U: read aloud, typed on a touchscreen, printed small.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
_GROUPS = 3


def new_code() -> str:
    """A fresh code like ``K7QP-3MWX-2ZRA`` (about 59 bits)."""
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(4 * _GROUPS))
    return "-".join(chars[i : i + 4] for i in range(0, len(chars), 4))


def normalise(code: str) -> str:
    """The code as compared: upper case, spaces and dashes dropped."""
    return "".join(ch for ch in code.upper() if ch not in " -\t\r\n")


def code_hash(reservation_id: UUID, code: str) -> str:
    """SHA-256 hex of the normalised code bound to its reservation (what tills hold)."""
    data = f"{reservation_id}:{normalise(code)}".encode()
    return hashlib.sha256(data).hexdigest()
