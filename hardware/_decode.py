"""An independent ESC/POS reader: what a printer would do with a byte stream.

This parser is written from the ESC/POS command reference, not from the layout
engine, so tests that decode rendered jobs check the bytes the printer receives
rather than the intentions of the code that wrote them. It is also what the
preview draws from.

What it models:

* Text: bytes from 0x20 up are text. In Chinese mode (``FS &`` on, ``FS .`` off)
  a byte 0x81-0xFE starts a double-byte character (GBK and GB18030) or, for
  GB18030 only, a four-byte one (second byte 0x30-0x39); outside Chinese mode
  bytes above 0x7F are single-byte code page characters (``ESC t``). Bytes the
  printer's character set cannot read become U+FFFD and are listed in
  :attr:`Decoded.problems`.
* Lines end at LF, ``ESC d`` or ``ESC J``. Each keeps its alignment (taken when the
  line starts, as ``ESC a`` only acts at the start of a line), and runs of text with
  their bold flag and character size (``ESC E``, ``ESC G``, ``ESC !``, ``GS !``,
  ``FS !``, ``FS W``).
* Cuts (``GS V``, ``ESC i``, ``ESC m``), drawer kicks (``ESC p``, ``DLE DC4 1``),
  native QR codes (``GS ( k`` with cn = 49: stored payload printed by fn 81),
  raster images (``GS v 0``) and column images (``ESC *``) as PIL images,
  real-time status requests (``DLE EOT``).
* Anything else is listed in :attr:`Decoded.unknown` with its offset, never
  skipped silently; commands whose parameters are recognised but whose effect is
  not modelled (line spacing, fonts, margins...) are simply consumed.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # Pillow loads with the first image decoded, not with the terminal
    from PIL import Image

from hardware._document import Align

__all__ = [
    "Cut",
    "Decoded",
    "DotFeed",
    "DrawerKick",
    "Element",
    "Line",
    "NativeQR",
    "RasterImage",
    "Run",
    "UnknownCommand",
    "decode",
]

NUL, HT, LF, FF, CR = 0x00, 0x09, 0x0A, 0x0C, 0x0D
DLE, EOT, ENQ, DC4, CAN = 0x10, 0x04, 0x05, 0x14, 0x18
ESC, FS, GS = 0x1B, 0x1C, 0x1D

# fmt: off
# Code pages selectable with ESC t n that Python can decode.
_CODE_PAGES = {0: "cp437", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865", 16: "cp1252",
               17: "cp866", 19: "cp858"}

# Fixed total lengths (prefix included) of commands whose parameters are skipped.
_ESC_FIXED = {
    ord("@"): 2, ord("!"): 3, ord("E"): 3, ord("G"): 3, ord("-"): 3, ord("a"): 3,
    ord("d"): 3, ord("J"): 3, ord("2"): 2, ord("3"): 3, ord("R"): 3, ord("t"): 3,
    ord("M"): 3, ord("p"): 5, ord(" "): 3, ord("$"): 4, ord("\\"): 4, ord("{"): 3,
    ord("V"): 3, ord("i"): 2, ord("m"): 2, ord("e"): 3, ord("U"): 3, ord("="): 3,
    ord("r"): 3, ord("S"): 2, ord("L"): 2, ord("T"): 3, ord("W"): 10, ord("%"): 3,
    ord("?"): 3, ord("K"): 3, ord("<"): 2, ord("u"): 3, ord("v"): 2,
}
_GS_FIXED = {
    ord("!"): 3, ord("B"): 3, ord("H"): 3, ord("L"): 4, ord("W"): 4, ord("a"): 3,
    ord("b"): 3, ord("f"): 3, ord("h"): 3, ord("w"): 3, ord("I"): 3, ord("r"): 3,
    ord("P"): 4, ord("$"): 4, ord("\\"): 4, ord("T"): 3, ord("/"): 3, ord("^"): 5,
}
_FS_FIXED = {
    ord("&"): 2, ord("."): 2, ord("!"): 3, ord("-"): 3, ord("C"): 3, ord("S"): 4,
    ord("W"): 3, ord("p"): 4, ord("2"): 76,
}
# fmt: on


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive characters printed with the same style.

    Attributes:
        text: The characters.
        bold: Emphasised (``ESC E``/``ESC G``/``ESC !`` bit 3).
        width: Horizontal magnification, 1-8.
        height: Vertical magnification, 1-8.
        cells: Font A cells taken before magnification: one per single-byte
            character, two per double- or four-byte character.
    """

    text: str
    bold: bool
    width: int
    height: int
    cells: int


