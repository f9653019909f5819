"""Money arithmetic of the till: rounding a share, splitting a total over lines.

Amounts are integer fen (:data:`sync_client.contract.money.Fen`); reading and writing
yuan text is in :mod:`sync_client.contract.money`, shared with HQ. ``Decimal`` appears
only for rounding.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sync_client.contract.money import Fen


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
