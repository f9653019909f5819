"""Member balances and their ledger.

Every change of points or stored value is one conditional UPDATE of the member's row
(:func:`change_balance`, which also bumps the member's version) and one ledger row that
carries the balance it left (from ``RETURNING``), so per member and account the ledger's
deltas sum to the balance (:func:`ledger_mismatches` checks it). The ledger's unique
``(account, kind, ref)`` makes each change happen at most once. A changed member is
announced to terminals with :func:`member_change`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from server_stub import feed
from server_stub import models as m
from sync_client.contract import protocol as p

ACCOUNTS = {"points": m.members.c.points, "stored_value": m.members.c.balance_fen}


@dataclass(frozen=True, slots=True)
class Balance:
    """A member's row after an update."""

    member_id: int
    number: str
    points: int
    balance_fen: int
    version: int
    active: bool

    def of(self, account: str) -> int:
        return self.points if account == "points" else self.balance_fen


_RETURNING = (
    m.members.c.id,
    m.members.c.number,
    m.members.c.points,
    m.members.c.balance_fen,
    m.members.c.version,
    m.members.c.active,
)


def _balance(row: Any) -> Balance:
    return Balance(
        int(row.id),
        row.number,
        int(row.points),
        int(row.balance_fen),
        int(row.version),
        bool(row.active),
    )


def change_balance(
    conn: Connection,
    member_id: int,
    account: str,
    delta: int,
    now: datetime,
    *,
    floor: int | None = None,
) -> Balance | None:
    """Adds ``delta`` to one account and bumps the version, in one statement. With
    ``floor``, only if the account stays at or above it (None returned otherwise): the
    conditional update that makes overdrawing impossible."""
    col = ACCOUNTS[account]
    stmt = (
        update(m.members)
        .where(m.members.c.id == member_id)
        .values({col: col + delta, "version": m.members.c.version + 1, "updated_at": now})
        .returning(*_RETURNING)
    )
    if floor is not None:
        stmt = stmt.where(col + delta >= floor)
    row = conn.execute(stmt).first()
    return _balance(row) if row is not None else None


def bump_version(conn: Connection, member_id: int, now: datetime) -> Balance:
    """Marks a member changed (coupons, tier, name, status) without a balance change."""
    row = conn.execute(
        update(m.members)
        .where(m.members.c.id == member_id)
        .values(version=m.members.c.version + 1, updated_at=now)
        .returning(*_RETURNING)
    ).one()
    return _balance(row)


def ledger_row(
    b: Balance,
    account: str,
    delta: int,
    kind: str,
    ref: str,
    now: datetime,
    store: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """A ledger row for a change ``change_balance`` just made (``b`` is its result)."""
    return {
        "member_id": b.member_id,
        "account": account,
        "delta": delta,
        "balance_after": b.of(account),
        "kind": kind,
        "ref": ref,
        "store_code": store,
        "note": note,
        "created_at": now,
    }


def write_ledger(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(m.member_ledger), list(rows))


def member_change(number: str, version: int, active: bool) -> feed.Pending:
    """The feed change telling terminals a cached copy of ``number`` is stale."""
    return feed.Pending(
        "member", number, None, p.MemberData(number=number, version=version, active=active)
    )


def ledger_mismatches(conn: Connection) -> list[tuple[str, str, int, int]]:
    """Members whose balances differ from their ledger's sums: ``(number, account,
    balance, ledger sum)``. Empty when the books are right (a test and an ops check)."""
    out: list[tuple[str, str, int, int]] = []
    lg = m.member_ledger
    for account, col in ACCOUNTS.items():
        sums = (
            select(lg.c.member_id, func.sum(lg.c.delta).label("total"))
            .where(lg.c.account == account)
            .group_by(lg.c.member_id)
            .subquery()
        )
        rows = conn.execute(
            select(m.members.c.number, col, func.coalesce(sums.c.total, 0))
            .select_from(m.members.outerjoin(sums, sums.c.member_id == m.members.c.id))
            .where(col != func.coalesce(sums.c.total, 0))
        ).all()
        out.extend((r[0], account, int(r[1]), int(r[2])) for r in rows)
    return out
