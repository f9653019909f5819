"""Ports: the small interfaces services need from the outside world."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hardware import Document


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC wall-clock time."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ReceiptPrinter(Protocol):
    """Where receipts go. Implementations raise ``hardware.PrinterError`` subclasses."""

    def print_document(self, document: Document) -> None: ...


@dataclass(frozen=True, slots=True)
class TerminalIdentity:
    """Who this terminal is. ``receipt_secret`` signs receipt QR codes (HQ holds a copy)."""

    store_code: str
    terminal_id: str
    receipt_secret: bytes
