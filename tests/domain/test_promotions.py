"""The promotion engine: each kind prices as a chain's staff expect, and the issue's
properties hold for random carts and random promotion books.

Examples name the chains' own promotions (满100减30, 第二件半价, 买一送一, 下午茶 price,
会员价, 银卡95折/金卡9折, 套餐, 限量特价); the properties are: a discount never exceeds
what a line costs, totals add up to the fen, the order of the cart's lines changes
nothing, and the best-for-customer choice is never worse than any single eligible
promotion.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pos_app.domain.cart import Cart, Discount, PricedItem, Rounding, Unit
from pos_app.domain.promotions import PromoContext, PromoLine, PromoShare, PromotionBook
from sync_client.contract.promotions import PromotionInvalid, parse_promotion

SAT_0000_SHANGHAI = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)  # Saturday 00:00 in Shanghai
FRI_2359 = SAT_0000_SHANGHAI - timedelta(seconds=1)
NOW = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)  # Wednesday 15:00 in Shanghai

MANGO = "MT011"  # 杨枝甘露, 1800 fen
TARO = "MT012"  # 芋泥波波, 1500 fen
EGG_TART = "BK021"  # 蛋挞, 900 fen, category "bakery"


def promo(pid: int, kind: str, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": pid,
        "version": 1,
        "name_zh": f"促销{pid}",
        "name_en": f"Promotion {pid}",
        "kind": kind,
        "params": params,
        "starts_at": "2026-12-01T00:00:00Z",
    }
    data.update(fields)
    return data


def book(*data: dict[str, Any]) -> PromotionBook:
    return PromotionBook(parse_promotion(d) for d in data)


def line(line_no: int, item_id: str, price: int, pieces: int = 1, category: str = "tea"):
    return PromoLine(line_no, item_id, category, price, pieces * 1000, price * pieces, pieces)


def ctx(**kw: Any) -> PromoContext:
    base: dict[str, Any] = {"at": NOW, "store": "S001", "region": "east"}
    base.update(kw)
    return PromoContext(**base)


# ------------------------------------------------------------------ each kind


def test_second_cup_half_price_takes_half_the_cheaper_cup_from_saturday_midnight() -> None:
    b = book(
        promo(
            1,
            "nth_item",
            {"n": 2, "percent_bp": 5000},
            targets={"items": [MANGO]},
            scope={"regions": ["east"]},
            starts_at="2026-12-05T00:00:00+08:00",
        )
    )
    cups = [line(1, MANGO, 1800, 2)]
    assert b.price(cups, ctx(at=FRI_2359)).discount_fen == 0
    at_midnight = b.price(cups, ctx(at=SAT_0000_SHANGHAI))
    assert at_midnight.discount_fen == 900
    assert at_midnight.applied[0].pieces == 2
    assert b.price(cups, ctx(at=SAT_0000_SHANGHAI, region="west")).discount_fen == 0


def test_spend_threshold_takes_the_highest_tier_reached_once_or_per_threshold() -> None:
    tiered = book(promo(1, "spend_threshold", {"tiers": [[10000, 3000], [20000, 7000]]}))
    lines = [line(1, TARO, 1500, 9)]  # 135 yuan
    assert tiered.price(lines, ctx()).discount_fen == 3000
    assert tiered.price([line(1, TARO, 1500, 14)], ctx()).discount_fen == 7000
    repeat = book(promo(2, "spend_threshold", {"tiers": [[10000, 3000]], "repeat": True}))
    assert repeat.price([line(1, TARO, 1500, 14)], ctx()).discount_fen == 6000  # 210 yuan


def test_buy_one_get_one_gives_the_cheaper_piece_and_another_item_as_the_gift() -> None:
    same = book(promo(1, "buy_x_get_y", {"buy_qty": 1, "get_qty": 1}, targets={"items": [TARO]}))
    assert same.price([line(1, TARO, 1500, 3)], ctx()).discount_fen == 1500
    other = book(
        promo(
            2,
            "buy_x_get_y",
            {"buy_qty": 2, "get_qty": 1, "get_items": [EGG_TART]},
            targets={"items": [MANGO]},
        )
    )
    lines = [line(1, MANGO, 1800, 2), line(2, EGG_TART, 900, 2, "bakery")]
    pricing = other.price(lines, ctx())
    assert pricing.discount_fen == 900
    tart = pricing.for_line(2)
    assert tart is not None and tart.discount_fen == 900


def test_afternoon_tea_price_runs_only_between_its_hours_on_its_weekdays() -> None:
    b = book(
        promo(
            1,
            "special_price",
            {"price_fen": 1200},
            targets={"items": [MANGO]},
            weekdays=[3],
            hours=[["14:00", "17:00"]],
        )
    )
    lines = [line(1, MANGO, 1800)]
    assert b.price(lines, ctx()).discount_fen == 600  # Wednesday 15:00
    assert b.price(lines, ctx(at=NOW + timedelta(hours=2))).discount_fen == 0  # 17:00
    assert b.price(lines, ctx(at=NOW + timedelta(days=1))).discount_fen == 0  # Thursday


def test_member_price_and_tier_discounts_need_the_member_and_the_tier() -> None:
    b = book(
        promo(
            1, "member_price", {"price_fen": 1600}, targets={"items": [MANGO]}, audience="members"
        ),
        promo(2, "tier_discount", {"tier_percent_bp": {"silver": 500, "gold": 1000}}),
    )
    lines = [line(1, MANGO, 1800), line(2, TARO, 1500)]
    assert b.price(lines, ctx()).discount_fen == 0
    assert b.price(lines, ctx(member=True)).discount_fen == 200
    # not stackable: the till picks the better of the member price and 金卡9折 (330)
    assert b.price(lines, ctx(member=True, tier="gold")).discount_fen == 330
    assert b.price(lines, ctx(member=True, tier="silver")).discount_fen == 200


def test_bundle_sells_whole_sets_at_its_price_spread_over_the_set() -> None:
    b = book(
        promo(
            1,
            "bundle",
            {
                "components": [{"items": [MANGO], "qty": 1}, {"categories": ["bakery"], "qty": 2}],
                "price_fen": 3000,
            },
        )
    )
    lines = [line(1, MANGO, 1800, 2), line(2, EGG_TART, 900, 3, "bakery")]
    pricing = b.price(lines, ctx())
    assert pricing.discount_fen == 600  # one set: 18 + 9 + 9 = 36 yuan for 30
    assert pricing.applied[0].pieces == 3
    assert sum(lp.discount_fen for lp in pricing.lines) == 600


def test_a_limited_special_price_stops_at_the_days_limit_for_the_store() -> None:
    b = book(
        promo(1, "special_price", {"price_fen": 990, "daily_limit": 50}, targets={"items": [MANGO]})
    )
    lines = [line(1, MANGO, 1800, 3)]
    assert b.price(lines, ctx(used_today={1: 48})).discount_fen == 2 * 810
    assert b.price(lines, ctx(used_today={1: 50})).discount_fen == 0
    assert b.price(lines, ctx(used_today={1: 48})).applied[0].pieces == 2


def test_stackable_promotions_combine_in_order_and_the_best_plan_wins() -> None:
    b = book(
        promo(1, "percent_off", {"percent_bp": 1000}, stackable=True, priority=1),
        promo(2, "amount_off", {"amount_fen": 100}, stackable=True, priority=2),
        promo(3, "spend_threshold", {"tiers": [[3000, 500]]}, priority=3),
    )
    lines = [line(1, TARO, 1500, 2)]  # 30 yuan
    pricing = b.price(lines, ctx())
    # 10% (300) then 1 yuan a cup (200) = 500 together; 满30减5 alone is also 500:
    # the earlier plan by priority (the stackable set, led by priority 1) wins the tie
    assert pricing.discount_fen == 500
    assert [a.promotion_id for a in pricing.applied] == [1, 2]
    assert [p.chosen for p in pricing.considered].count(True) == 1
    first_only = b.price(lines, ctx(best_for_customer=False))
    assert [a.promotion_id for a in first_only.applied] == [1, 2]


def test_without_best_for_customer_the_first_promotion_by_priority_decides() -> None:
    b = book(
        promo(1, "percent_off", {"percent_bp": 500}, priority=1),
        promo(2, "percent_off", {"percent_bp": 2000}, priority=2),
    )
    lines = [line(1, TARO, 1500)]
    assert b.price(lines, ctx(best_for_customer=False)).discount_fen == 75
    assert b.price(lines, ctx()).discount_fen == 300


def test_each_line_says_which_promotion_took_how_much() -> None:
    b = book(
        promo(
            1, "nth_item", {"n": 2, "percent_bp": 5000}, targets={"items": [MANGO]}, stackable=True
        ),
        promo(2, "spend_threshold", {"tiers": [[2000, 300]]}, stackable=True, version=4),
    )
    lines = [line(1, MANGO, 1800, 2), line(2, TARO, 1500)]
    pricing = b.price(lines, ctx())
    assert pricing.discount_fen == 1200
    by_line = {
        lp.line_no: {(s.promotion_id, s.version): s.amount_fen for s in lp.shares}
        for lp in pricing.lines
    }
    assert by_line[1][(1, 1)] == 900
    assert by_line[1][(2, 4)] + by_line[2][(2, 4)] == 300


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "mystery"}, "kind"),
        ({"params": {"n": 1, "percent_bp": 5000}}, "params.n"),
        ({"params": {"n": 2, "percent_bp": 0}}, "params.percent_bp"),
        ({"ends_at": "2026-11-30T00:00:00Z"}, "ends_at"),
        ({"starts_at": "2026-12-01T00:00:00"}, "starts_at"),
        ({"hours": [["17:00", "14:00"]]}, "hours"),
        ({"audience": "tiers"}, "tiers"),
        ({"weekdays": [0]}, "weekdays"),
        ({"name_zh": ""}, "name_zh"),
    ],
)
def test_a_promotion_no_till_could_apply_is_refused_with_the_field_named(
    change: dict[str, Any], field: str
) -> None:
    data = promo(1, "nth_item", {"n": 2, "percent_bp": 5000}, targets={"items": [MANGO]})
    data.update(change)
    with pytest.raises(PromotionInvalid) as caught:
        parse_promotion(data)
    assert caught.value.code == "invalid_promotion"
    assert caught.value.params["field"] == field


@pytest.mark.parametrize(
    "params",
    [
        {"tiers": [[10000, 3000], [20000, 2000]]},
        {"tiers": [[1000, 3000]]},
        {"tiers": [[10000, 3000], [20000, 7000]], "repeat": True},
        {"tiers": []},
    ],
)
def test_spend_thresholds_that_contradict_themselves_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(PromotionInvalid):
        parse_promotion(promo(1, "spend_threshold", params))


# ------------------------------------------------------------------ properties

ITEMS = [
    ("A1", 1800, "tea"),
    ("A2", 1500, "tea"),
    ("A3", 900, "bakery"),
    ("A4", 650, "bakery"),
    ("A5", 0, "gift"),
]


@st.composite
def carts(draw: st.DrawFn) -> list[PromoLine]:
    n = draw(st.integers(min_value=1, max_value=8))
    lines = []
    for no in range(1, n + 1):
        item_id, price, category = draw(st.sampled_from(ITEMS))
        if draw(st.booleans()):
            pieces = draw(st.integers(min_value=1, max_value=6))
            lines.append(
                PromoLine(no, item_id, category, price, pieces * 1000, price * pieces, pieces)
            )
        else:
            grams = draw(st.integers(min_value=1, max_value=3000))
            lines.append(PromoLine(no, item_id, category, price, grams, price * grams // 1000, 0))
    return lines


targets_st = st.sampled_from(
    [
        {},
        {"items": ["A1"]},
        {"items": ["A2", "A3"]},
        {"categories": ["bakery"]},
        {"categories": ["tea"]},
    ]
)


@st.composite
def promotions(draw: st.DrawFn, pid: int) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "percent_off",
                "amount_off",
                "spend_threshold",
                "nth_item",
                "buy_x_get_y",
                "bundle",
                "member_price",
                "special_price",
                "tier_discount",
            ]
        )
    )
    bp = st.integers(min_value=1, max_value=10_000)
    params: dict[str, Any] = {
        "percent_off": lambda: {"percent_bp": draw(bp)},
        "amount_off": lambda: {"amount_fen": draw(st.integers(1, 3000))},
        "spend_threshold": lambda: {
            "tiers": [[t, draw(st.integers(1, t))] for t in [draw(st.integers(1, 20000))]],
            "repeat": draw(st.booleans()),
        },
        "nth_item": lambda: {"n": draw(st.integers(2, 4)), "percent_bp": draw(bp)},
        "buy_x_get_y": lambda: {
            "buy_qty": draw(st.integers(1, 3)),
            "get_qty": draw(st.integers(1, 2)),
            "get_items": draw(st.sampled_from([[], ["A3"], ["A4", "A5"]])),
            "percent_bp": draw(bp),
        },
        "bundle": lambda: {
            "components": [
                {
                    "items": [draw(st.sampled_from(["A1", "A2", "A3", "A4"]))],
                    "qty": draw(st.integers(1, 2)),
                }
                for _ in range(draw(st.integers(1, 3)))
            ],
            "price_fen": draw(st.integers(0, 5000)),
        },
        "member_price": lambda: {"price_fen": draw(st.integers(0, 2000))},
        "special_price": lambda: {
            "price_fen": draw(st.integers(0, 2000)),
            "daily_limit": draw(st.one_of(st.none(), st.integers(1, 10))),
        },
        "tier_discount": lambda: {"tier_percent_bp": {"gold": draw(bp)}},
    }[kind]()
    return promo(
        pid,
        kind,
        params,
        targets=draw(targets_st),
        stackable=draw(st.booleans()),
        priority=draw(st.integers(0, 5)),
        audience="members" if kind == "member_price" else "everyone",
    )


@st.composite
def books(draw: st.DrawFn) -> PromotionBook:
    n = draw(st.integers(min_value=1, max_value=5))
    return PromotionBook(parse_promotion(draw(promotions(pid))) for pid in range(1, n + 1))


member_ctx = ctx(member=True, tier="gold", used_today={})


@settings(max_examples=300, deadline=None)
@given(carts(), books(), st.booleans())
def test_discounts_never_exceed_a_line_and_add_up_to_the_fen(cart, b, best) -> None:
    pricing = b.price(
        cart, PromoContext(NOW, "S001", "east", member=True, tier="gold", best_for_customer=best)
    )
    cost = {ln.line_no: ln.list_amount_fen for ln in cart}
    for lp in pricing.lines:
        assert 0 < lp.discount_fen <= cost[lp.line_no]
        assert lp.discount_fen == sum(s.amount_fen for s in lp.shares)
        assert all(s.amount_fen > 0 for s in lp.shares)
    assert pricing.discount_fen == sum(lp.discount_fen for lp in pricing.lines)
    assert pricing.discount_fen == sum(a.amount_fen for a in pricing.applied)
    assert 0 <= pricing.discount_fen <= sum(cost.values())


@settings(max_examples=300, deadline=None)
@given(carts(), books(), st.randoms(use_true_random=False))
def test_the_order_of_the_carts_lines_changes_nothing(cart, b, rnd: random.Random) -> None:
    context = PromoContext(NOW, "S001", "east", member=True, tier="gold")
    shuffled = list(cart)
    rnd.shuffle(shuffled)
    assert b.price(shuffled, context) == b.price(cart, context)
    # renumbered lines: the same discount by promotion
    renumbered = [
        PromoLine(
            n,
            ln.sku,
            ln.category,
            ln.unit_price_fen,
            ln.qty_milli,
            ln.list_amount_fen,
            ln.pieces,
        )
        for n, ln in enumerate(shuffled, start=1)
    ]
    a, z = b.price(renumbered, context), b.price(cart, context)
    assert [(x.promotion_id, x.amount_fen) for x in a.applied] == [
        (x.promotion_id, x.amount_fen) for x in z.applied
    ]


@settings(max_examples=300, deadline=None)
@given(carts(), books())
def test_the_best_for_the_customer_is_never_worse_than_any_single_promotion(cart, b) -> None:
    context = PromoContext(NOW, "S001", "east", member=True, tier="gold")
    best = b.price(cart, context).discount_fen
    for p in b.promotions:
        # on its own: the promotion applied by itself, whatever it combines with
        alone = PromotionBook([replace(p, stackable=False)]).price(cart, context).discount_fen
        assert best >= alone


# ------------------------------------------------------------------ in the cart

MANGO_ITEM = PricedItem(11, MANGO, "杨枝甘露", "Mango Pomelo Sago", Unit.PIECE, 1800, 3, "tea")
TARO_ITEM = PricedItem(12, TARO, "芋泥波波", "Taro Boba", Unit.PIECE, 1500, 4, "tea")


def half_price_cart(**context: Any) -> Cart:
    cart = Cart()
    cart.promotions = book(
        promo(1, "nth_item", {"n": 2, "percent_bp": 5000}, targets={"items": [MANGO]}),
        promo(
            2, "member_price", {"price_fen": 1300}, targets={"items": [TARO]}, audience="members"
        ),
    )
    cart.promo_context = ctx(**context)
    return cart


def test_the_cart_reprices_its_promotions_on_every_scan_quantity_change_and_removal() -> None:
    cart = half_price_cart()
    cart.add(MANGO_ITEM)
    assert cart.totals().total_fen == 1800
    line = cart.add(MANGO_ITEM)  # the second scan joins the line
    totals = cart.totals()
    assert totals.total_fen == 2700
    assert totals.promotion_fen == 900
    assert totals.lines[0].promotions == (PromoShare(1, 1, 900),)
    assert [a.name("zh_CN") for a in totals.promotions] == ["促销1"]
    cart.set_quantity(line.line_no, 1000)
    assert cart.totals().promotion_fen == 0
    taro = cart.add(TARO_ITEM)
    assert cart.totals().promotion_fen == 0
    cart.promo_context = ctx(member=True)  # a member identifies
    assert cart.totals().promotion_fen == 200
    cart.remove(taro.line_no)
    assert cart.totals().promotions == ()


def test_a_manual_line_discount_takes_its_share_of_what_the_promotion_left() -> None:
    cart = half_price_cart()
    line = cart.add(MANGO_ITEM, 2000)
    cart.set_line_discount(line.line_no, Discount(percent_bp=1000))
    cart.rounding = Rounding.YUAN
    totals = cart.totals()
    assert totals.promotion_fen == 900
    assert totals.line_discount_fen == 270  # 10% of 27 yuan
    assert totals.rounding_fen == 30
    assert totals.total_fen == 2400
    assert totals.lines[0].discount_fen == 900 + 270 + 30


@settings(max_examples=200, deadline=None)
@given(carts(), books(), st.sampled_from(Rounding), st.booleans())
def test_cart_totals_with_promotions_add_up_to_the_fen(cart_lines, b, rounding, basket) -> None:
    cart = Cart(rounding=rounding)
    cart.promotions = b
    cart.promo_context = member_ctx
    for ln in cart_lines:
        item = PricedItem(
            int(ln.sku[1:]),
            ln.sku,
            f"商品{ln.sku}",
            "",
            Unit.PIECE if ln.pieces else Unit.KG,
            ln.unit_price_fen,
            1,
            ln.category,
        )
        cart.add(item, ln.qty_milli, merge=False)
    if basket:
        cart.basket_discount = Discount(percent_bp=500)
    totals = cart.totals()
    assert sum(pl.amount_fen for pl in totals.lines) == totals.total_fen >= 0
    for pl in totals.lines:
        assert pl.amount_fen == pl.list_amount_fen - pl.discount_fen >= 0
        assert pl.promotion_fen == sum(s.amount_fen for s in pl.promotions)
    assert totals.total_fen == totals.subtotal_fen - totals.discount_fen - totals.rounding_fen
    assert totals.promotion_fen == sum(pl.promotion_fen for pl in totals.lines)
