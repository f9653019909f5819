"""The layout engine: a :class:`~hardware.Document` to ESC/POS bytes for one profile.

Text bytes are produced here, through :func:`hardware.encode_text` rules, never by
python-escpos's encoding guess. Every line is measured in font A cells with
:func:`hardware.print_width` and is never wider than ``profile.columns`` (half that
for double-size text), so the printer never wraps a line on its own.

Job structure::

    ESC @            initialise (power-on modes, empty buffer)
    ESC R 0          USA international set: # $ @ [ \\ ] ^ ` { | } ~ print as ASCII
    FS &             Chinese mode on, only for profiles with ``chinese_mode``
    ESC p m t1 t2    drawer kick, only with ``Document.open_drawer``: the drawer opens
                     while the receipt prints, so the cashier can count change
    ...blocks...     each line ends with LF
    FS .             Chinese mode off, only for profiles with ``chinese_mode``
    GS V B 0         feed to the cutter and partial cut (or ESC d 4 without a cutter)

The cut is the last command, so a printer (or the virtual printer) can take it as
the end of the job.
"""

from __future__ import annotations

from hardware._document import (
    Align,
    Block,
    Columns,
    Document,
    Feed,
    Item,
    QRCode,
    Rule,
    Text,
)
from hardware._profiles import PrinterProfile
from hardware._qr import qr_matrix, qr_module_size, qr_modules
from hardware._text import print_width, to_printable, wrap

__all__ = ["drawer_kick", "receipt_test_page", "render"]

_ESC, _GS, _FS = b"\x1b", b"\x1d", b"\x1c"
_LF = b"\n"
_INIT = _ESC + b"@"
_CHARSET_USA = _ESC + b"R\x00"
_CHINESE_ON = _FS + b"&"
_CHINESE_OFF = _FS + b"."
_ALIGN = {Align.LEFT: _ESC + b"a\x00", Align.CENTER: _ESC + b"a\x01", Align.RIGHT: _ESC + b"a\x02"}
_BOLD = {True: _ESC + b"E\x01", False: _ESC + b"E\x00"}
_SIZE = {True: _GS + b"!\x11", False: _GS + b"!\x00"}  # double width and height / normal
# GS V 66 n: feed to the cutting position plus n motion units, then partial cut.
_CUT = _GS + b"V\x42\x00"
_TEAR_FEED = _ESC + b"d\x04"  # no cutter: bring the last line past the tear bar
# ESC p m t1 t2: pulse on for t1 x 2 ms, off for t2 x 2 ms. 50 ms / 500 ms suits
# common solenoid drawers. m = 0 drives connector pin 2, m = 1 pin 5.
_KICK_ON, _KICK_OFF = 25, 250
_KICK_PIN = {2: 0, 5: 1}
_QR_EC_M = 49  # GS ( k fn 69 parameter: error correction level M (15 %)
_QR_QUIET = 4  # modules of white border drawn around a raster QR code
_QR_MAX_PAYLOAD = 2331  # bytes a version 40 symbol holds at level M


def render(doc: Document, profile: PrinterProfile) -> bytes:
    """Turn a document into the bytes one printer needs.

    Args:
        doc: What to print.
        profile: The target printer.

    Returns:
        A complete ESC/POS job, starting with ``ESC @``.

    Raises:
        ValueError: A QR payload is longer than a QR code can hold.
    """
    writer = _Writer(profile)
    writer.out += _INIT + _CHARSET_USA
    if profile.chinese_mode:
        writer.out += _CHINESE_ON
    if doc.open_drawer:
        writer.out += drawer_kick(profile.drawer_pin)
    for block in doc.blocks:
        writer.block(block)
    writer.set_align(Align.LEFT)
    if profile.chinese_mode:
        writer.out += _CHINESE_OFF
    if doc.cut:
        writer.out += _CUT if profile.cutter else _TEAR_FEED
    return bytes(writer.out)


def drawer_kick(pin: int) -> bytes:
    """The ``ESC p`` command that pulses the drawer kick connector.

    Args:
        pin: Connector pin the drawer is wired to: 2 or 5.

    Returns:
        Five bytes: ``ESC p m t1 t2``.

    Raises:
        ValueError: ``pin`` is neither 2 nor 5.
    """
    if pin not in _KICK_PIN:
        raise ValueError(f"drawer pin must be 2 or 5, not {pin}")
    return _ESC + b"p" + bytes((_KICK_PIN[pin], _KICK_ON, _KICK_OFF))


