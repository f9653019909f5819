"""Signed sale references: what a receipt's QR carries, verified by the till and HQ alike.

Format: ``CPS1.<b32 sale id>.<store>.<terminal>.<b32 mac>`` (upper case, for QR alnum
mode), the MAC being HMAC-SHA256 truncated to 128 bits under the issuing terminal's
receipt secret (HQ holds every device's). Pure standard library: the till's domain and HQ
both import it, so there is one definition of the format.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass

from sync_client.contract.errors import ChainPosError

__all__ = ["SALE_REF_PREFIX", "SaleRef", "SaleRefError", "parse_sale_ref", "verify_sale_ref"]

SALE_REF_PREFIX = "CPS1"
_CODE = re.compile(r"[A-Z0-9-]{1,32}")


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

    def mac(self, secret: bytes) -> bytes:
        """The 128-bit truncated HMAC of this reference under ``secret``."""
        return hmac.new(secret, self._message(), hashlib.sha256).digest()[:16]

    def sign(self, secret: bytes) -> str:
        """Encodes the reference with its MAC, upper-case for QR alnum mode."""
        return ".".join(
            (
                SALE_REF_PREFIX,
                _b32(self.sale_id.bytes),
                self.store_code,
                self.terminal_id,
                _b32(self.mac(secret)),
            )
        ).upper()


def parse_sale_ref(text: str) -> tuple[SaleRef, bytes]:
    """Splits a printed reference into the reference and its MAC, without verifying it.

    Raises:
        SaleRefError: ``sale_ref_invalid``, not a well-formed reference.
    """
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
    """Parses and verifies a reference signed by the terminal whose secret is given.

    Raises:
        SaleRefError: ``sale_ref_invalid`` (malformed) or ``sale_ref_forged`` (the
            signature does not match).
    """
    ref, mac = parse_sale_ref(text)
    if not hmac.compare_digest(mac, ref.mac(secret)):
        raise SaleRefError("sale_ref_forged", "receipt code signature does not match")
    return ref
