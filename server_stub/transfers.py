"""Transfers (调拨) between stores at HQ: the state machine, who may do each step, and
what each step moves.

Every step is a terminal event (:class:`~sync_client.contract.protocol.TransferStep`)
applied by :mod:`server_stub.ingest` in the push's transaction, deduplicated by its event
id like every event. This module plans a step against HQ's own data:

* the step must come from the right store (``from_store`` approves, refuses and ships;
  ``to_store`` requests, cancels and receives) and be done by a manager of that store,
  active at the step's time (never an HQ admin: they do not act at a till); otherwise it
  is refused ``not_authorised`` and the refusal audited;
* it must follow the state machine (requested -> approved | refused | cancelled;
  approved -> shipped -> received), otherwise ``bad_transition`` naming the state;
* shipping books ``transfer_out`` at the sender, receiving ``transfer_in`` at the
  receiver (ledger rows through :mod:`server_stub.stock`); less received than shipped
  raises a ``transfer_shortfall`` alert at both stores. Shipping and receiving announce
  the receiver's level again with what is in transit to it
  (:func:`server_stub.stock.in_transit`).

Every step that applies appends one ``transfer`` feed change seen by the tills of both
stores. Rows are written with a conditional update on the state the step was planned
against, so a concurrent push that moved the same transfer makes this transaction start
over (:class:`~server_stub.db.RetryableWrite`) instead of applying a step twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, delete, insert, or_, select, update

from server_stub import bulk, feed
from server_stub import models as m
from server_stub.approvals import StaffRecord, staff_problem
from server_stub.audit import Actor, audit_row
from server_stub.db import RetryableWrite
from server_stub.stock import move_row
from server_stub.stock_alerts import AlertSpec
from sync_client.contract import protocol as p

__all__ = [
    "StepEffects",
    "StepRefused",
    "Transfer",
    "TransferPlanner",
    "get_transfer",
    "list_transfers",
    "manager_problem",
    "open_transfers",
]

OPEN_STATES = ("requested", "approved", "shipped")
# Which store does each step: the sender ("from") or the receiver ("to").
_STEP_SIDE = {
    "transfer.requested": "to",
    "transfer.cancelled": "to",
    "transfer.received": "to",
    "transfer.approved": "from",
    "transfer.refused": "from",
    "transfer.shipped": "from",
}
# The state a step needs, and the state it leaves.
_STEP_STATES = {
    "transfer.approved": ("requested", "approved"),
    "transfer.refused": ("requested", "refused"),
    "transfer.cancelled": ("requested", "cancelled"),
    "transfer.shipped": ("approved", "shipped"),
    "transfer.received": ("shipped", "received"),
}

StaffInfo = StaffRecord


def manager_problem(
    staff: Mapping[str, StaffInfo], number: str, store: str, at: datetime | None = None
) -> str | None:
    """Why ``number`` may not have acted as a manager of ``store`` at the till's time
    ``at`` (None: they may): known at HQ, of that store, a manager, active then, never
    an HQ admin (they do not act at a till)."""
    return staff_problem(staff.get(number), number, store, "manager", "this step", at)


@dataclass(slots=True)
class Line:
    sku: str
    requested: int
    approved: int | None = None
    shipped: int | None = None
    received: int | None = None


@dataclass(slots=True)
class Transfer:
    """A transfer as HQ holds it; copied, never changed in place, by a step."""

    transfer_id: UUID
    transfer_no: str
    from_store: str
    to_store: str
    state: str
    requested_by: str
    requested_at: datetime
    updated_at: datetime
    lines: list[Line]
    note: str | None = None
    refused_reason: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    shipped_by: str | None = None
    shipped_at: datetime | None = None
    received_by: str | None = None
    received_at: datetime | None = None
    created_at: datetime | None = None

    def data(self) -> p.TransferData:
        return p.TransferData(
            transfer_id=self.transfer_id,
            transfer_no=self.transfer_no,
            from_store=self.from_store,
            to_store=self.to_store,
            state=self.state,  # type: ignore[arg-type]
            lines=[
                p.TransferLineData(
                    sku=ln.sku,
                    requested_milli=ln.requested,
                    approved_milli=ln.approved,
                    shipped_milli=ln.shipped,
                    received_milli=ln.received,
                )
                for ln in self.lines
            ],
            requested_by=self.requested_by,
            requested_at=self.requested_at,
            updated_at=self.updated_at,
            note=self.note,
            refused_reason=self.refused_reason,
        )

    def change(self) -> feed.Pending:
        """The feed change for both stores' tills."""
        return feed.Pending(
            "transfer", str(self.transfer_id), self.from_store, self.data(), store2=self.to_store
        )

    def copy(self) -> Transfer:
        return replace(self, lines=[replace(ln) for ln in self.lines])


