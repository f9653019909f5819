"""Refund arithmetic and return policy: what the till and HQ must compute identically.

Pure standard library (HQ and the till both import it). Money is integer fen, quantities
integer thousandths (``qty_milli``) as in :mod:`~sync_client.contract.protocol`.

* :func:`line_refund_fen`: what returning part of a line gives back. Cumulative, so all
  partial returns of a line add up exactly to what the line cost.
* :func:`split_refund`: a refund spread over the sale's original tenders by the rule HQ
  configures (``returns.refund_split``), never more per tender than it paid minus what
  earlier returns already refunded from it.
* :func:`points_to_reverse`: the earned points a refund takes back, never more in total
  than were earned.
* :func:`coupon_goes_back`: whether a return gives the sale's coupon back to the member
  (the whole sale returned, the coupon unexpired, the chain's ``returns.coupon_back``).
* :class:`ReturnPolicy`: the ``returns.*`` settings, with their defaults, and the return
  window check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

SplitRule = Literal["proportional", "cash_last"]
SPLIT_RULES: tuple[SplitRule, ...] = ("proportional", "cash_last")
CouponBackRule = Literal["full_return", "never"]
COUPON_BACK_RULES: tuple[CouponBackRule, ...] = ("full_return", "never")

ACCOUNT_KINDS = frozenset({"points", "stored_value", "coupon"})
"""Tender kinds paid from a member's account at HQ: refunded to the member through HQ."""


class RefundError(ValueError):
    """Arguments no refund can satisfy (a quantity beyond the line, a refund beyond what
    the tenders can give back). A caller that checked the returnable quantities first
    never sees it."""


# -- lines ---------------------------------------------------------------------------------


def _alloc(amount_fen: int, qty_milli: int, q_milli: int) -> int:
    return amount_fen * q_milli // qty_milli


def line_refund_fen(
    amount_fen: int, qty_milli: int, returned_before_milli: int, returning_milli: int
) -> int:
    """The refund for returning ``returning_milli`` of a line that sold ``qty_milli`` for
    ``amount_fen`` (after its discounts), ``returned_before_milli`` being already returned.

    ``alloc(before + now) - alloc(before)`` with ``alloc(q) = amount_fen * q // qty_milli``:
    the refunds of every partial return of a line add up to exactly ``amount_fen``.

    Raises:
        RefundError: a negative quantity, or more than is left of the line.
    """
    if qty_milli <= 0 or amount_fen < 0:
        raise RefundError("a line has a positive quantity and a non-negative amount")
    if returned_before_milli < 0 or returning_milli < 0:
        raise RefundError("quantities are not negative")
    if returned_before_milli + returning_milli > qty_milli:
        raise RefundError(
            f"returning {returning_milli} after {returned_before_milli} exceeds the line's "
            f"{qty_milli}"
        )
    return _alloc(amount_fen, qty_milli, returned_before_milli + returning_milli) - _alloc(
        amount_fen, qty_milli, returned_before_milli
    )


# -- tenders -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaidTender:
    """One tender of the original sale. ``amount_fen`` is what it applied to the total
    (for cash: never what was handed over); ``refunded_fen`` what earlier returns gave
    back through it."""

    kind: str
    amount_fen: int
    refunded_fen: int = 0
    reference: str | None = None

    @property
    def left_fen(self) -> int:
        return max(0, self.amount_fen - self.refunded_fen)


@dataclass(frozen=True, slots=True)
class TenderRefund:
    """The part of a refund that goes back through the original tender ``index``."""

    index: int
    kind: str
    amount_fen: int
    reference: str | None = None


def _cash_last_rank(kind: str) -> int:
    if kind in ACCOUNT_KINDS:
        return 0
    if kind == "card":
        return 1
    if kind == "cash":
        return 3
    return 2


