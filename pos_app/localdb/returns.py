"""Return rows of the terminal database: returns, their lines and refunds, what is left to
return of a sale this till holds, and HQ return authorisations.

Callers own the transaction, as in :mod:`pos_app.localdb.sales`. What was returned of
a sold line is always derived from ``sale_return_line``, never stored twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from pos_app.localdb.models import (
    OutboxEvent,
    ReturnAuth,
    Sale,
    SaleMember,
    SaleReturn,
    SaleReturnLine,
    SaleReturnRefund,
)
from pos_app.localdb.pending_stock import add_returned
from pos_app.localdb.sales import OutboxRecord


@dataclass(frozen=True, slots=True)
class ReturnLineRecord:
    line_no: int
    original_line_no: int | None
    item_id: int | None
    sku: str
    barcode: str | None
    name: str
    unit: str
    qty_milli: int
    unit_price_fen: int
    refund_fen: int
    restock: str
    reason: str


@dataclass(frozen=True, slots=True)
class RefundRecord:
    kind: str
    amount_fen: int
    reference: str | None


@dataclass(frozen=True, slots=True)
class ReturnRecord:
    """A committed return as the till keeps it (and prints it)."""

    id: str
    receipt_no: str
    reference: str
    store_code: str
    terminal_id: str
    cashier: str
    returned_at: datetime
    original_sale_id: str | None
    original_store: str | None
    original_terminal: str | None
    original_receipt_no: str | None
    authorisation_id: str | None
    refund_fen: int
    member: str | None
    points_reversed: int
    shift_id: str | None
    approvals: str
    lines: tuple[ReturnLineRecord, ...]
    refunds: tuple[RefundRecord, ...]
    coupon_back_id: str | None = None
    coupon_back_name: str | None = None


_RETURN_COLUMNS = tuple(f for f in ReturnRecord.__slots__ if f not in ("lines", "refunds"))


def record_return(session: Session, ret: ReturnRecord, event: OutboxRecord) -> None:
    """Writes the return, its lines and refunds, the local stock view's movement (goods
    back on the shelf; nothing for the damaged bin) and its outbox event. The caller
    commits once, so all of it is durable together or not at all."""
    session.add(SaleReturn(**{f: getattr(ret, f) for f in _RETURN_COLUMNS}))
    session.add_all(
        SaleReturnLine(return_id=ret.id, **{f: getattr(ln, f) for f in ReturnLineRecord.__slots__})
        for ln in ret.lines
    )
    session.add_all(
        SaleReturnRefund(
            return_id=ret.id, idx=i, kind=r.kind, amount_fen=r.amount_fen, reference=r.reference
        )
        for i, r in enumerate(ret.refunds)
    )
    back: dict[int, int] = {}
    for ln in ret.lines:
        if ln.restock == "sellable" and ln.item_id is not None:
            back[ln.item_id] = back.get(ln.item_id, 0) + ln.qty_milli
    add_returned(session, back)
    session.add(
        OutboxEvent(
            event_id=event.event_id,
            type=event.type,
            occurred_at=event.occurred_at,
            payload=event.payload,
            state="pending",
            attempts=0,
        )
    )


def _return_record(session: Session, row: SaleReturn) -> ReturnRecord:
    lines = session.scalars(
        select(SaleReturnLine)
        .where(SaleReturnLine.return_id == row.id)
        .order_by(SaleReturnLine.line_no)
    ).all()
    refunds = session.scalars(
        select(SaleReturnRefund)
        .where(SaleReturnRefund.return_id == row.id)
        .order_by(SaleReturnRefund.idx)
    ).all()
    return ReturnRecord(
        **{f: getattr(row, f) for f in _RETURN_COLUMNS},
        lines=tuple(
            ReturnLineRecord(**{f: getattr(ln, f) for f in ReturnLineRecord.__slots__})
            for ln in lines
        ),
        refunds=tuple(RefundRecord(r.kind, r.amount_fen, r.reference) for r in refunds),
    )


def get_return(session: Session, return_id: str) -> ReturnRecord | None:
    row = session.get(SaleReturn, return_id)
    return None if row is None else _return_record(session, row)


def returns_of_sale(session: Session, sale_id: str) -> list[ReturnRecord]:
    """Returns this till made of the sale, oldest first."""
    rows = session.scalars(
        select(SaleReturn)
        .where(SaleReturn.original_sale_id == sale_id)
        .order_by(SaleReturn.returned_at)
    ).all()
    return [_return_record(session, r) for r in rows]


def returned_by_line(session: Session, sale_id: str) -> dict[int, int]:
    """original line no -> quantity this till's returns took back of the sale."""
    rows = session.execute(
        select(SaleReturnLine.original_line_no, func.sum(SaleReturnLine.qty_milli))
        .join(SaleReturn, SaleReturn.id == SaleReturnLine.return_id)
        .where(SaleReturn.original_sale_id == sale_id, SaleReturnLine.original_line_no.is_not(None))
        .group_by(SaleReturnLine.original_line_no)
    ).all()
    return {int(no): int(qty or 0) for no, qty in rows if no is not None}


