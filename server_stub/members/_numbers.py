"""Member numbers: twelve digits, random, with a Luhn check digit."""

from __future__ import annotations

import secrets


def luhn_digit(digits: str) -> str:
    """The Luhn check digit for ``digits``."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def new_member_number() -> str:
    """A random 12-digit member number: ``8``, ten random digits, a Luhn check digit.
    Random rather than sequential, so numbers neither reveal the chain's size nor can be
    walked through."""
    body = "8" + "".join(secrets.choice("0123456789") for _ in range(10))
    return body + luhn_digit(body)
