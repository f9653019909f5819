"""Scale-label layouts: how a store's scales pack item, price, weight or count into a
13- or 18-digit barcode. The ONE definition: the till parses scans with it, HQ checks the
store setting ``scale.layouts`` with it before publishing, and the till checks the setting
again when it arrives (a bad one keeps the last good layouts).

The setting is a JSON list of ``{name, pattern, prefixes}`` (``prefixes`` comma-separated
text, e.g. ``"20,21"``; optional ``price_decimals`` and ``weight_decimals`` as whole
numbers), tried in order; empty text means :data:`DEFAULT_SCALE_LAYOUTS`.

Pure standard library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = [
    "DEFAULT_SCALE_LAYOUTS",
    "SETTING_KEY",
    "ScaleLayout",
    "layouts_from_setting",
    "layouts_problem",
]

SETTING_KEY = "scale.layouts"
MAX_LAYOUTS = 16
_DIGITS = frozenset("0123456789")


_LAYOUT_LETTERS = frozenset("FIPWQVC")


def _runs(pattern: str) -> list[tuple[str, int, int]]:
    """Splits a pattern into (letter, start, end) runs of equal letters."""
    runs: list[tuple[str, int, int]] = []
    start = 0
    for index in range(1, len(pattern) + 1):
        if index == len(pattern) or pattern[index] != pattern[start]:
            runs.append((pattern[start], start, index))
            start = index
    return runs


@dataclass(frozen=True, slots=True)
class ScaleLayout:
    """How one family of scale labels packs its fields into 13 or 18 digits.

    ``pattern`` has one letter per digit:

    * ``F`` fixed prefix digits; they come first and the label must start with one of
      ``prefixes`` (each exactly as long as the ``F`` run). At least one is required,
      otherwise the layout would swallow ordinary GTINs.
    * ``I`` item (PLU) code, kept as printed including leading zeros. Required.
    * ``P`` price, in units of ``10**-price_decimals`` yuan (2 means fen).
    * ``W`` weight, in units of ``10**-weight_decimals`` kg (3 means grams).
    * ``Q`` count of pieces.
    * ``V`` GS1 price check digit; only directly before a 4- or 5-digit ``P`` run.
    * ``C`` the final mod-10 check digit over the whole label; must be last.

    At least one of ``P``, ``W``, ``Q`` is required. Each letter forms one contiguous
    run. An invalid layout raises ``ValueError`` at construction.

    Attributes:
        name: the layout's name, reported in :class:`VariableMeasure`.
        pattern: 13 or 18 letters as above.
        prefixes: accepted values of the ``F`` digits, e.g. ``("20", "21")``.
        price_decimals: decimals of the price field in yuan; converted to fen,
            rounded half up when finer than a fen.
        weight_decimals: decimals of the weight field in kg; converted to grams,
            rounded half up when finer than a gram.
    """

    name: str
    pattern: str
    prefixes: tuple[str, ...]
    price_decimals: int = 2
    weight_decimals: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefixes", tuple(self.prefixes))
        pattern = self.pattern
        if not self.name:
            raise ValueError("a scale layout needs a name")
        if len(pattern) not in (13, 18):
            raise ValueError(
                f"layout {self.name!r}: pattern has {len(pattern)} letters, not 13 or 18"
            )
        unknown = sorted(set(pattern) - _LAYOUT_LETTERS)
        if unknown:
            raise ValueError(f"layout {self.name!r}: unknown pattern letters {''.join(unknown)!r}")
        runs = _runs(pattern)
        letters = [letter for letter, _, _ in runs]
        repeated = sorted({letter for letter in letters if letters.count(letter) > 1})
        if repeated:
            raise ValueError(
                f"layout {self.name!r}: letters {''.join(repeated)!r} must each form one run"
            )
        if letters[-1] != "C" or pattern.count("C") != 1:
            raise ValueError(f"layout {self.name!r}: pattern must end with exactly one 'C'")
        if letters[0] != "F":
            raise ValueError(f"layout {self.name!r}: pattern must start with the 'F' prefix")
        if "I" not in letters:
            raise ValueError(f"layout {self.name!r}: pattern needs item digits 'I'")
        if not {"P", "W", "Q"} & set(letters):
            raise ValueError(f"layout {self.name!r}: pattern needs a 'P', 'W' or 'Q' field")
        if "V" in letters:
            v_index = letters.index("V")
            _, p_start, p_end = runs[v_index + 1]
            if (
                pattern.count("V") != 1
                or letters[v_index + 1] != "P"
                or p_end - p_start not in (4, 5)
            ):
                raise ValueError(
                    f"layout {self.name!r}: 'V' must be one digit directly before "
                    "a 4- or 5-digit 'P' run"
                )
        f_count = pattern.count("F")
        if not self.prefixes:
            raise ValueError(f"layout {self.name!r}: needs at least one prefix")
        for prefix in self.prefixes:
            if len(prefix) != f_count or not set(prefix) <= _DIGITS:
                raise ValueError(
                    f"layout {self.name!r}: prefix {prefix!r} must be {f_count} digits"
                )
        if not 0 <= self.price_decimals <= 9 or not 0 <= self.weight_decimals <= 9:
            raise ValueError(f"layout {self.name!r}: decimals must be between 0 and 9")

    def matches(self, digits: str) -> bool:
        """Tells whether a digit string has this layout's length and one of its prefixes."""
        return len(digits) == len(self.pattern) and digits.startswith(self.prefixes)

    def field(self, digits: str, letter: str) -> str | None:
        """Returns the digits of field ``letter`` in ``digits``, or None if absent."""
        start = self.pattern.find(letter)
        if start < 0:
            return None
        return digits[start : self.pattern.rfind(letter) + 1]


