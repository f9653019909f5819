"""The hardware package's exception hierarchy.

Every failure a driver can report is one of these, so callers catch
:class:`HardwareError` (or :class:`PrinterError`) and never a library's own exception
(python-escpos, pyserial, socket)::

    HardwareError
    └── PrinterError
        ├── PrinterConfigError   bad profile or connection settings, missing driver
        ├── PrinterOffline       unreachable, or reports itself offline
        ├── PrinterTimeout       connected, but did not answer in time
        ├── PaperOut             paper end sensor: printing stopped
        ├── CoverOpen            cover open: printing stopped
        └── StatusUnavailable    the connection cannot read status (file backend)
"""

from __future__ import annotations

__all__ = [
    "CoverOpen",
    "HardwareError",
    "PaperOut",
    "PrinterConfigError",
    "PrinterError",
    "PrinterOffline",
    "PrinterTimeout",
    "StatusUnavailable",
]


class HardwareError(Exception):
    """Base class of every error raised by the hardware package."""


class PrinterError(HardwareError):
    """A receipt printer could not do what was asked.

    Attributes:
        during_job: ``True`` when the error came after print data had been sent (the
            status read after the job, or a write that broke off): part of the job,
            such as its drawer kick, may already have reached the printer. ``False``
            when nothing of the job was sent.
    """

    during_job: bool = False


class PrinterConfigError(PrinterError):
    """The printer profile or connection settings are invalid, or a driver is missing."""


class PrinterOffline(PrinterError):
    """The printer cannot be reached, or it reports itself offline."""


class PrinterTimeout(PrinterError):
    """The printer accepted the connection but did not answer in time."""


class PaperOut(PrinterError):
    """The paper roll is empty; the printer stopped printing."""


class CoverOpen(PrinterError):
    """The printer cover is open; the printer stopped printing."""


class StatusUnavailable(PrinterError):
    """The connection is write-only (a file or spool device), so status cannot be read."""
