"""Loyalty rules: how many points a sale earns, what points are worth, how long holds last.

HQ credits the points of a sale when it arrives; the till prints an estimate of the same
points on the receipt. Both read the rules from the same settings with :func:`read_rules`
and apply the same arithmetic (:meth:`LoyaltyRules.earning`), so the estimate is exact.

The rules are ordinary settings (``chainpos-hq config set KEY VALUE [--store CODE]``),
so they reach every terminal through the feed. A store's value overrides the chain's.

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

Pure standard library.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sync_client.contract import settings
from sync_client.contract.holds import DEFAULT_HOLD_TTL_S

PREFIX = "member."
TIER_PREFIX = "member.tier_pct."
_HOLD_TTL_KEY = "member.hold_ttl_s"


@dataclass(frozen=True, slots=True)
class Earning:
    """What a sale earns: ``base_fen`` is the part of the total that earns, ``points``
    the points credited for it."""

    base_fen: int
    points: int


@dataclass(frozen=True, slots=True)
class LoyaltyRules:
    """The loyalty settings in force for one store (see the module docstring)."""

    points_per_yuan: int = 1
    tier_pct: Mapping[str, int] = field(default_factory=dict)
    excluded_skus: frozenset[str] = frozenset()
    excluded_categories: frozenset[str] = frozenset()
    earn_on_stored_value: bool = True
    redeem_points_per_yuan: int = 100
    hold_ttl_s: int = DEFAULT_HOLD_TTL_S
    spend_without_code: bool = False

    def earning(
        self,
        tier: str,
        lines: Iterable[tuple[str, str, int]],
        total_fen: int,
        tenders: Iterable[tuple[str, int]],
    ) -> Earning:
        """What a sale earns; ``lines`` are (sku, category, amount_fen), ``tenders``
        (kind, amount_fen). Integer arithmetic, each division rounding down."""
        eligible = sum(
            amount
            for sku, category, amount in lines
            if sku not in self.excluded_skus and category not in self.excluded_categories
        )
        not_earning = sum(
            amount
            for kind, amount in tenders
            if kind == "points" or (kind == "stored_value" and not self.earn_on_stored_value)
        )
        paid = max(0, total_fen - not_earning)
        base = eligible * paid // total_fen if total_fen > 0 else 0
        pct = self.tier_pct.get(tier, 100)
        return Earning(base, base * self.points_per_yuan * pct // 10_000)

    def value_fen(self, points: int) -> int:
        """What ``points`` take off a sale, in fen."""
        return points * 100 // self.redeem_points_per_yuan

    def points_to_cover(self, fen: int) -> int:
        """The fewest points worth at least ``fen`` (what to hold to pay ``fen``)."""
        return -(-fen * self.redeem_points_per_yuan // 100)

    def redeemable_fen(self, points: int, due_fen: int) -> int:
        """The most a sale of ``due_fen`` can take off with ``points`` points."""
        return min(due_fen, self.value_fen(points))


def check_setting(key: str, value: object) -> str | None:
    """Why ``value`` is not acceptable for a ``member.*`` setting (None: fine, or not a
    loyalty setting). ``None`` (removal) is always fine. The rules themselves are in the
    settings schema (:mod:`sync_client.contract.settings`)."""
    if not key.startswith(PREFIX) or value is None:
        return None
    if not settings.is_known(key):
        return f"unknown loyalty setting {key}"
    return settings.problem(key, value)


@dataclass(frozen=True, slots=True)
class RulesReading:
    """The rules read from settings, and why any setting was passed over (each problem
    names its key; that setting's default stands)."""

    rules: LoyaltyRules
    problems: tuple[str, ...] = ()


def read_rules(settings: Iterable[tuple[str, str]]) -> RulesReading:
    """The rules from ``(key, JSON text)`` settings, later pairs overriding earlier ones
    (give the chain's settings first, then the store's). Keys outside ``member.*`` are
    skipped. A value that is not JSON or not acceptable (:func:`check_setting`) keeps the
    earlier value or the default, and is reported in :attr:`RulesReading.problems`.
    """
    values: dict[str, object] = {}
    problems: list[str] = []
    for key, raw in settings:
        if not key.startswith(PREFIX):
            continue
        try:
            value = json.loads(raw)
        except (TypeError, ValueError):
            problems.append(f"{key} is not JSON: {str(raw)[:40]!r}")
            continue
        problem = check_setting(key, value)
        if problem:
            problems.append(problem)
        elif value is None:
            values.pop(key, None)
        else:
            values[key] = value

    def num(key: str, default: int) -> int:
        value = values.get(key, default)
        return value if isinstance(value, int) else default

    def flag(key: str, default: bool) -> bool:
        value = values.get(key, default)
        return value if isinstance(value, bool) else default

    def words(key: str) -> frozenset[str]:
        value = values.get(key)
        if not isinstance(value, str):
            return frozenset()
        return frozenset(w.strip() for w in value.split(",") if w.strip())

    defaults = LoyaltyRules()
    rules = LoyaltyRules(
        points_per_yuan=num("member.points_per_yuan", defaults.points_per_yuan),
        tier_pct={
            k[len(TIER_PREFIX) :]: v
            for k, v in values.items()
            if k.startswith(TIER_PREFIX) and isinstance(v, int)
        },
        excluded_skus=words("member.earn_excluded_skus"),
        excluded_categories=words("member.earn_excluded_categories"),
        earn_on_stored_value=flag("member.earn_on_stored_value", defaults.earn_on_stored_value),
        redeem_points_per_yuan=num(
            "member.redeem_points_per_yuan", defaults.redeem_points_per_yuan
        ),
        hold_ttl_s=num(_HOLD_TTL_KEY, defaults.hold_ttl_s),
        spend_without_code=flag("member.spend_without_code", defaults.spend_without_code),
    )
    return RulesReading(rules, tuple(problems))