def sale_by_receipt_no(session: Session, receipt_no: str) -> str | None:
    """The id of this till's sale with that receipt number."""
    return session.scalar(select(Sale.id).where(Sale.receipt_no == receipt_no))


def sales_of_member(session: Session, number: str, since: datetime, limit: int) -> list[str]:
    """Ids of this till's sales to the member since ``since``, newest first."""
    return list(
        session.scalars(
            select(Sale.id)
            .join(SaleMember, SaleMember.sale_id == Sale.id)
            .where(SaleMember.number == number, Sale.completed_at >= since)
            .order_by(Sale.completed_at.desc())
            .limit(limit)
        )
    )


def sales_since(session: Session, terminal_id: str, since: datetime, limit: int) -> list[str]:
    """Ids of this till's completed sales since ``since``, newest first."""
    return list(
        session.scalars(
            select(Sale.id)
            .where(
                Sale.terminal_id == terminal_id,
                Sale.completed_at >= since,
                Sale.status == "completed",
            )
            .order_by(Sale.completed_at.desc())
            .limit(limit)
        )
    )


def item_categories(session: Session, skus: Sequence[str]) -> dict[str, tuple[int, str]]:
    """sku -> (item id, category) for the items this till knows."""
    if not skus:
        return {}
    rows = session.execute(
        text("SELECT sku, id, category FROM item WHERE sku IN :skus").bindparams(
            bindparam("skus", expanding=True)
        ),
        {"skus": sorted(set(skus))},
    ).all()
    return {str(sku): (int(item_id), str(cat or "")) for sku, item_id, cat in rows}


# -- authorisations -------------------------------------------------------------------------

OPEN_AUTH_STATES = ("requesting", "held")


@dataclass(frozen=True, slots=True)
class AuthRow:
    auth_id: str
    sale_id: str
    lines: dict[int, int]
    state: str
    return_id: str | None
    expires_at: datetime | None


def add_auth(
    session: Session, auth_id: str, sale_id: str, lines: dict[int, int], created_at: datetime
) -> None:
    """Records an authorisation about to be asked for (``requesting``), before HQ is."""
    session.add(
        ReturnAuth(
            auth_id=auth_id,
            sale_id=sale_id,
            lines=json.dumps([{"line_no": k, "qty_milli": v} for k, v in sorted(lines.items())]),
            state="requesting",
            created_at=created_at,
            attempts=0,
        )
    )


def get_auth(session: Session, auth_id: str) -> AuthRow | None:
    row = session.get(ReturnAuth, auth_id)
    if row is None:
        return None
    lines = {int(x["line_no"]): int(x["qty_milli"]) for x in json.loads(row.lines)}
    return AuthRow(row.auth_id, row.sale_id, lines, row.state, row.return_id, row.expires_at)


def auth_made(session: Session, auth_id: str, expires_at: datetime) -> bool:
    """HQ granted it: ``requesting`` -> ``held``; False when given back meanwhile."""
    result = session.execute(
        update(ReturnAuth)
        .where(ReturnAuth.auth_id == auth_id, ReturnAuth.state == "requesting")
        .values(
            state="held",
            expires_at=expires_at,
            attempts=ReturnAuth.attempts + 1,
            last_error=None,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def set_auth_state(
    session: Session,
    auth_id: str,
    state: str,
    *,
    error: str | None = None,
    only_from: Sequence[str] | None = None,
) -> bool:
    stmt = update(ReturnAuth).where(ReturnAuth.auth_id == auth_id)
    if only_from is not None:
        stmt = stmt.where(ReturnAuth.state.in_(only_from))
    result = session.execute(
        stmt.values(state=state, attempts=ReturnAuth.attempts + 1, last_error=error)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def capture_auth(session: Session, auth_id: str, return_id: str) -> bool:
    """In the return's own transaction: the authorisation is spent by that return."""
    result = session.execute(
        update(ReturnAuth)
        .where(ReturnAuth.auth_id == auth_id, ReturnAuth.state == "held")
        .values(state="captured", return_id=return_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def start_releasing(session: Session, auth_ids: Sequence[str]) -> list[str]:
    """Marks open authorisations ``releasing``; returns those to tell HQ about."""
    if not auth_ids:
        return []
    session.execute(
        update(ReturnAuth)
        .where(ReturnAuth.auth_id.in_(auth_ids), ReturnAuth.state.in_(OPEN_AUTH_STATES))
        .values(state="releasing")
    )
    return list(
        session.scalars(
            select(ReturnAuth.auth_id).where(
                ReturnAuth.auth_id.in_(auth_ids), ReturnAuth.state == "releasing"
            )
        )
    )


def uncommitted_auths(session: Session) -> list[str]:
    """Open authorisations no committed return captured (left by an abandoned return)."""
    return list(
        session.scalars(
            select(ReturnAuth.auth_id).where(
                ReturnAuth.state.in_(OPEN_AUTH_STATES), ReturnAuth.return_id.is_(None)
            )
        )
    )


def releasing_auths(session: Session, limit: int = 100) -> list[str]:
    return list(
        session.scalars(
            select(ReturnAuth.auth_id)
            .where(ReturnAuth.state == "releasing")
            .order_by(ReturnAuth.created_at)
            .limit(limit)
        )
    )
