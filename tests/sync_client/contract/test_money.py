"""Money as text, shared by the till and HQ: parsing what staff type, formatting fen.

Expected values come from ``fractions.Fraction`` arithmetic written here, never from the
module under test.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_client.contract.money import MoneyParseError, format_yuan, parse_yuan

fen_amounts = st.integers(min_value=0, max_value=10**12)


@given(fen_amounts)
def test_format_then_parse_gives_back_the_same_fen(fen: int) -> None:
    assert parse_yuan(format_yuan(fen)) == fen
    assert parse_yuan(format_yuan(fen, symbol=False)) == fen


@given(st.integers(min_value=1, max_value=10**12))
def test_a_negative_amount_shows_as_minus_the_positive_one(fen: int) -> None:
    assert format_yuan(-fen) == "-" + format_yuan(fen)


@pytest.mark.parametrize(
    ("fen", "shown"),
    [(0, "¥0.00"), (5, "¥0.05"), (1234, "¥12.34"), (-50, "-¥0.50"), (100_000_00, "¥100000.00")],
)
def test_format_examples(fen: int, shown: str) -> None:
    assert format_yuan(fen) == shown


@pytest.mark.parametrize(
    ("typed", "fen"),
    [
        ("12.5", 1250),
        ("¥12.50", 1250),
        ("￥12.50", 1250),
        ("12", 1200),
        (" 0.01 ", 1),
        ("1,234.56", 123456),
        ("12.500", 1250),
        ("0", 0),
    ],
)
def test_parse_what_cashiers_type(typed: str, fen: int) -> None:
    assert parse_yuan(typed) == fen


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "¥", "abc", "12.345", "0.001", "-1", "-0.01", "NaN", "Infinity", "1.2.3", "12元"],
)
def test_parse_rejects_what_is_not_an_amount(typed: str) -> None:
    with pytest.raises(MoneyParseError):
        parse_yuan(typed)


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=1, max_value=9),
)
def test_parse_refuses_a_third_decimal(fen: int, third: int) -> None:
    whole, cents = divmod(fen, 100)
    with pytest.raises(MoneyParseError):
        parse_yuan(f"{whole}.{cents:02d}{third}")