DEFAULT_SCALE_LAYOUTS: tuple[ScaleLayout, ...] = (
    # EAN-13 price-embedded label: 2-digit flag, 5-digit PLU, price in fen (max ¥999.99).
    ScaleLayout("ean13-price", "FFIIIIIPPPPPC", ("20", "21", "22", "23", "24")),
    # EAN-13 weight-embedded label: 2-digit flag, 5-digit PLU, weight in grams (max 99.999 kg).
    ScaleLayout("ean13-weight", "FFIIIIIWWWWWC", ("25", "26", "27", "28")),
    # 18-digit label printed by Chinese retail scales (大华 Dahua, 顶尖 Aclas and others):
    # 2-digit flag, 5-digit PLU, total price in fen, weight in grams, mod-10 check digit
    # (PLU + 金额 + 重量, the order those scales print by default).
    ScaleLayout(
        "ean18-price-weight",
        "FFIIIIIPPPPPWWWWWC",
        ("20", "21", "22", "23", "24", "25", "26", "27", "28", "29"),
    ),
)
"""Layouts tried by :func:`parse_scan` by default, in order; the first whose length and
prefix match decides. Prefix 29 on 13 digits is left free for store-internal GTINs."""


def layouts_from_setting(value: object) -> tuple[ScaleLayout, ...]:
    """The layouts the setting's text names, in order; the defaults for empty text.

    Raises:
        ValueError: a message naming what is wrong (see :func:`layouts_problem`).
    """
    if value is None or value == "":
        return DEFAULT_SCALE_LAYOUTS
    if not isinstance(value, str):
        raise ValueError(f"{SETTING_KEY} is text holding a JSON list")
    try:
        data = json.loads(value)
    except ValueError:
        raise ValueError(f"{SETTING_KEY} is a JSON list") from None
    if not isinstance(data, list) or not data:
        raise ValueError(f"{SETTING_KEY} is a non-empty JSON list")
    if len(data) > MAX_LAYOUTS:
        raise ValueError(f"{SETTING_KEY} holds at most {MAX_LAYOUTS} layouts")
    layouts = []
    for entry in data:
        if not isinstance(entry, dict):
            raise ValueError(f"{SETTING_KEY}: every entry is an object")
        name, pattern, prefixes = entry.get("name"), entry.get("pattern"), entry.get("prefixes")
        if not all(isinstance(v, str) and v for v in (name, pattern, prefixes)):
            raise ValueError(f"{SETTING_KEY}: every entry has text name, pattern, prefixes")
        assert isinstance(name, str) and isinstance(pattern, str) and isinstance(prefixes, str)
        decimals = {}
        for key, fallback in (("price_decimals", 2), ("weight_decimals", 3)):
            raw = entry.get(key, fallback)
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise ValueError(f"{SETTING_KEY}: layout {name!r}: {key} is a whole number")
            decimals[key] = raw
        layouts.append(
            ScaleLayout(
                name,
                pattern,
                tuple(p.strip() for p in prefixes.split(",")),
                price_decimals=decimals["price_decimals"],
                weight_decimals=decimals["weight_decimals"],
            )
        )
    names = [layout.name for layout in layouts]
    if len(set(names)) != len(names):
        raise ValueError(f"{SETTING_KEY}: layout names are unique")
    return tuple(layouts)


def layouts_problem(value: object) -> str | None:
    """Why ``value`` is not an acceptable ``scale.layouts`` setting (None: it is)."""
    try:
        layouts_from_setting(value)
    except ValueError as exc:
        return str(exc)
    return None
