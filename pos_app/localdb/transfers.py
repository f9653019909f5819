"""Transfers, stock alerts, counts and goods received in the terminal database.

A transfer row holds HQ's last word (``hq_state``, the line quantities HQ sent) and the
last step taken at this till (``local_state`` with its outbox event ``local_event_id``).
The state shown follows from both and the outbox (:data:`SHOWN_STATE`): the local step
while its event waits to be pushed, HQ's state once HQ answered it (accepted: HQ's
state catches up through the feed, and until it does the local step stands; refused:
HQ's state, and the refusal is shown with its reason).

The ``apply_*`` functions run on the sync client's raw ``sqlite3`` connection inside the
caller's transaction (see :mod:`pos_app.localdb.replica`); the rest take a Session.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from pos_app.localdb.types import from_utc_text, to_utc_text
from sync_client.contract import protocol as p

STATE_RANK = {
    "requested": 0,
    "approved": 1,
    "refused": 1,
    "cancelled": 1,
    "shipped": 2,
    "received": 3,
}
"""How far along the state machine a state is (a later state never goes back)."""

_RANK_SQL = (
    "CASE {col} WHEN 'requested' THEN 0 WHEN 'approved' THEN 1 WHEN 'refused' THEN 1 "
    "WHEN 'cancelled' THEN 1 WHEN 'shipped' THEN 2 WHEN 'received' THEN 3 ELSE -1 END"
)

SHOWN_STATE = (
    "CASE WHEN o.state = 'pending' THEN t.local_state "
    "WHEN o.state = 'rejected' THEN COALESCE(t.hq_state, t.local_state) "
    "WHEN t.hq_state IS NULL THEN t.local_state "
    "WHEN t.local_state IS NULL THEN t.hq_state "
    f"WHEN {_RANK_SQL.format(col='t.hq_state')} >= {_RANK_SQL.format(col='t.local_state')} "
    "THEN t.hq_state ELSE t.local_state END"
)
"""SQL over ``transfer t LEFT JOIN outbox o ON o.event_id = t.local_event_id``."""


# -- from HQ's feed (raw sqlite3, inside the replica's transaction) --------------------------


def apply_transfers(db: sqlite3.Connection, store: str, items: Sequence[p.TransferData]) -> None:
    """HQ's transfers of this store (sent or received); others are not this till's."""
    mine = [t for t in items if store in (t.from_store, t.to_store)]
    if not mine:
        return
    db.executemany(
        "INSERT INTO transfer (id, transfer_no, from_store, to_store, hq_state, requested_by, "
        "requested_at, updated_at, note, refused_reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
        "transfer_no = excluded.transfer_no, hq_state = excluded.hq_state, "
        "updated_at = excluded.updated_at, note = excluded.note, "
        "refused_reason = excluded.refused_reason",
        [
            (
                str(t.transfer_id),
                t.transfer_no,
                t.from_store,
                t.to_store,
                t.state,
                t.requested_by,
                to_utc_text(t.requested_at),
                to_utc_text(t.updated_at),
                t.note,
                t.refused_reason,
            )
            for t in mine
        ],
    )
    # A quantity HQ has not recorded yet (null) keeps the one this till's own step wrote.
    db.executemany(
        "INSERT INTO transfer_line (transfer_id, sku, requested_milli, approved_milli, "
        "shipped_milli, received_milli) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(transfer_id, sku) DO UPDATE SET requested_milli = excluded.requested_milli, "
        "approved_milli = COALESCE(excluded.approved_milli, approved_milli), "
        "shipped_milli = COALESCE(excluded.shipped_milli, shipped_milli), "
        "received_milli = COALESCE(excluded.received_milli, received_milli)",
        [
            (
                str(t.transfer_id),
                ln.sku,
                ln.requested_milli,
                ln.approved_milli,
                ln.shipped_milli,
                ln.received_milli,
            )
            for t in mine
            for ln in t.lines
        ],
    )


def apply_alerts(db: sqlite3.Connection, store: str, alerts: Sequence[p.StockAlertData]) -> None:
    """This store's stock alerts (the badge and the stock screen's list)."""
    mine = [a for a in alerts if a.store == store]
    if mine:
        db.executemany(
            "INSERT INTO stock_alert (alert_id, store_code, sku, kind, on_hand_milli, min_milli, "
            "created_at, resolved, qty_milli) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(alert_id) DO UPDATE SET on_hand_milli = excluded.on_hand_milli, "
            "min_milli = excluded.min_milli, kind = excluded.kind, "
            "resolved = excluded.resolved, qty_milli = excluded.qty_milli",
            [
                (
                    a.alert_id,
                    a.store,
                    a.sku,
                    a.kind,
                    a.on_hand_milli,
                    a.min_milli,
                    to_utc_text(a.created_at),
                    a.resolved,
                    a.qty_milli,
                )
                for a in mine
            ],
        )


# -- the till's reads and writes (Session) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransferLineRow:
    sku: str
    name: str
    requested_milli: int
    approved_milli: int | None
    shipped_milli: int | None
    received_milli: int | None


@dataclass(frozen=True, slots=True)
class TransferRow:
    """A transfer as the till shows it. ``state`` is the shown state; ``syncing`` while
    this till's last step waits to be pushed; ``step_error`` HQ's refusal of it."""

    id: str
    transfer_no: str
    from_store: str
    to_store: str
    state: str
    hq_state: str | None
    syncing: bool
    step_error: str | None
    requested_by: str
    requested_at: datetime
    updated_at: datetime
    note: str | None
    refused_reason: str | None
    lines: tuple[TransferLineRow, ...]


_SELECT = (
    "SELECT t.id, t.transfer_no, t.from_store, t.to_store, "
    f"{SHOWN_STATE}, t.hq_state, o.state, o.last_error, t.requested_by, t.requested_at, "
    "t.updated_at, t.note, t.refused_reason FROM transfer t "
    "LEFT JOIN outbox o ON o.event_id = t.local_event_id "
)


def _lines(session: Session, transfer_id: str) -> tuple[TransferLineRow, ...]:
    rows = session.execute(
        text(
            "SELECT l.sku, COALESCE(i.name_zh, l.sku), l.requested_milli, l.approved_milli, "
            "l.shipped_milli, l.received_milli FROM transfer_line l "
            "LEFT JOIN item i ON i.sku = l.sku WHERE l.transfer_id = :t ORDER BY l.rowid"
        ),
        {"t": transfer_id},
    ).all()
    return tuple(TransferLineRow(str(r[0]), str(r[1]), int(r[2]), r[3], r[4], r[5]) for r in rows)


def _row(session: Session, r: Sequence[object]) -> TransferRow:
    tid = str(r[0])
    return TransferRow(
        id=tid,
        transfer_no=str(r[1]),
        from_store=str(r[2]),
        to_store=str(r[3]),
        state=str(r[4]),
        hq_state=None if r[5] is None else str(r[5]),
        syncing=r[6] == "pending",
        step_error=str(r[7] or "") if r[6] == "rejected" else None,
        requested_by=str(r[8]),
        requested_at=from_utc_text(str(r[9])),
        updated_at=from_utc_text(str(r[10])),
        note=None if r[11] is None else str(r[11]),
        refused_reason=None if r[12] is None else str(r[12]),
        lines=_lines(session, tid),
    )


def get_transfer(session: Session, transfer_id: str) -> TransferRow | None:
    r = session.execute(text(_SELECT + "WHERE t.id = :t"), {"t": transfer_id}).first()
    return None if r is None else _row(session, tuple(r))


def list_transfers(session: Session, store: str, limit: int = 200) -> list[TransferRow]:
    """This store's transfers in and out, most recently changed first."""
    rows = session.execute(
        text(
            _SELECT + "WHERE t.from_store = :s OR t.to_store = :s "
            "ORDER BY t.updated_at DESC, t.transfer_no DESC LIMIT :n"
        ),
        {"s": store, "n": limit},
    ).all()
    return [_row(session, tuple(r)) for r in rows]