class StepRefused(Exception):
    """The step cannot be applied; ``reason`` is a push reject reason. ``audit``: the
    audit row to write for the refusal (refusals of authority are audited)."""

    def __init__(
        self,
        reason: p.RejectReason,
        detail: str,
        *,
        retryable: bool = False,
        audit: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.retryable = retryable
        self.audit = audit


@dataclass(slots=True)
class StepEffects:
    """What one applied step writes: the transfer's new form (``before``: the state it
    was planned against, None for a new one), ledger rows with their level deltas, and
    alerts."""

    transfer: Transfer
    before: str | None
    moves: list[dict[str, Any]] = field(default_factory=list)
    deltas: list[tuple[tuple[str, str], int]] = field(default_factory=list)
    alerts: list[AlertSpec] = field(default_factory=list)


class TransferPlanner:
    """Plans the transfer steps of one push against HQ's data, in event order.

    Call :meth:`prefetch` once, then :meth:`plan` per step and :meth:`remember` for each
    step that was applied, so that later steps of the same batch see it."""

    def __init__(self, conn: Connection, device_id: str, store: str, now: datetime) -> None:
        self.conn = conn
        self.actor = Actor(f"device:{device_id}", store)
        self.now = now
        self.transfers: dict[UUID, Transfer] = {}
        self.stores: set[str] = set()

    def prefetch(self, steps: Iterable[p.TransferStep]) -> None:
        steps = list(steps)
        if not steps:
            return
        conn = self.conn
        ids = {s.transfer_id for s in steps}
        self.transfers = _load(conn, ids)
        stores = {s.from_store for s in steps if s.from_store is not None}
        if stores:
            self.stores = set(
                conn.execute(
                    select(m.stores.c.code).where(
                        bulk.among(conn, m.stores.c.code, stores), m.stores.c.active.is_(True)
                    )
                ).scalars()
            )

    def _refuse_authority(self, step: p.TransferStep, detail: str) -> StepRefused:
        row = audit_row(
            self.actor,
            "transfer.refused_step",
            None,
            {
                "transfer_id": str(step.transfer_id),
                "step": step.type,
                "staff": step.staff,
                "why": detail,
            },
            self.now,
        )
        return StepRefused("not_authorised", detail, audit=row)

    def plan(
        self, step: p.TransferStep, staff: Mapping[str, StaffInfo], skus: set[str]
    ) -> StepEffects:
        """The effects of ``step``.

        Raises:
            StepRefused: the step is not for this store or person, does not follow the
                state machine, or names what HQ does not know.
        """
        current = self.transfers.get(step.transfer_id)
        if step.type == "transfer.requested":
            return self._plan_request(step, current, staff, skus)
        if current is None:
            raise StepRefused(
                "unknown_transfer",
                f"transfer {step.transfer_id} is not at HQ (yet); push the step again later",
                retryable=True,
            )
        side = _STEP_SIDE[step.type]
        owner = current.from_store if side == "from" else current.to_store
        if step.store != owner:
            raise self._refuse_authority(
                step,
                f"store {step.store} cannot do {step.type} on transfer {current.transfer_no} "
                f"from {current.from_store} to {current.to_store}",
            )
        problem = manager_problem(staff, step.staff, step.store, step.at)
        if problem is not None:
            raise self._refuse_authority(step, problem)
        needs, leaves = _STEP_STATES[step.type]
        if current.state != needs:
            raise StepRefused(
                "bad_transition",
                f"transfer {current.transfer_no} is {current.state}; {step.type} needs {needs}",
            )
        new = current.copy()
        new.state = leaves
        new.updated_at = step.at
        fx = StepEffects(new, current.state)
        by_sku = {ln.sku: ln for ln in new.lines}
        listed = {ln.sku: ln.qty_milli for ln in step.lines}
        strangers = sorted(set(listed) - set(by_sku))
        if strangers:
            raise StepRefused(
                "invalid",
                f"not in transfer {current.transfer_no}: {', '.join(strangers[:10])}",
            )
        ref = str(new.transfer_id)
        if step.type in ("transfer.approved", "transfer.refused", "transfer.cancelled"):
            if step.type != "transfer.cancelled":
                new.decided_by, new.decided_at = step.staff, step.at
            if step.type == "transfer.refused":
                new.refused_reason = step.reason
            if step.type == "transfer.approved":
                for ln in new.lines:
                    ln.approved = listed.get(ln.sku, ln.requested)
                    if ln.approved > ln.requested:
                        raise StepRefused(
                            "invalid",
                            f"{ln.sku}: approved {ln.approved} is more than the "
                            f"{ln.requested} requested",
                        )
        elif step.type == "transfer.shipped":
            new.shipped_by, new.shipped_at = step.staff, step.at
            for ln in new.lines:
                ln.shipped = listed.get(ln.sku, 0)
                if ln.shipped > (ln.approved or 0):
                    raise StepRefused(
                        "invalid",
                        f"{ln.sku}: shipped {ln.shipped} is more than the {ln.approved or 0} "
                        "approved",
                    )
                if ln.shipped:
                    key = (new.from_store, ln.sku)
                    fx.moves.append(
                        move_row(*key, -ln.shipped, "transfer_out", ref, step.at, self.now)
                    )
                    fx.deltas.append((key, -ln.shipped))
                    # The receiver's level is announced again, now with the goods in
                    # transit to it (its on-hand does not move).
                    fx.deltas.append(((new.to_store, ln.sku), 0))
        else:  # transfer.received
            new.received_by, new.received_at = step.staff, step.at
            for ln in new.lines:
                ln.received = listed.get(ln.sku, 0)
                key = (new.to_store, ln.sku)
                if ln.received:
                    fx.moves.append(
                        move_row(*key, ln.received, "transfer_in", ref, step.at, self.now)
                    )
                if ln.received or ln.shipped:
                    # Announced even when nothing arrived: nothing is in transit any more.
                    fx.deltas.append((key, ln.received))
                short = (ln.shipped or 0) - ln.received
                if short > 0:
                    for store in (new.to_store, new.from_store):
                        fx.alerts.append(
                            AlertSpec(
                                store,
                                ln.sku,
                                "transfer_shortfall",
                                ref=ref,
                                qty_milli=short,
                                detail=f"transfer {new.transfer_no}: {ln.received} of "
                                f"{ln.shipped} received",
                            )
                        )
        return fx

    def _plan_request(
        self,
        step: p.TransferStep,
        current: Transfer | None,
        staff: Mapping[str, StaffInfo],
        skus: set[str],
    ) -> StepEffects:
        assert step.from_store is not None and step.transfer_no is not None
        problem = manager_problem(staff, step.staff, step.store, step.at)
        if problem is not None:
            raise self._refuse_authority(step, problem)
        if current is not None:
            raise StepRefused(
                "bad_transition",
                f"transfer {step.transfer_id} exists already ({current.state}); "
                "a request cannot be made twice",
            )
        if step.from_store not in self.stores:
            raise StepRefused("unknown_store", f"no active store {step.from_store} at HQ")
        unknown = sorted({ln.sku for ln in step.lines} - skus)
        if unknown:
            raise StepRefused("unknown_sku", f"not in HQ's catalogue: {', '.join(unknown[:10])}")
        new = Transfer(
            transfer_id=step.transfer_id,
            transfer_no=step.transfer_no,
            from_store=step.from_store,
            to_store=step.store,
            state="requested",
            requested_by=step.staff,
            requested_at=step.at,
            updated_at=step.at,
            lines=[Line(ln.sku, ln.qty_milli) for ln in step.lines],
            note=step.note,
            created_at=self.now,
        )
        return StepEffects(new, None)

    def remember(self, fx: StepEffects) -> None:
        self.transfers[fx.transfer.transfer_id] = fx.transfer

    def write(self, conn: Connection, fx: StepEffects) -> None:
        """Writes the transfer's new form; a lost race starts the transaction over."""
        t = fx.transfer
        values = {
            "transfer_no": t.transfer_no,
            "from_store": t.from_store,
            "to_store": t.to_store,
            "state": t.state,
            "requested_by": t.requested_by,
            "requested_at": t.requested_at,
            "decided_by": t.decided_by,
            "decided_at": t.decided_at,
            "shipped_by": t.shipped_by,
            "shipped_at": t.shipped_at,
            "received_by": t.received_by,
            "received_at": t.received_at,
            "note": t.note,
            "refused_reason": t.refused_reason,
            "updated_at": self.now,
        }
        tr, tl = m.transfers, m.transfer_lines
        if fx.before is None:
            conn.execute(
                insert(tr).values(transfer_id=t.transfer_id, created_at=self.now, **values)
            )
        else:
            done = conn.execute(
                update(tr)
                .where(tr.c.transfer_id == t.transfer_id, tr.c.state == fx.before)
                .values(values)
            ).rowcount
            if done != 1:
                raise RetryableWrite(f"transfer {t.transfer_id} changed while applying a step")
            conn.execute(delete(tl).where(tl.c.transfer_id == t.transfer_id))
        conn.execute(
            insert(tl),
            [
                {
                    "transfer_id": t.transfer_id,
                    "sku": ln.sku,
                    "requested_milli": ln.requested,
                    "approved_milli": ln.approved,
                    "shipped_milli": ln.shipped,
                    "received_milli": ln.received,
                }
                for ln in t.lines
            ],
        )


# -- reading ------------------------------------------------------------------------------


def _load(conn: Connection, ids: Iterable[UUID], where: Any = None) -> dict[UUID, Transfer]:
    tr, tl = m.transfers, m.transfer_lines
    q = select(tr)
    if where is not None:
        q = q.where(where)
    else:
        q = q.where(bulk.among(conn, tr.c.transfer_id, list(ids)))
    found: dict[UUID, Transfer] = {}
    for r in conn.execute(q):
        found[r.transfer_id] = Transfer(
            transfer_id=r.transfer_id,
            transfer_no=r.transfer_no,
            from_store=r.from_store,
            to_store=r.to_store,
            state=r.state,
            requested_by=r.requested_by,
            requested_at=r.requested_at,
            updated_at=r.updated_at,
            lines=[],
            note=r.note,
            refused_reason=r.refused_reason,
            decided_by=r.decided_by,
            decided_at=r.decided_at,
            shipped_by=r.shipped_by,
            shipped_at=r.shipped_at,
            received_by=r.received_by,
            received_at=r.received_at,
            created_at=r.created_at,
        )
    if found:
        for r in conn.execute(
            select(tl)
            .where(bulk.among(conn, tl.c.transfer_id, list(found)))
            .order_by(tl.c.transfer_id, tl.c.sku)
        ):
            found[r.transfer_id].lines.append(
                Line(
                    r.sku,
                    int(r.requested_milli),
                    r.approved_milli,
                    r.shipped_milli,
                    r.received_milli,
                )
            )
    return found


def list_transfers(
    conn: Connection,
    *,
    store: str | None = None,
    states: Iterable[str] | None = None,
    limit: int = 200,
) -> list[Transfer]:
    """Transfers from or to ``store`` (any store when None), newest request first."""
    tr = m.transfers
    conds = []
    if store is not None:
        conds.append(or_(tr.c.from_store == store, tr.c.to_store == store))
    if states is not None:
        conds.append(tr.c.state.in_(list(states)))
    ids = list(
        conn.execute(
            select(tr.c.transfer_id)
            .where(*conds)
            .order_by(tr.c.requested_at.desc(), tr.c.transfer_no.desc())
            .limit(limit)
        ).scalars()
    )
    found = _load(conn, ids) if ids else {}
    return [found[i] for i in ids]


def open_transfers(conn: Connection, store: str) -> list[p.TransferData]:
    """The unfinished transfers from or to ``store``, oldest first (for the snapshot)."""
    found = list_transfers(conn, store=store, states=OPEN_STATES, limit=10_000)
    return [t.data() for t in reversed(found)]


def get_transfer(conn: Connection, transfer_id: UUID) -> Transfer | None:
    return _load(conn, [transfer_id]).get(transfer_id)
