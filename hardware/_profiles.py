"""Printer profiles: what the layout engine needs to know about one printer model.

A profile is pure data; it never talks to a device. The connection (network, USB,
serial, file) is configured separately, so one profile serves every way of reaching
the same model.

Units: ``columns`` are character cells of font A (12 x 24 dots); an ASCII character
takes one cell and every double-byte (GBK/GB18030) character takes two. ``dots`` is
the printable width in dots at 203 dpi (8 dots per mm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hardware._exceptions import PrinterConfigError

__all__ = ["PROFILES", "PrinterProfile", "get_profile"]

#: Width of one font A cell in dots; ``columns * CELL_DOTS`` never exceeds ``dots``.
CELL_DOTS = 12


@dataclass(frozen=True, slots=True)
class PrinterProfile:
    """One printer model as the layout engine sees it.

    Attributes:
        name: Identifier used in settings, e.g. ``"generic-80-gb18030"``.
        paper_mm: Paper roll width in millimetres: 58 or 80.
        columns: Font A cells per line: 32 on 58 mm paper, 48 on 80 mm paper.
        dots: Printable width in dots: 384 on 58 mm paper, 576 on 80 mm paper.
        encoding: The printer's double-byte character set: ``"gb18030"`` (accepts
            4-byte sequences) or ``"gbk"`` (2-byte only; text is reduced to GBK
            with the fallback rules of :func:`hardware.to_printable`).
        chinese_mode: ``True`` when the printer powers on in single-byte mode and
            needs ``FS &`` to print double-byte text. Such jobs send ``FS &`` once,
            right after ``ESC @``, and ``FS .`` once at the end, so the whole job runs
            in Chinese mode (ASCII stays single-byte there, and the job never sends
            single bytes above 0x7F, so one switch is enough). ``False`` when the
            firmware is always in Chinese mode (the factory setting of most
            Chinese-market printers); jobs then send neither command.
        cutter: Whether the printer has an auto-cutter. Without one a cut becomes
            a paper feed to the tear bar.
        qr: ``"native"`` to send the payload with ``GS ( k`` and let the printer
            draw the symbol, ``"raster"`` to draw it here and send a ``GS v 0`` image
            (for printers without a QR engine).
        drawer_pin: Drawer kick connector pin the cash drawer is wired to: 2 or 5.
    """

    name: str
    paper_mm: Literal[58, 80]
    columns: int
    dots: int
    encoding: Literal["gb18030", "gbk"]
    chinese_mode: bool
    cutter: bool
    qr: Literal["native", "raster"]
    drawer_pin: Literal[2, 5] = 2

    def __post_init__(self) -> None:
        if self.paper_mm not in (58, 80):
            raise PrinterConfigError(f"{self.name}: paper_mm must be 58 or 80, not {self.paper_mm}")
        if self.dots <= 0 or self.dots % 8:
            raise PrinterConfigError(f"{self.name}: dots must be a positive multiple of 8")
        if self.columns < 16 or self.columns * CELL_DOTS > self.dots:
            raise PrinterConfigError(
                f"{self.name}: {self.columns} columns of {CELL_DOTS} dots do not fit {self.dots}"
            )
        if self.encoding not in ("gb18030", "gbk"):
            raise PrinterConfigError(f"{self.name}: encoding must be gb18030 or gbk")
        if self.qr not in ("native", "raster"):
            raise PrinterConfigError(f"{self.name}: qr must be native or raster")
        if self.drawer_pin not in (2, 5):
            raise PrinterConfigError(f"{self.name}: drawer_pin must be 2 or 5")


def _profile(
    name: str,
    paper_mm: Literal[58, 80],
    encoding: Literal["gb18030", "gbk"],
    *,
    chinese_mode: bool,
    cutter: bool,
    qr: Literal["native", "raster"],
) -> PrinterProfile:
    columns, dots = (48, 576) if paper_mm == 80 else (32, 384)
    return PrinterProfile(
        name=name,
        paper_mm=paper_mm,
        columns=columns,
        dots=dots,
        encoding=encoding,
        chinese_mode=chinese_mode,
        cutter=cutter,
        qr=qr,
    )


#: Built-in profiles by name. The generic ones are conservative about the firmware
#: (they switch Chinese mode on explicitly); the Xprinter ones match the factory
#: settings of those models (always in Chinese mode).
PROFILES: dict[str, PrinterProfile] = {
    p.name: p
    for p in (
        # 80 mm kitchen/counter printer with a GB18030 font and a QR engine.
        _profile("generic-80-gb18030", 80, "gb18030", chinese_mode=True, cutter=True, qr="native"),
        # 80 mm printer whose font is GBK only (no 4-byte sequences).
        _profile("generic-80-gbk", 80, "gbk", chinese_mode=True, cutter=True, qr="native"),
        # 58 mm mobile/counter printer, GBK font, no cutter, no QR engine.
        _profile("generic-58-gbk", 58, "gbk", chinese_mode=True, cutter=False, qr="raster"),
        # Xprinter XP-58 series: 58 mm, GBK, tear bar, QR printed as an image.
        _profile("xprinter-58", 58, "gbk", chinese_mode=False, cutter=False, qr="raster"),
        # Xprinter XP-80 series: 80 mm, GBK, auto-cutter, native QR.
        _profile("xprinter-80", 80, "gbk", chinese_mode=False, cutter=True, qr="native"),
    )
}


def get_profile(name: str) -> PrinterProfile:
    """Look a built-in profile up by name.

    Args:
        name: A key of :data:`PROFILES`.

    Returns:
        The profile.

    Raises:
        PrinterConfigError: No built-in profile has that name.
    """
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise PrinterConfigError(f"unknown printer profile {name!r} (known: {known})") from None