def in_transit_to(session: Session, sku: str) -> dict[str, int]:
    """store -> qty_milli of ``sku`` shipped to it and not yet received (the transfers this
    till knows: those of its own store)."""
    rows = session.execute(
        text(
            "SELECT t.to_store, SUM(COALESCE(l.shipped_milli, l.approved_milli, 0)) "
            "FROM transfer t JOIN transfer_line l ON l.transfer_id = t.id "
            "LEFT JOIN outbox o ON o.event_id = t.local_event_id "
            f"WHERE l.sku = :sku AND ({SHOWN_STATE}) = 'shipped' GROUP BY t.to_store"
        ),
        {"sku": sku},
    ).all()
    return {str(r[0]): int(r[1]) for r in rows}


def insert_transfer(
    session: Session,
    *,
    transfer_id: str,
    transfer_no: str,
    from_store: str,
    to_store: str,
    requested_by: str,
    at: datetime,
    note: str | None,
    lines: Sequence[tuple[str, int]],
    event_id: str,
) -> None:
    """A transfer requested at this till (state ``requested``, not yet known to HQ)."""
    session.execute(
        text(
            "INSERT INTO transfer (id, transfer_no, from_store, to_store, hq_state, local_state, "
            "local_event_id, requested_by, requested_at, updated_at, note) VALUES (:id, :no, "
            ":f, :to, NULL, 'requested', :ev, :by, :at, :at, :note)"
        ),
        {
            "id": transfer_id,
            "no": transfer_no,
            "f": from_store,
            "to": to_store,
            "ev": event_id,
            "by": requested_by,
            "at": to_utc_text(at),
            "note": note,
        },
    )
    session.execute(
        text("INSERT INTO transfer_line (transfer_id, sku, requested_milli) VALUES (:t, :sku, :q)"),
        [{"t": transfer_id, "sku": sku, "q": q} for sku, q in lines],
    )


_STEP_COLUMN = {
    "approved": "approved_milli",
    "shipped": "shipped_milli",
    "received": "received_milli",
}


def record_step(
    session: Session,
    transfer_id: str,
    state: str,
    at: datetime,
    event_id: str,
    lines: Sequence[tuple[str, int]] = (),
    reason: str | None = None,
) -> None:
    """A step taken at this till: the local state, its event and its quantities."""
    session.execute(
        text(
            "UPDATE transfer SET local_state = :s, local_event_id = :ev, updated_at = :at, "
            "refused_reason = COALESCE(:reason, refused_reason) WHERE id = :t"
        ),
        {"s": state, "ev": event_id, "at": to_utc_text(at), "reason": reason, "t": transfer_id},
    )
    column = _STEP_COLUMN.get(state)
    if column and lines:
        session.execute(
            text(f"UPDATE transfer_line SET {column} = :q WHERE transfer_id = :t AND sku = :sku"),
            [{"q": q, "t": transfer_id, "sku": sku} for sku, q in lines],
        )
