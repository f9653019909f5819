"""Approvals carried by terminal events, checked against HQ's own staff data.

A till checks the approver's PIN; HQ checks who approved: the staff member exists, is
active, belongs to the event's store (or is chain-wide HQ staff) and holds at least the
role the action needs (:data:`sync_client.contract.protocol.APPROVAL_MIN_ROLE`). One
function, used by every event that carries an approval.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from server_stub import models as m
from sync_client.contract import protocol as p

__all__ = ["ROLE_RANK", "check_approval"]

ROLE_RANK: dict[str, int] = {"cashier": 0, "supervisor": 1, "manager": 2, "hq_admin": 3}
"""Roles in order of authority: a role may approve whatever a lower one may."""


def check_approval(conn: Connection, approval: p.Approval, store: str, action: str) -> str | None:
    """Why ``approval`` does not allow ``action`` at ``store`` (None: it does)."""
    if approval.action != action:
        return f"the approval is for {approval.action}, not {action}"
    row = conn.execute(
        select(m.staff.c.store_code, m.staff.c.role, m.staff.c.active).where(
            m.staff.c.number == approval.staff
        )
    ).first()
    if row is None:
        return f"staff {approval.staff} is not known at HQ"
    if not row.active:
        return f"staff {approval.staff} is not active"
    if row.store_code is not None and row.store_code != store:
        return f"staff {approval.staff} belongs to store {row.store_code}, not {store}"
    needed = p.APPROVAL_MIN_ROLE.get(action, "hq_admin")
    if ROLE_RANK.get(row.role, -1) < ROLE_RANK[needed]:
        return f"staff {approval.staff} is a {row.role}; {action} needs a {needed} or above"
    return None
