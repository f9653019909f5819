"""Loyalty rules, shared by HQ (which credits points) and the till (which prints the
estimate): one arithmetic, one reading of the settings.

Expected values are worked out by hand here, never taken from the module under test.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from sync_client.contract.holds import MAX_HOLD_TTL_S, MIN_HOLD_TTL_S, clamp_hold_ttl
from sync_client.contract.loyalty import LoyaltyRules, check_setting, read_rules

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
def test_points_never_exceed_what_the_paid_part_of_the_sale_earns(
    args, tier, sale_lines, sale_tenders
) -> None:
    total = sum(amount for _, _, amount in sale_lines)
    rules = LoyaltyRules(**args)
    earning = rules.earning(tier, sale_lines, total, sale_tenders)
    assert 0 <= earning.base_fen <= total
    pct = rules.tier_pct.get(tier, 100)
    assert earning.points == earning.base_fen * rules.points_per_yuan * pct // 10_000


@given(rules_args, st.integers(0, 10**7))
def test_points_held_to_pay_an_amount_cover_it_and_no_fewer_would(args, fen) -> None:
    rules = LoyaltyRules(**args)
    points = rules.points_to_cover(fen)
    assert rules.value_fen(points) >= fen
    assert points == 0 or rules.value_fen(points - 1) < fen


def _settings(values: dict[str, object]) -> list[tuple[str, str]]:
    return [(k, json.dumps(v, ensure_ascii=False)) for k, v in values.items()]


def test_settings_are_read_with_defaults_for_odd_values_and_the_problems_named() -> None:
    reading = read_rules(
        _settings(
            {
                "member.points_per_yuan": 2,
                "member.tier_pct.gold": 150,
                "member.tier_pct.silver": "lots",
                "member.earn_excluded_categories": "烟草, 酒",
                "member.redeem_points_per_yuan": 0,
                "member.spend_without_code": True,
                "scanner.prefix": "]",
            }
        )
    )
    rules = reading.rules
    assert len(reading.problems) == 2
    assert any("member.tier_pct.silver" in p for p in reading.problems)
    assert any("member.redeem_points_per_yuan" in p for p in reading.problems)
    assert rules.points_per_yuan == 2
    assert dict(rules.tier_pct) == {"gold": 150}
    assert rules.excluded_categories == frozenset({"烟草", "酒"})
    assert rules.redeem_points_per_yuan == 100  # 0 is out of range: the default stands
    assert rules.spend_without_code is True


def test_a_setting_that_is_not_json_keeps_its_default_and_is_reported() -> None:
    reading = read_rules(
        [("member.points_per_yuan", "{oops"), ("member.hold_ttl_s", "600"), ("member.x", "1")]
    )
    assert reading.rules.points_per_yuan == 1
    assert reading.rules.hold_ttl_s == 600
    assert [p.split()[0] for p in reading.problems] == ["member.points_per_yuan", "unknown"]


def test_a_store_value_overrides_the_chain_value_and_a_bad_one_leaves_it() -> None:
    chain = [("member.points_per_yuan", "3"), ("member.hold_ttl_s", "1200")]
    store = [("member.points_per_yuan", "5"), ("member.hold_ttl_s", "7200")]
    rules = read_rules(chain + store).rules
    assert (rules.points_per_yuan, rules.hold_ttl_s) == (5, 1200)


def test_a_removed_store_value_gives_the_default_back() -> None:
    rules = read_rules([("member.points_per_yuan", "3"), ("member.points_per_yuan", "null")])
    assert rules.rules.points_per_yuan == 1


def test_earning_example_with_exclusions_points_tender_and_tier() -> None:
    """GIVEN 2 points a yuan, gold at 150 %, cigarettes excluded
    WHEN a sale of 30 yuan tea + 20 yuan cigarettes is paid 10 yuan in points, 40 in cash
    THEN the eligible 30 yuan count for the paid 4/5: base 24 yuan, 24 * 2 * 1.5 = 72."""
    rules = LoyaltyRules(
        points_per_yuan=2, tier_pct={"gold": 150}, excluded_categories=frozenset({"烟草"})
    )
    earning = rules.earning(
        "gold",
        [("MT001", "奶茶", 3000), ("CIG01", "烟草", 2000)],
        5000,
        [("points", 1000), ("cash", 4000)],
    )
    assert (earning.base_fen, earning.points) == (2400, 72)


def test_setting_checks_name_the_bounds() -> None:
    assert check_setting("member.hold_ttl_s", 59) is not None
    assert check_setting("member.hold_ttl_s", 60) is None
    assert check_setting("member.hold_ttl_s", True) is not None
    assert check_setting("member.tier_pct.gold", 1001) is not None
    assert check_setting("member.earn_on_stored_value", 1) is not None
    assert check_setting("member.nonsense", 1) == "unknown loyalty setting member.nonsense"
    assert check_setting("scanner.prefix", 1) is None
    assert check_setting("member.points_per_yuan", None) is None


@given(st.integers(-(10**6), 10**6))
def test_a_clamped_hold_life_is_within_the_bounds(seconds: int) -> None:
    clamped = clamp_hold_ttl(seconds)
    assert MIN_HOLD_TTL_S <= clamped <= MAX_HOLD_TTL_S
    assert clamped == seconds or not MIN_HOLD_TTL_S <= seconds <= MAX_HOLD_TTL_S
