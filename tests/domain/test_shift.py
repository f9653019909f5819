"""Shift arithmetic: counting by denomination and expected cash from the shift's records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pos_app.domain.shift import (
    CNY_DENOMINATIONS,
    CashCount,
    CashMoved,
    CountError,
    RefundPaid,
    TenderTaken,
    cash_figures,
    expected_by_tender,
    needs_sign_off,
    over_short,
)

amounts = st.integers(min_value=1, max_value=200_000)
cash_tenders = st.builds(
    lambda amount, change: TenderTaken("cash", amount, amount + change),
    amounts,
    st.integers(min_value=0, max_value=10_000),
)
other_tenders = st.builds(
    TenderTaken, st.sampled_from(["card", "points", "stored_value", "wechat"]), amounts
)
tenders = st.lists(st.one_of(cash_tenders, other_tenders), max_size=40)
refunds = st.lists(st.builds(RefundPaid, st.sampled_from(["cash", "card"]), amounts), max_size=5)
movements = st.lists(st.builds(CashMoved, st.sampled_from(["in", "out"]), amounts), max_size=5)
floats = st.integers(min_value=0, max_value=500_000)


def test_five_hundred_yuan_counted_by_denomination() -> None:
    count = (
        CashCount()
        .with_count("note:10000", 3)
        .with_amount("note:5000", 10000)
        .tapped("note:2000")
        .tapped("note:2000")
        .with_count("note:1000", 4)
        .with_amount("coin:100", 1000)
        .with_count("note:100", 4)
        .tapped("coin:50", 10)
        .tapped("coin:10", 10)
    )
    assert count.total_fen == 50000
    # The ¥1 note and the ¥1 coin are counted apart.
    assert count.count_of("note:100") == 4
    assert count.count_of("coin:100") == 10
    assert [d.key for d, _ in count.lines()][:2] == ["note:10000", "note:5000"]
    assert CashCount.from_dict(count.to_dict()) == count


def test_counting_by_amount_refuses_a_part_of_a_note() -> None:
    with pytest.raises(CountError) as err:
        CashCount().with_amount("note:5000", 7000)
    assert err.value.code == "not_a_multiple"
    with pytest.raises(CountError):
        CashCount({"note:3000": 1})


def test_tapping_below_zero_stays_at_zero() -> None:
    assert CashCount().tapped("coin:10", -3).total_fen == 0


def test_all_cny_denominations_are_distinct() -> None:
    assert len({d.key for d in CNY_DENOMINATIONS}) == 9


def test_scenario_figures_cash_with_change_card_and_cash_out() -> None:
    """GIVEN a ¥500 float, a ¥23.50 sale paid with ¥50 cash, a ¥18 card sale, ¥200 to the
    safe
    THEN cash expected is ¥323.50 and the ¥26.50 change is not cash received."""
    figures = cash_figures(
        50000,
        [TenderTaken("cash", 2350, 5000), TenderTaken("card", 1800)],
        movements=[CashMoved("out", 20000)],
    )
    assert figures.taken_fen == 5000
    assert figures.change_fen == 2650
    assert figures.expected_fen == 32350
    assert over_short(32150, figures.expected_fen) == -200


@given(floats, tenders, refunds, movements, st.integers(min_value=0, max_value=100_000))
def test_change_never_counts_as_received(
    float_fen: int,
    taken: list[TenderTaken],
    refunded: list[RefundPaid],
    moved: list[CashMoved],
    extra: int,
) -> None:
    """Handing over more cash for the same sale (more change) never changes what the
    drawer should hold."""
    more = [
        TenderTaken(t.kind, t.amount_fen, (t.tendered_fen or t.amount_fen) + extra)
        if t.kind == "cash"
        else t
        for t in taken
    ]
    assert (
        cash_figures(float_fen, taken, refunded, moved).expected_fen
        == cash_figures(float_fen, more, refunded, moved).expected_fen
    )


@given(floats, tenders, refunds, movements)
def test_totals_add_up_to_the_fen(
    float_fen: int, taken: list[TenderTaken], refunded: list[RefundPaid], moved: list[CashMoved]
) -> None:
    """Expected over all tenders = float + everything sold - everything refunded + cash
    in - cash out, to the fen; cash expected is float + cash applied to sales - cash
    refunds + in - out."""
    rows = expected_by_tender(float_fen, taken, refunded, moved)
    moved_net = sum(m.amount_fen if m.direction == "in" else -m.amount_fen for m in moved)
    sold = sum(t.amount_fen for t in taken)
    back = sum(r.amount_fen for r in refunded)
    assert sum(r.expected_fen for r in rows) == float_fen + sold - back + moved_net
    cash = next(r for r in rows if r.kind == "cash")
    assert cash.expected_fen == (
        float_fen
        + sum(t.amount_fen for t in taken if t.kind == "cash")
        - sum(r.amount_fen for r in refunded if r.kind == "cash")
        + moved_net
    )
    assert sum(r.count for r in rows) == len(taken)


@given(floats, tenders, refunds, movements, st.randoms(use_true_random=False))
def test_order_of_the_records_does_not_matter(
    float_fen: int,
    taken: list[TenderTaken],
    refunded: list[RefundPaid],
    moved: list[CashMoved],
    rnd: object,
) -> None:
    import random

    assert isinstance(rnd, random.Random)
    shuffled = [list(x) for x in (taken, refunded, moved)]
    for xs in shuffled:
        rnd.shuffle(xs)
    assert expected_by_tender(float_fen, taken, refunded, moved) == expected_by_tender(
        float_fen, *shuffled
    )


@given(st.integers(min_value=-10**6, max_value=10**6), st.integers(min_value=0, max_value=10**5))
def test_sign_off_only_beyond_the_threshold(diff: int, threshold: int) -> None:
    assert needs_sign_off(diff, threshold) == (abs(diff) > threshold)
