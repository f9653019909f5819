"""Members in the domain: the till's points estimate is HQ's arithmetic, exactly.

The domain may not import HQ, so the rules are written twice (``pos_app.domain.member``
and ``server_stub.loyalty``); this property test keeps the two the same, so the points a
receipt promises are the points HQ credits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pos_app.domain.member import LoyaltyRules, Member, MemberSource
from server_stub.loyalty import Rules

SKUS = ("MT001", "FT001", "SN001", "CIG01")
CATEGORIES = ("奶茶", "果茶", "零食", "烟草")

rules_args = st.fixed_dictionaries(
    {
        "points_per_yuan": st.integers(0, 1000),
        "tier_pct": st.dictionaries(st.sampled_from(("standard", "gold")), st.integers(0, 1000)),
        "excluded_skus": st.frozensets(st.sampled_from(SKUS)),
        "excluded_categories": st.frozensets(st.sampled_from(CATEGORIES)),
        "earn_on_stored_value": st.booleans(),
        "redeem_points_per_yuan": st.integers(1, 100_000),
    }
)
lines = st.lists(
    st.tuples(st.sampled_from(SKUS), st.sampled_from(CATEGORIES), st.integers(0, 10**7)),
    min_size=1,
    max_size=8,
)
tenders = st.lists(
    st.tuples(st.sampled_from(("cash", "card", "points", "stored_value")), st.integers(0, 10**7)),
    min_size=1,
    max_size=4,
)


@given(rules_args, st.sampled_from(("standard", "gold", "silver")), lines, tenders)
def test_the_till_estimates_exactly_what_hq_credits(args, tier, sale_lines, sale_tenders) -> None:
    total = sum(amount for _, _, amount in sale_lines)
    till = LoyaltyRules(**args).points_for(tier, sale_lines, total, sale_tenders)
    _base, hq = Rules(**args).points_for(tier, sale_lines, total, sale_tenders)
    assert till == hq


@given(rules_args, st.integers(0, 10**7))
def test_points_held_to_pay_an_amount_cover_it_and_no_fewer_would(args, fen) -> None:
    rules = LoyaltyRules(**args)
    points = rules.points_to_cover(fen)
    assert rules.value_fen(points) >= fen
    assert rules.value_fen(points) == Rules(**args).value_fen(points)
    assert points == 0 or rules.value_fen(points - 1) < fen


def test_settings_from_hq_are_read_with_defaults_for_odd_values() -> None:
    rules = LoyaltyRules.from_settings(
        {
            "member.points_per_yuan": 2,
            "member.tier_pct.gold": 150,
            "member.tier_pct.silver": "lots",
            "member.earn_excluded_categories": "烟草, 酒",
            "member.redeem_points_per_yuan": 0,
            "member.spend_without_code": True,
        }
    )
    assert rules.points_per_yuan == 2
    assert dict(rules.tier_pct) == {"gold": 150}
    assert rules.excluded_categories == frozenset({"烟草", "酒"})
    assert rules.redeem_points_per_yuan == 100  # 0 is out of range: the default stands
    assert rules.spend_without_code is True


def test_spending_needs_a_fresh_identification_by_code_from_hq() -> None:
    now = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
    member = Member(
        number="812345678903",
        name="王芳",
        phone_masked="138****1234",
        tier="gold",
        points=1280,
        balance_fen=5000,
        coupons=(),
        version=1,
        source=MemberSource.HQ,
        identified_by="code",
        seen_at=now,
        spend_until=now + timedelta(minutes=15),
    )
    assert member.can_spend(now) and member.spend_refusal(now) is None
    later = now + timedelta(minutes=15)
    assert not member.can_spend(later) and member.spend_refusal(later) == "code_stale"
    by_phone = Member(**{**_fields(member), "spend_until": None})
    assert by_phone.spend_refusal(now) == "needs_code"
    offline = Member(**{**_fields(member), "source": MemberSource.CACHE})
    assert not offline.can_spend(now) and offline.spend_refusal(now) == "offline"


def _fields(member: Member) -> dict[str, object]:
    return {f: getattr(member, f) for f in Member.__slots__}
