"""Text for thermal paper: widths, wrapping, and the GB18030/GBK encoding rules.

The printer never sees a Python ``str``; it sees bytes in its own character set.
This module owns that conversion instead of leaving it to python-escpos, whose
guess sends a string as GB18030 only when it holds a CJK ideograph.

Two widths exist and both are in character cells:

* :func:`display_width` is the Unicode East Asian Width: Wide/Fullwidth = 2,
  combining and format characters = 0, everything else 1. It is what a screen shows.
* :func:`print_width` is what a Chinese ESC/POS printer prints for text that has
  passed :func:`to_printable`: ASCII takes one 12-dot cell and *every* double- or
  four-byte character takes two, including ambiguous-width ones such as ``·``,
  ``×`` or ``“``. It is never smaller than the display width, so layout uses it.

Fallback rules (:func:`to_printable`), applied after NFC normalisation:

1. Tab, CR, LF, VT, FF and NO-BREAK SPACE become a space.
2. Format characters (zero-width joiners and spaces, BOM) and variation selectors
   are dropped: they have no glyph.
3. Other control characters, unpaired surrogates, private-use and unassigned code
   points become :data:`FALLBACK` (``?``) -- never raw bytes the printer would read
   as commands or print as garbage.
4. GB18030 printers get every other character as is (``¥`` U+00A5 becomes the
   4-byte sequence 81 30 84 36).
5. GBK printers get a few substitutes for characters GBK lacks -- ``¥`` U+00A5
   becomes the full-width ``￥`` U+FFE5 (A3 A4), the yuan sign GBK fonts carry;
   ``€`` becomes ``EUR``, ``•`` becomes ``·``, ``©``/``®``/``™`` become ``(C)``,
   ``(R)``, ``TM`` -- and any other character without a 2-byte GBK code (emoji,
   CJK Extension B ideographs such as ``𠀀``, other 4-byte GB18030 characters)
   becomes :data:`FALLBACK`. GBK output therefore never holds a 4-byte sequence.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import lru_cache

__all__ = [
    "FALLBACK",
    "display_width",
    "encode_text",
    "print_width",
    "to_printable",
    "wrap",
]

#: What a character the printer cannot print becomes: one ASCII question mark.
FALLBACK = "?"

_SPACES = frozenset("\t\n\r\v\f\u00a0")
#: Characters GBK lacks but that receipts commonly hold, and their stand-ins.
_GBK_SUBSTITUTES = {
    "\u00a5": "\uffe5",  # YEN SIGN -> FULLWIDTH YEN SIGN (A3 A4), printed as the yuan sign
    "\u20ac": "EUR",  # EURO SIGN: Python's cp936 byte 0x80 is not in printer GBK fonts
    "\u2022": "\u00b7",  # BULLET -> MIDDLE DOT (A1 A4)
    "\u00a9": "(C)",
    "\u00ae": "(R)",
    "\u2122": "TM",
}
_ENCODINGS = ("gb18030", "gbk")
#: Closing punctuation that Chinese typesetting never puts at the start of a line.
_NO_LINE_START = frozenset("，。、；：？！）】》」』”’…,.;:?!)]}%")


def _char_display_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    category = unicodedata.category(ch)
    if category in ("Mn", "Me", "Cf", "Cc"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Width of ``text`` on a screen, in character cells.

    Args:
        text: Any string.

    Returns:
        The sum over characters of 2 for East Asian Wide/Fullwidth, 0 for combining,
        enclosing, format and control characters, and 1 otherwise.
    """
    if text.isascii():
        return sum(1 for ch in text if " " <= ch <= "~")
    return sum(_char_display_width(ch) for ch in text)


def print_width(text: str) -> int:
    """Width of printable text on a Chinese ESC/POS printer, in font A cells.

    Args:
        text: Text already passed through :func:`to_printable` (so every character
            is encodable and none is a control character).

    Returns:
        One cell per ASCII character plus two per other character.
    """
    if text.isascii():
        return len(text)
    return sum(1 if ch < "\x80" else 2 for ch in text)


def _check_encoding(encoding: str) -> str:
    normalized = encoding.lower().replace("-", "").replace("_", "")
    if normalized not in _ENCODINGS:
        raise ValueError(f"unsupported printer encoding {encoding!r}; use gb18030 or gbk")
    return normalized


