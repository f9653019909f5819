"""Members at the till: who the sale is for, what they may spend, what the sale earns.

HQ owns every member account; the till only shows what HQ answered (or, offline, what it
remembers from a recent identification) and estimates the points a sale earns with the
same rules HQ applies when the sale arrives (``server_stub.loyalty``). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pos_app.domain.money import Fen


class MemberSource(StrEnum):
    """Where the till's picture of a member comes from, which decides what it may do.

    * ``hq``: HQ answered just now: the balances are current and, while the
      identification's ``spend_until`` lasts, points, stored value and coupons can be
      spent (through holds).
    * ``cache``: HQ could not be reached; the till remembers the member from a recent
      identification. The sale earns; nothing can be spent.
    * ``code``: HQ could not be reached and the member is not remembered; the member
      number was read from the scanned code, which the till cannot verify. The sale earns
      (HQ checks the number when the sale arrives); nothing can be spent.
    * ``signup``: joined at this till while HQ was unreachable; the sign-up waits in the
      queue and the sale earns for it once HQ has it.
    """

    HQ = "hq"
    CACHE = "cache"
    CODE = "code"
    SIGNUP = "signup"


@dataclass(frozen=True, slots=True)
class Coupon:
    """A coupon the member may use: ``value_fen`` off a purchase of at least
    ``min_spend_fen``, valid from ``valid_from`` until ``valid_until`` (exclusive)."""

    coupon_id: str
    name: str
    value_fen: Fen
    min_spend_fen: Fen
    valid_from: datetime
    valid_until: datetime

    def usable(self, now: datetime, spend_fen: Fen) -> bool:
        return self.valid_from <= now < self.valid_until and spend_fen >= self.min_spend_fen


@dataclass(frozen=True, slots=True)
class Member:
    """A member as the till shows them. ``number`` is None only for a sign-up HQ has not
    received yet (then ``signup_id`` names them). ``proof`` is the code the member was
    identified with, sent with every hold. ``seen_at``: when HQ last answered for them."""

    number: str | None
    name: str
    phone_masked: str
    tier: str
    points: int
    balance_fen: Fen
    coupons: tuple[Coupon, ...]
    version: int
    source: MemberSource
    identified_by: str
    seen_at: datetime
    spend_until: datetime | None = None
    proof: str | None = None
    signup_id: str | None = None

    @property
    def label(self) -> str:
        """Name and masked phone, as the receipt prints them."""
        return f"{self.name} {self.phone_masked}".strip()

    def can_spend(self, now: datetime) -> bool:
        """Whether points, stored value and coupons may be spent for this member now."""
        return (
            self.source is MemberSource.HQ
            and self.number is not None
            and self.spend_until is not None
            and now < self.spend_until
        )

    def spend_refusal(self, now: datetime) -> str | None:
        """Why spending is not possible now (a translation key's last part), or None."""
        if self.source is not MemberSource.HQ:
            return "offline"
        if self.spend_until is None:
            return "needs_code"
        if now >= self.spend_until:
            return "code_stale"
        return None


@dataclass(frozen=True, slots=True)
class LoyaltyRules:
    """The chain's loyalty settings as the till receives them in the feed (``member.*``
    settings; a store's value overrides the chain's). Same arithmetic as HQ's."""

    points_per_yuan: int = 1
    tier_pct: Mapping[str, int] = field(default_factory=dict)
    excluded_skus: frozenset[str] = frozenset()
    excluded_categories: frozenset[str] = frozenset()
    earn_on_stored_value: bool = True
    redeem_points_per_yuan: int = 100
    hold_ttl_s: int = 900
    spend_without_code: bool = False

    @classmethod
    def from_settings(cls, get: Mapping[str, object]) -> LoyaltyRules:
        """Reads the ``member.*`` settings, keeping defaults for missing or odd values."""

        def num(key: str, default: int, lo: int, hi: int) -> int:
            value = get.get(key)
            return value if isinstance(value, int) and lo <= value <= hi else default

        def flag(key: str, default: bool) -> bool:
            value = get.get(key)
            return value if isinstance(value, bool) else default

        def words(key: str) -> frozenset[str]:
            value = get.get(key)
            if not isinstance(value, str):
                return frozenset()
            return frozenset(w.strip() for w in value.split(",") if w.strip())

        prefix = "member.tier_pct."
        tiers = {
            k[len(prefix) :]: v
            for k, v in get.items()
            if k.startswith(prefix) and isinstance(v, int) and 0 <= v <= 1000
        }
        return cls(
            points_per_yuan=num("member.points_per_yuan", 1, 0, 1000),
            tier_pct=tiers,
            excluded_skus=words("member.earn_excluded_skus"),
            excluded_categories=words("member.earn_excluded_categories"),
            earn_on_stored_value=flag("member.earn_on_stored_value", True),
            redeem_points_per_yuan=num("member.redeem_points_per_yuan", 100, 1, 100_000),
            hold_ttl_s=num("member.hold_ttl_s", 900, 60, 3600),
            spend_without_code=flag("member.spend_without_code", False),
        )

    def points_for(
        self,
        tier: str,
        lines: Iterable[tuple[str, str, Fen]],
        total_fen: Fen,
        tenders: Iterable[tuple[str, Fen]],
    ) -> int:
        """Points a sale earns; ``lines`` are (sku, category, amount_fen), ``tenders``
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
        return base * self.points_per_yuan * self.tier_pct.get(tier, 100) // 10_000

    def value_fen(self, points: int) -> Fen:
        """What ``points`` take off a sale."""
        return points * 100 // self.redeem_points_per_yuan

    def points_to_cover(self, fen: Fen) -> int:
        """The fewest points worth at least ``fen`` (what to hold to pay ``fen``)."""
        return -(-fen * self.redeem_points_per_yuan // 100)

    def redeemable_fen(self, points: int, due_fen: Fen) -> Fen:
        """The most a sale of ``due_fen`` can take off with ``points`` points."""
        return min(due_fen, self.value_fen(points))
