"""The till's money arithmetic: rounding a share, splitting a total over lines.

Expected values come from ``fractions.Fraction`` arithmetic written here, never from the
module under test.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pos_app.domain.money import allocate, mul_div_round


def _round_half_away(value: Fraction) -> int:
    magnitude = abs(value)
    floor = magnitude.numerator // magnitude.denominator
    rounded = floor + (1 if magnitude - floor >= Fraction(1, 2) else 0)
    return rounded if value >= 0 else -rounded


@given(
    st.integers(min_value=-(10**9), max_value=10**9),
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=1, max_value=10**7),
)
def test_mul_div_round_rounds_half_away_from_zero(amount: int, num: int, den: int) -> None:
    assert mul_div_round(amount, num, den) == _round_half_away(Fraction(amount * num, den))


def test_mul_div_round_half_cases() -> None:
    # ¥98.00/kg x 0.356 kg = 3488.8 fen; 5 x 1/2 = 2.5 -> 3; -2.5 -> -3.
    assert mul_div_round(9800, 356, 1000) == 3489
    assert mul_div_round(5, 1, 2) == 3
    assert mul_div_round(-5, 1, 2) == -3
    with pytest.raises(ValueError):
        mul_div_round(1, 1, 0)


weights_lists = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30).filter(
    lambda ws: sum(ws) > 0
)


@given(st.integers(min_value=-(10**9), max_value=10**9), weights_lists)
def test_allocate_sums_exactly_and_is_proportional_within_one_fen(
    total: int, weights: list[int]
) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert len(parts) == len(weights)
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total * weight, weight_sum)
        assert abs(part - exact) < 1
        if weight == 0:
            assert part == 0
        assert part * total >= 0  # a part never has the opposite sign of the total


def test_allocate_gives_leftover_fen_to_the_largest_remainders() -> None:
    # 100 over 1:1:1 -> 33.33 each; the one fen left goes to the first on a tie.
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    # 10 over 1:2 -> 3.33 and 6.67: the larger remainder (second) gets the extra fen.
    assert allocate(10, [1, 2]) == [3, 7]
    assert allocate(-10, [1, 2]) == [-3, -7]


def test_allocate_refuses_impossible_splits() -> None:
    assert allocate(0, []) == []
    assert allocate(0, [0, 0]) == [0, 0]
    with pytest.raises(ValueError):
        allocate(1, [])
    with pytest.raises(ValueError):
        allocate(1, [0, 0])
    with pytest.raises(ValueError):
        allocate(10, [1, -1])
