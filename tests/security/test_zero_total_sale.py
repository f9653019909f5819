"""Item 11: a sale discounted to ¥0 completes at the till and is accepted by HQ."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from pos_app.app import Terminal
from pos_app.domain.cart import Discount
from pos_app.domain.tender import Payment
from pos_app.localdb.engine import read_session
from pos_app.localdb.models import OutboxEvent
from pos_app.services.auth import StaffMember
from tests.server.support import Chain

TARO = "6954321100014"  # 芋泥波波 ¥15.00


def test_a_fully_discounted_sale_completes_with_a_receipt_and_an_event_hq_applies(
    terminal: Terminal, supervisor: StaffMember, chain: Chain, client: httpx.Client
) -> None:
    """GIVEN a 芋泥波波 with 100% off (a supervisor rings it up)
    WHEN the sale is completed with nothing paid
    THEN it is recorded at ¥0 with a ¥0 cash tender, its outbox event validates, and HQ
    answers ``applied`` to that event."""
    draft = terminal.checkout.new_draft(supervisor)
    terminal.checkout.scan(draft, TARO)
    terminal.checkout.set_basket_discount(draft, Discount(percent_bp=10_000))
    assert draft.cart.totals().total_fen == 0
    payment = Payment(0)
    assert payment.is_complete

    sale = terminal.checkout.complete(draft, payment)

    assert (sale.total_fen, sale.change_fen) == (0, 0)
    assert [(t.kind, t.amount_fen) for t in sale.tenders] == [("cash", 0)]
    with read_session(terminal.engine) as session:
        (payload_text,) = session.scalars(select(OutboxEvent.payload)).all()
    payload: dict[str, Any] = json.loads(payload_text)
    assert payload["total_fen"] == 0

    store = chain.store()
    sku = chain.item(price_fen=1500)
    device = chain.device(store)
    # The till's supervisor as HQ knows them in this store: HQ checks the discount's
    # approval against its own staff data.
    approver = chain.staff(store, "supervisor")
    payload.update(store=store, terminal=device.device_id, cashier=approver)
    for approval in payload["approvals"]:
        approval["staff"] = approver
    for line in payload["lines"]:
        line["sku"] = sku
    r = client.post(
        "/v1/sync/push",
        json={"protocol": 1, "events": [chain.event(payload)]},
        headers=device.headers,
    )
    assert r.status_code == 200, r.text
    assert [res["status"] for res in r.json()["results"]] == ["applied"], r.text