@lru_cache(maxsize=16384)
def _printable_char(ch: str, encoding: str) -> str:
    if ch in _SPACES:
        return " "
    if " " <= ch <= "~":
        return ch
    category = unicodedata.category(ch)
    if category == "Cf" or "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef":
        return ""
    if category in ("Cc", "Cs", "Co", "Cn"):
        return FALLBACK
    if encoding == "gb18030":
        return ch
    if ch in _GBK_SUBSTITUTES:
        return _GBK_SUBSTITUTES[ch]
    try:
        encoded = ch.encode("gbk")
    except UnicodeEncodeError:
        return FALLBACK
    # Python's GBK is CP936; a printer's GBK font has only the 2-byte codes.
    return ch if len(encoded) == 2 else FALLBACK


def to_printable(text: str, encoding: str) -> str:
    """Reduce ``text`` to characters the printer's character set can print.

    The result is still a ``str``, so layout can measure it with
    :func:`print_width` before it is encoded. See the module docstring for the
    fallback rules.

    Args:
        text: Any string.
        encoding: ``"gb18030"`` or ``"gbk"``.

    Returns:
        Text whose every character encodes in ``encoding`` (GBK: in exactly two
        bytes unless ASCII) and holds no control character.

    Raises:
        ValueError: ``encoding`` is neither GB18030 nor GBK.
    """
    encoding = _check_encoding(encoding)
    if text.isascii() and text.isprintable():
        return text
    text = unicodedata.normalize("NFC", text)
    return "".join(_printable_char(ch, encoding) for ch in text)


def encode_text(text: str, encoding: str) -> bytes:
    """Encode ``text`` for the printer, applying the fallback rules first.

    Args:
        text: Any string; it should not hold line breaks (they become spaces).
        encoding: ``"gb18030"`` or ``"gbk"``.

    Returns:
        Bytes with no byte below 0x20 and, for GBK, no 4-byte sequence.

    Raises:
        ValueError: ``encoding`` is neither GB18030 nor GBK.
    """
    encoding = _check_encoding(encoding)
    return to_printable(text, encoding).encode(encoding)


def wrap(text: str, width: int, *, measure: Callable[[str], int] = display_width) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` cells.

    Line feeds in ``text`` start new lines. Runs of ASCII letters and digits are
    kept whole when they fit a line (a break then happens at a space and that space
    is dropped); CJK text breaks between any two characters, except that closing
    punctuation (``，。！）”`` ...) never starts a line. A word longer than a line is
    cut where the line is full.

    Invariants: every returned line measures ``<= width``; no character other than
    a space at a break, or trailing spaces, is lost or reordered.

    Args:
        text: Text to wrap.
        width: Line width in cells; at least 2, so a double-width character fits.
        measure: Width in cells, additive over characters: :func:`display_width`
            (screen) or :func:`print_width` (paper, for text from :func:`to_printable`).

    Returns:
        The lines, at least one (an empty string for empty text).

    Raises:
        ValueError: ``width`` is smaller than 2.
    """
    if width < 2:
        raise ValueError("wrap width must be at least 2 cells")
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(_wrap_paragraph(paragraph, width, measure))
    return lines


def _wrap_paragraph(text: str, width: int, measure: Callable[[str], int]) -> list[str]:
    if measure(text) <= width:  # the common case: the paragraph fits one line
        return [text.rstrip(" ")]
    lines: list[str] = []
    line: list[str] = []
    used = 0
    last_space = -1  # index in ``line`` of the last space, where a word break may go
    for ch in text:
        w = measure(ch)
        if used + w <= width:
            if ch == " ":
                last_space = len(line)
            line.append(ch)
            used += w
            continue
        if ch == " ":  # the break falls on a space: drop it
            lines.append("".join(line).rstrip(" "))
            line, used, last_space = [], 0, -1
            continue
        tail = line[last_space + 1 :] if last_space >= 0 else []
        head = "".join(line[:last_space]).rstrip(" ") if last_space >= 0 else ""
        if _is_word_char(ch) and tail and all(_is_word_char(c) for c in tail) and head:
            lines.append(head)  # move the unfinished word to the next line
            line = [*tail, ch]
        elif ch in _NO_LINE_START and len(line) >= 2 and width >= 4 and line[-1] != " ":
            # Closing punctuation may not start a line: take the character before along.
            lines.append("".join(line[:-1]).rstrip(" "))
            line = [line[-1], ch]
        else:
            lines.append("".join(line).rstrip(" "))
            line = [ch]
        used = sum(measure(c) for c in line)
        last_space = -1
    lines.append("".join(line).rstrip(" "))
    return lines


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch != " "
