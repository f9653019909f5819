"""Payment-code intents (see :class:`~pos_app.localdb.models.PaymentIntent`)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pos_app.localdb.models import PaymentIntent

OPEN_STATES = ("open", "user_paying")


@dataclass(frozen=True, slots=True)
class IntentRecord:
    order_no: str
    kind: str
    code_tail: str
    amount_fen: int
    state: str
    draft_id: str
    cashier: str
    provider_ref: str | None
    failure: str | None
    sale_id: str | None
    created_at: datetime


def _record(row: PaymentIntent) -> IntentRecord:
    return IntentRecord(
        row.order_no,
        row.kind,
        row.code_tail,
        row.amount_fen,
        row.state,
        row.draft_id,
        row.cashier,
        row.provider_ref,
        row.failure,
        row.sale_id,
        row.created_at,
    )


def add_intent(
    session: Session,
    *,
    order_no: str,
    kind: str,
    code_tail: str,
    amount_fen: int,
    draft_id: str,
    cashier: str,
    now: datetime,
) -> IntentRecord:
    row = PaymentIntent(
        order_no=order_no,
        kind=kind,
        code_tail=code_tail,
        amount_fen=amount_fen,
        state="open",
        draft_id=draft_id,
        cashier=cashier,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return _record(row)


def get_intent(session: Session, order_no: str) -> IntentRecord | None:
    row = session.get(PaymentIntent, order_no)
    return None if row is None else _record(row)


def set_state(
    session: Session,
    order_no: str,
    state: str,
    now: datetime,
    *,
    provider_ref: str | None = None,
    failure: str | None = None,
    only_from: tuple[str, ...] = OPEN_STATES,
) -> bool:
    """Moves an open intent to ``state``; False when it was no longer in ``only_from``
    (another thread settled it first)."""
    values: dict[str, object] = {"state": state, "updated_at": now}
    if provider_ref is not None:
        values["provider_ref"] = provider_ref
    if failure is not None:
        values["failure"] = failure
    result = session.execute(
        update(PaymentIntent)
        .where(PaymentIntent.order_no == order_no, PaymentIntent.state.in_(only_from))
        .values(**values)
    )
    return bool(getattr(result, "rowcount", 0))


def open_intents(session: Session) -> list[IntentRecord]:
    rows = session.scalars(
        select(PaymentIntent)
        .where(PaymentIntent.state.in_(OPEN_STATES))
        .order_by(PaymentIntent.created_at)
    )
    return [_record(r) for r in rows]


def intents_in(session: Session, state: str) -> list[IntentRecord]:
    rows = session.scalars(
        select(PaymentIntent).where(PaymentIntent.state == state).order_by(PaymentIntent.created_at)
    )
    return [_record(r) for r in rows]


def unclaimed_paid(session: Session) -> list[IntentRecord]:
    """Paid charges no sale took yet (e.g. settled after a crash)."""
    rows = session.scalars(
        select(PaymentIntent)
        .where(PaymentIntent.state == "paid", PaymentIntent.sale_id.is_(None))
        .order_by(PaymentIntent.created_at)
    )
    return [_record(r) for r in rows]


def claim(db: sqlite3.Connection, order_nos: tuple[str, ...], sale_id: str) -> bool:
    """Gives paid, unclaimed intents to a sale, on the ``sqlite3`` connection of the sale's
    transaction; False when any of them is not paid or already belongs to a sale."""
    if not order_nos:
        return True
    marks = ", ".join("?" * len(order_nos))
    cur = db.execute(
        f"UPDATE payment_intent SET sale_id = ? WHERE order_no IN ({marks}) "
        "AND state = 'paid' AND sale_id IS NULL",
        (sale_id, *order_nos),
    )
    return cur.rowcount == len(set(order_nos))


def set_unclaimed_state(
    session: Session, order_no: str, state: str, now: datetime, *, only_from: str
) -> bool:
    """Moves an intent no sale took from ``only_from`` to ``state`` (refunding an unclaimed
    paid charge); False when it is not in ``only_from`` or a sale took it."""
    result = session.execute(
        update(PaymentIntent)
        .where(
            PaymentIntent.order_no == order_no,
            PaymentIntent.state == only_from,
            PaymentIntent.sale_id.is_(None),
        )
        .values(state=state, updated_at=now)
    )
    return bool(getattr(result, "rowcount", 0))
