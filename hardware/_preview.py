"""A picture of the paper: what a printer would print from a byte stream.

The preview draws from :func:`hardware.decode`, never from the document, so it
shows what the bytes say. Geometry follows the printer: font A cells are 12 x 24
dots, a line advances 30 dots, the image is ``profile.dots`` wide (1 pixel = 1 dot,
8 per mm). Styles are honoured roughly: bold is a thicker stroke, magnified text a
larger glyph in wider cells.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from hardware._decode import (
    Cut,
    DotFeed,
    DrawerKick,
    Element,
    Line,
    NativeQR,
    RasterImage,
    decode,
)
from hardware._document import Align
from hardware._profiles import PrinterProfile
from hardware._qr import qr_matrix

__all__ = ["render_preview"]

_CELL = 12  # dots per font A cell
_GLYPH = 24  # font A glyph height in dots
_PITCH = 30  # dots a line feed advances
_MARGIN = 16  # white paper above the first and below the last element
_CUT_HEIGHT = 24
_NOTE_HEIGHT = 20
_QR_QUIET = 4  # modules of white drawn around a native QR symbol
_PAPER = (255, 255, 255)
_INK = (0, 0, 0)
_NOTE = (150, 150, 150)


@lru_cache(maxsize=32)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def render_preview(data: bytes, profile: PrinterProfile, font_path: Path) -> Image.Image:
    """Draw the paper a printer with ``profile`` would produce from ``data``.

    Args:
        data: An ESC/POS job (or several).
        profile: The printer: its width, character set and Chinese mode.
        font_path: A TrueType/OpenType font (``.ttf``/``.ttc``) with CJK glyphs.

    Returns:
        An RGB image ``profile.dots`` pixels wide on paper white. Native QR codes are
        drawn as real, scannable symbols; cuts as dashed lines; drawer kicks as a
        grey note.
    """
    decoded = decode(data, profile.encoding, chinese_at_power_on=not profile.chinese_mode)
    painter = _Painter(profile.dots, str(font_path))
    height = _MARGIN * 2 + sum(painter.height(e) for e in decoded.elements)
    image = Image.new("RGB", (profile.dots, max(height, _MARGIN * 2)), _PAPER)
    painter.draw = ImageDraw.Draw(image)
    painter.image = image
    y = _MARGIN
    for element in decoded.elements:
        painter.paint(element, y)
        y += painter.height(element)
    return image


def _x(align: Align, width: int, paper: int) -> int:
    if align == Align.CENTER:
        return max((paper - width) // 2, 0)
    if align == Align.RIGHT:
        return max(paper - width, 0)
    return 0


class _Painter:
    def __init__(self, dots: int, font_path: str) -> None:
        self.dots = dots
        self.font_path = font_path
        self.image: Image.Image | None = None
        self.draw: ImageDraw.ImageDraw | None = None

    def height(self, element: Element) -> int:
        match element:
            case Line():
                return _PITCH + (element.height - 1) * _GLYPH
            case RasterImage():
                return element.image.height * element.scale_y
            case NativeQR():
                side = len(qr_matrix(element.payload, border=_QR_QUIET))
                return side * element.module_size
            case Cut():
                return _CUT_HEIGHT
            case DrawerKick():
                return _NOTE_HEIGHT
            case DotFeed():
                return element.dots
        return 0

    def paint(self, element: Element, y: int) -> None:
        match element:
            case Line():
                self.line(element, y)
            case RasterImage():
                img = element.image.convert("RGB")
                if element.scale_x != 1 or element.scale_y != 1:
                    size = (img.width * element.scale_x, img.height * element.scale_y)
                    img = img.resize(size, Image.Resampling.NEAREST)
                self.paste(img, element.align, y)
            case NativeQR():
                self.paste(self.qr(element), element.align, y)
            case Cut():
                self.cut(element, y)
            case DrawerKick():
                self.note(f"[钱箱 drawer pin {element.pin}]", y)

    def paste(self, img: Image.Image, align: Align, y: int) -> None:
        assert self.image is not None
        self.image.paste(img, (_x(align, img.width, self.dots), y))

    def line(self, line: Line, y: int) -> None:
        assert self.draw is not None
        x = _x(line.align, line.cells * _CELL, self.dots)
        base = y + (line.height - 1) * _GLYPH  # magnified text grows upwards
        for run in line.runs:
            font = _font(self.font_path, _GLYPH * run.height)
            for ch in run.text:
                cell = (1 if ch < "\x80" else 2) * _CELL * run.width
                if ch.strip():
                    glyph = font.getlength(ch)
                    gx = x + (cell - glyph) / 2
                    gy = base + _GLYPH - _GLYPH * run.height
                    stroke = 1 if run.bold else 0
                    self.draw.text(
                        (gx, gy), ch, font=font, fill=_INK, stroke_width=stroke, stroke_fill=_INK
                    )
                x += cell

    def qr(self, qr: NativeQR) -> Image.Image:
        matrix = qr_matrix(qr.payload, border=_QR_QUIET)
        side = len(matrix)
        img = Image.new("L", (side, side), 255)
        img.putdata([0 if dark else 255 for row in matrix for dark in row])
        scaled = side * qr.module_size
        return img.resize((scaled, scaled), Image.Resampling.NEAREST).convert("RGB")

    def cut(self, cut: Cut, y: int) -> None:
        assert self.draw is not None
        mid = y + _CUT_HEIGHT // 2
        dash = 8 if cut.kind == "partial" else 16
        for x in range(0, self.dots, dash * 2):
            self.draw.line([(x, mid), (x + dash, mid)], fill=_NOTE, width=2)

    def note(self, text: str, y: int) -> None:
        assert self.draw is not None
        font = _font(self.font_path, 14)
        width = font.getlength(text)
        self.draw.text((self.dots - width - 4, y + 2), text, font=font, fill=_NOTE)
