"""Money as text: what staff type (yuan) to integer fen, and fen back to yuan.

Till and HQ read amounts the same way: the till's tender and top-up keypads, HQ's
catalogue CSV import and admin CLI. Floats never hold money; ``Decimal`` appears only
while parsing. Pure standard library.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sync_client.contract.errors import ChainPosError

Fen = int
"""An amount of money in fen (1 yuan = 100 fen)."""


class MoneyParseError(ChainPosError, ValueError):
    """A text is not a valid amount of money (code ``bad_amount``)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__("bad_amount", message, **params)


def parse_yuan(text: str) -> Fen:
    """Parses ``"12.5"``, ``"¥12.50"``, ``"1,200"`` or ``"12"`` into fen.

    Raises:
        MoneyParseError: the text is empty, not a number, negative or has more than
            two decimals.
    """
    cleaned = text.strip().replace("¥", "").replace("￥", "").replace(",", "").strip()
    if not cleaned:
        raise MoneyParseError("empty amount")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise MoneyParseError(f"not an amount: {text!r}", text=text) from exc
    if not value.is_finite() or value < 0:
        raise MoneyParseError(f"not a positive amount: {text!r}", text=text)
    fen = value * 100
    if fen != fen.to_integral_value():
        raise MoneyParseError(f"more than two decimals: {text!r}", text=text)
    return int(fen)


def format_yuan(fen: Fen, *, symbol: bool = True) -> str:
    """Formats fen as yuan with two decimals: ``1234 -> "¥12.34"``, ``-50 -> "-¥0.50"``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{'¥' if symbol else ''}{whole}.{cents:02d}"
