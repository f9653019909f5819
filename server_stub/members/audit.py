"""The audit log of sensitive member actions: who (:class:`Actor`) did what to which
member, when. Rows are written in the transaction of the action they record, or in one of
their own for refusals (:func:`audit_now`). ``detail`` never holds a phone number in
clear."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, select

from server_stub import models as m
from server_stub.auth import DeviceIdentity
from server_stub.db import Database
from server_stub.schemas import (
    AuditEntry,
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, for the audit log: ``device:S001-T01``, ``admin:<token name>``,
    ``cli:<user>``; ``store`` for devices."""

    name: str
    store: str | None = None

    @classmethod
    def of_device(cls, device: DeviceIdentity) -> Actor:
        return cls(f"device:{device.device_id}", device.store)


def audit_row(
    actor: Actor,
    action: str,
    member_no: str | None,
    detail: dict[str, Any],
    now: datetime,
    store: str | None = None,
) -> dict[str, Any]:
    """An ``audit_log`` row. ``detail`` must never hold a phone number in clear."""
    return {
        "at": now,
        "actor": actor.name[:80],
        "action": action,
        "member_no": member_no,
        "store_code": store if store is not None else actor.store,
        "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True),
    }


def write_audit(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(m.audit_log), list(rows))


def audit_now(db: Database, row: dict[str, Any]) -> None:
    """Writes one audit row in a transaction of its own (for refusals, which write
    nothing else)."""
    db.run_write(lambda tx: write_audit(tx.conn, [row]))


def audit_entries(
    db: Database, *, member: str | None = None, action: str | None = None, limit: int = 100
) -> list[AuditEntry]:
    """The newest audit entries, optionally of one member or one action."""
    a = m.audit_log
    conds = []
    if member is not None:
        conds.append(a.c.member_no == member)
    if action is not None:
        conds.append(a.c.action == action)
    with db.read() as conn:
        rows = conn.execute(
            select(a).where(and_(True, *conds)).order_by(a.c.id.desc()).limit(limit)
        ).all()
    return [
        AuditEntry(
            at=r.at,
            actor=r.actor,
            action=r.action,
            member=r.member_no,
            store=r.store_code,
            detail=json.loads(r.detail),
        )
        for r in rows
    ]
