"""Barcode parsing and validation for the checkout scanner.

Three families of data reach the terminal from a scanner (or a cashier's keyboard):

* GTINs in EAN-13, EAN-8, UPC-A or GTIN-14 form, protected by the GS1 mod-10 check digit;
* in-store variable-measure labels printed by the shop's scales (restricted-circulation
  prefixes 20-29), whose layout differs per scale brand and is configured with
  :class:`ScaleLayout`;
* GS1 element strings (GS1-128, GS1 DataBar, GS1 DataMatrix, GS1 QR) that carry
  application identifiers (AIs) such as the GTIN, net weight, price, batch and expiry.

:func:`parse_scan` classifies one scan and says what the catalogue should look up.
Every rejection is a :class:`BarcodeError` whose ``code`` is a stable key for
translation and whose message names the problem in plain English.

Money is returned in fen (int) and weights in grams (int); no float ever holds either.
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sync_client.contract.errors import ChainPosError
from sync_client.contract.scalelabels import DEFAULT_SCALE_LAYOUTS, ScaleLayout

__all__ = [
    "DEFAULT_SCALE_LAYOUTS",
    "GS",
    "MAX_SCAN_MULTIPLIER",
    "BarcodeError",
    "GS1Element",
    "GS1Message",
    "MultipliedScan",
    "ParsedScan",
    "ScaleLayout",
    "VariableMeasure",
    "gtin_check_digit",
    "normalize_gtin",
    "parse_gs1",
    "parse_scan",
    "price_check_digit",
    "split_multiplier",
    "validate_gtin",
]

GS = "\x1d"
"""ASCII group separator: how scanners transmit an FNC1 that ends a variable-length AI."""

MAX_SCAN_LENGTH = 128
"""Longest scan accepted by :func:`parse_scan`, in characters (after CR/LF are stripped)."""

MAX_CODE_LENGTH = 64
"""Longest free-form item code (PLU or SKU typed or scanned from a Code 128/39 label)."""

GTIN_LENGTHS = frozenset({8, 12, 13, 14})

_DIGITS = frozenset("0123456789")
_CODE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./")
# GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1).
_CSET82 = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)
# AIM symbology identifiers whose data is a GS1 element string: GS1-128, GS1 DataBar,
# GS1 DataMatrix, GS1 QR Code.
_GS1_SYMBOLOGIES = frozenset({"]C1", "]e0", "]d2", "]Q3"})
_AIM_RE = re.compile(r"\][A-Za-z][0-9]")
_HRI_AI_RE = re.compile(r"\((\d{2,4})\)")


class BarcodeError(ChainPosError, ValueError):
    """A scan or code that cannot be accepted.

    Attributes:
        code: stable machine key for translation. One of ``'empty'``, ``'bad_char'``,
            ``'bad_length'``, ``'bad_check_digit'``, ``'bad_price_check'``,
            ``'unknown_ai'``, ``'truncated'``, ``'bad_ai_value'``, ``'too_long'``,
            ``'duplicate_ai'`` (one AI twice with different values) and ``'no_gtin'``
            (a GS1 scan without AI 01/02, so nothing to sell).
    """


# --------------------------------------------------------------------------- GTIN


def _require_digits(text: str, what: str) -> None:
    if not text:
        raise BarcodeError("empty", f"{what} is empty")
    for position, char in enumerate(text):
        if char not in _DIGITS:
            raise BarcodeError(
                "bad_char", f"{what} must be digits only; found {char!r} at position {position}"
            )


def gtin_check_digit(body: str) -> int:
    """Computes the GS1 mod-10 check digit over the digits that precede it.

    Weights 3 and 1 alternate from the rightmost body digit (which gets 3). The same
    algorithm serves GTIN-8/12/13/14, GLN, SSCC and 18-digit scale labels.

    Args:
        body: the digits before the check digit, e.g. the first 12 digits of an EAN-13.

    Returns:
        The check digit, 0-9.

    Raises:
        BarcodeError: ``empty`` or ``bad_char`` when ``body`` is not a digit string.
    """
    _require_digits(body, "code")
    total = 0
    for index, char in enumerate(reversed(body)):
        total += int(char) * (3 if index % 2 == 0 else 1)
    return (10 - total % 10) % 10


def _check_mod10(code: str, what: str) -> None:
    expected = gtin_check_digit(code[:-1])
    found = int(code[-1])
    if found != expected:
        raise BarcodeError(
            "bad_check_digit", f"{what} {code}: check digit is {found}, expected {expected}"
        )


def validate_gtin(code: str) -> str:
    """Checks that ``code`` is a GTIN-8, GTIN-12 (UPC-A), GTIN-13 or GTIN-14.

    No whitespace is stripped; the caller passes the digits exactly.

    Returns:
        ``code`` unchanged.

    Raises:
        BarcodeError: ``empty``, ``bad_char``, ``bad_length`` or ``bad_check_digit``.
    """
    _require_digits(code, "GTIN")
    if len(code) not in GTIN_LENGTHS:
        raise BarcodeError("bad_length", f"GTIN must have 8, 12, 13 or 14 digits, not {len(code)}")
    _check_mod10(code, "GTIN")
    return code


def normalize_gtin(code: str) -> str:
    """Returns the catalogue lookup key of a GTIN, after validating it.

    The same product scanned as UPC-A, as EAN-13 or inside a GS1-128 AI 01 yields the
    same key: UPC-A becomes EAN-13 with a leading ``0``; a GTIN-14 with indicator ``0``
    becomes its last 13 digits; EAN-8, EAN-13 and GTIN-14 with indicator 1-9 (cases,
    variable-measure items) stay as they are. EAN-8 is never padded, so catalogues
    store EAN-8 items under their 8 digits.

    Raises:
        BarcodeError: as :func:`validate_gtin`.
    """
    validate_gtin(code)
    if len(code) == 12:
        return "0" + code
    if len(code) == 14 and code[0] == "0":
        return code[1:]
    return code


# ------------------------------------------------------------- price check digit

# GS1 weighting factors for the price/weight check digit (GS1 General Specifications
# 7.9.3): each maps a digit to the units digit of its weighted product.
_W2_MINUS = (0, 2, 4, 6, 8, 9, 1, 3, 5, 7)
_W3 = (0, 3, 6, 9, 2, 5, 8, 1, 4, 7)
_W5_PLUS = (0, 5, 1, 6, 2, 7, 3, 8, 4, 9)
_W5_MINUS = (0, 5, 9, 4, 8, 3, 7, 2, 6, 1)


def price_check_digit(price: str) -> int:
    """Computes the GS1 price check digit of a 4- or 5-digit price field.

    Four digits use weights 2-, 2-, 3, 5- and the units digit of three times the sum;
    five digits use 5+, 2-, 5-, 5+, 2- and the digit whose 5- weighting equals ten's
    complement of the sum.

    Raises:
        BarcodeError: ``empty``/``bad_char`` for non-digits, ``bad_length`` otherwise.
    """
    _require_digits(price, "price field")
    digits = [int(c) for c in price]
    if len(digits) == 4:
        total = _W2_MINUS[digits[0]] + _W2_MINUS[digits[1]] + _W3[digits[2]] + _W5_MINUS[digits[3]]
        return total * 3 % 10
    if len(digits) == 5:
        total = (
            _W5_PLUS[digits[0]]
            + _W2_MINUS[digits[1]]
            + _W5_MINUS[digits[2]]
            + _W5_PLUS[digits[3]]
            + _W2_MINUS[digits[4]]
        )
        return _W5_MINUS.index((10 - total % 10) % 10)
    raise BarcodeError("bad_length", f"a price check digit covers 4 or 5 digits, not {len(digits)}")


# ------------------------------------------------------------------ scale labels


@dataclass(frozen=True, slots=True)
class VariableMeasure:
    """What a scale label says.

    Attributes:
        layout: name of the :class:`ScaleLayout` that matched.
        item_code: the PLU digits as printed, leading zeros kept.
        price_fen: total price in fen, or None if the layout has no price field.
        weight_g: net weight in grams, or None if the layout has no weight field.
        count: number of pieces, or None if the layout has no count field.
    """

    layout: str
    item_code: str
    price_fen: int | None
    weight_g: int | None
    count: int | None


def _round_half_up_div(numerator: int, denominator: int) -> int:
    """Divides non-negative ints, rounding half up."""
    return (2 * numerator + denominator) // (2 * denominator)


def _rescale(value: int, decimals: int, target_decimals: int) -> int:
    """Converts an integer with ``decimals`` implied decimals to ``target_decimals``."""
    if decimals <= target_decimals:
        return value * int(10 ** (target_decimals - decimals))
    return _round_half_up_div(value, int(10 ** (decimals - target_decimals)))


def _parse_label(digits: str, layout: ScaleLayout) -> VariableMeasure:
    _check_mod10(digits, f"scale label ({layout.name})")
    item = layout.field(digits, "I")
    assert item is not None  # guaranteed by ScaleLayout.__post_init__
    price = layout.field(digits, "P")
    check = layout.field(digits, "V")
    if check is not None and price is not None:
        expected = price_check_digit(price)
        if int(check) != expected:
            raise BarcodeError(
                "bad_price_check",
                f"scale label {digits}: price check digit is {check}, expected {expected}",
            )
    weight = layout.field(digits, "W")
    count = layout.field(digits, "Q")
    return VariableMeasure(
        layout=layout.name,
        item_code=item,
        price_fen=None if price is None else _rescale(int(price), layout.price_decimals, 2),
        weight_g=None if weight is None else _rescale(int(weight), layout.weight_decimals, 3),
        count=None if count is None else int(count),
    )


# ------------------------------------------------------------------------- GS1

_Kind = Literal["numeric", "text", "date", "datetime", "mod10", "iso_amount"]


@dataclass(frozen=True, slots=True)
class _AISpec:
    """Syntax of one application identifier.

    ``length`` is the exact value length when ``fixed``, else the maximum. Every fixed
    length is consumed exactly, so a separator after a fixed-length value is optional
    here even where GS1 requires it (AIs outside the predefined-length table, e.g. 7003).
    """

    length: int
    fixed: bool
    kind: _Kind


def _build_ai_table() -> dict[str, _AISpec]:
    table: dict[str, _AISpec] = {
        "00": _AISpec(18, True, "mod10"),  # SSCC
        "01": _AISpec(14, True, "mod10"),  # GTIN
        "02": _AISpec(14, True, "mod10"),  # GTIN of contained trade items
        "03": _AISpec(14, True, "mod10"),  # GTIN of a made-to-order item
        "10": _AISpec(20, False, "text"),  # batch or lot
        "20": _AISpec(2, True, "numeric"),  # internal product variant
        "21": _AISpec(20, False, "text"),  # serial number
        "22": _AISpec(20, False, "text"),  # consumer product variant
        "30": _AISpec(8, False, "numeric"),  # variable count of items
        "37": _AISpec(8, False, "numeric"),  # count of trade items contained
        "240": _AISpec(30, False, "text"),  # additional product identification
        "241": _AISpec(30, False, "text"),  # customer part number
        "250": _AISpec(30, False, "text"),  # secondary serial number
        "400": _AISpec(30, False, "text"),  # customer's purchase order number
        "7003": _AISpec(10, True, "datetime"),  # expiry date and time YYMMDDHHMM
        "8200": _AISpec(70, False, "text"),  # extended packaging URL
        "90": _AISpec(30, False, "text"),  # mutually agreed between partners
    }
    # 11 production, 12 due, 13 packaging, 15 best before, 16 sell by, 17 expiry: YYMMDD.
    for ai in ("11", "12", "13", "15", "16", "17"):
        table[ai] = _AISpec(6, True, "date")
    # Trade measures 31nn-36nn: third digit picks the measure and unit, fourth the
    # number of implied decimals (0-5). Six digits.
    for family in range(31, 37):
        for measure in range(10):
            for decimals in range(6):
                table[f"{family}{measure}{decimals}"] = _AISpec(6, True, "numeric")
    for decimals in range(10):
        table[f"392{decimals}"] = _AISpec(15, False, "numeric")  # amount payable
        table[f"393{decimals}"] = _AISpec(18, False, "iso_amount")  # ISO 4217 code + amount
    for number in range(410, 418):
        table[str(number)] = _AISpec(13, True, "mod10")  # GLNs: ship to, bill to...
    for number in range(91, 100):
        table[str(number)] = _AISpec(90, False, "text")  # company internal information
    return table


_AI_TABLE: dict[str, _AISpec] = _build_ai_table()
_AI_PREFIXES: frozenset[str] = frozenset(ai[:n] for ai in _AI_TABLE for n in range(1, len(ai)))

CNY_ISO_NUMERIC = "156"
"""ISO 4217 numeric code of the Chinese yuan, as carried by AI 393n."""


def _two_digit_year(yy: int) -> int:
    # Fixed window instead of GS1's sliding one (which needs today's date): 00-49 are
    # 2000-2049, 50-99 are 1950-1999.
    return 2000 + yy if yy < 50 else 1900 + yy


def _date_from_yymmdd(ai: str, value: str) -> datetime.date:
    year = _two_digit_year(int(value[0:2]))
    month = int(value[2:4])
    day = int(value[4:6])
    if not 1 <= month <= 12:
        raise BarcodeError("bad_ai_value", f"AI {ai}: month {value[2:4]} is not 01-12")
    last_day = calendar.monthrange(year, month)[1]
    if day > last_day:
        raise BarcodeError(
            "bad_ai_value", f"AI {ai}: day {value[4:6]} does not exist in {year}-{month:02d}"
        )
    # DD=00 means "the month, no day given": the last day of the month.
    return datetime.date(year, month, day or last_day)


def _validate_ai_value(ai: str, spec: _AISpec, value: str) -> None:
    if not value:
        raise BarcodeError("bad_ai_value", f"AI {ai} has an empty value")
    if spec.fixed and len(value) != spec.length:
        raise BarcodeError(
            "bad_ai_value", f"AI {ai} needs {spec.length} characters, got {len(value)}"
        )
    if len(value) > spec.length:
        raise BarcodeError(
            "too_long", f"AI {ai} allows at most {spec.length} characters, got {len(value)}"
        )
    if spec.kind == "text":
        for char in value:
            if char not in _CSET82:
                raise BarcodeError("bad_ai_value", f"AI {ai}: character {char!r} is not allowed")
        return
    for char in value:
        if char not in _DIGITS:
            raise BarcodeError("bad_ai_value", f"AI {ai} must be digits only; found {char!r}")
    if spec.kind == "mod10":
        _check_mod10(value, f"AI {ai}")
    elif spec.kind == "date":
        _date_from_yymmdd(ai, value)
    elif spec.kind == "datetime":
        if value[4:6] == "00":
            raise BarcodeError("bad_ai_value", f"AI {ai}: day 00 is not allowed")
        _date_from_yymmdd(ai, value[:6])
        if int(value[6:8]) > 23 or int(value[8:10]) > 59:
            raise BarcodeError("bad_ai_value", f"AI {ai}: time {value[6:]} is not HHMM")
    elif spec.kind == "iso_amount" and len(value) < 4:
        raise BarcodeError("bad_ai_value", f"AI {ai} needs a 3-digit currency code and an amount")


@dataclass(frozen=True, slots=True)
class GS1Element:
    """One application identifier and its value, exactly as encoded."""

    ai: str
    value: str


@dataclass(frozen=True, slots=True)
class GS1Message:
    """A parsed GS1 element string, elements in the order they were encoded."""

    elements: tuple[GS1Element, ...]

    def get(self, ai: str) -> str | None:
        """Returns the value of ``ai``, or None when the message does not carry it."""
        for element in self.elements:
            if element.ai == ai:
                return element.value
        return None

    def _first_of_family(self, family: str) -> GS1Element | None:
        for element in self.elements:
            if len(element.ai) == 4 and element.ai.startswith(family):
                return element
        return None

    @property
    def gtin(self) -> str | None:
        """The GTIN-14 of AI 01, else of AI 02, else None."""
        return self.get("01") or self.get("02")

    @property
    def net_weight_g(self) -> int | None:
        """Net weight from AI 310n (kg with n decimals) in grams, rounded half up."""
        element = self._first_of_family("310")
        if element is None:
            return None
        return _rescale(int(element.value), int(element.ai[3]), 3)

    @property
    def price_fen(self) -> int | None:
        """Amount payable in fen, rounded half up.

        AI 392n is taken to be in CNY. AI 393n counts only when its currency is 156
        (CNY); an amount in another currency gives None. 392n wins when both are present.
        """
        element = self._first_of_family("392")
        if element is not None:
            return _rescale(int(element.value), int(element.ai[3]), 2)
        element = self._first_of_family("393")
        if element is not None and element.value[:3] == CNY_ISO_NUMERIC:
            return _rescale(int(element.value[3:]), int(element.ai[3]), 2)
        return None

    @property
    def count(self) -> int | None:
        """Count of items from AI 30, else AI 37, else None."""
        value = self.get("30") or self.get("37")
        return None if value is None else int(value)

    @property
    def batch(self) -> str | None:
        """Batch or lot number (AI 10)."""
        return self.get("10")

    @property
    def expiry(self) -> datetime.date | None:
        """Expiry date (AI 17).

        Day 00 means the last day of the month. Years 00-49 are read as 2000-2049 and
        50-99 as 1950-1999 (a fixed window rather than GS1's sliding one, which would
        need today's date).

        Raises:
            BarcodeError: ``bad_ai_value`` if the message was built by hand with a
                value that is not a date.
        """
        value = self.get("17")
        if value is None:
            return None
        if len(value) != 6 or not set(value) <= _DIGITS:
            raise BarcodeError("bad_ai_value", f"AI 17 {value!r} is not YYMMDD")
        return _date_from_yymmdd("17", value)


def _read_ai(data: str, position: int) -> tuple[str, _AISpec]:
    for size in (2, 3, 4):
        candidate = data[position : position + size]
        spec = _AI_TABLE.get(candidate)
        if spec is not None:
            return candidate, spec
    rest = data[position : position + 4]
    if len(rest) < 4 and rest in _AI_PREFIXES and position + len(rest) == len(data):
        raise BarcodeError("truncated", f"data ends inside an application identifier {rest!r}")
    raise BarcodeError(
        "unknown_ai", f"no known application identifier at position {position}: {rest!r}"
    )


def _parse_separated(data: str) -> list[GS1Element]:
    elements: list[GS1Element] = []
    position = 0
    while position < len(data):
        if data[position] == GS:
            position += 1
            continue
        ai, spec = _read_ai(data, position)
        position += len(ai)
        if spec.fixed:
            value = data[position : position + spec.length]
            separator = value.find(GS)
            if separator >= 0 or len(value) < spec.length:
                got = separator if separator >= 0 else len(value)
                raise BarcodeError(
                    "truncated", f"AI {ai} needs {spec.length} characters, only {got} follow"
                )
        else:
            end = data.find(GS, position)
            value = data[position : len(data) if end < 0 else end]
            if not value and end < 0:
                raise BarcodeError("truncated", f"data ends right after AI {ai}")
        _validate_ai_value(ai, spec, value)
        elements.append(GS1Element(ai, value))
        position += len(value)
    return elements


def _parse_parenthesised(data: str) -> list[GS1Element]:
    # A value runs to the next "(digits)"; values containing such text cannot be
    # expressed in this form.
    elements: list[GS1Element] = []
    position = 0
    while position < len(data):
        match = _HRI_AI_RE.match(data, position)
        if match is None:
            raise BarcodeError(
                "unknown_ai",
                f"expected '(AI)' at position {position}: {data[position : position + 6]!r}",
            )
        ai = match.group(1)
        spec = _AI_TABLE.get(ai)
        if spec is None:
            raise BarcodeError("unknown_ai", f"({ai}) is not a known application identifier")
        following = _HRI_AI_RE.search(data, match.end())
        end = len(data) if following is None else following.start()
        value = data[match.end() : end]
        if not value and following is None:
            raise BarcodeError("truncated", f"data ends right after ({ai})")
        _validate_ai_value(ai, spec, value)
        elements.append(GS1Element(ai, value))
        position = end
    return elements


def parse_gs1(data: str) -> GS1Message:
    """Parses a GS1 element string (without its AIM symbology identifier).

    Two forms are accepted:

    * as transmitted by a scanner: AIs and values back to back, with ASCII GS
      (``\\x1d``, the FNC1 separator) after each value that is not of predefined length.
      A leading GS (FNC1 in first position) and redundant separators are ignored.
    * human-readable: ``"(01)09501101530003(3103)000356"``.

    Values are checked against the AI's syntax: length, digits where numeric, the GS1
    character set 82 where alphanumeric, mod-10 check digits of AI 00, 01, 02, 03 and
    410-417, and real dates in AI 11-17 and 7003.

    Raises:
        BarcodeError: ``empty``, ``unknown_ai``, ``truncated``, ``bad_ai_value``,
            ``too_long``, ``bad_check_digit`` or ``duplicate_ai``.
    """
    body = data.lstrip(GS)
    if not body:
        raise BarcodeError("empty", "GS1 element string is empty")
    parse = _parse_parenthesised if body.startswith("(") else _parse_separated
    elements = parse(body)
    seen: dict[str, str] = {}
    for element in elements:
        previous = seen.setdefault(element.ai, element.value)
        if previous != element.value:
            raise BarcodeError(
                "duplicate_ai",
                f"AI {element.ai} appears twice with different values "
                f"{previous!r} and {element.value!r}",
            )
    return GS1Message(tuple(elements))


# ------------------------------------------------------------------------- scans

ScanKind = Literal["gtin", "variable_measure", "gs1", "code"]


@dataclass(frozen=True, slots=True)
class ParsedScan:
    """One classified scan.

    Attributes:
        raw: the data without trailing CR/LF and without the AIM prefix.
        symbology: the AIM symbology identifier (``']E0'``, ``']C1'``...) or None.
        kind: ``'gtin'``, ``'variable_measure'``, ``'gs1'`` or ``'code'``.
        lookup_key: what the catalogue looks up: the normalized GTIN (for ``gtin`` and
            ``gs1``), ``'PLU:' + item_code`` for scale labels, the stripped text for codes.
        measure: the scale label's fields when ``kind == 'variable_measure'``.
        gs1: the element string when ``kind == 'gs1'``.
    """

    raw: str
    symbology: str | None
    kind: ScanKind
    lookup_key: str
    measure: VariableMeasure | None = None
    gs1: GS1Message | None = None


def _gs1_scan(raw: str, symbology: str | None) -> ParsedScan:
    message = parse_gs1(raw)
    gtin = message.gtin
    if gtin is None:
        raise BarcodeError("no_gtin", "GS1 barcode carries no product number (AI 01 or 02)")
    return ParsedScan(raw, symbology, "gs1", normalize_gtin(gtin), gs1=message)


def parse_scan(data: str, layouts: Sequence[ScaleLayout] = DEFAULT_SCALE_LAYOUTS) -> ParsedScan:
    """Classifies one scan (or typed entry) and says what to look up.

    Rules, in order:

    1. Trailing CR/LF are stripped; an AIM identifier (``]`` + letter + digit) is split off.
    2. ``]C1``, ``]e0``, ``]d2``, ``]Q3``, data containing GS, or data starting with
       ``(NN)`` is a GS1 element string; it must carry AI 01 or 02.
    3. Surrounding spaces are stripped. All digits:

       * length matching a layout (13 or 18) whose prefix matches: scale label, with
         its check digits validated; the first matching layout decides;
       * 8, 12, 13 or 14 digits: GTIN;
       * up to 6 digits: a typed PLU/SKU, kind ``code``;
       * 16 or more digits starting with AI 01/02 that parse as a GS1 element string
         (a GS1-128 read by a scanner that sends no AIM identifier): ``gs1``;
       * anything else: ``bad_length``.

    4. Letters, digits and ``- _ . /`` up to 64 characters: kind ``code``.

    Raises:
        BarcodeError: ``empty``, ``bad_char`` (control characters other than GS,
            non-ASCII, characters outside the code set), ``too_long`` (over 128
            characters, or a code over 64), ``bad_length``, ``bad_check_digit``,
            ``bad_price_check``, ``no_gtin`` and the GS1 errors of :func:`parse_gs1`.
    """
    text = data.rstrip("\r\n")
    if not text:
        raise BarcodeError("empty", "nothing was scanned")
    if len(text) > MAX_SCAN_LENGTH:
        raise BarcodeError(
            "too_long", f"scan is {len(text)} characters, at most {MAX_SCAN_LENGTH} allowed"
        )
    for position, char in enumerate(text):
        if char != GS and not " " <= char <= "~":
            raise BarcodeError(
                "bad_char", f"character U+{ord(char):04X} at position {position} is not allowed"
            )
    symbology: str | None = None
    raw = text
    if _AIM_RE.match(text):
        symbology, raw = text[:3], text[3:]
        if not raw:
            raise BarcodeError("empty", f"scan has symbology {symbology} but no data")

    if symbology in _GS1_SYMBOLOGIES or GS in raw or _HRI_AI_RE.match(raw):
        return _gs1_scan(raw, symbology)

    stripped = raw.strip(" ")
    if not stripped:
        raise BarcodeError("empty", "nothing was scanned")
    if set(stripped) <= _DIGITS:
        for layout in layouts:
            if layout.matches(stripped):
                measure = _parse_label(stripped, layout)
                return ParsedScan(
                    raw, symbology, "variable_measure", "PLU:" + measure.item_code, measure=measure
                )
        if len(stripped) in GTIN_LENGTHS:
            return ParsedScan(raw, symbology, "gtin", normalize_gtin(stripped))
        if len(stripped) <= 6:
            return ParsedScan(raw, symbology, "code", stripped)
        if len(stripped) >= 16 and stripped[:2] in ("01", "02"):
            try:
                return _gs1_scan(stripped, symbology)
            except BarcodeError:
                pass
        raise BarcodeError(
            "bad_length",
            f"{len(stripped)} digits is not a barcode length (8, 12, 13 or 14, "
            "a scale label, or at most 6 for a typed code)",
        )
    if len(stripped) > MAX_CODE_LENGTH:
        raise BarcodeError(
            "too_long", f"code is {len(stripped)} characters, at most {MAX_CODE_LENGTH} allowed"
        )
    for position, char in enumerate(stripped):
        if char not in _CODE_CHARS:
            raise BarcodeError(
                "bad_char",
                f"character {char!r} at position {position} is not allowed in an item code",
            )
    return ParsedScan(raw, symbology, "code", stripped)


# -------------------------------------------------------------------- multiplier

MAX_SCAN_MULTIPLIER = 99
"""Most pieces one ``N*`` entry adds. Larger counts are far more often a slip (a code typed
into the count, a key held down) than a real order; the quantity keypad takes up to the
cart's limit for the rare case."""