@dataclass(frozen=True, slots=True)
class Line:
    """One printed line of text (possibly empty: a blank line)."""

    runs: tuple[Run, ...]
    align: Align

    @property
    def text(self) -> str:
        """The characters of the line."""
        return "".join(r.text for r in self.runs)

    @property
    def cells(self) -> int:
        """Font A cells the line takes on paper, magnification included."""
        return sum(r.cells * r.width for r in self.runs)

    @property
    def bold(self) -> bool:
        """Every visible character is bold (and there is at least one)."""
        visible = [r for r in self.runs if r.text.strip()]
        return bool(visible) and all(r.bold for r in visible)

    @property
    def double(self) -> bool:
        """Every visible character is at least double width and double height."""
        visible = [r for r in self.runs if r.text.strip()]
        return bool(visible) and all(r.width >= 2 and r.height >= 2 for r in visible)

    @property
    def height(self) -> int:
        """Largest vertical magnification on the line (1 for a blank line)."""
        return max((r.height for r in self.runs), default=1)


@dataclass(frozen=True, slots=True)
class RasterImage:
    """A bit image (``GS v 0`` or ``ESC *``); ``image`` is mode ``"1"``, black = ink.

    ``scale_x``/``scale_y`` are the printer's magnification of each image dot.
    """

    image: Image.Image
    align: Align
    scale_x: int = 1
    scale_y: int = 1
    offset: int = 0


@dataclass(frozen=True, slots=True)
class NativeQR:
    """A QR code the printer draws itself (``GS ( k``, printed by function 81)."""

    payload: str
    module_size: int
    error_level: Literal["L", "M", "Q", "H"]
    model: int
    align: Align
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Cut:
    """A paper cut. ``feed`` is the extra feed in motion units, when the command has one."""

    kind: Literal["full", "partial"]
    feed: int | None
    offset: int = 0


@dataclass(frozen=True, slots=True)
class DrawerKick:
    """A pulse on the drawer kick connector."""

    pin: Literal[2, 5]
    on_ms: int
    off_ms: int
    offset: int = 0


@dataclass(frozen=True, slots=True)
class DotFeed:
    """A paper feed of ``dots`` dots without text (``ESC J``)."""

    dots: int


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    """Bytes the parser does not understand, at ``offset`` in the stream."""

    offset: int
    data: bytes


Element = Line | RasterImage | NativeQR | Cut | DrawerKick | DotFeed


@dataclass(slots=True)
class Decoded:
    """Everything a printer would do with a byte stream, in order.

    Attributes:
        elements: Lines, images, QR codes, cuts, drawer kicks and feeds, top to bottom.
        unknown: Commands not understood, with their offsets.
        problems: Human-readable findings that would print wrongly: bytes the
            character set cannot read, text dropped by ``ESC @``, text left in the
            buffer at the end, cuts in the middle of a line.
        status_requests: The ``n`` of every ``DLE EOT n`` real-time status request.
    """

    elements: list[Element] = field(default_factory=list)
    unknown: list[UnknownCommand] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    status_requests: list[int] = field(default_factory=list)

    @property
    def lines(self) -> list[Line]:
        """The printed lines (blank ones included)."""
        return [e for e in self.elements if isinstance(e, Line)]

    @property
    def text_lines(self) -> list[str]:
        """The text of every printed line."""
        return [e.text for e in self.elements if isinstance(e, Line)]

    @property
    def text(self) -> str:
        """All printed lines joined with line feeds."""
        return "\n".join(self.text_lines)

    @property
    def cuts(self) -> list[Cut]:
        """Every cut, in order."""
        return [e for e in self.elements if isinstance(e, Cut)]

    @property
    def drawer_kicks(self) -> list[DrawerKick]:
        """Every drawer pulse, in order."""
        return [e for e in self.elements if isinstance(e, DrawerKick)]

    @property
    def qr_codes(self) -> list[NativeQR]:
        """Every natively printed QR code, in order."""
        return [e for e in self.elements if isinstance(e, NativeQR)]

    @property
    def images(self) -> list[RasterImage]:
        """Every bit image, in order."""
        return [e for e in self.elements if isinstance(e, RasterImage)]


