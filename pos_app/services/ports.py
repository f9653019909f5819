"""Ports: the small interfaces services need from the outside world."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hardware import Document, PrinterProfile, PrinterStatus


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
    """The receipt printer as the print queue drives it (``hardware.Printer`` is one).

    Every method blocks on the device; only the print worker thread calls them.
    Failures raise ``hardware.PrinterError`` subclasses.
    """

    @property
    def profile(self) -> PrinterProfile:
        """The printer model documents are laid out for."""
        ...

    def print_document(self, document: Document) -> bytes:
        """Lays ``document`` out, sends it and returns the bytes sent; returns only when
        the printer took the job and (where status can be read) reports ready after it.
        ``PrinterError.during_job`` tells whether part of the job may have printed."""
        ...

    def query_status(self) -> PrinterStatus:
        """Reads the printer's state (``hardware.StatusUnavailable`` when it cannot)."""
        ...

    def open_drawer(self, pin: int | None = None) -> None:
        """Pulses the cash drawer connected to the printer."""
        ...


@dataclass(frozen=True, slots=True)
class TerminalIdentity:
    """Who this terminal is. ``receipt_secret`` signs receipt QR codes (HQ holds a copy)."""

    store_code: str
    terminal_id: str
    receipt_secret: bytes


class RefundGateway(Protocol):
    """Refunds a payment-code tender (WeChat Pay, Alipay...) through the payment gateway.

    Idempotent by ``refund_id`` (the return's id): a retry after a lost answer refunds
    once. Blocks until the provider answered; raises on a refusal or when it cannot be
    reached. :class:`~pos_app.services.payments.PaymentService` implements it; in a store
    without a payment gateway a return needing it is refused (``refund_gateway_missing``).
    """

    def refund(
        self,
        refund_id: str,
        kind: str,
        amount_fen: int,
        reference: str | None,
        *,
        total_fen: int | None = None,
        placed_at: datetime | None = None,
    ) -> str:
        """Returns the provider's refund reference. ``total_fen`` and ``placed_at``: the
        original tender's amount (the charge's total) and charge time as the sale carries
        them (None when unknown), for a charge made at another till."""
        ...
