"""Shifts at this till: the open shift, cash movements, and the records a close sums up.

Every summary is a handful of indexed aggregate queries over the shift's own rows
(``sale.shift_id``, ``shift_cash_movement.shift_id``), so a shift of thousands of sales
closes as fast as an empty one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from pos_app.domain.shift import CashMoved, RefundPaid, TenderTaken
from pos_app.localdb.models import Shift, ShiftCashMovement
from pos_app.localdb.types import to_utc_text


def open_shift(session: Session, terminal_id: str) -> Shift | None:
    """The shift open at this terminal (at most one)."""
    return session.scalars(
        select(Shift)
        .where(Shift.terminal_id == terminal_id, Shift.status == "open")
        .order_by(Shift.opened_at)
        .limit(1)
    ).first()


def last_closed(session: Session, terminal_id: str) -> Shift | None:
    return session.scalars(
        select(Shift)
        .where(Shift.terminal_id == terminal_id, Shift.status == "closed")
        .order_by(Shift.closed_at.desc())
        .limit(1)
    ).first()


_OPEN_SHIFT = "SELECT id FROM shift WHERE terminal_id = :t AND status = 'open' LIMIT 1"


def open_shift_id(session: Session, terminal_id: str) -> str | None:
    row = session.execute(text(_OPEN_SHIFT), {"t": terminal_id}).first()
    return None if row is None else str(row[0])


def open_shift_id_db(db: sqlite3.Connection, terminal_id: str) -> str | None:
    """:func:`open_shift_id` on a ``sqlite3`` connection (inside the caller's transaction)."""
    row = db.execute(_OPEN_SHIFT, {"t": terminal_id}).fetchone()
    return None if row is None else str(row[0])


def tenders_in_shift(session: Session, shift_id: str) -> list[TenderTaken]:
    """Tenders of the shift's completed sales (a voided sale gave its money back)."""
    rows = session.execute(
        text(
            "SELECT t.kind, t.amount_fen, t.tendered_fen FROM sale s "
            "JOIN sale_tender t ON t.sale_id = s.id "
            "WHERE s.shift_id = :s AND s.status = 'completed'"
        ),
        {"s": shift_id},
    )
    return [TenderTaken(str(k), int(a), None if d is None else int(d)) for k, a, d in rows]


def _refunds_in_shift(session: Session, shift_id: str) -> list[RefundPaid]:
    """Money given back by the shift's returns, one entry per refund tender (a return
    refunded part in cash and part to the card gives two)."""
    rows = session.execute(
        text(
            "SELECT f.kind, f.amount_fen FROM sale_return r "
            "JOIN sale_return_refund f ON f.return_id = r.id "
            "WHERE r.shift_id = :s"
        ),
        {"s": shift_id},
    )
    return [RefundPaid(str(k), int(a)) for k, a in rows]


def _returns_in_shift(session: Session, shift_id: str) -> tuple[int, int]:
    """``(count, refunded_fen)`` of the shift's returns."""
    row = session.execute(
        text("SELECT COUNT(*), COALESCE(SUM(refund_fen), 0) FROM sale_return WHERE shift_id = :s"),
        {"s": shift_id},
    ).one()
    return int(row[0]), int(row[1])


def movements_in_shift(session: Session, shift_id: str) -> list[CashMoved]:
    rows = session.execute(
        select(ShiftCashMovement.direction, ShiftCashMovement.amount_fen).where(
            ShiftCashMovement.shift_id == shift_id
        )
    )
    return [CashMoved(str(d), int(a)) for d, a in rows]


@dataclass(frozen=True, slots=True)
class ShiftCounts:
    """Counts and totals of a shift, as the close screen and the slip show them."""

    sales_count: int
    sales_fen: int
    discounts_fen: int
    voids_count: int
    returns_count: int
    refunds_fen: int
    no_sale_opens: int
    unsynced_events: int
    unprinted_receipts: int


def shift_counts(
    session: Session, shift_id: str, since: datetime, until: datetime | None
) -> ShiftCounts:
    """What happened in the shift. Voids before payment and no-sale drawer opens are
    only in the audit log, which is this till's alone: counted between ``since`` and
    ``until`` (None: up to now)."""
    sales = session.execute(
        text(
            "SELECT "
            "COALESCE(SUM(status = 'completed'), 0), "
            "COALESCE(SUM(CASE WHEN status = 'completed' THEN total_fen END), 0), "
            "COALESCE(SUM(CASE WHEN status = 'completed' THEN discount_fen END), 0), "
            "COALESCE(SUM(status = 'voided'), 0) "
            "FROM sale WHERE shift_id = :s"
        ),
        {"s": shift_id},
    ).one()
    window = "at >= :a" + ("" if until is None else " AND at <= :b")
    audits = session.execute(
        text(
            "SELECT COALESCE(SUM(action = 'void.sale'), 0), "
            "COALESCE(SUM(action = 'drawer.no_sale'), 0) "
            f"FROM audit_log WHERE {window}"
        ),
        {"a": to_utc_text(since), "b": None if until is None else to_utc_text(until)},
    ).one()
    returns_count, refunds_fen = _returns_in_shift(session, shift_id)
    unsynced = session.execute(
        text("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
    ).scalar_one()
    unprinted = session.execute(
        text(
            "SELECT COUNT(*) FROM print_job WHERE kind = 'receipt' AND state != 'printed' "
            "AND state != 'cancelled'"
        )
    ).scalar_one()
    return ShiftCounts(
        sales_count=int(sales[0]),
        sales_fen=int(sales[1]),
        discounts_fen=int(sales[2]),
        voids_count=int(sales[3]) + int(audits[0]),
        returns_count=returns_count,
        refunds_fen=refunds_fen,
        no_sale_opens=int(audits[1]),
        unsynced_events=int(unsynced),
        unprinted_receipts=int(unprinted),
    )