def token_length(
    data: bytes | bytearray, pos: int, *, final: bool = True
) -> tuple[int, bool] | None:
    """Length of the token starting at ``data[pos]``.

    A token is either a run of text bytes (up to the next byte below 0x20) or one
    command with its parameters.

    Args:
        data: The stream.
        pos: Where the token starts; ``pos < len(data)``.
        final: Whether ``data`` is the whole stream. When ``False`` and a command's
            parameters have not all arrived yet, ``None`` is returned so the caller
            can wait for more bytes.

    Returns:
        ``(length, known)``; ``known`` is ``False`` for unknown commands (then the
        length is just the command's first bytes) and for truncated ones at the end
        of a final stream. ``None`` when more data is needed.
    """
    n = len(data)
    b = data[pos]
    if b >= 0x20:
        end = pos + 1
        while end < n and data[end] >= 0x20:
            end += 1
        return end - pos, True
    if b in (LF, CR, HT):
        return 1, True
    if b not in (ESC, GS, FS, DLE):
        return 1, False
    length = _command_length(data, pos)
    if length is None:
        return None if not final else (n - pos, False)
    if length <= 0:
        return max(-length, 1), False
    if pos + length > n:
        return None if not final else (n - pos, False)
    return length, True


def _u16(data: bytes | bytearray, at: int) -> int:
    return data[at] | (data[at + 1] << 8)


def _command_length(data: bytes | bytearray, pos: int) -> int | None:
    """Total length of the command at ``pos``; ``None`` if its header is incomplete,
    ``-k`` for an unknown command whose first ``k`` bytes are reported."""
    n = len(data)
    if pos + 1 >= n:
        return None
    prefix, c = data[pos], data[pos + 1]
    if prefix == ESC:
        if c in _ESC_FIXED:
            return _ESC_FIXED[c]
        if c == ord("*"):  # ESC * m nL nH d1...dk: k = columns x (1 or 3)
            if pos + 5 > n:
                return None
            m, columns = data[pos + 2], _u16(data, pos + 3)
            if m in (0, 1):
                return 5 + columns
            if m in (32, 33):
                return 5 + 3 * columns
            return -3
        if c == ord("c"):  # ESC c 3 n / ESC c 4 n / ESC c 5 n
            return 4
        if c == ord("D"):  # ESC D n1 ... NUL: tab positions
            end = data.find(b"\x00", pos + 2)
            return None if end < 0 else end - pos + 1
        if c == ord("("):  # ESC ( fn pL pH ...
            if pos + 5 > n:
                return None
            return 5 + _u16(data, pos + 3)
        return -2
    if prefix == GS:
        if c in _GS_FIXED:
            return _GS_FIXED[c]
        if c == ord("V"):  # GS V m [n]
            if pos + 3 > n:
                return None
            m = data[pos + 2]
            if m in (0, 1, 48, 49):
                return 3
            if m in (65, 66, 97, 98, 103, 104):
                return 4
            return -3
        if c == ord("v"):  # GS v 0 m xL xH yL yH d1...dk, k = x * y
            if pos + 8 > n:
                return None
            if data[pos + 2] != ord("0"):
                return -3
            return 8 + _u16(data, pos + 4) * _u16(data, pos + 6)
        if c == ord("("):  # GS ( fn pL pH ...
            if pos + 5 > n:
                return None
            return 5 + _u16(data, pos + 3)
        if c == ord("8"):  # GS 8 fn p1 p2 p3 p4 ...: 32-bit length
            if pos + 7 > n:
                return None
            size = int.from_bytes(data[pos + 3 : pos + 7], "little")
            return 7 + size
        if c == ord("k"):  # GS k m ...: NUL-terminated (m 0-6) or counted (m 65-79)
            if pos + 3 > n:
                return None
            m = data[pos + 2]
            if m <= 6:
                end = data.find(b"\x00", pos + 3)
                return None if end < 0 else end - pos + 1
            if pos + 4 > n:
                return None
            return 4 + data[pos + 3]
        if c == ord("*"):  # GS * x y d1...dk, k = x * y * 8
            if pos + 4 > n:
                return None
            return 4 + data[pos + 2] * data[pos + 3] * 8
        return -2
    if prefix == FS:
        if c in _FS_FIXED:
            return _FS_FIXED[c]
        if c == ord("("):
            if pos + 5 > n:
                return None
            return 5 + _u16(data, pos + 3)
        return -2
    # DLE
    if c in (EOT, ENQ):
        return 3
    if c == DC4:  # DLE DC4 fn ...: fn 1 (pulse) and fn 2 (power off) take 5 bytes
        if pos + 3 > n:
            return None
        fn = data[pos + 2]
        if fn in (1, 2):
            return 5
        if fn == 8:
            return 10
        return -3
    return -2