def split_refund(
    refund_fen: int, tenders: Sequence[PaidTender], rule: str = "proportional"
) -> tuple[TenderRefund, ...]:
    """Spreads ``refund_fen`` over the original ``tenders`` (in their order).

    * ``proportional`` (the default, and for an unknown rule): in proportion to what each
      tender has left to give back, largest remainder first (ties: the earlier tender);
    * ``cash_last``: account tenders (points, stored value, coupons) first, then card,
      then other kinds, cash last, each up to what it has left.

    The parts add up to ``refund_fen`` exactly; none is negative or above what its tender
    has left. Tenders that give nothing back are left out.

    Raises:
        RefundError: a negative refund, or more than the tenders have left.
    """
    if refund_fen < 0:
        raise RefundError("a refund is not negative")
    left = [t.left_fen for t in tenders]
    total_left = sum(left)
    if refund_fen > total_left:
        raise RefundError(f"refund {refund_fen} exceeds the {total_left} the tenders have left")
    if refund_fen == 0:
        return ()
    parts = [0] * len(tenders)
    if rule == "cash_last":
        order = sorted(range(len(tenders)), key=lambda i: (_cash_last_rank(tenders[i].kind), i))
        due = refund_fen
        for i in order:
            take = min(due, left[i])
            parts[i] = take
            due -= take
    else:
        remainders: list[tuple[int, int]] = []
        for i, cap in enumerate(left):
            share, rest = divmod(refund_fen * cap, total_left)
            parts[i] = share
            remainders.append((-rest, i))
        short = refund_fen - sum(parts)
        for _, i in sorted(remainders)[:short]:
            parts[i] += 1
    return tuple(
        TenderRefund(i, t.kind, parts[i], t.reference)
        for i, t in enumerate(tenders)
        if parts[i] > 0
    )


# -- points --------------------------------------------------------------------------------


def points_to_reverse(
    earned_points: int,
    earning_base_fen: int,
    refund_fen: int,
    refunded_before_fen: int = 0,
    reversed_before: int = 0,
) -> int:
    """The earned points a refund takes back: ``earned * refund / base`` counted
    cumulatively over every refund of the sale (so partial returns add up to at most
    what was earned), never negative and never beyond ``earned - reversed_before``.

    Whether the member still has them is HQ's business: HQ never drives a balance below
    zero and records the shortfall.
    """
    if earned_points <= 0 or earning_base_fen <= 0 or refund_fen <= 0:
        return 0
    before = min(earning_base_fen, max(0, refunded_before_fen))
    after = min(earning_base_fen, before + refund_fen)
    due = earned_points * after // earning_base_fen - max(0, reversed_before)
    return max(0, min(due, earned_points - max(0, reversed_before)))


# -- policy --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReturnReason:
    code: str
    zh: str
    en: str


DEFAULT_REASONS: tuple[ReturnReason, ...] = (
    ReturnReason("damaged", "商品损坏", "Damaged"),
    ReturnReason("wrong_item", "拿错商品", "Wrong item"),
    ReturnReason("changed_mind", "不想要了", "Changed mind"),
    ReturnReason("quality", "质量问题", "Quality problem"),
    ReturnReason("other", "其他", "Other"),
)


def _words(value: object) -> frozenset[str]:
    if not isinstance(value, str):
        return frozenset()
    return frozenset(w.strip() for w in value.split(",") if w.strip())


