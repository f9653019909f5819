"""Shifts at HQ: the day close (日结) with its Z report, and the shift reports.

HQ knows a till's shift only from its events (``shift.opened``, ``shift.closed``): a shift
whose open arrived without its close counts as open, whatever the till did since. A day
closes once per store and date; its report is stored as answered and answered again on a
repeat. Business dates are local calendar dates, as the tills give them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, and_, case, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from server_stub import models as m
from server_stub.approvals import check_staff
from server_stub.db import Database
from server_stub.errors import ApiError
from sync_client.contract import protocol as p

__all__ = [
    "OverShortRow",
    "ShiftRow",
    "close_day",
    "list_shifts",
    "open_shift_terminals",
    "over_short",
]


def _local_date(at: datetime) -> date:
    return at.astimezone().date()


def _check_manager(conn: Connection, store: str, staff: str) -> None:
    """A day is closed at a till, by an active manager of the store (HQ admins never act
    at a till)."""
    problem = check_staff(conn, staff, store, "manager", "closing the day")
    if problem is not None:
        raise ApiError(403, "not_store_manager", f"staff {staff} is not a manager of store {store}")


def open_shift_terminals(conn: Connection, store: str, business_date: date) -> list[str]:
    """Terminals of ``store`` with a shift opened on or before ``business_date`` whose
    close HQ has not received."""
    rows = conn.execute(
        select(m.shifts.c.terminal, m.shifts.c.opened_at).where(
            m.shifts.c.store_code == store, m.shifts.c.closed_at.is_(None)
        )
    )
    return sorted(
        {t for t, opened_at in rows if opened_at is None or _local_date(opened_at) <= business_date}
    )


def _day_report(
    conn: Connection, store: str, business_date: date, staff: str, now: datetime
) -> p.DayReport:
    s = m.shifts.c
    rows = conn.execute(
        select(m.shifts)
        .where(
            s.store_code == store,
            s.business_date == business_date,
            s.closed_at.is_not(None),
        )
        .order_by(s.terminal, s.closed_at)
    ).all()
    shifts = [
        p.DayShift(
            shift_id=r.shift_id,
            terminal=r.terminal,
            shift_no=r.shift_no,
            cashier=r.closed_by or r.opened_by or "?",
            opened_at=r.opened_at,
            closed_at=r.closed_at,
            float_fen=r.float_fen or 0,
            expected_cash_fen=r.expected_cash_fen or 0,
            counted_cash_fen=r.counted_cash_fen or 0,
            over_short_fen=r.over_short_fen or 0,
            sales_count=r.sales_count or 0,
            sales_fen=r.sales_fen or 0,
            refunds_fen=r.refunds_fen or 0,
        )
        for r in rows
    ]
    tenders: dict[str, dict[str, Any]] = {}
    if shifts:
        t = m.shift_tenders.c
        for kind, expected, counted, diff, n in conn.execute(
            select(
                t.kind,
                func.sum(t.expected_fen),
                func.sum(t.counted_fen),
                func.sum(t.over_short_fen),
                func.sum(t.count),
            )
            .where(t.shift_id.in_([x.shift_id for x in shifts]))
            .group_by(t.kind)
        ):
            tenders[kind] = {
                "kind": kind,
                "expected_fen": int(expected or 0),
                "counted_fen": None if counted is None else int(counted),
                "over_short_fen": None if diff is None else int(diff),
                "count": int(n or 0),
            }
    kinds = sorted(tenders, key=lambda k: (k != "cash", k))
    returns_count = sum(
        int(json.loads(r.close_figures).get("returns_count", 0)) for r in rows if r.close_figures
    )
    return p.DayReport(
        store=store,
        business_date=business_date,
        shifts=shifts,
        tenders=[p.TenderFigures(**tenders[k]) for k in kinds],
        sales_count=sum(x.sales_count for x in shifts),
        sales_fen=sum(x.sales_fen for x in shifts),
        returns_count=returns_count,
        refunds_fen=sum(x.refunds_fen for x in shifts),
        over_short_fen=sum(x.over_short_fen for x in shifts),
        closed_at=now,
        closed_by=staff,
    )


def _stored(conn: Connection, store: str, business_date: date) -> p.DayReport | None:
    d = m.day_closes.c
    report = conn.execute(
        select(d.report).where(d.store_code == store, d.business_date == business_date)
    ).scalar_one_or_none()
    return None if report is None else p.DayReport.model_validate_json(report)


def close_day(
    db: Database, store: str, req: p.DayCloseRequest, now: datetime
) -> tuple[bool, p.DayReport]:
    """Closes ``store``'s business day: ``(created, report)``.

    Raises:
        ApiError: 403 ``not_store_manager`` (``req.staff`` is not an active manager of the
            store), 409 ``shifts_open`` (``detail`` ends with the terminals, comma-separated).
    """
    with db.read() as conn:
        _check_manager(conn, store, req.staff)
        done = _stored(conn, store, req.business_date)
    if done is not None:
        return False, done

    def write(tx: Any) -> tuple[bool, p.DayReport]:
        conn: Connection = tx.conn
        again = _stored(conn, store, req.business_date)
        if again is not None:
            return False, again
        still_open = open_shift_terminals(conn, store, req.business_date)
        if still_open:
            raise ApiError(
                409,
                "shifts_open",
                f"shifts of {req.business_date} are open at terminals: {', '.join(still_open)}",
                terminals=", ".join(still_open),
                business_date=req.business_date.isoformat(),
            )
        report = _day_report(conn, store, req.business_date, req.staff, now)
        conn.execute(
            insert(m.day_closes),
            [
                {
                    "store_code": store,
                    "business_date": req.business_date,
                    "closed_at": now,
                    "closed_by": req.staff,
                    "report": report.model_dump_json(),
                }
            ],
        )
        return True, report

    try:
        return db.run_write(write)
    except IntegrityError:
        # Closed by a concurrent request between our look and our write: answer its report.
        with db.read() as conn:
            done = _stored(conn, store, req.business_date)
        if done is None:
            raise
        return False, done


# -- reports ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShiftRow:
    """One shift as HQ knows it (``closed_at`` None: open, or its close not arrived)."""

    shift_id: UUID
    store: str
    terminal: str
    shift_no: str | None
    opened_by: str | None
    opened_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    business_date: date | None
    float_fen: int | None
    expected_cash_fen: int | None
    counted_cash_fen: int | None
    over_short_fen: int | None
    tenders: tuple[p.TenderFigures, ...]


def list_shifts(
    conn: Connection, store: str | None = None, business_date: date | None = None
) -> list[ShiftRow]:
    """Every shift (of ``store``; of ``business_date``: closed that day, or opened that day
    and not closed), oldest first, with its per-tender figures."""
    s = m.shifts.c
    query = select(m.shifts)
    if store is not None:
        query = query.where(s.store_code == store)
    rows = conn.execute(query.order_by(s.store_code, s.opened_at, s.terminal)).all()
    if business_date is not None:
        rows = [
            r
            for r in rows
            if r.business_date == business_date
            or (
                r.business_date is None
                and r.opened_at is not None
                and _local_date(r.opened_at) == business_date
            )
        ]
    tenders: dict[UUID, list[p.TenderFigures]] = {}
    if rows:
        t = m.shift_tenders.c
        for r in conn.execute(
            select(m.shift_tenders).where(t.shift_id.in_([x.shift_id for x in rows]))
        ):
            tenders.setdefault(r.shift_id, []).append(
                p.TenderFigures(
                    kind=r.kind,
                    expected_fen=r.expected_fen,
                    counted_fen=r.counted_fen,
                    over_short_fen=r.over_short_fen,
                    count=r._mapping["count"],
                )
            )
    return [
        ShiftRow(
            shift_id=r.shift_id,
            store=r.store_code,
            terminal=r.terminal,
            shift_no=r.shift_no,
            opened_by=r.opened_by,
            opened_at=r.opened_at,
            closed_by=r.closed_by,
            closed_at=r.closed_at,
            business_date=r.business_date,
            float_fen=r.float_fen,
            expected_cash_fen=r.expected_cash_fen,
            counted_cash_fen=r.counted_cash_fen,
            over_short_fen=r.over_short_fen,
            tenders=tuple(
                sorted(tenders.get(r.shift_id, ()), key=lambda x: (x.kind != "cash", x.kind))
            ),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class OverShortRow:
    """Over/short of closed shifts, summed per store or per cashier (who closed)."""

    key: str
    shifts: int
    over_fen: int
    """Σ of the positive differences (长款)."""
    short_fen: int
    """Σ of the negative differences (短款), as a negative number."""

    @property
    def net_fen(self) -> int:
        return self.over_fen + self.short_fen


def over_short(
    conn: Connection,
    by: str,
    date_from: date | None = None,
    date_to: date | None = None,
    stores: Sequence[str] | None = None,
) -> list[OverShortRow]:
    """Over/short of closed shifts by ``store`` or ``cashier``, business dates from
    ``date_from`` to ``date_to`` inclusive, largest absolute net first."""
    s = m.shifts.c
    key = s.store_code if by == "store" else s.closed_by
    diff = func.coalesce(s.over_short_fen, 0)
    zero = 0
    conds: list[ColumnElement[bool]] = [s.closed_at.is_not(None)]
    if date_from is not None:
        conds.append(s.business_date >= date_from)
    if date_to is not None:
        conds.append(s.business_date <= date_to)
    if stores:
        conds.append(s.store_code.in_(list(stores)))
    rows = conn.execute(
        select(
            key,
            func.count(),
            func.coalesce(func.sum(case((diff > zero, diff), else_=zero)), zero),
            func.coalesce(func.sum(case((diff < zero, diff), else_=zero)), zero),
        )
        .where(and_(*conds))
        .group_by(key)
    ).all()
    out = [OverShortRow(str(k), int(n), int(o), int(sh)) for k, n, o, sh in rows]
    return sorted(out, key=lambda r: (-abs(r.net_fen), r.key))
