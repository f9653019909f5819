"""Members at the till: who the sale is for, what they may spend, what the sale earns.

HQ owns every member account; the till only shows what HQ answered (or, offline, what it
remembers from a recent identification) and estimates the points a sale earns with the
same rules HQ applies when the sale arrives (:mod:`sync_client.contract.loyalty`).
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sync_client.contract.money import Fen


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
