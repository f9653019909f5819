"""Paying a total with cash and card: change only from cash, never overpay by card."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pos_app.domain.tender import MAX_CASH_FEN, Payment, PaymentError, TenderKind

dues = st.integers(min_value=1, max_value=500_000)


@given(dues, st.integers(min_value=0, max_value=MAX_CASH_FEN))
def test_cash_over_the_total_gives_the_difference_as_change(due: int, extra: int) -> None:
    tendered = min(due + extra, MAX_CASH_FEN)  # due is far below the cap
    payment = Payment(due)
    tender = payment.add_cash(tendered)
    assert tender.amount_fen == due
    assert payment.change_fen == tendered - due
    assert payment.remaining_fen == 0
    assert payment.is_complete


@given(dues, st.data())
def test_mixed_card_and_cash_complete_exactly(due: int, data: st.DataObject) -> None:
    """GIVEN any total
    WHEN part is paid by card and the rest (or more) in cash
    THEN the payment is complete, the tenders count exactly the total, change is cash only."""
    card = data.draw(st.integers(min_value=1, max_value=due))
    payment = Payment(due)
    payment.add_card(card, reference="POS-123")
    rest = due - card
    if rest == 0:
        assert payment.is_complete
        assert payment.change_fen == 0
        return
    tendered = data.draw(st.integers(min_value=rest, max_value=rest + 10_000))
    payment.add_cash(tendered)
    assert payment.is_complete
    assert payment.paid_fen == due
    assert sum(t.amount_fen for t in payment.tenders) == due
    assert payment.change_fen == tendered - rest
    card_tender = payment.tenders[0]
    assert card_tender.kind is TenderKind.CARD and card_tender.change_fen == 0


@given(dues, st.integers(min_value=1, max_value=10_000))
def test_card_cannot_exceed_what_remains(due: int, over: int) -> None:
    payment = Payment(due)
    with pytest.raises(PaymentError) as err:
        payment.add_card(due + over)
    assert err.value.code == "card_over"
    assert payment.tenders == []
    assert payment.remaining_fen == due


def test_partial_cash_leaves_a_remainder() -> None:
    payment = Payment(3000)
    payment.add_cash(1000)
    assert (payment.remaining_fen, payment.change_fen, payment.is_complete) == (2000, 0, False)
    payment.add_card(2000)
    assert payment.is_complete


@pytest.mark.parametrize("amount", [0, -100])
def test_non_positive_tenders_are_refused(amount: int) -> None:
    payment = Payment(1000)
    with pytest.raises(PaymentError) as err:
        payment.add_cash(amount)
    assert err.value.code == "bad_amount"
    with pytest.raises(PaymentError) as err:
        payment.add_card(amount)
    assert err.value.code == "bad_amount"


def test_more_cash_than_the_cap_is_a_typing_mistake() -> None:
    payment = Payment(1000)
    with pytest.raises(PaymentError) as err:
        payment.add_cash(MAX_CASH_FEN + 1)
    assert err.value.code == "too_much_cash"
    assert payment.add_cash(MAX_CASH_FEN).change_fen == MAX_CASH_FEN - 1000


def test_nothing_more_is_taken_once_paid() -> None:
    payment = Payment(1000)
    payment.add_cash(1000)
    with pytest.raises(PaymentError) as err:
        payment.add_cash(100)
    assert err.value.code == "already_paid"
    with pytest.raises(PaymentError):
        payment.add_card(1)


def test_removing_a_tender_reopens_the_payment() -> None:
    payment = Payment(1500)
    payment.add_card(500)
    payment.add_cash(2000)
    removed = payment.remove(1)
    assert removed.tendered_fen == 2000
    assert (payment.remaining_fen, payment.change_fen, payment.is_complete) == (1000, 0, False)


def test_a_zero_total_is_complete_without_tenders() -> None:
    assert Payment(0).is_complete
    assert not Payment(1).is_complete
