"""Serial barcode scanners: RS-232, or USB scanners in "virtual COM port" (CDC-ACM) mode.

A scanner in serial mode sends each code followed by a terminator (CR, LF or CR LF,
the factory default of nearly every model). :class:`SerialScanner` reads the port on
its own thread, cuts the byte stream at CR and LF, strips the configured prefix and
suffix and hands each code to a callback. Control characters inside a code are kept:
GS1-128 sends FNC1 as GS (0x1D), which the barcode parser needs.

When the port cannot be opened or goes away (the cable is pulled) the scanner reports
itself offline with the reason and tries to open the port again every
``reconnect_interval`` seconds until it is stopped.

Thread rule: ``on_scan`` and ``on_state`` run on the reader thread. They must return
quickly and must not touch GUI objects; hand the value to the GUI thread instead
(a queued Qt signal, for instance).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import serial

__all__ = ["ScannerState", "SerialPort", "SerialScanner", "SerialScannerConfig"]

_log = logging.getLogger(__name__)

_TERMINATORS = (0x0D, 0x0A)  # CR, LF
_MAX_CODE = 4096  # bytes without a terminator before the buffer is dropped as noise


@dataclass(frozen=True, slots=True)
class SerialScannerConfig:
    """How to reach one serial scanner and read its codes.

    Attributes:
        device: Port name (``/dev/ttyACM0``, ``COM4``) or any pyserial URL
            (``socket://host:port``, ``loop://``).
        baudrate: Line speed in bit/s (USB CDC-ACM scanners ignore it).
        prefix: Characters the scanner is programmed to send before each code;
            removed when present.
        suffix: Characters sent after each code, before the terminator; removed
            when present.
        encoding: How code bytes become text; invalid bytes become U+FFFD.
    """

    device: str
    baudrate: int = 9600
    prefix: str = ""
    suffix: str = ""
    encoding: str = "utf-8"


@dataclass(frozen=True, slots=True)
class ScannerState:
    """Whether a scanner's port is open, and the last thing that went wrong.

    Attributes:
        device: The configured port.
        online: The port is open and being read.
        error: Why the port is closed (``None`` while online or before the first try).
        at: When this state began (UTC).
    """

    device: str
    online: bool
    error: str | None
    at: datetime


class SerialPort(Protocol):
    """What the scanner needs of a pyserial port."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def close(self) -> None: ...


def _open_port(config: SerialScannerConfig, timeout: float) -> SerialPort:
    port: SerialPort = serial.serial_for_url(
        config.device, baudrate=config.baudrate, timeout=timeout
    )
    return port


class SerialScanner:
    """Reads codes from one serial scanner on a background thread.

    Args:
        config: The port and code format.
        on_scan: Called with each code (reader thread).
        on_state: Called with every change of :class:`ScannerState` (reader thread).
        opener: Opens the port; pyserial's ``serial_for_url`` by default. Tests pass
            one that returns a ``loop://`` port they also write to.
        reconnect_interval: Seconds between attempts to open a port that failed.
        read_timeout: Seconds a read waits for data, which bounds how long
            :meth:`stop` takes.
    """

    def __init__(
        self,
        config: SerialScannerConfig,
        on_scan: Callable[[str], None],
        on_state: Callable[[ScannerState], None] | None = None,
        *,
        opener: Callable[[SerialScannerConfig], SerialPort] | None = None,
        reconnect_interval: float = 2.0,
        read_timeout: float = 0.1,
    ) -> None:
        self.config = config
        self._on_scan = on_scan
        self._on_state = on_state
        self._read_timeout = read_timeout
        self._opener = opener or (lambda c: _open_port(c, read_timeout))
        self._reconnect_interval = reconnect_interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._state = ScannerState(config.device, False, None, datetime.now(UTC))

    @property
    def state(self) -> ScannerState:
        """The current state (any thread)."""
        with self._lock:
            return self._state

    def start(self) -> None:
        """Start the reader thread.

        Raises:
            RuntimeError: The scanner is already running.
        """
        if self._thread is not None:
            raise RuntimeError(f"scanner {self.config.device} is already running")
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"serial-scanner-{self.config.device}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading, close the port and join the thread."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    # -- reader thread -----------------------------------------------------------
    def _set_state(self, online: bool, error: str | None) -> None:
        with self._lock:
            if (self._state.online, self._state.error) == (online, error):
                return
            self._state = ScannerState(self.config.device, online, error, datetime.now(UTC))
            state = self._state
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                _log.exception("scanner state callback failed")

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                port = self._opener(self.config)
            except (serial.SerialException, OSError, ValueError) as e:
                self._set_state(False, f"cannot open {self.config.device}: {e}")
                self._stopping.wait(self._reconnect_interval)
                continue
            self._set_state(True, None)
            try:
                self._read(port)
            except (serial.SerialException, OSError) as e:
                self._set_state(False, f"{self.config.device}: {e}")
            finally:
                with contextlib.suppress(serial.SerialException, OSError):
                    port.close()
            if not self._stopping.is_set():
                self._stopping.wait(self._reconnect_interval)
        self._set_state(False, None)

    def _read(self, port: SerialPort) -> None:
        buffer = bytearray()
        while not self._stopping.is_set():
            chunk = port.read(port.in_waiting or 1)
            if not chunk:
                continue
            buffer += chunk
            start = 0
            for i in range(len(buffer) - len(chunk), len(buffer)):
                if buffer[i] in _TERMINATORS:
                    if i > start:
                        self._emit(bytes(buffer[start:i]))
                    start = i + 1
            del buffer[:start]
            if len(buffer) > _MAX_CODE:
                _log.warning("dropping %d bytes without a terminator", len(buffer))
                buffer.clear()

    def _emit(self, raw: bytes) -> None:
        code = raw.decode(self.config.encoding, errors="replace")
        prefix, suffix = self.config.prefix, self.config.suffix
        if prefix and code.startswith(prefix):
            code = code[len(prefix) :]
        if suffix and code.endswith(suffix):
            code = code[: -len(suffix)]
        if not code:
            return
        try:
            self._on_scan(code)
        except Exception:
            _log.exception("scan callback failed for %r", code)
