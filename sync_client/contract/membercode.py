"""Signed member codes: what a member app shows as a QR code, and what a plastic card carries.

Pure standard library (no pydantic, no I/O), so HQ, the terminal's services and its domain
rules may all use it; HQ holds the key and is the only side that signs or verifies. A
terminal only needs :func:`looks_like_member_code` to route a scan to member
identification instead of the catalogue, and :func:`member_number_of` to read the number
out of a code it cannot check (offline, to let the sale earn for that number).

Two forms, both in the QR alphanumeric character set (upper-case letters, digits, ``.``)
so that a QR code stays small:

* App code ``CPM1.<number>.<expires>.<mac>``: ``expires`` is Unix seconds (UTC); the code
  is refused after it. Apps refresh it every minute or so, so a photo of it is soon useless.
* Card code ``CPC1.<number>.<card>.<mac>``: ``card`` is the card's generation (1, 2, ...);
  HQ refuses a code whose generation is not the member's current one, so reissuing a lost
  card cancels the old one. It never expires.

``mac`` is HMAC-SHA256 over ``<prefix>|<number>|<expires or card>``, truncated to 128 bits,
in unpadded RFC 4648 base32 (26 characters). Only the canonical spelling verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sync_client.contract.errors import ChainPosError

__all__ = [
    "CARD_PREFIX",
    "CODE_PREFIX",
    "MemberCode",
    "MemberCodeError",
    "looks_like_member_code",
    "mask_phone",
    "member_number_of",
    "normalise_phone",
    "sign_card_code",
    "sign_member_code",
    "verify_member_code",
]

CODE_PREFIX = "CPM1"
CARD_PREFIX = "CPC1"
MAC_BYTES = 16
MAX_CODE_LENGTH = 80
_NUMBER = re.compile(r"[0-9]{6,20}")
_INT = re.compile(r"[0-9]{1,12}")
_B32 = re.compile(r"[A-Z2-7]{26}")


class MemberCodeError(ChainPosError, ValueError):
    """A scanned member code was refused. ``reason`` is ``malformed`` (not a member code
    or damaged), ``forged`` (the signature does not match), ``expired`` (an app code past
    its expiry); ``code`` is ``member_code_<reason>``."""

    def __init__(self, reason: Literal["malformed", "forged", "expired"], message: str) -> None:
        super().__init__(f"member_code_{reason}", message)
        self._reason: Literal["malformed", "forged", "expired"] = reason

    @property
    def reason(self) -> Literal["malformed", "forged", "expired"]:
        """The refusal's short name, as HQ's audit log records it."""
        return self._reason


@dataclass(frozen=True, slots=True)
class MemberCode:
    """A verified code. ``expires`` (Unix seconds) for app codes, ``card`` for card codes."""

    kind: Literal["app", "card"]
    number: str
    expires: int | None = None
    card: int | None = None


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _mac(key: bytes, prefix: str, number: str, value: int) -> bytes:
    message = f"{prefix}|{number}|{value}".encode("ascii")
    return hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]


def _check_number(number: str) -> None:
    if not _NUMBER.fullmatch(number):
        raise ValueError(f"a member number is 6 to 20 digits, not {number!r}")


def sign_member_code(number: str, expires: int, key: bytes) -> str:
    """An app code for ``number`` valid until ``expires`` (Unix seconds, UTC)."""
    _check_number(number)
    if not 0 < expires < 10**12:
        raise ValueError("expires must be Unix seconds")
    mac = _b32(_mac(key, CODE_PREFIX, number, expires))
    return f"{CODE_PREFIX}.{number}.{expires}.{mac}"


def sign_card_code(number: str, card: int, key: bytes) -> str:
    """The static code printed on generation ``card`` of a member's plastic card."""
    _check_number(number)
    if not 0 < card < 10**12:
        raise ValueError("card generation must be a positive integer")
    mac = _b32(_mac(key, CARD_PREFIX, number, card))
    return f"{CARD_PREFIX}.{number}.{card}.{mac}"


def looks_like_member_code(text: str) -> bool:
    """Whether a scan is meant as a member code (not whether it is genuine)."""
    head = text.strip()[:5].upper()
    return head in (CODE_PREFIX + ".", CARD_PREFIX + ".")


def _split(text: str) -> tuple[str, str, int, str] | None:
    """(prefix, number, expires or card, mac) of a well-formed code, or None."""
    code = text.strip().upper()
    parts = code.split(".")
    if (
        len(code) > MAX_CODE_LENGTH
        or len(parts) != 4
        or parts[0] not in (CODE_PREFIX, CARD_PREFIX)
        or not _NUMBER.fullmatch(parts[1])
        or not _INT.fullmatch(parts[2])
        or not _B32.fullmatch(parts[3])
    ):
        return None
    prefix, number, value_text, mac_text = parts
    value = int(value_text)
    # Leading zeros would give a second spelling of the same signed value.
    if value_text != str(value) or value == 0:
        return None
    return prefix, number, value, mac_text


def member_number_of(text: str) -> str | None:
    """The member number inside a well-formed app or card code, or None.

    **Unverified**: only HQ holds the key, so a forged code yields its number too. A till
    uses this only where nothing can be spent (a sale earning points offline, for HQ to
    check when the sale arrives).
    """
    parts = _split(text)
    return None if parts is None else parts[1]


def verify_member_code(
    text: str, keys: Sequence[bytes], now: int, *, grace_s: int = 0
) -> MemberCode:
    """Parses and verifies a scanned code against HQ's keys (newest first; older keys
    still verify codes signed before a key change).

    ``now`` is Unix seconds; an app code is accepted until ``expires + grace_s``.

    Raises:
        MemberCodeError: malformed, forged, or expired.
    """
    if not keys:
        raise ValueError("no member code keys")
    parts = _split(text)
    if parts is None:
        raise MemberCodeError("malformed", "not a ChainPOS member code")
    prefix, number, value, mac_text = parts
    if not any(
        hmac.compare_digest(mac_text, _b32(_mac(key, prefix, number, value))) for key in keys
    ):
        raise MemberCodeError("forged", "this member code is not genuine")
    if prefix == CARD_PREFIX:
        return MemberCode("card", number, card=value)
    if now > value + grace_s:
        raise MemberCodeError(
            "expired", "this member code has expired; ask the member to refresh it in the app"
        )
    return MemberCode("app", number, expires=value)


_CN_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def normalise_phone(text: str) -> str:
    """The 11 digits of a mainland China mobile number, from what a person typed
    (spaces, dashes, brackets and a ``+86``/``0086`` prefix allowed). HQ and the till
    read a typed number the same way.

    Raises:
        ValueError: not such a number.
    """
    digits = re.sub(r"[\s()\-]", "", text)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not _CN_MOBILE.fullmatch(digits):
        raise ValueError("not a mainland China mobile number (11 digits starting 13-19)")
    return digits


def mask_phone(phone: str) -> str:
    """``13812341234`` -> ``138****1234``."""
    return f"{phone[:3]}****{phone[-4:]}"
