"""Console passwords (scrypt, stdlib) and TOTP second factors (RFC 6238, stdlib hmac).

A password hash reads ``cscrypt$<log2 n>$<r>$<p>$<salt b64>$<key b64>``: a prefix of its
own, so a console password hash can never be mistaken for (or verified as) a staff PIN
hash. The cost travels with the hash, so stronger settings later still verify old hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

PREFIX = "cscrypt"
DEFAULT_LOG2_N = 15  # n = 32768, r = 8: 32 MiB and ~0.1 s per attempt
MIN_PASSWORD_CHARS = 10

TOTP_STEP_S = 30
TOTP_DIGITS = 6


def hash_password(password: str, *, log2_n: int = DEFAULT_LOG2_N) -> str:
    """The storable hash of ``password`` (a fresh 16-byte salt each time)."""
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, log2_n, 8, 1)
    b64 = base64.b64encode
    return f"{PREFIX}${log2_n}$8$1${b64(salt).decode()}${b64(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False for any other hash format."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != PREFIX:
        return False
    try:
        log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, want = base64.b64decode(parts[4]), base64.b64decode(parts[5])
    except ValueError:
        return False
    if not (1 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 4):
        return False
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), want)


def password_problem(password: str) -> str | None:
    """Why ``password`` is too weak to accept, or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"a password has at least {MIN_PASSWORD_CHARS} characters"
    if password.isdigit() or password.isalpha():
        return "a password mixes letters with digits or signs"
    return None


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + (1 << 20), dklen=32
    )


# -- TOTP ---------------------------------------------------------------------------------


def new_totp_secret() -> str:
    """A random 160-bit secret, base32 without padding (what authenticator apps take)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def totp_code(secret: str, at: float | None = None) -> str:
    """The ``TOTP_DIGITS``-digit code of ``secret`` at Unix time ``at`` (default now)."""
    step = int((time.time() if at is None else at) // TOTP_STEP_S)
    return _hotp(secret, step)


def verify_totp(secret: str, code: str, at: float | None = None) -> bool:
    """Whether ``code`` is the code of the current step or the one before or after."""
    code = code.strip().replace(" ", "")
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return False
    step = int((time.time() if at is None else at) // TOTP_STEP_S)
    return any(hmac.compare_digest(_hotp(secret, s), code) for s in (step - 1, step, step + 1))


def otpauth_uri(secret: str, username: str, issuer: str = "ChainPOS HQ") -> str:
    """The ``otpauth://`` URI an authenticator app scans."""
    label = quote(f"{issuer}:{username}")
    query = urlencode(
        {"secret": secret, "issuer": issuer, "digits": TOTP_DIGITS, "period": TOTP_STEP_S}
    )
    return f"otpauth://totp/{label}?{query}"


def _hotp(secret: str, counter: int) -> str:
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**TOTP_DIGITS).zfill(TOTP_DIGITS)
