"""Checkout with a member: the sale names them, captures its holds in its own transaction,
and records what the receipt prints (points used, the estimate of points earned, balances).

The holds here are rows as :class:`MemberService` leaves them after HQ granted them; HQ
itself is exercised in the member service and sync tests.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from pos_app.app import Terminal
from pos_app.domain.cart import CouponUse
from pos_app.domain.ids import uuid7
from pos_app.domain.member import Member, MemberSource
from pos_app.domain.tender import Payment, TenderKind
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.models import MemberHold, OutboxEvent
from pos_app.localdb.sales import get_sale
from pos_app.localdb.store import set_setting
from pos_app.services.auth import StaffMember
from pos_app.services.checkout import SaleDraft
from pos_app.services.errors import CheckoutError
from pos_app.services.members import HoldResult
from sync_client.contract.protocol import SaleCompleted
from tests.support import START

TARO = "6954321100014"  # 芋泥波波 ¥15.00
MANGO_L = "6954321100137"  # 杨枝甘露(大) ¥16.00


def _member(source: MemberSource = MemberSource.HQ, points: int = 1280) -> Member:
    return Member(
        number="812345678903",
        name="王芳",
        phone_masked="138****1234",
        tier="gold",
        points=points,
        balance_fen=5000,
        coupons=(),
        version=3,
        source=source,
        identified_by="code",
        seen_at=START,
        spend_until=START + timedelta(minutes=15),
        proof="CPM1.812345678903.1740800000.AAAAAAAAAAAAAAAAAAAAAAAAAA",
    )


def _hold(
    terminal: Terminal, draft: SaleDraft, kind: str, amount: int, value_fen: int, **kw: int
) -> HoldResult:
    hold = HoldResult(
        hold_id=str(uuid7()),
        kind=kind,
        amount=amount,
        value_fen=value_fen,
        coupon_id=None,
        points_after=kw.get("points_after", 780),
        balance_after_fen=kw.get("balance_after_fen", 5000),
        expires_at=START + timedelta(minutes=15),
    )
    with write_session(terminal.engine) as session:
        session.add(
            MemberHold(
                hold_id=hold.hold_id,
                draft_id=draft.draft_id,
                member_number="812345678903",
                kind=kind,
                amount=amount,
                value_fen=value_fen,
                state="held",
                created_at=START,
                expires_at=hold.expires_at,
                attempts=1,
            )
        )
        session.commit()
    draft.holds[hold.hold_id] = hold
    return hold


def _hold_states(terminal: Terminal) -> dict[str, tuple[str, str | None]]:
    with read_session(terminal.engine) as session:
        rows = session.execute(select(MemberHold.hold_id, MemberHold.state, MemberHold.sale_id))
        return {h: (s, sale) for h, s, sale in rows}


def test_points_redeemed_and_the_rest_in_cash(terminal: Terminal, cashier: StaffMember) -> None:
    """GIVEN a gold member with 1,280 points, a cart of ¥31.00 and a hold of 500 points
    (¥5.00 off) HQ granted for this sale
    WHEN the rest, ¥26.00, is paid in cash
    THEN the sale's event names the member and the hold; the hold is captured by the sale
    in the same commit; the receipt record shows 500 used, 26 earned (¥26.00 paid, gold
    ×1.5 = 39) and 780 + 39 after."""
    with write_session(terminal.engine) as session:
        set_setting(session, "member.tier_pct.gold", 150)
        session.commit()
    draft = terminal.checkout.new_draft(cashier)
    draft.member = _member()
    terminal.checkout.scan(draft, TARO)
    terminal.checkout.scan(draft, MANGO_L)
    hold = _hold(terminal, draft, "points", 500, 500)
    payment = Payment(draft.cart.totals().total_fen)
    payment.add_account(TenderKind.POINTS, hold.value_fen, hold.hold_id)
    payment.add_cash(2600)
    sale = terminal.checkout.complete(draft, payment)

    assert sale.member is not None
    assert (sale.member.points_used, sale.member.points_earned) == (500, 39)
    assert (sale.member.points_after, sale.member.balance_after_fen) == (819, 5000)
    assert _hold_states(terminal) == {hold.hold_id: ("captured", sale.id)}
    with read_session(terminal.engine) as session:
        stored = get_sale(session, sale.id)
        payload = session.scalars(select(OutboxEvent.payload)).one()
    assert stored is not None and stored.member == sale.member
    event = SaleCompleted.model_validate_json(payload)
    assert event.member is not None
    assert event.member.number == "812345678903"
    assert [str(h) for h in event.member.holds] == [hold.hold_id]
    assert [(t.kind, t.amount_fen, t.reference) for t in event.tenders] == [
        ("points", 500, hold.hold_id),
        ("cash", 2600, None),
    ]


def test_a_coupon_discounts_the_lines_and_is_captured(
    terminal: Terminal, cashier: StaffMember
) -> None:
    """GIVEN a ¥5 coupon for purchases of ¥30 held for a ¥31.00 cart
    WHEN the sale is paid by card
    THEN ¥26.00 is due, the discount is spread over the lines, the event lists the coupon
    hold, and the sale records the coupon; dropping under ¥30 refuses to complete."""
    draft = terminal.checkout.new_draft(cashier)
    draft.member = _member()
    terminal.checkout.scan(draft, TARO)
    terminal.checkout.scan(draft, MANGO_L)
    hold = _hold(terminal, draft, "coupon", 1, 500)
    draft.cart.coupon = CouponUse(hold.hold_id, str(uuid7()), "满30减5", 500, 3000)
    totals = draft.cart.totals()
    assert (totals.total_fen, totals.coupon_fen) == (2600, 500)
    assert sum(pl.discount_fen for pl in totals.lines) == 500

    short = terminal.checkout.new_draft(cashier)
    short.member = draft.member
    terminal.checkout.scan(short, TARO)
    short.cart.coupon = draft.cart.coupon
    short.holds = dict(draft.holds)
    payment = Payment(short.cart.totals().total_fen)
    payment.add_cash(1500)
    with pytest.raises(CheckoutError) as refused:
        terminal.checkout.complete(short, payment)
    assert refused.value.code == "coupon_min_spend"

    payment = Payment(totals.total_fen)
    payment.add_card(2600)
    sale = terminal.checkout.complete(draft, payment)
    assert sale.member is not None and sale.member.coupon_name == "满30减5"
    assert sale.discount_fen == 500
    assert _hold_states(terminal)[hold.hold_id] == ("captured", sale.id)


def test_offline_member_earns_but_account_tenders_need_a_known_hold(
    terminal: Terminal, cashier: StaffMember
) -> None:
    """GIVEN a member known only by the number in their code (HQ unreachable)
    WHEN the sale is paid in cash
    THEN the event names the member so HQ credits the points later, and the receipt has
    no balance (the till does not know it); a points tender without a hold is refused."""
    draft = terminal.checkout.new_draft(cashier)
    draft.member = _member(MemberSource.CODE, points=0)
    terminal.checkout.scan(draft, TARO)
    bogus = Payment(1500)
    bogus.add_account(TenderKind.POINTS, 500, str(uuid7()))
    bogus.add_cash(1000)
    with pytest.raises(CheckoutError) as refused:
        terminal.checkout.complete(draft, bogus)
    assert refused.value.code == "unknown_hold"

    payment = Payment(1500)
    payment.add_cash(2000)
    sale = terminal.checkout.complete(draft, payment)
    assert sale.member is not None
    assert (sale.member.points_earned, sale.member.points_after) == (15, None)
    with read_session(terminal.engine) as session:
        n = session.execute(text("SELECT count(*) FROM sale_member")).scalar_one()
    assert n == 1
