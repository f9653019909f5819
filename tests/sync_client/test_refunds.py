"""Refund arithmetic HQ and the till share: partial returns add up exactly to what was
paid, no tender ever gives back more than it took, points never over-reversed."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_client.contract.refunds import (
    DEFAULT_REASONS,
    PaidTender,
    RefundError,
    ReturnPolicy,
    coupon_goes_back,
    line_refund_fen,
    points_to_reverse,
    returned_in_full,
    split_refund,
)

amounts = st.integers(min_value=0, max_value=10**7)
quantities = st.integers(min_value=1, max_value=50_000)
kinds = st.sampled_from(["cash", "card", "points", "stored_value", "coupon", "wechat"])


@given(amounts, quantities, st.data())
def test_partial_refunds_of_a_line_add_up_exactly_to_its_amount(
    amount: int, qty: int, data: st.DataObject
) -> None:
    """GIVEN a line returned in any number of parts
    THEN each part's refund is non-negative and the parts sum to the line's amount."""
    done = 0
    total = 0
    while done < qty:
        part = data.draw(st.integers(min_value=1, max_value=qty - done))
        refund = line_refund_fen(amount, qty, done, part)
        assert refund >= 0
        total += refund
        done += part
    assert total == amount


def test_a_weighed_line_refunds_by_weight() -> None:
    # 0.356 kg for ¥12.46 (1246 fen); 0.100 kg back, then the rest.
    first = line_refund_fen(1246, 356, 0, 100)
    assert first == 1246 * 100 // 356
    assert first + line_refund_fen(1246, 356, 100, 256) == 1246


def test_a_line_never_returns_beyond_what_is_left() -> None:
    with pytest.raises(RefundError):
        line_refund_fen(1000, 2000, 1500, 1000)


@st.composite
def tenders_and_refund(draw: st.DrawFn) -> tuple[list[PaidTender], int]:
    tenders = []
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        paid = draw(st.integers(min_value=0, max_value=100_000))
        refunded = draw(st.integers(min_value=0, max_value=paid))
        tenders.append(PaidTender(draw(kinds), paid, refunded, None))
    left = sum(t.left_fen for t in tenders)
    return tenders, draw(st.integers(min_value=0, max_value=left))


@given(tenders_and_refund(), st.sampled_from(["proportional", "cash_last"]))
def test_a_split_adds_up_and_never_gives_a_tender_more_than_it_has_left(
    case: tuple[list[PaidTender], int], rule: str
) -> None:
    tenders, refund = case
    parts = split_refund(refund, tenders, rule)
    assert sum(p.amount_fen for p in parts) == refund
    for part in parts:
        assert 0 < part.amount_fen <= tenders[part.index].left_fen
        assert part.kind == tenders[part.index].kind


def test_proportional_split_of_half_a_mixed_sale() -> None:
    # ¥30 card + ¥70 cash (¥100 handed over: cash counts its applied 7000, not 10000).
    tenders = [PaidTender("card", 3000, 0, "REF-1"), PaidTender("cash", 7000)]
    parts = split_refund(5000, tenders, "proportional")
    assert [(p.kind, p.amount_fen, p.reference) for p in parts] == [
        ("card", 1500, "REF-1"),
        ("cash", 3500, None),
    ]


def test_cash_last_takes_account_and_card_first() -> None:
    tenders = [
        PaidTender("cash", 5000),
        PaidTender("card", 2000),
        PaidTender("points", 1000),
    ]
    parts = split_refund(2500, tenders, "cash_last")
    assert {p.kind: p.amount_fen for p in parts} == {"points": 1000, "card": 1500}


def test_a_refund_beyond_the_tenders_is_refused() -> None:
    with pytest.raises(RefundError):
        split_refund(101, [PaidTender("cash", 100)])


@given(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=1, max_value=10**6),
    st.lists(st.integers(min_value=0, max_value=10**6), max_size=12),
)
def test_points_reversed_over_every_refund_never_exceed_what_was_earned(
    earned: int, base: int, cuts: list[int]
) -> None:
    # The refunds of one sale: the base cut at up to 12 points, in any order of size.
    bounds = sorted({0, base, *(c % base for c in cuts)})
    refunded = reversed_ = 0
    for low, high in itertools.pairwise(bounds):
        points = points_to_reverse(earned, base, high - low, refunded, reversed_)
        assert points >= 0
        refunded += high - low
        reversed_ += points
        assert reversed_ <= earned
    assert reversed_ == earned


def test_policy_defaults_and_settings() -> None:
    default = ReturnPolicy.from_settings({})
    assert default.window_days == 7
    assert default.approval_above_fen == 10_000
    assert default.refund_split == "proportional"
    assert [r.code for r in default.reasons] == [r.code for r in DEFAULT_REASONS]
    policy = ReturnPolicy.from_settings(
        {
            "returns.window_days": 3,
            "returns.non_returnable_categories": "drinks, made",
            "returns.non_returnable_skus": "T-1",
            "returns.refund_split": "cash_last",
            "returns.reasons": '[{"code": "damaged", "zh": "坏了", "en": "Broken"}]',
        }
    )
    assert policy.window_days == 3
    assert not policy.returnable_item("X", "drinks")
    assert not policy.returnable_item("T-1", None)
    assert policy.returnable_item("X", "food")
    assert policy.refund_split == "cash_last"
    assert policy.reasons[0].zh == "坏了"
    sold = datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert policy.in_window(sold, sold + timedelta(days=3))
    assert not policy.in_window(sold, sold + timedelta(days=3, seconds=1))
    assert ReturnPolicy.from_settings({"returns.reasons": "not json"}).reasons == DEFAULT_REASONS


def test_a_coupon_goes_back_only_with_the_whole_sale_while_valid_unless_never() -> None:
    """The coupon rule both sides apply: the whole sale returned (in one return or
    several), the coupon still valid at the return's time, and ``full_return``."""
    policy = ReturnPolicy.from_settings({})
    assert policy.coupon_back == "full_return"
    never = ReturnPolicy.from_settings({"returns.coupon_back": "never"})
    assert never.coupon_back == "never"
    assert ReturnPolicy.from_settings({"returns.coupon_back": "odd"}).coupon_back == "full_return"
    until = datetime(2026, 1, 8, tzinfo=UTC)
    at = until - timedelta(seconds=1)
    assert returned_in_full([(2000, 2000), (1000, 1000)])
    assert not returned_in_full([(2000, 1000), (1000, 1000)])
    assert not returned_in_full([])
    assert coupon_goes_back(policy, in_full=True, valid_until=until, returned_at=at)
    assert not coupon_goes_back(policy, in_full=False, valid_until=until, returned_at=at)
    assert not coupon_goes_back(policy, in_full=True, valid_until=until, returned_at=until)
    assert not coupon_goes_back(never, in_full=True, valid_until=until, returned_at=at)
