"""The cart: totals always add up, discounts never exceed what they apply to, 抹零 rounds.

Random carts mix piece and weighed items, price-embedded labels, line discounts (percent
or amount), a basket discount and every rounding mode; the invariants a cashier and an
auditor rely on must hold for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pos_app.domain.cart import (
    MILLI,
    Cart,
    CartError,
    Discount,
    PricedItem,
    Rounding,
    Unit,
    discount_share_bp,
    zhe_discount,
    zhe_text,
)

TARO = PricedItem(1, "MT001", "芋泥波波", "Taro Boba", Unit.PIECE, 1500, 1)
PEARL = PricedItem(2, "MT002", "珍珠奶茶", "Pearl Milk Tea", Unit.PIECE, 1200, 2)
WALNUTS = PricedItem(3, "SN001", "琥珀核桃仁", "Candied Walnuts", Unit.KG, 9800, 3)

STEP = {Rounding.NONE: 1, Rounding.JIAO: 10, Rounding.YUAN: 100}


# ------------------------------------------------------------------ strategies


@st.composite
def priced_items(draw: st.DrawFn) -> PricedItem:
    item_id = draw(st.integers(min_value=1, max_value=8))
    unit = draw(st.sampled_from(Unit))
    return PricedItem(
        item_id,
        f"SKU{item_id}",
        f"商品{item_id}",
        f"Item {item_id}",
        unit,
        draw(st.integers(min_value=0, max_value=200_000)),
        draw(st.integers(min_value=1, max_value=10**6)),
    )


discounts = st.one_of(
    st.none(),
    st.builds(Discount, percent_bp=st.integers(min_value=1, max_value=10_000)),
    st.builds(Discount, amount_fen=st.integers(min_value=1, max_value=500_000)),
)


@dataclass(frozen=True)
class LineSpec:
    item: PricedItem
    qty_milli: int
    fixed_amount_fen: int | None
    discount: Discount | None


@st.composite
def line_specs(draw: st.DrawFn) -> LineSpec:
    item = draw(priced_items())
    if item.unit is Unit.PIECE:
        qty = draw(st.integers(min_value=1, max_value=50)) * MILLI
    else:
        qty = draw(st.integers(min_value=1, max_value=50_000))
    fixed = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=100_000)))
    return LineSpec(item, qty, fixed, draw(discounts))


@st.composite
def carts(draw: st.DrawFn) -> Cart:
    cart = Cart(rounding=draw(st.sampled_from(Rounding)))
    for spec in draw(st.lists(line_specs(), min_size=0, max_size=12)):
        line = cart.add(
            spec.item,
            spec.qty_milli,
            fixed_amount_fen=spec.fixed_amount_fen,
            merge=draw(st.booleans()),
        )
        if spec.discount is not None:
            cart.set_line_discount(line.line_no, spec.discount)
    if cart.lines:
        cart.basket_discount = draw(discounts)
    return cart


# ------------------------------------------------------------------ invariants


@given(carts())
def test_line_amounts_add_up_to_the_total(cart: Cart) -> None:
    totals = cart.totals()
    assert sum(pl.amount_fen for pl in totals.lines) == totals.total_fen
    assert totals.total_fen == totals.subtotal_fen - totals.discount_fen - totals.rounding_fen
    assert totals.subtotal_fen == sum(pl.list_amount_fen for pl in totals.lines)


@given(carts())
def test_no_amount_is_negative_and_no_discount_exceeds_its_base(cart: Cart) -> None:
    totals = cart.totals()
    assert totals.total_fen >= 0
    for pl in totals.lines:
        assert pl.amount_fen >= 0
        assert 0 <= pl.discount_fen <= pl.list_amount_fen
        assert pl.amount_fen == pl.list_amount_fen - pl.discount_fen
        assert 0 <= pl.line.line_discount_fen <= pl.list_amount_fen
    after_line_discounts = totals.subtotal_fen - totals.line_discount_fen
    assert 0 <= totals.basket_discount_fen <= after_line_discounts


@given(carts())
def test_rounding_drops_only_the_fen_or_jiao_below_the_step(cart: Cart) -> None:
    totals = cart.totals()
    step = STEP[cart.rounding]
    assert 0 <= totals.rounding_fen < step
    assert totals.total_fen % step == 0


@given(carts())
def test_list_amount_is_price_times_quantity_unless_the_label_fixed_it(cart: Cart) -> None:
    for pl in cart.totals().lines:
        line = pl.line
        if line.fixed_amount_fen is not None:
            assert pl.list_amount_fen == line.fixed_amount_fen
        else:
            exact_x2 = 2 * line.item.unit_price_fen * line.qty_milli
            # Rounded half up to the fen: |amount - exact| <= 1/2 fen.
            assert abs(2 * MILLI * pl.list_amount_fen - exact_x2) <= MILLI


@given(carts())
def test_pricing_is_pure(cart: Cart) -> None:
    assert cart.totals() == cart.totals()


# ------------------------------------------------------------------ scenarios


def test_repeated_scans_of_a_piece_item_merge_into_one_line() -> None:
    """GIVEN an empty cart
    WHEN the same cup is scanned three times, then another, then the first again
    THEN the first three make one line of 3, the later scan starts a new line."""
    cart = Cart()
    for _ in range(3):
        cart.add(TARO)
    cart.add(PEARL)
    cart.add(TARO)
    assert [(ln.item.sku, ln.qty_milli) for ln in cart.lines] == [
        ("MT001", 3000),
        ("MT002", 1000),
        ("MT001", 1000),
    ]
    totals = cart.totals()
    assert totals.total_fen == 4 * 1500 + 1200
    assert totals.item_count == 5


def test_a_discounted_line_is_not_merged_into() -> None:
    """GIVEN a line with a 10% discount
    WHEN the same item is scanned again
    THEN it starts a new, undiscounted line (the discount stays on its line only)."""
    cart = Cart()
    first = cart.add(TARO)
    cart.set_line_discount(first.line_no, Discount(percent_bp=1000))
    cart.add(TARO)
    assert [ln.qty_milli for ln in cart.lines] == [1000, 1000]
    assert cart.totals().total_fen == 1350 + 1500


def test_merge_false_always_starts_a_new_line() -> None:
    cart = Cart()
    cart.add(TARO)
    cart.add(TARO, merge=False)
    assert len(cart.lines) == 2


def test_weighed_lines_price_by_the_gram_and_never_merge() -> None:
    """GIVEN walnuts at ¥98.00/kg
    WHEN 356 g and then 500 g are weighed
    THEN the lines cost ¥34.89 (3488.8 rounded) and ¥49.00, on separate lines, two items."""
    cart = Cart()
    cart.add(WALNUTS, 356)
    cart.add(WALNUTS, 500)
    totals = cart.totals()
    assert [pl.list_amount_fen for pl in totals.lines] == [3489, 4900]
    assert totals.total_fen == 8389
    assert totals.item_count == 2


def test_fixed_amount_lines_keep_the_label_price() -> None:
    """GIVEN a price-embedded scale label of ¥12.34 for 96 g
    WHEN it is added
    THEN the line costs exactly ¥12.34 and its quantity cannot be changed."""
    cart = Cart()
    line = cart.add(WALNUTS, 96, fixed_amount_fen=1234)
    assert cart.totals().total_fen == 1234
    with pytest.raises(CartError) as err:
        cart.set_quantity(line.line_no, 200)
    assert err.value.code == "fixed_line"


def test_a_fixed_amount_piece_label_does_not_merge() -> None:
    cart = Cart()
    cart.add(TARO, fixed_amount_fen=999)
    cart.add(TARO, fixed_amount_fen=999)
    assert len(cart.lines) == 2
    assert cart.totals().total_fen == 1998


@pytest.mark.parametrize(
    ("item", "qty"),
    [(TARO, 0), (TARO, -1000), (TARO, 1500), (TARO, 10_000 * MILLI), (WALNUTS, 0)],
)
def test_bad_quantities_are_refused(item: PricedItem, qty: int) -> None:
    cart = Cart()
    with pytest.raises(CartError) as err:
        cart.add(item, qty)
    assert err.value.code == "bad_quantity"
    assert cart.is_empty


def test_set_quantity_and_remove() -> None:
    cart = Cart()
    line = cart.add(TARO)
    cart.set_quantity(line.line_no, 4000)
    assert cart.totals().total_fen == 6000
    with pytest.raises(CartError):
        cart.set_quantity(line.line_no, 0)
    cart.remove(line.line_no)
    assert cart.is_empty
    with pytest.raises(CartError) as err:
        cart.line(line.line_no)
    assert err.value.code == "no_line"


def test_basket_discount_and_rounding_are_spread_over_the_lines() -> None:
    """GIVEN ¥15.00 + ¥12.00 + ¥98.00/kg x 0.356 kg (¥61.89), ¥3.00 off the basket, 抹零 to jiao
    WHEN the cart is priced
    THEN ¥58.89 is rounded down to ¥58.80, and the ¥3.00 and the ¥0.09 are shared out by
    largest remainder so each line shows what was really paid for it."""
    cart = Cart(rounding=Rounding.JIAO)
    cart.add(TARO)
    cart.add(PEARL)
    cart.add(WALNUTS, 356)
    cart.basket_discount = Discount(amount_fen=300)
    totals = cart.totals()
    assert totals.subtotal_fen == 6189
    assert totals.basket_discount_fen == 300
    assert totals.rounding_fen == 9
    assert totals.total_fen == 5880
    # 300 -> 72.7 / 58.2 / 169.1 -> 73, 58, 169; then 9 -> 2.2 / 1.7 / 5.1 -> 2, 2, 5.
    assert [pl.discount_fen for pl in totals.lines] == [75, 60, 174]
    assert [pl.amount_fen for pl in totals.lines] == [1425, 1140, 3315]


def test_percent_basket_discount_rounds_half_up() -> None:
    cart = Cart()
    cart.add(TARO)
    cart.add(PEARL)
    cart.add(WALNUTS, 356)
    cart.basket_discount = Discount(percent_bp=1000)
    totals = cart.totals()
    assert totals.basket_discount_fen == 619  # 10% of 6189 = 618.9
    assert totals.total_fen == 5570


def test_yuan_rounding_drops_jiao_and_fen() -> None:
    cart = Cart(rounding=Rounding.YUAN)
    cart.add(WALNUTS, 356)  # ¥34.89
    totals = cart.totals()
    assert (totals.rounding_fen, totals.total_fen) == (89, 3400)


def test_an_amount_discount_larger_than_the_line_only_zeroes_it() -> None:
    cart = Cart()
    line = cart.add(TARO)
    cart.set_line_discount(line.line_no, Discount(amount_fen=99_999))
    totals = cart.totals()
    assert totals.lines[0].discount_fen == 1500
    assert totals.total_fen == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"percent_bp": 0},
        {"percent_bp": 10_001},
        {"amount_fen": 0},
        {"amount_fen": -5},
        {"percent_bp": 1000, "amount_fen": 100},
    ],
)
def test_invalid_discounts_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(CartError) as err:
        Discount(**kwargs)
    assert err.value.code == "bad_discount"


@pytest.mark.parametrize(
    ("discount", "base", "share"),
    [(150, 1500, 1000), (151, 1500, 1007), (0, 1500, 0), (1, 0, 10_000), (0, 0, 0)],
)
def test_discount_share_rounds_up_so_limits_cannot_be_slipped(
    discount: int, base: int, share: int
) -> None:
    assert discount_share_bp(discount, base) == share


def test_clear_empties_lines_and_basket_discount() -> None:
    cart = Cart()
    cart.add(TARO)
    cart.basket_discount = Discount(amount_fen=100)
    cart.clear()
    assert cart.is_empty
    assert cart.basket_discount is None
    assert cart.totals().total_fen == 0


def test_names_follow_the_language() -> None:
    assert TARO.name("zh_CN") == "芋泥波波"
    assert TARO.name("en") == "Taro Boba"
    no_english = PricedItem(9, "X1", "蛋挞", "", Unit.PIECE, 600, 1)
    assert no_english.name("en") == "蛋挞"


# ------------------------------------------------------------------ 折 discounts


@pytest.mark.parametrize(
    ("said", "percent_bp", "shown"),
    [
        ("8", 2000, "8"),
        ("8折", 2000, "8"),
        ("85", 1500, "8.5"),
        ("8.5", 1500, "8.5"),
        ("9.5", 500, "9.5"),
        ("95折", 500, "9.5"),
        ("1", 9000, "1"),
        ("99", 100, "9.9"),
    ],
)
def test_zhe_reads_as_cashiers_say_it(said: str, percent_bp: int, shown: str) -> None:
    discount = zhe_discount(said)
    assert discount == Discount(percent_bp=percent_bp)
    assert zhe_text(percent_bp) == shown


def test_eight_zhe_takes_a_fifth_off() -> None:
    assert zhe_discount("8").on(3000) == 600


@pytest.mark.parametrize("said", ["", "0", "10", "100", "8.55", "8.", ".5", "a", "-8"])
def test_zhe_refuses_what_is_no_rate(said: str) -> None:
    with pytest.raises(CartError) as caught:
        zhe_discount(said)
    assert caught.value.code == "bad_discount"
