"""HQ's audit log: who (:class:`Actor`) did what, when, as one tamper-evident hash chain.

Every admin and money action at HQ writes an entry here, in the transaction of the action
it records (or in one of its own for refusals, :func:`audit_now`); tills' own audit
entries arrive as ``audit.recorded`` events and join the same chain with their device.
``detail`` never holds a phone number in clear.

The chain: each entry stores ``prev_id``/``prev_hash`` (the entry before it) and
``hash = SHA-256(prev_hash || canonical JSON of the entry)``, where the canonical JSON
holds every stored column (id, time, actor, action, member, store, device, local id,
detail, prev_id). The ``audit_head`` row (id 1) names the newest entry and its hash.
Appends lock that row in their own transaction (``SELECT ... FOR UPDATE`` on PostgreSQL;
SQLite write transactions are already serial), take the next id from it and update it,
so any number of HQ processes build one chain. :func:`verify` walks the chain and names
the first entry that was edited, inserted or deleted. Someone able to rewrite the whole
table *and* the head can build a new consistent chain; keep the head hash ``audit verify``
prints somewhere else to catch that too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from server_stub import models as m
from server_stub.auth import AdminIdentity, DeviceIdentity
from server_stub.db import Database
from server_stub.schemas import AuditEntry

GENESIS = "0" * 64
_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, for the audit log: ``device:S001-T01``, ``admin:<token name>``,
    ``cli:<user>``, ``system``; ``store`` for devices."""

    name: str
    store: str | None = None

    @classmethod
    def of_device(cls, device: DeviceIdentity) -> Actor:
        return cls(f"device:{device.device_id}", device.store)

    @classmethod
    def of_admin(cls, admin: AdminIdentity) -> Actor:
        return cls(f"admin:{admin.name}")


SYSTEM = Actor("system")


def audit_row(
    actor: Actor,
    action: str,
    member_no: str | None,
    detail: dict[str, Any],
    now: datetime,
    store: str | None = None,
    *,
    device_id: str | None = None,
    local_id: int | None = None,
) -> dict[str, Any]:
    """An entry to append (:func:`write_audit`). ``detail`` must never hold a phone
    number in clear. ``device_id``/``local_id``: a till's own entry and its id there."""
    return {
        "at": now.astimezone(UTC),
        "actor": actor.name[:80],
        "action": action[:40],
        "member_no": member_no,
        "store_code": store if store is not None else actor.store,
        "device_id": device_id,
        "local_id": local_id,
        "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str),
    }


