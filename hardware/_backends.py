"""The receipt printer driver: connections through python-escpos, raw bytes in.

python-escpos provides the transports (TCP socket, USB, serial port, device file)
and the real-time status round trip; the bytes themselves come from
:func:`hardware.render`, so no text passes through the library's encoding guess.

A connection is opened for each operation and closed after it: a network printer
serves one connection at a time, so holding it would lock out other terminals.

Thread rule: every method blocks on I/O for up to the connection's timeout; call
them from a worker thread, never the GUI thread. One :class:`Printer` may be shared
between threads; its operations run one at a time.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import serial
from escpos import printer as escpos_printer
from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from escpos.exceptions import Error as EscposError

from hardware._document import Document
from hardware._exceptions import (
    PrinterConfigError,
    PrinterError,
    PrinterOffline,
    PrinterTimeout,
    StatusUnavailable,
)
from hardware._layout import drawer_kick, render
from hardware._profiles import PrinterProfile
from hardware._status import STATUS_REQUESTS, PrinterStatus, raise_for_status, status_from_bytes

__all__ = [
    "Connection",
    "FileConnection",
    "NetworkConnection",
    "Printer",
    "SerialConnection",
    "UsbConnection",
    "connection_from_settings",
]


@dataclass(frozen=True, slots=True)
class NetworkConnection:
    """A printer on the LAN speaking raw TCP (JetDirect style).

    Attributes:
        host: IP address or host name.
        port: TCP port, 9100 on nearly every receipt printer.
        timeout: Seconds to wait for connecting, sending and each status answer.
    """

    host: str
    port: int = 9100
    timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class UsbConnection:
    """A USB printer addressed by its vendor and product ids (needs pyusb).

    Attributes:
        vendor_id: USB vendor id, e.g. ``0x0416``.
        product_id: USB product id, e.g. ``0x5011``.
        timeout_ms: USB transfer timeout in milliseconds.
        in_ep: Bulk IN endpoint (status answers).
        out_ep: Bulk OUT endpoint (print data).
    """

    vendor_id: int
    product_id: int
    timeout_ms: int = 5000
    in_ep: int = 0x82
    out_ep: int = 0x01


@dataclass(frozen=True, slots=True)
class SerialConnection:
    """A serial (RS-232 or USB-serial) printer.

    Attributes:
        device: Port name (``/dev/ttyUSB0``, ``COM3``) or any pyserial URL
            (``socket://host:port``, ``rfc2217://...``, ``loop://``).
        baudrate: Line speed in bit/s; must match the printer's DIP switches.
        timeout: Seconds to wait for a write to drain and for each status answer.
        flow_control: ``"dsrdtr"`` (python-escpos's default), ``"rtscts"``,
            ``"xonxoff"`` or ``"none"``.
    """

    device: str
    baudrate: int = 9600
    timeout: float = 5.0
    flow_control: Literal["dsrdtr", "rtscts", "xonxoff", "none"] = "dsrdtr"


@dataclass(frozen=True, slots=True)
class FileConnection:
    """A write-only device node (``/dev/usb/lp0``) or a file; jobs are appended.

    Status cannot be read through a file, so :meth:`Printer.query_status` raises
    :class:`StatusUnavailable` and printing does not check status first.
    """

    path: str


Connection = NetworkConnection | UsbConnection | SerialConnection | FileConnection


def connection_from_settings(settings: Mapping[str, Any]) -> Connection:
    """Build a connection from a settings mapping (e.g. a parsed config file section).

    Args:
        settings: ``{"kind": "network", "host": ..., "port": 9100, "timeout": 5}``,
            ``{"kind": "usb", "vendor_id": "0x0416", "product_id": "0x5011"}``,
            ``{"kind": "serial", "device": "/dev/ttyUSB0", "baudrate": 19200}`` or
            ``{"kind": "file", "path": "/dev/usb/lp0"}``. Ids may be ints or strings
            (``"0x0416"``).

    Returns:
        The connection.

    Raises:
        PrinterConfigError: Unknown kind, a missing or malformed field.
    """
    kind = settings.get("kind")
    try:
        if kind == "network":
            return NetworkConnection(
                host=str(settings["host"]),
                port=int(settings.get("port", 9100)),
                timeout=float(settings.get("timeout", 5.0)),
            )
        if kind == "usb":
            return UsbConnection(
                vendor_id=_int(settings["vendor_id"]),
                product_id=_int(settings["product_id"]),
                timeout_ms=int(settings.get("timeout_ms", 5000)),
            )
        if kind == "serial":
            flow = str(settings.get("flow_control", "dsrdtr"))
            if flow not in ("dsrdtr", "rtscts", "xonxoff", "none"):
                raise PrinterConfigError(f"unknown serial flow control {flow!r}")
            return SerialConnection(
                device=str(settings["device"]),
                baudrate=int(settings.get("baudrate", 9600)),
                timeout=float(settings.get("timeout", 5.0)),
                flow_control=flow,  # type: ignore[arg-type]
            )
        if kind == "file":
            return FileConnection(path=str(settings["path"]))
    except KeyError as missing:
        raise PrinterConfigError(f"{kind} printer settings need {missing}") from None
    except (TypeError, ValueError) as bad:
        raise PrinterConfigError(f"invalid {kind} printer settings: {bad}") from None
    raise PrinterConfigError(f"unknown printer connection kind {kind!r}")


def _int(value: Any) -> int:
    return value if isinstance(value, int) else int(str(value), 0)


class _Network(escpos_printer.Network):  # type: ignore[misc]
    """python-escpos's network printer, with a socket that is closed when connecting
    fails (the library's own ``open`` leaves it to the garbage collector)."""

    def open(self, raise_not_found: bool = True) -> None:
        try:
            self.device = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as e:
            raise DeviceNotFoundError(f"cannot connect to {self.host}:{self.port}: {e}") from e


class _UrlSerial(escpos_printer.Serial):  # type: ignore[misc]
    """python-escpos's serial printer, opened with ``serial_for_url`` so pyserial URLs
    (``socket://``, ``rfc2217://``) work as well as port names."""

    def open(self, raise_not_found: bool = True) -> None:
        try:
            self.device = serial.serial_for_url(
                self.devfile,
                baudrate=self.baudrate,
                bytesize=self.bytesize,
                parity=self.parity,
                stopbits=self.stopbits,
                timeout=self.timeout,
                write_timeout=self.timeout,
                xonxoff=self.xonxoff,
                rtscts=getattr(self, "rtscts", False),
                dsrdtr=self.dsrdtr,
            )
        except (ValueError, serial.SerialException) as e:
            raise DeviceNotFoundError(f"cannot open serial printer {self.devfile}: {e}") from e

    def _read(self) -> bytes:
        # One DLE EOT answer is one byte; the library's read(16) would wait for the
        # whole timeout on every status request.
        assert self.device
        return bytes(self.device.read(1))


class _AppendFile(escpos_printer.File):  # type: ignore[misc]
    """python-escpos's file printer, appending instead of truncating, so a spool file
    keeps every job (device nodes behave the same either way)."""

    def open(self, raise_not_found: bool = True) -> None:
        try:
            self.device = open(self.devfile, "ab")  # noqa: SIM115 - closed by close()
        except OSError as e:
            raise DeviceNotFoundError(f"cannot open {self.devfile}: {e}") from e


class Printer:
    """A receipt printer reached through one connection.

    Args:
        connection: How to reach the printer.
        profile: The printer model.
        check_status: Before each job, read the status (where the connection can)
            and refuse to send to a printer that would not print, so a job is not
            silently lost in an offline printer's buffer.
    """

    def __init__(
        self, connection: Connection, profile: PrinterProfile, *, check_status: bool = True
    ) -> None:
        self.connection = connection
        self.profile = profile
        self.check_status = check_status
        self._lock = threading.Lock()

    @property
    def can_read_status(self) -> bool:
        """Whether the connection can read answers (all but files)."""
        return not isinstance(self.connection, FileConnection)

    def print_document(self, doc: Document) -> bytes:
        """Render ``doc`` for this printer's profile and send it.

        Args:
            doc: What to print.

        Returns:
            The bytes sent (keep them to reprint or preview).

        Raises:
            PaperOut: The printer reported an empty roll, before the job (nothing was
                sent) or right after it (the job may be incomplete).
            CoverOpen: The printer reported its cover open, before or after the job.
            PrinterOffline: The printer is unreachable or reports itself offline.
            PrinterTimeout: The printer did not answer in time.
            PrinterConfigError: The connection cannot be used (e.g. no USB support).
        """
        data = render(doc, self.profile)
        self.send(data)
        return data

    def send(self, data: bytes) -> None:
        """Send ready-made ESC/POS bytes, checking status before and after.

        Where the connection can read status, the printer is asked before the job (so
        nothing is sent to a printer that would not print) and again after it on the
        same connection; the job counts as accepted only when that second answer is
        "ready". ``DLE EOT`` is answered in real time, so a fault that happens later,
        while the printer still works through its buffer, is not seen here.

        Raises:
            PrinterError: As for :meth:`print_document`; ``PaperOut`` or ``CoverOpen``
                raised after the data was sent mean the job may be incomplete.
        """
        with self._lock, self._open() as device:
            checked = self.check_status and self.can_read_status
            if checked:
                raise_for_status(self._read_status(device))
            try:
                self._write(device, data)
                if checked:
                    # Asked after the data on the same connection: a roll that ran out or
                    # a cover opened while the job went through shows up here, and the
                    # caller learns the job may be incomplete.
                    after = self._read_status(device)
                    if not after.ready:
                        try:
                            raise_for_status(after)
                        except PrinterError as e:
                            raise type(e)(f"{e} (during the job; it may be incomplete)") from None
            except PrinterError as e:
                e.during_job = True
                raise

    def open_drawer(self, pin: int | None = None) -> None:
        """Pulse the cash drawer through the printer's kick connector.

        The printer executes ``ESC p`` in order with print data, so a printer that
        stopped (paper out) opens the drawer once it resumes. Status is not checked.

        Args:
            pin: Connector pin, 2 or 5; the profile's ``drawer_pin`` by default.

        Raises:
            PrinterOffline: The printer is unreachable.
            PrinterTimeout: The printer did not take the command in time.
            PrinterConfigError: ``pin`` is not 2 or 5.
        """
        pin = self.profile.drawer_pin if pin is None else pin
        try:
            command = drawer_kick(pin)
        except ValueError as e:
            raise PrinterConfigError(str(e)) from None
        with self._lock, self._open() as device:
            self._write(device, command)

    def query_status(self) -> PrinterStatus:
        """Ask the printer for its state with ``DLE EOT`` 1, 2 and 4.

        Returns:
            The status.

        Raises:
            StatusUnavailable: The connection is a write-only file.
            PrinterOffline: The printer is unreachable or closed the connection.
            PrinterTimeout: The printer did not answer in time.
            PrinterError: The printer answered something that is not a status byte.
        """
        if not self.can_read_status:
            raise StatusUnavailable(f"cannot read status through {self.connection}")
        with self._lock, self._open() as device:
            return self._read_status(device)

    # -- connection handling ---------------------------------------------------------
    def _make_device(self) -> Escpos:
        c = self.connection
        if isinstance(c, NetworkConnection):
            return _Network(c.host, port=c.port, timeout=c.timeout)
        if isinstance(c, SerialConnection):
            device = _UrlSerial(
                devfile=c.device,
                baudrate=c.baudrate,
                timeout=c.timeout,
                xonxoff=c.flow_control == "xonxoff",
                dsrdtr=c.flow_control == "dsrdtr",
            )
            device.rtscts = c.flow_control == "rtscts"
            return device
        if isinstance(c, FileConnection):
            return _AppendFile(devfile=c.path, auto_flush=False)
        if isinstance(c, UsbConnection):
            if not escpos_printer.Usb.is_usable():
                raise PrinterConfigError("USB printers need pyusb: pip install pyusb")
            return escpos_printer.Usb(
                c.vendor_id, c.product_id, timeout=c.timeout_ms, in_ep=c.in_ep, out_ep=c.out_ep
            )
        raise PrinterConfigError(f"not a printer connection: {c!r}")

    @contextmanager
    def _open(self) -> Iterator[Escpos]:
        device = self._make_device()
        with _mapped_errors(self.connection):
            device.open()
        try:
            yield device
        finally:
            with _mapped_errors(self.connection):
                device.close()

    def _write(self, device: Escpos, data: bytes) -> None:
        with _mapped_errors(self.connection):
            device._raw(data)
            if isinstance(self.connection, FileConnection):
                device.flush()

    def _read_status(self, device: Escpos) -> PrinterStatus:
        replies: dict[int, int] = {}
        for n in STATUS_REQUESTS:
            with _mapped_errors(self.connection):
                answer = device.query_status(bytes((0x10, 0x04, n)))  # DLE EOT n
            if not answer:
                if isinstance(self.connection, NetworkConnection):
                    raise PrinterOffline("the printer closed the connection")
                raise PrinterTimeout(f"no answer to status request DLE EOT {n}")
            replies[n] = answer[0]
        return status_from_bytes(replies)


@contextmanager
def _mapped_errors(connection: Connection) -> Iterator[None]:
    """Turn library and OS errors into the hardware exceptions."""
    where = _describe(connection)
    try:
        yield
    except PrinterError:
        raise
    except (TimeoutError, serial.SerialTimeoutException) as e:
        raise PrinterTimeout(f"{where}: timed out") from e
    except DeviceNotFoundError as e:
        cause = e.__cause__ or e.__context__
        if isinstance(cause, TimeoutError):
            raise PrinterTimeout(f"{where}: timed out connecting") from e
        raise PrinterOffline(f"{where}: {e.msg if hasattr(e, 'msg') else e}") from e
    except (OSError, serial.SerialException) as e:
        if type(e).__name__ == "USBTimeoutError":
            raise PrinterTimeout(f"{where}: timed out") from e
        raise PrinterOffline(f"{where}: {e}") from e
    except EscposError as e:
        raise PrinterError(f"{where}: {e}") from e
    except ValueError as e:
        if type(e).__name__ == "NoBackendError":  # pyusb found no libusb on this machine
            raise PrinterConfigError(
                f"{where}: USB needs libusb (Debian/Ubuntu: apt install libusb-1.0-0)"
            ) from e
        raise


def _describe(connection: Connection) -> str:
    match connection:
        case NetworkConnection(host=host, port=port):
            return f"network printer {host}:{port}"
        case SerialConnection(device=device):
            return f"serial printer {device}"
        case FileConnection(path=path):
            return f"printer file {path}"
        case UsbConnection(vendor_id=vid, product_id=pid):
            return f"USB printer {vid:04x}:{pid:04x}"
    return "printer"