_MULTIPLY_SIGNS = ("*", "\u00d7")  # a keyboard's '*' and a keypad's '×'


@dataclass(frozen=True, slots=True)
class MultipliedScan:
    """A scan (or typed entry) split at its ``N*`` count.

    Attributes:
        count: how many pieces the code stands for, 1 to :data:`MAX_SCAN_MULTIPLIER`.
        code: the code after the sign; empty when only ``N*`` was typed and the code is
            still to be scanned.
    """

    count: int
    code: str


def split_multiplier(text: str) -> MultipliedScan | None:
    """Splits ``6*6954321100014`` (or ``6*`` alone, or ``6×…``) into its count and code.

    Returns None when ``text`` has no multiply sign: an ordinary scan. A GS1 element string
    never starts with ``digits*``, so no real barcode is taken for a count.

    Raises:
        BarcodeError: ``bad_multiplier`` when what stands before the sign is not a whole
            number from 1 (params ``count`` as typed), ``multiplier_too_big`` above
            :data:`MAX_SCAN_MULTIPLIER` (params ``count``, ``max``).
    """
    stripped = text.strip()
    position = -1
    for sign in _MULTIPLY_SIGNS:
        found = stripped.find(sign)
        if found >= 0 and (position < 0 or found < position):
            position = found
    if position < 0:
        return None
    head, code = stripped[:position].strip(), stripped[position + 1 :].strip()
    if not head or not set(head) <= _DIGITS or len(head) > 6 or int(head) == 0:
        raise BarcodeError(
            "bad_multiplier", f"{head!r} is not a count of pieces before '*'", count=head
        )
    count = int(head)
    if count > MAX_SCAN_MULTIPLIER:
        raise BarcodeError(
            "multiplier_too_big",
            f"{count} pieces in one entry; at most {MAX_SCAN_MULTIPLIER}",
            count=count,
            max=MAX_SCAN_MULTIPLIER,
        )
    return MultipliedScan(count, code)
