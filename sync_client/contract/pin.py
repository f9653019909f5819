"""Staff PIN hashes: the one format HQ writes and terminals verify offline.

``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``: salt and hash in standard base64 with
padding, hash = ``hashlib.scrypt(pin, salt=salt, n=n, r=r, p=p, dklen=len(hash))``. HQ
hashes the PINs it is given and ships the hashes to terminals in the feed, so staff sign
in at a till while HQ is unreachable.

A stored hash that does not parse never verifies any PIN: :func:`verify_pin` raises
:class:`PinHashError` (code ``bad_pin_hash``) on both sides, so a corrupt record is
reported as such instead of reading as a wrong PIN (which would count towards a lockout).
Pure standard library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass

from sync_client.contract.errors import ChainPosError

SCHEME = "scrypt"
DEFAULT_N = 2**14
"""scrypt cost: about 50 ms and 16 MiB per check on a till-class CPU."""
DEFAULT_R = 8
DEFAULT_P = 1
DIGEST_BYTES = 32
SALT_BYTES = 16
_MAXMEM = 2**27
"""Ceiling for scrypt's memory (128 MiB) when checking a hash made elsewhere."""


class PinFormatError(ChainPosError, ValueError):
    """The PIN is not 4 to 8 digits (``bad_pin``), or a stored hash is malformed."""


class PinHashError(PinFormatError):
    """A stored PIN hash is not in the :data:`SCHEME` format (``bad_pin_hash``); it
    verifies no PIN."""

    def __init__(self, why: str) -> None:
        super().__init__("bad_pin_hash", f"stored PIN hash is malformed: {why}", why=why)


def validate_pin(pin: str) -> None:
    """Raises :class:`PinFormatError` unless ``pin`` is 4 to 8 ASCII digits."""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        raise PinFormatError("bad_pin", "a PIN is 4 to 8 digits")


@dataclass(frozen=True, slots=True)
class PinHash:
    """A parsed stored hash: the scrypt parameters, the salt and the digest."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    def encode(self) -> str:
        b64 = base64.b64encode
        return (
            f"{SCHEME}${self.n}${self.r}${self.p}${b64(self.salt).decode()}"
            f"${b64(self.digest).decode()}"
        )


def parse_pin_hash(stored: str) -> PinHash:
    """The parts of a stored hash.

    Raises:
        PinHashError: not six ``$``-separated fields, another scheme, non-numeric or
            non-positive parameters, or salt/hash that are not standard base64.
    """
    fields = stored.split("$")
    if len(fields) != 6:
        raise PinHashError("expected 6 fields")
    scheme, n, r, p, salt, digest = fields
    if scheme != SCHEME:
        raise PinHashError(f"unknown scheme {scheme[:16]!r}")
    if not all(x.isascii() and x.isdigit() for x in (n, r, p)):
        raise PinHashError("the cost parameters are not whole numbers")
    n_i, r_i, p_i = int(n), int(r), int(p)
    if n_i < 2 or n_i & (n_i - 1) or r_i < 1 or p_i < 1:
        raise PinHashError("n is a power of two > 1, r and p positive")
    try:
        salt_b = base64.b64decode(salt, validate=True)
        digest_b = base64.b64decode(digest, validate=True)
    except (binascii.Error, ValueError):
        raise PinHashError("salt or hash is not base64") from None
    if not salt_b or not digest_b:
        raise PinHashError("empty salt or hash")
    return PinHash(n_i, r_i, p_i, salt_b, digest_b)


def hash_pin(
    pin: str,
    *,
    n: int = DEFAULT_N,
    r: int = DEFAULT_R,
    p: int = DEFAULT_P,
    salt: bytes | None = None,
) -> str:
    """The stored form of ``pin`` with a fresh random salt (unless ``salt`` is given).

    Raises:
        PinFormatError: ``pin`` is not 4 to 8 digits.
    """
    validate_pin(pin)
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    return PinHash(n, r, p, salt, _scrypt(pin, salt, n, r, p, DIGEST_BYTES)).encode()


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` is the PIN ``stored`` was made from (constant-time comparison).

    A ``pin`` that is not all ASCII digits is simply wrong.

    Raises:
        PinHashError: ``stored`` is malformed (see the module docstring).
    """
    parsed = parse_pin_hash(stored)
    if not (pin.isascii() and pin.isdigit()):
        return False
    try:
        candidate = _scrypt(pin, parsed.salt, parsed.n, parsed.r, parsed.p, len(parsed.digest))
    except (ValueError, MemoryError) as exc:  # parameters scrypt refuses or cannot afford
        raise PinHashError(f"scrypt refuses its parameters: {exc}") from None
    return hmac.compare_digest(candidate, parsed.digest)


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=_MAXMEM)
