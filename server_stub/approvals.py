"""Staff, approvals and money limits carried by terminal events, checked against HQ's own
data.

A till checks the approver's PIN; HQ checks who approved: the staff member exists, was
active when they approved (HQ records when it deactivates someone), belongs to the event's
store and holds at least the role the action needs
(:data:`sync_client.contract.protocol.APPROVAL_MIN_ROLE`); HQ admins never act at a till.
The same check (:func:`staff_problem`) applies to whoever an event names as its actor
(the cashier of a sale, a return, a top-up or a shift, the supervisor of a void, the staff
member of a stock step). What HQ does with a problem depends on the event
(:mod:`server_stub.ingest`): what already happened at the counter is kept and flagged,
a claim that refusing loses nothing by is refused. Limits such as the most a
top-up may add are settings of the schema (:mod:`sync_client.contract.settings`), read
per store by :func:`int_setting`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from server_stub import bulk
from server_stub import models as m
from sync_client.contract import protocol as p
from sync_client.contract import settings as settings_schema

__all__ = [
    "ROLE_RANK",
    "StaffRecord",
    "approval_problem",
    "check_approval",
    "check_staff",
    "int_setting",
    "load_staff",
    "staff_problem",
]

log = logging.getLogger("chainpos.hq.approvals")

ROLE_RANK: dict[str, int] = {"cashier": 0, "supervisor": 1, "manager": 2, "hq_admin": 3}
"""Roles in order of authority: a role may approve whatever a lower one may."""


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """What HQ knows of a staff member for judging an event that names them: the home
    store (None: chain-wide HQ staff), role, active flag and when they were deactivated
    (None while active, or when HQ did not record it)."""

    store: str | None
    role: str
    active: bool
    deactivated_at: datetime | None = None


def load_staff(conn: Connection, numbers: Iterable[str]) -> dict[str, StaffRecord]:
    """The staff records of ``numbers`` that HQ has (unknown numbers are left out)."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    s = m.staff.c
    rows = conn.execute(
        select(s.number, s.store_code, s.role, s.active, s.deactivated_at).where(
            bulk.among(conn, s.number, wanted)
        )
    )
    return {
        r.number: StaffRecord(r.store_code, r.role, bool(r.active), r.deactivated_at) for r in rows
    }


def staff_problem(
    record: StaffRecord | None,
    staff_no: str,
    store: str,
    min_role: str = "cashier",
    what: str = "this",
    at: datetime | None = None,
) -> str | None:
    """Why staff ``staff_no`` (HQ's ``record`` of them) may not have done ``what`` at a
    till of ``store`` with role ``min_role`` or above, at the till's time ``at`` (None:
    they may).

    HQ admins never act at a till (they cannot sign in there), so a till event naming one
    is not genuine. A staff member deactivated after ``at`` was active when they acted;
    one deactivated at a time HQ did not record counts as inactive whenever they acted.
    """
    if record is None:
        return f"staff {staff_no} is not known at HQ"
    if record.role == "hq_admin":
        return f"staff {staff_no} is an HQ admin; HQ admins do not act at a store's till"
    if not record.active:
        since = record.deactivated_at
        if since is None:
            return f"staff {staff_no} is not active"
        if at is None or at >= since:
            when = "" if at is None else f", before {what} at {at.isoformat()}"
            return f"staff {staff_no} was deactivated at {since.isoformat()}{when}"
    if record.store is not None and record.store != store:
        return f"staff {staff_no} belongs to store {record.store}, not {store}"
    if ROLE_RANK.get(record.role, -1) < ROLE_RANK[min_role]:
        return f"staff {staff_no} is a {record.role}; {what} needs a {min_role} or above"
    return None


def check_staff(
    conn: Connection,
    staff_no: str,
    store: str,
    min_role: str = "cashier",
    what: str = "this",
    at: datetime | None = None,
) -> str | None:
    """Why staff ``staff_no`` may not act at ``store`` with role ``min_role`` or above at
    the till's time ``at`` (None: they may); see :func:`staff_problem`. ``what`` names the
    action in the answer."""
    record = load_staff(conn, [staff_no]).get(staff_no)
    return staff_problem(record, staff_no, store, min_role, what, at)


def approval_problem(
    record: StaffRecord | None, approval: p.Approval, store: str, action: str
) -> str | None:
    """Why ``approval`` (by the staff member HQ knows as ``record``) does not allow
    ``action`` at ``store`` (None: it does), judged at the approval's own time."""
    if approval.action != action:
        return f"the approval is for {approval.action}, not {action}"
    needed = p.APPROVAL_MIN_ROLE.get(action, "hq_admin")
    return staff_problem(record, approval.staff, store, needed, action, approval.approved_at)


def check_approval(conn: Connection, approval: p.Approval, store: str, action: str) -> str | None:
    """Why ``approval`` does not allow ``action`` at ``store`` (None: it does)."""
    record = load_staff(conn, [approval.staff]).get(approval.staff)
    return approval_problem(record, approval, store, action)


def int_setting(conn: Connection, store: str, key: str) -> int:
    """The whole-number setting ``key`` in force at ``store``: the store's own value over
    the chain's, else the schema's default. A value the schema refuses is logged and
    passed over."""
    rows = conn.execute(
        select(m.config.c.scope, m.config.c.value_json).where(
            m.config.c.key == key, m.config.c.scope.in_(["*", store])
        )
    ).all()
    value = settings_schema.default(key)
    for r in sorted(rows, key=lambda r: r.scope != "*"):
        try:
            stored = json.loads(r.value_json)
        except ValueError:
            stored = None
        if stored is None or settings_schema.problem(key, stored) is not None:
            log.warning("ignoring setting %s for %s: %r", key, r.scope, r.value_json[:40])
            continue
        value = stored
    assert isinstance(value, int) and not isinstance(value, bool), f"{key} is not a number"
    return value
