"""The till's audit log on its way to HQ: unsent entries become ``audit.recorded`` events.

Entries are written by whatever records them (:func:`pos_app.localdb.store.audit`) in
their own transactions; :func:`queue_audit` later packs every entry after the cursor
``sync.audit_through`` into one outbox event and moves the cursor, in one transaction, so
each entry is queued exactly once. HQ keeps each (device, local id) once, so a replayed
push adds nothing.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, select

from pos_app.domain.ids import uuid7
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.models import AuditEntry, OutboxEvent
from pos_app.localdb.store import get_setting, set_setting
from sync_client.contract import protocol as p

AUDIT_CURSOR_KEY = "sync.audit_through"
BATCH = 200


def _detail(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {"text": raw}
    return value if isinstance(value, dict) else {"value": value}


def queue_audit(engine: Engine, store: str) -> int:
    """Queues the entries recorded since the last call as ``audit.recorded`` events (at
    most :data:`BATCH` per event); returns how many entries. Nothing for a till with no
    terminal id yet, nor while other events wait: sales and money go first, and the
    outbox depth the till shows counts only them while HQ is away."""
    with read_session(engine) as s:
        through = int(get_setting(s, AUDIT_CURSOR_KEY, 0))
        newer = s.scalar(select(AuditEntry.id).where(AuditEntry.id > through).limit(1))
        waiting = s.scalar(select(OutboxEvent.seq).where(OutboxEvent.state == "pending").limit(1))
    if newer is None or waiting is not None:
        return 0
    queued = 0
    with write_session(engine) as s:
        terminal = get_setting(s, "terminal_id")
        if not terminal:
            return 0
        through = int(get_setting(s, AUDIT_CURSOR_KEY, 0))
        while True:
            rows = s.scalars(
                select(AuditEntry)
                .where(AuditEntry.id > through)
                .order_by(AuditEntry.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            payload = p.AuditRecorded(
                store=store,
                terminal=str(terminal),
                entries=[
                    p.AuditItem(
                        local_id=r.id,
                        at=r.at,
                        staff=r.staff,
                        action=r.action,
                        detail=_detail(r.detail),
                    )
                    for r in rows
                ],
            )
            s.add(
                OutboxEvent(
                    event_id=str(uuid7()),
                    type=payload.type,
                    occurred_at=rows[-1].at,
                    payload=payload.model_dump_json(),
                    state="pending",
                    attempts=0,
                )
            )
            through = rows[-1].id
            queued += len(rows)
        set_setting(s, AUDIT_CURSOR_KEY, through)
        s.commit()
    return queued
