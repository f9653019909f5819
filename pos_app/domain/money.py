"""Money as an integer number of fen (1 yuan = 100 fen).

Floats never hold money. ``Decimal`` appears only while parsing or formatting.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sync_client.contract.errors import ChainPosError

Fen = int


class MoneyParseError(ChainPosError, ValueError):
    """Raised when a text is not a valid amount of money (code ``bad_amount``)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__("bad_amount", message, **params)


def parse_yuan(text: str) -> Fen:
    """Parses ``"12.5"``, ``"¥12.50"`` or ``"12"`` into fen.

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


def mul_div_round(amount: int, numerator: int, denominator: int) -> int:
    """Returns ``amount * numerator / denominator`` rounded half away from zero, in ints."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    value = (Decimal(amount) * numerator / denominator).quantize(Decimal(1), ROUND_HALF_UP)
    return int(value)


def allocate(total: Fen, weights: list[int]) -> list[Fen]:
    """Splits ``total`` over ``weights`` proportionally; the parts always sum to ``total``.

    Largest-remainder method: each part gets its floor share, and the fen left over go to
    the parts with the largest remainders (earliest first on ties). Zero weights get zero.
    """
    if not weights:
        if total:
            raise ValueError("cannot allocate a non-zero total over no weights")
        return []
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    weight_sum = sum(weights)
    if weight_sum == 0:
        if total:
            raise ValueError("cannot allocate a non-zero total over zero weights")
        return [0] * len(weights)
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    parts = [magnitude * w // weight_sum for w in weights]
    remainders = [magnitude * w % weight_sum for w in weights]
    left = magnitude - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        parts[i] += 1
    return [sign * p for p in parts]
