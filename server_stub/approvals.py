"""Staff, approvals and money limits carried by terminal events, checked against HQ's own
data.

A till checks the approver's PIN; HQ checks who approved: the staff member exists, is
active, belongs to the event's store (or is chain-wide HQ staff) and holds at least the
role the action needs (:data:`sync_client.contract.protocol.APPROVAL_MIN_ROLE`). The
same check (:func:`check_staff`) applies to whoever an event names as having moved money
(the cashier of a top-up or a shift, the supervisor of a void). Limits such as the most a
top-up may add are settings of the schema (:mod:`sync_client.contract.settings`), read
per store by :func:`int_setting`.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import Connection, select

from server_stub import models as m
from sync_client.contract import protocol as p
from sync_client.contract import settings as settings_schema

__all__ = ["ROLE_RANK", "check_approval", "check_staff", "int_setting"]

log = logging.getLogger("chainpos.hq.approvals")

ROLE_RANK: dict[str, int] = {"cashier": 0, "supervisor": 1, "manager": 2, "hq_admin": 3}
"""Roles in order of authority: a role may approve whatever a lower one may."""


def check_staff(
    conn: Connection, staff_no: str, store: str, min_role: str = "cashier", what: str = "this"
) -> str | None:
    """Why staff ``staff_no`` may not act at ``store`` with role ``min_role`` or above
    (None: they may). ``what`` names the action in the answer."""
    row = conn.execute(
        select(m.staff.c.store_code, m.staff.c.role, m.staff.c.active).where(
            m.staff.c.number == staff_no
        )
    ).first()
    if row is None:
        return f"staff {staff_no} is not known at HQ"
    if not row.active:
        return f"staff {staff_no} is not active"
    if row.store_code is not None and row.store_code != store:
        return f"staff {staff_no} belongs to store {row.store_code}, not {store}"
    if ROLE_RANK.get(row.role, -1) < ROLE_RANK[min_role]:
        return f"staff {staff_no} is a {row.role}; {what} needs a {min_role} or above"
    return None


def check_approval(conn: Connection, approval: p.Approval, store: str, action: str) -> str | None:
    """Why ``approval`` does not allow ``action`` at ``store`` (None: it does)."""
    if approval.action != action:
        return f"the approval is for {approval.action}, not {action}"
    needed = p.APPROVAL_MIN_ROLE.get(action, "hq_admin")
    return check_staff(conn, approval.staff, store, needed, action)


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
