"""Identifiers and signatures: UUIDv7 event ids and signed sale references.

A sale reference is what the receipt QR carries. It is signed with HMAC-SHA256 under the
issuing terminal's secret, which HQ also holds, so HQ (and through HQ any store) can tell
a real receipt from a forged one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
import uuid
from dataclasses import dataclass

from sync_client.contract.errors import ChainPosError

SALE_REF_PREFIX = "CPS1"
_CODE = re.compile(r"[A-Z0-9-]{1,32}")


def uuid7(unix_ms: int | None = None, rand: bytes | None = None) -> uuid.UUID:
    """Returns a UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version, random bits.

    Ids made later sort later (to the millisecond), which keeps outbox and HQ indexes
    append-mostly.
    """
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    tail = os.urandom(10) if rand is None else rand
    if len(tail) != 10:
        raise ValueError("rand must be 10 bytes")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= (int.from_bytes(tail[:2], "big") & 0x0FFF) << 64
    value |= 0b10 << 62
    value |= int.from_bytes(tail[2:], "big") & 0x3FFF_FFFF_FFFF_FFFF
    return uuid.UUID(int=value)


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _unb32(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 8)
    data = base64.b32decode(padded.encode("ascii"))
    # The last character also carries unused bits that b32decode ignores; only the one
    # canonical spelling is accepted, so an altered character can never still verify.
    if _b32(data) != text:
        raise ValueError("non-canonical base32")
    return data


class SaleRefError(ChainPosError, ValueError):
    """A scanned sale reference is malformed (``sale_ref_invalid``) or its signature does
    not match (``sale_ref_forged``)."""


@dataclass(frozen=True, slots=True)
class SaleRef:
    """The identity of a sale as printed on its receipt."""

    sale_id: uuid.UUID
    store_code: str
    terminal_id: str

    def __post_init__(self) -> None:
        for value in (self.store_code, self.terminal_id):
            if not _CODE.fullmatch(value):
                raise SaleRefError(
                    "sale_ref_invalid",
                    f"codes must be upper-case letters, digits or '-': {value!r}",
                    code_text=value,
                )

    def _message(self) -> bytes:
        return f"{SALE_REF_PREFIX}|{self.sale_id.hex}|{self.store_code}|{self.terminal_id}".encode()

    def sign(self, secret: bytes) -> str:
        """Encodes the reference with a 128-bit truncated HMAC, upper-case for QR alnum mode."""
        mac = hmac.new(secret, self._message(), hashlib.sha256).digest()[:16]
        return ".".join(
            (
                SALE_REF_PREFIX,
                _b32(self.sale_id.bytes),
                self.store_code,
                self.terminal_id,
                _b32(mac),
            )
        ).upper()


def parse_sale_ref(text: str) -> tuple[SaleRef, bytes]:
    """Splits a printed reference into the reference and its MAC, without verifying it."""
    parts = text.strip().split(".")
    if len(parts) != 5 or parts[0] != SALE_REF_PREFIX:
        raise SaleRefError("sale_ref_invalid", "not a ChainPOS receipt code")
    try:
        sale_id = uuid.UUID(bytes=_unb32(parts[1]))
        mac = _unb32(parts[4])
    except (ValueError, TypeError) as exc:
        raise SaleRefError("sale_ref_invalid", "damaged receipt code") from exc
    if not parts[2] or not parts[3] or len(mac) != 16:
        raise SaleRefError("sale_ref_invalid", "damaged receipt code")
    return SaleRef(sale_id, parts[2], parts[3]), mac


def verify_sale_ref(text: str, secret: bytes) -> SaleRef:
    """Parses and verifies a reference signed by the terminal whose secret is given."""
    ref, mac = parse_sale_ref(text)
    expected = hmac.new(secret, ref._message(), hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        raise SaleRefError("sale_ref_forged", "receipt code signature does not match")
    return ref