def entry_hash(prev_hash: str, row: Any) -> str:
    """The hash of one entry: SHA-256 of the previous hash and the entry's canonical JSON
    (``row``: a mapping or a result row with the audit columns)."""
    get: Callable[[str], Any] = (
        row.__getitem__ if isinstance(row, dict) else lambda k: getattr(row, k)
    )
    at: datetime = get("at")
    canonical = json.dumps(
        {
            "id": int(get("id")),
            "prev_id": int(get("prev_id")),
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": get("actor"),
            "action": get("action"),
            "member_no": get("member_no"),
            "store_code": get("store_code"),
            "device_id": get("device_id"),
            "local_id": get("local_id"),
            "detail": get("detail"),
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(prev_hash.encode("ascii") + canonical.encode("utf-8")).hexdigest()


def write_audit(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Appends ``rows`` to the chain inside the caller's write transaction."""
    if not rows:
        return
    h = m.audit_head
    head = conn.execute(
        select(h.c.last_id, h.c.last_hash).where(h.c.id == 1).with_for_update()
    ).one()
    last_id, last_hash = int(head.last_id), str(head.last_hash)
    chained: list[dict[str, Any]] = []
    for row in rows:
        entry = {**row, "id": last_id + 1, "prev_id": last_id, "prev_hash": last_hash}
        entry["hash"] = entry_hash(last_hash, entry)
        chained.append(entry)
        last_id, last_hash = entry["id"], entry["hash"]
    conn.execute(insert(m.audit_log), chained)
    conn.execute(update(h).where(h.c.id == 1).values(last_id=last_id, last_hash=last_hash))


def audit_now(db: Database, row: dict[str, Any]) -> None:
    """Appends one entry in a transaction of its own (for refusals, which write nothing
    else)."""
    db.run_write(lambda tx: write_audit(tx.conn, [row]))


def audit_entries(
    db: Database,
    *,
    member: str | None = None,
    action: str | None = None,
    device: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The newest entries, optionally of one member, one action or one till."""
    a = m.audit_log
    conds = []
    if member is not None:
        conds.append(a.c.member_no == member)
    if action is not None:
        conds.append(a.c.action == action)
    if device is not None:
        conds.append(a.c.device_id == device)
    with db.read() as conn:
        rows = conn.execute(
            select(a).where(and_(True, *conds)).order_by(a.c.id.desc()).limit(limit)
        ).all()
    return [
        AuditEntry(
            id=r.id,
            at=r.at,
            actor=r.actor,
            action=r.action,
            member=r.member_no,
            store=r.store_code,
            device=r.device_id,
            detail=json.loads(r.detail),
        )
        for r in rows
    ]


# -- verification ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """The first place the chain does not hold: ``kind`` edited, deleted or inserted;
    ``entry_id``/``at``: the entry where it shows (for a deletion, the entry after the
    gap, or the head); ``message``: for people."""

    kind: str
    entry_id: int
    at: datetime | None
    message: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :func:`verify` found: how many entries it checked, the head, the first
    problem (None: the chain is whole)."""

    entries: int
    head_id: int
    head_hash: str
    problem: Problem | None


def verify(db: Database) -> Verdict:
    """Walks the whole chain in id order and reports the first broken link."""
    a, h = m.audit_log, m.audit_head
    with db.read(consistent=True) as conn:
        head = conn.execute(select(h.c.last_id, h.c.last_hash).where(h.c.id == 1)).one()
        head_id, head_hash = int(head.last_id), str(head.last_hash)
        prev_id, prev_hash, count = 0, GENESIS, 0
        after = -1
        while True:
            page = conn.execute(select(a).where(a.c.id > after).order_by(a.c.id).limit(_PAGE)).all()
            if not page:
                break
            for r in page:
                problem = _check(r, prev_id, prev_hash, head_id)
                if problem is not None:
                    return Verdict(count, head_id, head_hash, problem)
                prev_id, prev_hash = int(r.id), str(r.hash)
                count += 1
            after = int(page[-1].id)
    problem = None
    if prev_id != head_id or prev_hash != head_hash:
        problem = Problem(
            "deleted",
            head_id,
            None,
            f"the chain head names entry {head_id} but the log ends at entry {prev_id}: "
            "the newest entries were deleted",
        )
    return Verdict(count, head_id, head_hash, problem)


def _check(r: Any, prev_id: int, prev_hash: str, head_id: int) -> Problem | None:
    at = r.at
    when = at.isoformat()
    if int(r.id) > head_id:
        return Problem(
            "inserted", r.id, at, f"entry {r.id} ({when}) lies past the chain head: inserted"
        )
    if r.prev_id is None or r.hash is None or r.prev_hash is None:
        return Problem("inserted", r.id, at, f"entry {r.id} ({when}) is not chained: inserted")
    if entry_hash(str(r.prev_hash), r) != r.hash:
        return Problem(
            "edited", r.id, at, f"entry {r.id} ({when}) was edited: its hash does not match"
        )
    if int(r.prev_id) > prev_id:
        return Problem(
            "deleted",
            r.id,
            at,
            f"entries after {prev_id} up to {r.prev_id} were deleted "
            f"(the next entry left is {r.id}, {when})",
        )
    if int(r.prev_id) < prev_id:
        return Problem(
            "inserted",
            prev_id,
            None,
            f"entry {prev_id} was inserted: entry {r.id} ({when}) follows {r.prev_id}",
        )
    if r.prev_hash != prev_hash:
        return Problem(
            "edited",
            prev_id,
            None,
            f"entry {prev_id} was edited: entry {r.id} ({when}) chains to another hash",
        )
    return None
