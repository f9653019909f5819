"""Identifiers and signatures: UUIDv7 event ids and signed sale references.

A sale reference is what the receipt QR carries. It is signed with HMAC-SHA256 under the
issuing terminal's secret, which HQ also holds, so HQ (and through HQ any store) can tell
a real receipt from a forged one. The format is the shared contract's
(:mod:`sync_client.contract.salerefs`, which HQ verifies with too); it is re-exported here.
"""

from __future__ import annotations

import os
import time
import uuid

from sync_client.contract.salerefs import (
    SALE_REF_PREFIX,
    SaleRef,
    SaleRefError,
    parse_sale_ref,
    verify_sale_ref,
)

__all__ = [
    "SALE_REF_PREFIX",
    "SaleRef",
    "SaleRefError",
    "parse_sale_ref",
    "uuid7",
    "verify_sale_ref",
]


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
