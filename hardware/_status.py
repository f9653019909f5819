"""Printer status as the app sees it, read from ESC/POS real-time status bytes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hardware._exceptions import CoverOpen, PaperOut, PrinterError, PrinterOffline

__all__ = ["STATUS_REQUESTS", "PrinterStatus", "raise_for_status", "status_from_bytes"]

#: The ``DLE EOT n`` requests a status query sends: printer, offline cause, paper sensor.
STATUS_REQUESTS = (1, 2, 4)


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What a cashier needs to know about the printer.

    Attributes:
        online: The printer accepts print data.
        paper_out: The roll is empty; printing stopped.
        paper_near_end: The near-end sensor sees little paper left; printing goes on.
        cover_open: The cover is open; printing stopped.
    """

    online: bool
    paper_out: bool
    paper_near_end: bool
    cover_open: bool

    @property
    def ready(self) -> bool:
        """Whether a job sent now would print."""
        return self.online and not self.paper_out and not self.cover_open


def status_from_bytes(replies: Mapping[int, int]) -> PrinterStatus:
    """Interpret the answers to ``DLE EOT 1``, ``2`` and ``4``.

    Bit meanings (ESC/POS reference, ``DLE EOT``): every answer has bits 1 and 4 set
    and bits 0 and 7 clear. n = 1: bit 3 offline. n = 2: bit 2 cover open, bit 5
    printing stopped by paper end, bit 6 error. n = 4: bits 2-3 paper near end,
    bits 5-6 paper end.

    Args:
        replies: The status byte received for each request ``n`` in
            :data:`STATUS_REQUESTS`.

    Returns:
        The status.

    Raises:
        PrinterError: A reply is missing or is not a status byte.
    """
    for n in STATUS_REQUESTS:
        if n not in replies:
            raise PrinterError(f"no answer to status request DLE EOT {n}")
        if replies[n] & 0x93 != 0x12:
            raise PrinterError(f"DLE EOT {n} answered {replies[n]:#04x}, not a status byte")
    printer, cause, paper = replies[1], replies[2], replies[4]
    return PrinterStatus(
        online=not printer & 0x08,
        paper_out=bool(paper & 0x60) or bool(cause & 0x20),
        paper_near_end=bool(paper & 0x0C),
        cover_open=bool(cause & 0x04),
    )


def raise_for_status(status: PrinterStatus) -> None:
    """Raise the exception that explains why the printer would not print.

    Args:
        status: A status read from the printer.

    Raises:
        CoverOpen: The cover is open (checked first: it also stops the paper sensor).
        PaperOut: The paper roll is empty.
        PrinterOffline: The printer is offline for another reason.
    """
    if status.cover_open:
        raise CoverOpen("the printer cover is open")
    if status.paper_out:
        raise PaperOut("the printer is out of paper")
    if not status.online:
        raise PrinterOffline("the printer reports itself offline")
