"""Device settings of this terminal: the receipt printer and the scanners.

Kept in the terminal's ``setting`` table: ``printer_profile`` (the base profile's name,
also set by ``chainpos config``), ``printer`` (connection and profile adjustments) and
``scanner`` (wedge timing, prefix/suffix, a serial scanner). Saving needs a store
manager and is audited; whoever subscribed (the composition root) applies the new
settings at once.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from hardware import PROFILES, PrinterConfigError, PrinterProfile
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.store import audit, get_setting, set_setting
from pos_app.services.auth import StaffMember
from pos_app.services.errors import SettingsError
from pos_app.services.ports import Clock

if TYPE_CHECKING:
    from hardware import Connection, SerialScannerConfig

__all__ = [
    "BACKENDS",
    "BAUD_RATES",
    "DEFAULT_PROFILE",
    "LABEL_PROFILE",
    "DeviceSettingsService",
    "PrinterSettings",
    "ScannerSettings",
]

DEFAULT_PROFILE = "generic-80-gb18030"
LABEL_PROFILE = "generic-58-gbk"
"""What a cup label printer starts from: 58 mm, GBK, no cutter (it feeds to the gap)."""
BACKENDS = ("virtual", "network", "serial", "usb", "file")
BAUD_RATES = (9600, 19200, 38400, 57600, 115200)
_DOTS = {58: 384, 80: 576}
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?$")


@dataclass(frozen=True, slots=True)
class PrinterSettings:
    """How to reach the receipt printer and what it can do.

    Attributes:
        backend: ``virtual`` (the built-in virtual printer, for the demo), ``network``
            (raw TCP, port 9100), ``serial``, ``usb`` or ``file`` (a device node such
            as ``/dev/usb/lp0``, or a spool file).
        host: Network printer address.
        port: Network printer TCP port.
        serial_device: Serial port name or pyserial URL.
        baudrate: Serial line speed.
        usb_vendor_id: USB vendor id, hexadecimal text (``0x0416``).
        usb_product_id: USB product id, hexadecimal text.
        path: Device node or file for the ``file`` backend.
        profile: The built-in profile the printer starts from.
        paper_mm: Paper width, 58 or 80 mm.
        columns: Characters (font A cells) per line.
        cutter: The printer cuts the paper.
        qr: ``native`` (the printer draws QR codes) or ``raster`` (sent as an image).
        encoding: ``gb18030`` or ``gbk``.
    """

    backend: str = "virtual"
    host: str = ""
    port: int = 9100
    serial_device: str = ""
    baudrate: int = 9600
    usb_vendor_id: str = ""
    usb_product_id: str = ""
    path: str = ""
    profile: str = DEFAULT_PROFILE
    paper_mm: int = 80
    columns: int = 48
    cutter: bool = True
    qr: str = "native"
    encoding: str = "gb18030"

    @classmethod
    def from_profile(cls, name: str, **fields: Any) -> PrinterSettings:
        """Settings whose profile fields are those of built-in profile ``name``."""
        base = PROFILES[name]
        return cls(
            profile=name,
            paper_mm=base.paper_mm,
            columns=base.columns,
            cutter=base.cutter,
            qr=base.qr,
            encoding=base.encoding,
            **fields,
        )

    def printer_profile(self) -> PrinterProfile:
        """The profile the layout engine uses: the base profile with these adjustments.

        Raises:
            SettingsError: ``bad_profile`` with the reason.
        """
        base = PROFILES.get(self.profile)
        if base is None:
            raise SettingsError("bad_profile", f"unknown profile {self.profile!r}", reason="")
        if self.paper_mm not in _DOTS:
            raise SettingsError("bad_profile", "paper must be 58 or 80 mm", reason="paper")
        if not self._adjusted(base):
            return base
        try:
            return dataclasses.replace(
                base,
                name=f"{base.name}+custom",
                paper_mm=self.paper_mm,  # type: ignore[arg-type]
                dots=_DOTS[self.paper_mm],
                columns=self.columns,
                cutter=self.cutter,
                qr=self.qr,  # type: ignore[arg-type]
                encoding=self.encoding,  # type: ignore[arg-type]
            )
        except PrinterConfigError as e:
            raise SettingsError("bad_profile", str(e), reason=str(e)) from None

    def _adjusted(self, base: PrinterProfile) -> bool:
        return (self.paper_mm, self.columns, self.cutter, self.qr, self.encoding) != (
            base.paper_mm,
            base.columns,
            base.cutter,
            base.qr,
            base.encoding,
        )

    def connection(self) -> Connection | None:
        """The hardware connection; ``None`` for the virtual printer.

        Raises:
            SettingsError: ``bad_host``, ``bad_port``, ``bad_device``, ``bad_baudrate``,
                ``bad_usb_id``, ``bad_path`` or ``bad_backend``.
        """
        if self.backend == "virtual":
            return None
        # The printer driver loads python-escpos (0.2 s): only when a printer is used.
        from hardware import FileConnection, NetworkConnection, SerialConnection, UsbConnection

        if self.backend == "network":
            if not _HOST.match(self.host):
                raise SettingsError("bad_host", f"not a host name or address: {self.host!r}")
            if not 1 <= self.port <= 65535:
                raise SettingsError("bad_port", f"not a TCP port: {self.port}")
            return NetworkConnection(self.host, self.port)
        if self.backend == "serial":
            if not self.serial_device.strip():
                raise SettingsError("bad_device", "a serial printer needs its port")
            if self.baudrate not in BAUD_RATES:
                raise SettingsError("bad_baudrate", f"unsupported speed {self.baudrate}")
            return SerialConnection(self.serial_device.strip(), self.baudrate)
        if self.backend == "usb":
            vendor, product = _usb_id(self.usb_vendor_id), _usb_id(self.usb_product_id)
            if vendor is None or product is None:
                raise SettingsError("bad_usb_id", "USB ids are hexadecimal, e.g. 0x0416")
            return UsbConnection(vendor, product)
        if self.backend == "file":
            if not self.path.strip():
                raise SettingsError("bad_path", "a file printer needs a device or file path")
            return FileConnection(self.path.strip())
        raise SettingsError("bad_backend", f"unknown printer backend {self.backend!r}")

    def describe(self) -> str:
        """Where the printer is, for the status panel (not translated: technical)."""
        match self.backend:
            case "network":
                return f"network {self.host}:{self.port}"
            case "serial":
                return f"serial {self.serial_device} @ {self.baudrate}"
            case "usb":
                return f"USB {self.usb_vendor_id}:{self.usb_product_id}"
            case "file":
                return f"file {self.path}"
        return "virtual"

    def validate(self) -> None:
        """Raises :class:`SettingsError` when the settings cannot work."""
        self.connection()
        self.printer_profile()


def _usb_id(text: str) -> int | None:
    try:
        value = int(text.strip(), 16)
    except ValueError:
        return None
    return value if 0 < value <= 0xFFFF else None


@dataclass(frozen=True, slots=True)
class ScannerSettings:
    """Barcode scanners.

    Attributes:
        wedge_threshold_ms: Longest gap between keys of a keyboard-wedge scan, in ms.
        prefix: Characters the scanners send before each code (removed).
        suffix: Characters they send after each code, before Enter (removed).
        serial_device: Port of a serial scanner; empty when there is none.
        serial_baudrate: Its line speed.
    """

    wedge_threshold_ms: int = 35
    prefix: str = ""
    suffix: str = ""
    serial_device: str = ""
    serial_baudrate: int = 9600

    def validate(self) -> None:
        """Raises :class:`SettingsError` (``bad_threshold``, ``bad_affix``,
        ``bad_baudrate``)."""
        if not 5 <= self.wedge_threshold_ms <= 200:
            raise SettingsError("bad_threshold", "the key gap must be 5 to 200 ms")
        for affix in (self.prefix, self.suffix):
            if len(affix) > 8 or any(not ch.isprintable() for ch in affix):
                raise SettingsError("bad_affix", "prefix and suffix: up to 8 printable characters")
        if self.serial_device and self.serial_baudrate not in BAUD_RATES:
            raise SettingsError("bad_baudrate", f"unsupported speed {self.serial_baudrate}")

    def serial_configs(self) -> tuple[SerialScannerConfig, ...]:
        """The serial scanners to run (none when no port is set)."""
        if not self.serial_device.strip():
            return ()
        from hardware import SerialScannerConfig

        return (
            SerialScannerConfig(
                self.serial_device.strip(),
                baudrate=self.serial_baudrate,
                prefix=self.prefix,
                suffix=self.suffix,
            ),
        )


def _from_dict(cls: type[Any], data: object, defaults: Any) -> Any:
    """A settings object from stored JSON, keeping defaults for what is missing or of the
    wrong type (a bad stored value must not stop the terminal from starting)."""
    if not isinstance(data, dict):
        return defaults
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value, default = data[f.name], getattr(defaults, f.name)
        if type(value) is type(default):
            values[f.name] = value
    return dataclasses.replace(defaults, **values)


class DeviceSettingsService:
    """Reads and saves device settings. Listeners run on the caller's thread after a
    save; the composition root uses them to rebuild the printer and the scanners."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._printer_listeners: list[Callable[[PrinterSettings], None]] = []
        self._scanner_listeners: list[Callable[[ScannerSettings], None]] = []

    def on_printer_saved(self, listener: Callable[[PrinterSettings], None]) -> None:
        self._printer_listeners.append(listener)

    def on_scanners_saved(self, listener: Callable[[ScannerSettings], None]) -> None:
        self._scanner_listeners.append(listener)

    def printer(self) -> PrinterSettings:
        """The saved printer settings (defaults: the virtual printer)."""
        with read_session(self._engine) as session:
            name = get_setting(session, "printer_profile", DEFAULT_PROFILE)
            stored = get_setting(session, "printer")
        if name not in PROFILES:
            name = DEFAULT_PROFILE
        defaults = PrinterSettings.from_profile(name)
        if isinstance(stored, dict) and stored.get("profile") != name:
            # The base profile was changed elsewhere (chainpos config): its fields win.
            stored = {k: v for k, v in stored.items() if k in ("backend", *_CONNECTION)}
        settings: PrinterSettings = _from_dict(PrinterSettings, stored, defaults)
        return dataclasses.replace(settings, profile=name)

    def label_printer(self) -> PrinterSettings | None:
        """The cup label printer (杯贴), or None when the store has none (the default):
        setting ``label_printer``, the receipt printer's fields on a 58 mm profile."""
        with read_session(self._engine) as session:
            stored = get_setting(session, "label_printer")
        if not isinstance(stored, dict) or stored.get("backend") in (None, "none"):
            return None
        settings: PrinterSettings = _from_dict(
            PrinterSettings, stored, PrinterSettings.from_profile(LABEL_PROFILE)
        )
        return settings

    def scanners(self) -> ScannerSettings:
        with read_session(self._engine) as session:
            stored = get_setting(session, "scanner")
        settings: ScannerSettings = _from_dict(ScannerSettings, stored, ScannerSettings())
        return settings

    def save_printer(self, settings: PrinterSettings, staff: StaffMember) -> PrinterSettings:
        """Validates and saves printer settings, then tells the listeners.

        Raises:
            SettingsError: ``not_manager``, or why the settings cannot work.
        """
        self._check_manager(staff, "printer")
        settings.validate()
        with write_session(self._engine) as session:
            set_setting(session, "printer_profile", settings.profile)
            set_setting(session, "printer", dataclasses.asdict(settings))
            audit(
                session,
                self._clock.now(),
                staff.number,
                "settings.printer",
                backend=settings.backend,
                where=settings.describe(),
                profile=settings.printer_profile().name,
            )
            session.commit()
        for listener in list(self._printer_listeners):
            listener(settings)
        return settings

    def save_scanners(self, settings: ScannerSettings, staff: StaffMember) -> ScannerSettings:
        """Validates and saves scanner settings, then tells the listeners.

        Raises:
            SettingsError: ``not_manager``, or why the settings cannot work.
        """
        self._check_manager(staff, "scanner")
        settings.validate()
        with write_session(self._engine) as session:
            set_setting(session, "scanner", dataclasses.asdict(settings))
            audit(
                session,
                self._clock.now(),
                staff.number,
                "settings.scanner",
                **dataclasses.asdict(settings),
            )
            session.commit()
        for listener in list(self._scanner_listeners):
            listener(settings)
        return settings

    def _check_manager(self, staff: StaffMember, what: str) -> None:
        if staff.can_configure:
            return
        with write_session(self._engine) as session:
            audit(
                session,
                self._clock.now(),
                staff.number,
                f"settings.{what}.refused",
                reason="not_manager",
            )
            session.commit()
        raise SettingsError("not_manager", "device settings need a store manager")


_CONNECTION = (
    "host",
    "port",
    "serial_device",
    "baudrate",
    "usb_vendor_id",
    "usb_product_id",
    "path",
)