@dataclass(slots=True)
class _State:
    """Print modes that ``ESC @`` resets."""

    chinese: bool
    bold: bool = False
    width: int = 1
    height: int = 1
    kanji_width: int = 1  # FS ! / FS W magnify double-byte characters only
    kanji_height: int = 1
    align: Align = Align.LEFT
    code_page: int = 0
    charset: int = 0
    qr_size: int = 3
    qr_error: Literal["L", "M", "Q", "H"] = "L"
    qr_model: int = 2
    qr_data: bytes | None = None


class _Reader:
    def __init__(self, data: bytes, encoding: str, chinese_at_power_on: bool) -> None:
        self.data = data
        self.encoding = codecs.lookup(encoding).name  # "gb18030" or "gbk"
        if self.encoding not in ("gb18030", "gbk"):
            raise ValueError(f"unsupported printer encoding {encoding!r}")
        self.power_on_chinese = chinese_at_power_on
        self.state = _State(chinese=chinese_at_power_on)
        self.out = Decoded()
        self.runs: list[Run] = []
        self.line_align: Align | None = None  # alignment fixed when a line starts
        self.column = 0  # cells used on the current line, for HT

    # -- lines -----------------------------------------------------------------
    def add_text(self, text: str, cells: int, double_byte: bool) -> None:
        if not text:
            return
        s = self.state
        width = max(s.width, s.kanji_width) if double_byte else s.width
        height = max(s.height, s.kanji_height) if double_byte else s.height
        if self.line_align is None:
            self.line_align = s.align
        last = self.runs[-1] if self.runs else None
        if last and (last.bold, last.width, last.height) == (s.bold, width, height):
            self.runs[-1] = Run(last.text + text, s.bold, width, height, last.cells + cells)
        else:
            self.runs.append(Run(text, s.bold, width, height, cells))
        self.column += cells * width

    def end_line(self) -> None:
        self.out.elements.append(Line(tuple(self.runs), self.line_align or self.state.align))
        self.runs = []
        self.line_align = None
        self.column = 0

    def pending(self) -> bool:
        return bool(self.runs)

    def flush_if_pending(self) -> None:
        if self.runs:
            self.end_line()

    # -- text ------------------------------------------------------------------
    def text(self, raw: bytes, offset: int) -> None:
        if self.state.chinese:
            self.chinese_text(raw, offset)
        else:
            self.single_byte_text(raw, offset)

    def single_byte_text(self, raw: bytes, offset: int) -> None:
        codec = _CODE_PAGES.get(self.state.code_page)
        if codec is None:
            self.problem(offset, f"code page {self.state.code_page} is not modelled")
            codec = "cp437"
        self.add_text(raw.decode(codec, errors="replace"), len(raw), double_byte=False)

    def chinese_text(self, raw: bytes, offset: int) -> None:
        ascii_start = 0
        i, n = 0, len(raw)
        while i < n:
            b = raw[i]
            if b < 0x80:
                i += 1
                continue
            if ascii_start < i:
                chunk = raw[ascii_start:i]
                self.add_text(chunk.decode("ascii"), len(chunk), double_byte=False)
            size, valid = self.multibyte_size(raw, i)
            char = None
            if valid:
                try:
                    char = raw[i : i + size].decode(self.encoding)
                except UnicodeDecodeError:
                    char = None
            if char is None:
                bad = raw[i : i + size]
                self.problem(offset + i, f"{self.encoding} cannot read bytes {bad.hex(' ')}")
                char = "\ufffd"
            # Every multi-byte character prints with a double-width Chinese glyph.
            self.add_text(char, 2, double_byte=True)
            i += size
            ascii_start = i
        if ascii_start < n:
            chunk = raw[ascii_start:]
            self.add_text(chunk.decode("ascii"), len(chunk), double_byte=False)

    def multibyte_size(self, raw: bytes, i: int) -> tuple[int, bool]:
        """Bytes of the character starting with ``raw[i]`` (>= 0x80), and whether the
        printer's character set can read them."""
        lead, n = raw[i], len(raw)
        if not 0x81 <= lead <= 0xFE or i + 1 >= n:
            return 1, False
        second = raw[i + 1]
        if 0x30 <= second <= 0x39:
            # A four-byte GB18030 sequence; a GBK printer cannot read it.
            size = min(4, n - i)
            return size, self.encoding == "gb18030" and size == 4
        if 0x40 <= second <= 0xFE and second != 0x7F:
            return 2, True
        return 1, False

    def problem(self, offset: int, message: str) -> None:
        self.out.problems.append(f"at byte {offset}: {message}")

    # -- commands --------------------------------------------------------------
    def run(self) -> Decoded:
        data, pos = self.data, 0
        while pos < len(data):
            token = token_length(data, pos, final=True)
            assert token is not None  # final=True never asks for more data
            length, known = token
            chunk = data[pos : pos + length]
            if not known:
                self.out.unknown.append(UnknownCommand(pos, bytes(chunk)))
            elif data[pos] >= 0x20:
                self.text(bytes(chunk), pos)
            else:
                self.command(bytes(chunk), pos)
            pos += length
        if self.pending():
            self.problem(len(data), "text without a line feed stays in the printer's buffer")
            self.end_line()
        return self.out

    def command(self, cmd: bytes, offset: int) -> None:
        b = cmd[0]
        if b == LF:
            self.end_line()
        elif b == CR:
            pass  # ignored by printers with auto line feed off (the default)
        elif b == HT:
            self.add_text(" " * (8 - self.column % 8), 8 - self.column % 8, double_byte=False)
        elif b == ESC:
            self.esc(cmd, offset)
        elif b == GS:
            self.gs(cmd, offset)
        elif b == FS:
            self.fs(cmd, offset)
        elif b == DLE:
            self.dle(cmd, offset)

    def esc(self, cmd: bytes, offset: int) -> None:
        c, s = chr(cmd[1]), self.state
        if c == "@":
            if self.pending():
                self.problem(offset, f"ESC @ discards unprinted text {self.line_text()!r}")
                self.runs, self.line_align, self.column = [], None, 0
            self.state = _State(chinese=self.power_on_chinese)
        elif c == "!":
            n = cmd[2]
            s.bold = bool(n & 0x08)
            s.height = 2 if n & 0x10 else 1
            s.width = 2 if n & 0x20 else 1
        elif c in "EG":
            s.bold = bool(cmd[2] & 1)
        elif c == "a":
            s.align = {0: Align.LEFT, 1: Align.CENTER, 2: Align.RIGHT}.get(cmd[2] % 48, Align.LEFT)
            if not self.pending():
                self.line_align = None
        elif c == "d":
            self.feed_lines(cmd[2])
        elif c == "J":
            self.flush_if_pending()
            self.out.elements.append(DotFeed(cmd[2]))
        elif c == "t":
            s.code_page = cmd[2]
        elif c == "R":
            s.charset = cmd[2]
            if cmd[2] != 0:
                self.problem(
                    offset,
                    f"international character set {cmd[2]} changes # $ @ [ \\ ] ^ ` {{ | }} ~",
                )
        elif c == "p":
            pins: dict[int, Literal[2, 5]] = {0: 2, 48: 2, 1: 5, 49: 5}
            pin = pins.get(cmd[2])
            if pin is None:
                self.out.unknown.append(UnknownCommand(offset, cmd))
            else:
                self.out.elements.append(DrawerKick(pin, cmd[3] * 2, cmd[4] * 2, offset))
        elif c in "im":
            self.cut("full" if c == "i" else "partial", None, offset)
        elif c == "*":
            self.column_image(cmd, offset)
        # Every other fixed-length ESC command (spacing, fonts, underline, margins...)
        # changes nothing this model draws.

    def gs(self, cmd: bytes, offset: int) -> None:
        c, s = chr(cmd[1]), self.state
        if c == "!":
            s.width = ((cmd[2] >> 4) & 0x07) + 1
            s.height = (cmd[2] & 0x07) + 1
        elif c == "V":
            m = cmd[2]
            kind: Literal["full", "partial"] = "full" if m in (0, 48, 65, 97, 103) else "partial"
            self.cut(kind, cmd[3] if len(cmd) > 3 else None, offset)
        elif c == "v":
            self.raster_image(cmd, offset)
        elif c == "(" and cmd[2] == ord("k"):
            self.two_d_code(cmd, offset)
        elif c == "(" or c in "8k*":
            # Graphics, barcodes and other functions this model does not draw.
            self.out.unknown.append(UnknownCommand(offset, cmd))

    def fs(self, cmd: bytes, offset: int) -> None:
        c, s = chr(cmd[1]), self.state
        if c == "&":
            s.chinese = True
        elif c == ".":
            s.chinese = False
        elif c == "!":
            s.kanji_width = 2 if cmd[2] & 0x04 else 1
            s.kanji_height = 2 if cmd[2] & 0x08 else 1
        elif c == "W":
            s.kanji_width = s.kanji_height = 2 if cmd[2] & 1 else 1
        elif c in "(p2":
            self.out.unknown.append(UnknownCommand(offset, cmd))

    def dle(self, cmd: bytes, offset: int) -> None:
        if cmd[1] == EOT:
            self.out.status_requests.append(cmd[2])
        elif cmd[1] == DC4 and cmd[2] == 1:
            # DLE DC4 1 m t: pulse pin (m = 0: pin 2, 1: pin 5) for t x 100 ms.
            pin: Literal[2, 5] = 2 if cmd[3] == 0 else 5
            self.out.elements.append(DrawerKick(pin, cmd[4] * 100, cmd[4] * 100, offset))
        elif cmd[1] != ENQ:
            self.out.unknown.append(UnknownCommand(offset, cmd))

    # -- helpers ---------------------------------------------------------------
    def line_text(self) -> str:
        return "".join(r.text for r in self.runs)

    def feed_lines(self, count: int) -> None:
        # ESC d n prints the buffer (if any) and feeds n lines in total.
        if self.pending():
            self.end_line()
            count -= 1
        for _ in range(max(count, 0)):
            self.end_line()

    def cut(self, kind: Literal["full", "partial"], feed: int | None, offset: int) -> None:
        if self.pending():
            self.problem(offset, f"cut in the middle of line {self.line_text()!r}")
            self.end_line()
        self.out.elements.append(Cut(kind, feed, offset))

    def raster_image(self, cmd: bytes, offset: int) -> None:
        self.flush_if_pending()
        m = cmd[3] % 48
        width_bytes, height = _u16(cmd, 4), _u16(cmd, 6)
        image = _image_from_rows(cmd[8:], width_bytes, height)
        self.out.elements.append(
            RasterImage(image, self.state.align, 2 if m & 1 else 1, 2 if m & 2 else 1, offset)
        )

    def column_image(self, cmd: bytes, offset: int) -> None:
        # ESC * m nL nH: columns of 8 (m = 0, 1) or 24 (m = 32, 33) dots, MSB on top.
        m, columns = cmd[2], _u16(cmd, 3)
        rows = 8 if m in (0, 1) else 24
        per_column = rows // 8
        from PIL import Image

        image = Image.new("1", (columns, rows), 1)
        pixels = image.load()
        assert pixels is not None
        for x in range(columns):
            for k in range(per_column):
                byte = cmd[5 + x * per_column + k]
                for bit in range(8):
                    if byte & (0x80 >> bit):
                        pixels[x, k * 8 + bit] = 0
        scale_x = 2 if m in (0, 32) else 1  # single density doubles each dot's width
        scale_y = 3 if m in (0, 1) else 1
        self.out.elements.append(RasterImage(image, self.state.align, scale_x, scale_y, offset))

    def two_d_code(self, cmd: bytes, offset: int) -> None:
        # GS ( k pL pH cn fn [parameters]
        cn, fn, params = cmd[5], cmd[6], cmd[7:]
        s = self.state
        if cn != 49 or (not params and fn != 82):  # only QR codes are modelled
            self.out.unknown.append(UnknownCommand(offset, cmd))
            return
        if fn == 65:  # select model: 49 model 1, 50 model 2, 51 micro QR
            s.qr_model = params[0] - 48
        elif fn == 67:  # module size in dots
            s.qr_size = params[0]
        elif fn == 69:  # error correction 48..51 = L, M, Q, H
            levels: dict[int, Literal["L", "M", "Q", "H"]] = {48: "L", 49: "M", 50: "Q", 51: "H"}
            s.qr_error = levels.get(params[0], "L")
        elif fn == 80:  # store data: m = 48, then the payload
            s.qr_data = bytes(params[1:])
        elif fn == 81:  # print the stored symbol
            self.flush_if_pending()
            if s.qr_data is None:
                self.problem(offset, "QR print without stored data")
                return
            try:
                payload = s.qr_data.decode("utf-8")
            except UnicodeDecodeError:
                payload = s.qr_data.decode("latin-1")
                self.problem(offset, "QR payload is not UTF-8")
            self.out.elements.append(
                NativeQR(payload, s.qr_size, s.qr_error, s.qr_model, s.align, offset)
            )
        elif fn != 82:  # 82 asks for size information: no printed effect
            self.out.unknown.append(UnknownCommand(offset, cmd))


def _image_from_rows(data: bytes, width_bytes: int, height: int) -> Image.Image:
    """A mode "1" image (0 = black) from ESC/POS raster rows (1 bit = black dot)."""
    from PIL import Image

    inverted = bytes(b ^ 0xFF for b in data)  # PIL mode "1": bit 1 = white
    return Image.frombytes("1", (width_bytes * 8, height), inverted)


def decode(data: bytes, encoding: str, *, chinese_at_power_on: bool = True) -> Decoded:
    """Read an ESC/POS byte stream the way a printer would.

    Args:
        data: The bytes sent to the printer.
        encoding: The printer's double-byte character set, ``"gb18030"`` or ``"gbk"``.
            A GBK printer cannot read four-byte sequences: they decode as U+FFFD
            and are reported in ``problems``.
        chinese_at_power_on: Whether the printer starts (and returns after ``ESC @``)
            in Chinese mode. Pass ``not profile.chinese_mode`` for a profile.

    Returns:
        The decoded job.

    Raises:
        ValueError: ``encoding`` is neither GB18030 nor GBK.
    """
    return _Reader(bytes(data), encoding, chinese_at_power_on).run()
