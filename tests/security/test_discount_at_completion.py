"""Item 3: the discount limit is checked on the final cart at completion, so changing
the cart after an allowed discount cannot slip a bigger one through."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from pos_app.app import Terminal
from pos_app.domain.cart import MILLI, Discount
from pos_app.domain.tender import Payment
from pos_app.localdb.engine import read_session
from pos_app.services.auth import StaffMember
from pos_app.services.checkout import SaleDraft
from pos_app.services.errors import ApprovalRequired
from sync_client.contract.protocol import SaleCompleted

TARO = "6954321100014"  # 芋泥波波 ¥15.00


def _pay(draft: SaleDraft) -> Payment:
    payment = Payment(draft.cart.totals().total_fen)
    payment.add_card(payment.due_fen)
    return payment


def _events(terminal: Terminal) -> list[SaleCompleted]:
    with read_session(terminal.engine) as s:
        rows = s.execute(text("SELECT payload FROM outbox ORDER BY seq")).scalars().all()
    return [SaleCompleted.model_validate_json(r) for r in rows]


def _ten_percent_then_one_left(terminal: Terminal, cashier: StaffMember) -> SaleDraft:
    """¥3.00 off five 芋泥波波 (¥75.00): 4%, allowed; then four of them taken off: ¥3.00
    of ¥15.00 is 20%, over the 10% limit."""
    draft = terminal.checkout.new_draft(cashier)
    line = terminal.checkout.scan(draft, TARO)
    draft.cart.set_quantity(line.line_no, 5 * MILLI)
    terminal.checkout.set_line_discount(draft, line.line_no, Discount(amount_fen=300))
    draft.cart.set_quantity(line.line_no, 1 * MILLI)
    return draft


def test_a_discount_grown_by_a_quantity_change_is_refused_without_approval(
    terminal: Terminal, cashier: StaffMember
):
    """GIVEN a discount allowed when it was given
    WHEN the quantity changes so that it is 20% of the line, and the sale completes
    THEN completion is refused with ``discount_over_limit`` and nothing is sold."""
    draft = _ten_percent_then_one_left(terminal, cashier)
    with pytest.raises(ApprovalRequired) as refused:
        terminal.checkout.complete(draft, _pay(draft))
    assert refused.value.code == "discount_over_limit"
    assert (refused.value.params["share_bp"], refused.value.params["limit_bp"]) == (2000, 1000)
    assert _events(terminal) == []


def test_raising_the_quantity_of_a_basket_discount_cart_needs_no_approval_but_removal_does(
    terminal: Terminal, cashier: StaffMember
):
    """GIVEN a fixed ¥15.00 off the basket on 芋泥波波 ×10 (10%, allowed)
    WHEN the quantity is raised, the sale completes; and in another sale lowered to 2
    THEN the raise is accepted (5%) and the lowering refused (50%)."""
    for qty, refused in ((20, False), (2, True)):
        draft = terminal.checkout.new_draft(cashier)
        line = terminal.checkout.scan(draft, TARO)
        draft.cart.set_quantity(line.line_no, 10 * MILLI)
        terminal.checkout.set_basket_discount(draft, Discount(amount_fen=1500))
        draft.cart.set_quantity(line.line_no, qty * MILLI)
        if refused:
            with pytest.raises(ApprovalRequired):
                terminal.checkout.complete(draft, _pay(draft))
        else:
            terminal.checkout.complete(draft, _pay(draft))
    assert len(_events(terminal)) == 1


def test_with_a_supervisor_the_sale_completes_and_the_approval_travels_in_the_event(
    terminal: Terminal, cashier: StaffMember, supervisor: StaffMember
):
    """GIVEN the grown discount refused at completion
    WHEN a supervisor approves and the sale completes again
    THEN the sale is sold, its event carries the approval (action, supervisor), and the
    till's audit log records it."""
    draft = _ten_percent_then_one_left(terminal, cashier)
    payment = _pay(draft)
    with pytest.raises(ApprovalRequired):
        terminal.checkout.complete(draft, payment)
    sale = terminal.checkout.complete(draft, payment, approver=supervisor)
    (event,) = _events(terminal)
    assert str(event.sale_id) == sale.id and event.discount_fen == 300
    assert [(a.action, a.staff) for a in event.approvals] == [
        ("discount_over_limit", supervisor.number)
    ]
    with read_session(terminal.engine) as s:
        detail = s.execute(
            text("SELECT detail FROM audit_log WHERE action = 'sale.approved_discounts'")
        ).scalar_one()
    assert supervisor.number in detail


def test_a_cashier_cannot_approve_their_own_grown_discount(
    terminal: Terminal, cashier: StaffMember
):
    """GIVEN the grown discount
    WHEN the cashier names themself as approver
    THEN completion is still refused."""
    draft = _ten_percent_then_one_left(terminal, cashier)
    with pytest.raises(ApprovalRequired):
        terminal.checkout.complete(draft, _pay(draft), approver=cashier)
