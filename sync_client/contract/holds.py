"""How long an HQ hold on a member's points, stored value or coupon may last.

A hold reserves value for a sale being rung up; the sale captures it, or a release or
the expiry gives the value back. The life is the request's ``ttl_s`` or the chain's
``member.hold_ttl_s`` setting, always within these bounds. Pure standard library.
"""

from __future__ import annotations

MIN_HOLD_TTL_S = 60
"""Shortest hold: long enough for a cashier to finish taking payment."""
MAX_HOLD_TTL_S = 3600
"""Longest hold: value a member cannot spend elsewhere comes back within the hour."""
DEFAULT_HOLD_TTL_S = 900
"""The life of a hold when neither the request nor the chain's settings say."""


def hold_ttl_problem(value: object) -> str | None:
    """Why ``value`` is not an acceptable hold life in seconds (None: it is)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"a hold lasts a whole number of seconds, not {value!r}"
    if not MIN_HOLD_TTL_S <= value <= MAX_HOLD_TTL_S:
        return f"a hold lasts {MIN_HOLD_TTL_S} to {MAX_HOLD_TTL_S} seconds, not {value}"
    return None


def clamp_hold_ttl(seconds: int) -> int:
    """``seconds`` brought within the bounds."""
    return max(MIN_HOLD_TTL_S, min(MAX_HOLD_TTL_S, seconds))