class _Writer:
    """Accumulates one job; tracks alignment so it is only sent when it changes."""

    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile
        self.enc = profile.encoding
        self.out = bytearray()
        self.align = Align.LEFT  # ESC @ leaves the printer left-aligned

    def set_align(self, align: Align) -> None:
        if align != self.align:
            self.out += _ALIGN[align]
            self.align = align

    def wrap(self, text: str, width: int) -> list[str]:
        """Printable lines of ``text`` no wider than ``width`` cells; LF starts a line."""
        lines: list[str] = []
        for paragraph in text.split("\n"):
            lines += wrap(to_printable(paragraph, self.enc), width, measure=print_width)
        return lines

    def line(self, printable: str) -> None:
        """One line of text that already passed ``to_printable`` and fits the paper."""
        self.out += printable.encode(self.enc) + _LF

    def block(self, block: Block) -> None:
        match block:
            case Text():
                self.text(block)
            case Columns():
                self.set_align(Align.LEFT)
                self.styled(self.columns(block.left, block.right), bold=block.bold)
            case Item():
                self.set_align(Align.LEFT)
                width = self.profile.columns
                name = self.wrap(block.name, width)
                detail = self.columns("  " + block.detail, block.amount)
                self.styled([*name, *detail], bold=False)
            case Rule():
                self.set_align(Align.LEFT)
                self.line(self.rule(block.char))
            case Feed():
                self.out += _LF * max(block.lines, 0)
            case QRCode():
                self.qr(block)
            case _:
                raise TypeError(f"not a document block: {block!r}")

    def styled(self, lines: list[str], *, bold: bool, double: bool = False) -> None:
        if bold:
            self.out += _BOLD[True]
        if double:
            self.out += _SIZE[True]
        for text in lines:
            self.line(text)
        if double:
            self.out += _SIZE[False]
        if bold:
            self.out += _BOLD[False]

    def text(self, block: Text) -> None:
        # Double size doubles each cell's width, so half as many cells fit.
        width = self.profile.columns // 2 if block.double else self.profile.columns
        lines = self.wrap(block.text, width)
        self.set_align(block.align)
        self.styled(lines, bold=block.bold, double=block.double)

    def columns(self, left: str, right: str) -> list[str]:
        """Left text wrapped, right text flush right on the last line (or its own)."""
        width = self.profile.columns
        right_p = to_printable(right, self.enc)
        right_w = print_width(right_p)
        lines = self.wrap(left, width)
        if right_w > width:
            return lines + wrap(right_p, width, measure=print_width)
        if not right_p:
            return lines
        last_w = print_width(lines[-1])
        if lines[-1] and last_w + 1 + right_w > width:
            lines.append("")
            last_w = 0
        lines[-1] += " " * (width - last_w - right_w) + right_p
        return lines

    def rule(self, char: str) -> str:
        printable = to_printable(char, self.enc)[:1] or "-"
        return printable * (self.profile.columns // print_width(printable))

    def qr(self, block: QRCode) -> None:
        payload = block.payload.encode("utf-8")
        if len(payload) > _QR_MAX_PAYLOAD:
            raise ValueError(f"QR payload of {len(payload)} bytes exceeds {_QR_MAX_PAYLOAD}")
        self.set_align(Align.CENTER)
        if self.profile.qr == "native":
            size = qr_module_size(qr_modules(block.payload), self.profile.dots, quiet=0)
            self.out += _LF
            self.out += _gs_k(b"1A", b"\x32\x00")  # model 2
            self.out += _gs_k(b"1C", bytes((size,)))  # module size in dots
            self.out += _gs_k(b"1E", bytes((_QR_EC_M,)))
            self.out += _gs_k(b"1P0", payload)  # store the data
            self.out += _gs_k(b"1Q0", b"")  # print the stored symbol
        else:
            matrix = qr_matrix(block.payload, border=_QR_QUIET)
            modules = len(matrix) - 2 * _QR_QUIET
            size = qr_module_size(modules, self.profile.dots, quiet=_QR_QUIET)
            self.out += _raster(matrix, size)
        if block.caption:
            lines = self.wrap(block.caption, self.profile.columns)
            for text in lines:
                self.line(text)


def _gs_k(cn_fn: bytes, data: bytes) -> bytes:
    """``GS ( k pL pH cn fn [m] data``; pL/pH count the bytes after themselves."""
    n = len(cn_fn) + len(data)
    return _GS + b"(k" + bytes((n & 0xFF, n >> 8)) + cn_fn + data


def _raster(matrix: list[list[bool]], size: int) -> bytes:
    """``GS v 0`` raster image of a module matrix, ``size`` dots per module.

    Rows are packed MSB first, one bit per dot, 1 = black; each row is padded with
    white dots to a whole byte.
    """
    side = len(matrix) * size
    width_bytes = (side + 7) // 8
    rows = bytearray()
    for modules in matrix:
        bits = 0
        for dark in modules:
            bits = (bits << size) | (((1 << size) - 1) if dark else 0)
        bits <<= width_bytes * 8 - side
        row = bits.to_bytes(width_bytes, "big")
        rows += row * size
    header = _GS + b"v0\x00" + width_bytes.to_bytes(2, "little") + side.to_bytes(2, "little")
    return header + bytes(rows)


def receipt_test_page(profile: PrinterProfile) -> Document:
    """A test page for installing or checking a printer.

    It shows the profile's settings, a mixed Chinese/ASCII/yuan/punctuation line, a
    ruler exactly ``profile.columns`` cells wide (the last digit must sit at the
    right edge of the paper) and a QR code, all through the normal layout engine.

    Args:
        profile: The printer being tested.

    Returns:
        The document; print it with :func:`render` and the same profile.
    """
    ruler = "".join(str((i + 1) % 10) for i in range(profile.columns))
    return Document(
        blocks=(
            Text("打印测试", align=Align.CENTER, bold=True, double=True),
            Text("TEST PAGE", align=Align.CENTER),
            Rule("="),
            Columns("型号 profile", profile.name),
            Columns("纸宽 paper", f"{profile.paper_mm} mm / {profile.dots} dots"),
            Columns("每行 columns", str(profile.columns)),
            Columns("编码 encoding", profile.encoding.upper()),
            Columns("中文模式 FS &", "on" if profile.chinese_mode else "firmware"),
            Columns("切刀 cutter", "yes" if profile.cutter else "no"),
            Columns("二维码 QR", profile.qr),
            Columns("钱箱 drawer pin", str(profile.drawer_pin)),
            Rule(),
            Text("中文ABC 123 ¥16.00 ￥8.50，。！：（）【】“引号”"),
            Item("芋泥波波(大杯) 少冰 半糖", "1 x ¥16.00", "¥16.00"),
            Rule(),
            Text(ruler),
            Rule(),
            QRCode(f"CHAINPOS-TEST:{profile.name}", caption="扫码测试 scan test"),
        ),
        cut=True,
        open_drawer=False,
    )