def _int(value: object, default: int, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return default
    try:
        number = int(value)
    except ValueError:
        return default
    return number if lo <= number <= hi else default


def _reasons(value: object) -> tuple[ReturnReason, ...]:
    try:
        data = json.loads(value) if isinstance(value, str) else value
        reasons = tuple(
            ReturnReason(
                str(r["code"]), str(r.get("zh") or r["code"]), str(r.get("en") or r["code"])
            )
            for r in data  # type: ignore[union-attr]
        )
    except (ValueError, TypeError, KeyError):
        return DEFAULT_REASONS
    return reasons or DEFAULT_REASONS


@dataclass(frozen=True, slots=True)
class ReturnPolicy:
    """The ``returns.*`` settings HQ publishes (chain-wide or per store).

    ``window_days``: a sale may be returned until that many days after it completed.
    ``approval_above_fen``: a refund above it needs a supervisor. ``no_receipt_cap_fen``:
    the most a return without a receipt may refund (and it always needs a manager).
    ``coupon_back``: ``full_return`` gives a sale's coupon back to the member once the
    whole sale is returned (see :func:`coupon_goes_back`); ``never`` keeps it used.
    """

    window_days: int = 7
    non_returnable_categories: frozenset[str] = frozenset()
    non_returnable_skus: frozenset[str] = frozenset()
    approval_above_fen: int = 10_000
    no_receipt_cap_fen: int = 10_000
    refund_split: SplitRule = "proportional"
    reasons: tuple[ReturnReason, ...] = DEFAULT_REASONS
    coupon_back: CouponBackRule = "full_return"

    @classmethod
    def from_settings(cls, get: Mapping[str, object]) -> ReturnPolicy:
        """From settings as stored (JSON-decoded values); a missing or unusable value
        takes its default."""
        split = get.get("returns.refund_split")
        return cls(
            window_days=_int(get.get("returns.window_days"), 7, 0, 3650),
            non_returnable_categories=_words(get.get("returns.non_returnable_categories")),
            non_returnable_skus=_words(get.get("returns.non_returnable_skus")),
            approval_above_fen=_int(get.get("returns.approval_above_fen"), 10_000, 0, 10**12),
            no_receipt_cap_fen=_int(get.get("returns.no_receipt_cap_fen"), 10_000, 0, 10**12),
            refund_split="cash_last" if split == "cash_last" else "proportional",
            reasons=_reasons(get.get("returns.reasons"))
            if get.get("returns.reasons") is not None
            else DEFAULT_REASONS,
            coupon_back="never" if get.get("returns.coupon_back") == "never" else "full_return",
        )

    def deadline(self, completed_at: datetime) -> datetime:
        """The last moment a sale completed at ``completed_at`` may be returned."""
        return completed_at + timedelta(days=self.window_days)

    def in_window(self, completed_at: datetime, now: datetime) -> bool:
        """Whether a sale completed at ``completed_at`` may still be returned at ``now``."""
        return now <= self.deadline(completed_at)

    def returnable_item(self, sku: str, category: str | None) -> bool:
        """Whether an item may be returned at all (made-to-order drinks may not)."""
        return sku not in self.non_returnable_skus and (
            not category or category not in self.non_returnable_categories
        )

    def reason_codes(self) -> frozenset[str]:
        return frozenset(r.code for r in self.reasons)


# -- coupons -------------------------------------------------------------------------------


def returned_in_full(lines: Sequence[tuple[int, int]]) -> bool:
    """Whether every line of a sale is returned: ``lines`` are ``(qty_milli,
    returned_milli)`` per sold line, ``returned_milli`` counting every return in every
    store (the one being made included)."""
    return bool(lines) and all(returned >= qty for qty, returned in lines)


def coupon_goes_back(
    policy: ReturnPolicy, *, in_full: bool, valid_until: datetime, returned_at: datetime
) -> bool:
    """Whether a return gives the member back the coupon the sale used.

    Only a return that completes the return of the whole sale (``in_full``, see
    :func:`returned_in_full`; in one return or several, in any store) gives it back, and
    only while the coupon is still valid at ``returned_at`` (the till's time of the
    return, which HQ reads from the event, so both decide alike). A partial return keeps
    the coupon used: its value is spread over the lines as a discount, so the refund of
    any line is already net of it. ``returns.coupon_back = never`` keeps it used always.
    """
    return policy.coupon_back == "full_return" and in_full and returned_at < valid_until


def paycode_refund_no(return_id: str, order_no: str) -> str:
    """The gateway's refund number (out_refund_no / out_request_no) for refunding a
    payment-code tender (``order_no``) by a return: the till asks the gateway with it, HQ
    matches the provider's statement with it. Deterministic, so a retry refunds once."""
    import hashlib

    return f"{return_id}-{hashlib.sha256(order_no.encode()).hexdigest()[:8]}"
