"""Loyalty rules: how many points a sale earns, what points are worth, how long holds last.

The rules are ordinary settings (``chainpos-hq config set KEY VALUE [--store CODE]``), so
they reach every terminal through the feed and a till can show the same estimate HQ will
credit. A store's value overrides the chain's.

| key | type | default | |
|---|---|---|---|
| ``member.points_per_yuan`` | int 0..1000 | 1 | points per yuan of eligible spending |
| ``member.tier_pct.<tier>`` | int 0..1000 | 100 | multiplier in percent for a tier |
| ``member.earn_excluded_skus`` | text | "" | comma-separated skus that never earn |
| ``member.earn_excluded_categories`` | text | "" | comma-separated categories |
| ``member.earn_on_stored_value`` | bool | true | whether stored-value payments earn |
| ``member.redeem_points_per_yuan`` | int 1..100000 | 100 | points that make one yuan |
| ``member.hold_ttl_s`` | int 60..3600 | 900 | default life of a hold |
| ``member.spend_without_code`` | bool | false | spending after identification by phone |

Earning, in integer arithmetic (floors)::

    eligible = sum(line.amount_fen for lines whose sku and category are not excluded)
    paid     = total_fen - points tenders - (stored-value tenders unless earn_on_stored_value)
    base_fen = eligible * paid // total_fen          (0 when total_fen is 0)
    points   = base_fen * points_per_yuan * tier_pct // 10000

Redemption: ``value_fen = points * 100 // redeem_points_per_yuan``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from server_stub import models as m

log = logging.getLogger("chainpos.hq.loyalty")

PREFIX = "member."
_INT_KEYS = {
    "member.points_per_yuan": (0, 1000),
    "member.redeem_points_per_yuan": (1, 100_000),
    "member.hold_ttl_s": (60, 3600),
}
_BOOL_KEYS = {"member.earn_on_stored_value", "member.spend_without_code"}
_TEXT_KEYS = {"member.earn_excluded_skus", "member.earn_excluded_categories"}
_TIER_PREFIX = "member.tier_pct."


@dataclass(frozen=True)
class Rules:
    """The loyalty settings in force for one store."""

    points_per_yuan: int = 1
    tier_pct: Mapping[str, int] = field(default_factory=dict)
    excluded_skus: frozenset[str] = frozenset()
    excluded_categories: frozenset[str] = frozenset()
    earn_on_stored_value: bool = True
    redeem_points_per_yuan: int = 100
    hold_ttl_s: int = 900
    spend_without_code: bool = False

    def points_for(
        self,
        tier: str,
        lines: Iterable[tuple[str, str, int]],
        total_fen: int,
        tenders: Iterable[tuple[str, int]],
    ) -> tuple[int, int]:
        """``(base_fen, points)`` a sale earns; ``lines`` are (sku, category, amount_fen),
        ``tenders`` (kind, amount_fen)."""
        eligible = sum(
            amount
            for sku, category, amount in lines
            if sku not in self.excluded_skus and category not in self.excluded_categories
        )
        not_earning = 0
        for kind, amount in tenders:
            if kind == "points" or (kind == "stored_value" and not self.earn_on_stored_value):
                not_earning += amount
        paid = max(0, total_fen - not_earning)
        base = eligible * paid // total_fen if total_fen > 0 else 0
        pct = self.tier_pct.get(tier, 100)
        return base, base * self.points_per_yuan * pct // 10_000

    def value_fen(self, points: int) -> int:
        """What ``points`` take off a sale, in fen."""
        return points * 100 // self.redeem_points_per_yuan


def check_setting(key: str, value: object) -> str | None:
    """Why ``value`` is not acceptable for a ``member.*`` setting (None: fine, or not a
    loyalty setting). ``None`` (removal) is always fine."""
    if not key.startswith(PREFIX) or value is None:
        return None
    if key in _INT_KEYS or key.startswith(_TIER_PREFIX):
        low, high = _INT_KEYS.get(key, (0, 1000))
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"{key} is a whole number from {low} to {high}"
    elif key in _BOOL_KEYS:
        if not isinstance(value, bool):
            return f"{key} is true or false"
    elif key in _TEXT_KEYS:
        if not isinstance(value, str):
            return f"{key} is a comma-separated list"
    else:
        return f"unknown loyalty setting {key}"
    return None


def _split(value: object) -> frozenset[str]:
    if not isinstance(value, str):
        return frozenset()
    return frozenset(x.strip() for x in value.split(",") if x.strip())


def rules_for(conn: Connection, store: str | None) -> Rules:
    """The rules in force for ``store`` (chain-wide ones when None)."""
    scopes = ["*"] if store is None else ["*", store]
    values: dict[str, object] = {}
    rows = conn.execute(
        select(m.config.c.scope, m.config.c.key, m.config.c.value_json).where(
            m.config.c.scope.in_(scopes), m.config.c.key.startswith(PREFIX, autoescape=True)
        )
    ).all()
    # Chain-wide first, then the store's values over them.
    for row in sorted(rows, key=lambda r: r.scope != "*"):
        value = json.loads(row.value_json)
        problem = check_setting(row.key, value)
        if problem:
            log.warning("ignoring setting %s for %s: %s", row.key, row.scope, problem)
            continue
        values[row.key] = value
    tiers = {
        k[len(_TIER_PREFIX) :]: int(v)  # type: ignore[call-overload]
        for k, v in values.items()
        if k.startswith(_TIER_PREFIX)
    }

    def num(key: str, default: int) -> int:
        value = values.get(key, default)
        return value if isinstance(value, int) else default

    def flag(key: str, default: bool) -> bool:
        value = values.get(key, default)
        return value if isinstance(value, bool) else default

    return Rules(
        points_per_yuan=num("member.points_per_yuan", 1),
        tier_pct=tiers,
        excluded_skus=_split(values.get("member.earn_excluded_skus")),
        excluded_categories=_split(values.get("member.earn_excluded_categories")),
        earn_on_stored_value=flag("member.earn_on_stored_value", True),
        redeem_points_per_yuan=num("member.redeem_points_per_yuan", 100),
        hold_ttl_s=num("member.hold_ttl_s", 900),
        spend_without_code=flag("member.spend_without_code", False),
    )
