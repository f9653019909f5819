"""Promotions at the till: from the feed into the cart at the promotion's moment, on the
receipt (ESC/POS bytes decoded), on the wire sale line, and back out by a return.

The till's clock is a :class:`FakeClock`, so the test stands one second before the
promotion starts and then at its first second, with nothing but the clock changing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hardware import decode, render
from pos_app.app import Terminal
from pos_app.domain.tender import Payment
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.models import OutboxEvent
from pos_app.localdb.replica import LocalReplica
from pos_app.localdb.store import set_setting
from pos_app.services.auth import StaffMember
from sync_client.contract import protocol as p
from tests.services.conftest import RecordingPrinter, printed
from tests.support import START, FakeClock

MANGO_L = "6954321100137"  # 杨枝甘露(大), FT001, ¥16.00
MIDNIGHT = START + timedelta(hours=14)  # Sunday 00:00 in Shanghai


def _publish(terminal: Terminal, stores: list[str]) -> None:
    definition = {
        "id": 31,
        "version": 1,
        "name_zh": "第二件半价",
        "name_en": "Second cup half price",
        "kind": "nth_item",
        "params": {"n": 2, "percent_bp": 5000},
        "targets": {"items": ["FT001"]},
        "scope": {"stores": stores},
        "starts_at": MIDNIGHT.isoformat(),
    }
    data = p.PromotionData(id=31, version=1, definition=definition)
    change = p.PromotionChange(seq=1, key="31", store=None, created_at=START, data=data)
    replica = LocalReplica(terminal.engine, "S001")
    assert replica.apply_changes([change], 1).quarantined == 0


def _two_cups(terminal: Terminal, cashier: StaffMember):
    draft = terminal.checkout.new_draft(cashier)
    terminal.checkout.scan(draft, MANGO_L)
    terminal.checkout.scan(draft, MANGO_L)
    return draft


def test_second_cup_half_price_starts_at_midnight_and_prints_on_the_receipt(
    terminal: Terminal, cashier: StaffMember, clock: FakeClock, printer: RecordingPrinter
) -> None:
    """GIVEN 第二件半价 on 杨枝甘露 for this store from midnight, reached through the feed
    WHEN two cups are rung up at 23:59:59 and again at 00:00:00
    THEN the first pair costs ¥32.00, the second ¥24.00 with the line saying which
    promotion took ¥8.00; the receipt lists it and 共优惠; the wire sale line carries
    the promotion's id, version and amount."""
    _publish(terminal, ["S001"])
    clock.advance(MIDNIGHT - START - timedelta(seconds=1))
    before = _two_cups(terminal, cashier)
    assert before.cart.totals().total_fen == 3200
    clock.advance(timedelta(seconds=1))
    assert before.cart.totals().total_fen == 2400  # the open cart reprices at midnight
    draft = _two_cups(terminal, cashier)
    totals = draft.cart.totals()
    assert totals.total_fen == 2400
    assert [(a.name("zh_CN"), a.amount_fen) for a in totals.promotions] == [("第二件半价", 800)]
    payment = Payment(2400)
    payment.add_cash(2400)
    sale = terminal.checkout.complete(draft, payment)
    (document,) = printed(terminal, printer, 1)
    text = "\n".join(
        line.text
        for line in decode(render(document, printer.profile), printer.profile.encoding).lines
    )
    assert "促销：第二件半价" in text and "-¥8.00" in text
    assert "共优惠" in text
    with read_session(terminal.engine) as s:
        payload = s.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.type == "sale.completed")
        ).one()
    (line,) = p.SaleCompleted.model_validate_json(payload).lines
    assert line.promotions == [p.LinePromotion(id=31, version=1, amount_fen=800)]
    assert (line.discount_fen, line.amount_fen) == (800, 2400)
    assert sale.lines[0].promotions == [{"id": 31, "version": 1, "amount_fen": 800}]


def test_a_store_outside_the_scope_sells_at_full_price(
    terminal: Terminal, cashier: StaffMember, clock: FakeClock
) -> None:
    _publish(terminal, ["S002"])
    clock.advance(MIDNIGHT - START)
    assert _two_cups(terminal, cashier).cart.totals().total_fen == 3200


def test_hq_can_have_the_first_promotion_by_priority_win_instead_of_the_best(
    terminal: Terminal, cashier: StaffMember, clock: FakeClock
) -> None:
    """GIVEN 第二件半价 (priority 100) and a 5% off everything (priority 1), not stackable
    WHEN two cups are rung up with the chain's default, then with
    ``promotion.best_for_customer`` false
    THEN first the better (¥8.00 off), then the first by priority (5%: ¥1.60 off)."""
    _publish(terminal, [])
    five = {
        "id": 32,
        "version": 1,
        "name_zh": "全场95折",
        "kind": "percent_off",
        "params": {"percent_bp": 500},
        "starts_at": START.isoformat(),
        "priority": 1,
    }
    change = p.PromotionChange(
        seq=2,
        key="32",
        store=None,
        created_at=START,
        data=p.PromotionData(id=32, version=1, definition=five),
    )
    assert LocalReplica(terminal.engine, "S001").apply_changes([change], 2).quarantined == 0
    clock.advance(MIDNIGHT - START)
    assert _two_cups(terminal, cashier).cart.totals().promotion_fen == 800
    with write_session(terminal.engine) as s:
        set_setting(s, "promotion.best_for_customer", False)
        s.commit()
    assert _two_cups(terminal, cashier).cart.totals().promotion_fen == 160
