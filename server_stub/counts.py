"""Stock counts (盘点) and goods received (收货) at the till, as HQ applies them.

A count is submitted (``stock.count_submitted``: stored, pending, nothing moves) and
then decided by a manager of its store (``stock.count_decided``). On approval each
line's difference is ``counted - level at counted_at``, where the level at that time is
the current level minus the ledger rows of that store and item that happened later
(``stock_moves.occurred_at``): so sales made while the count went on, after the item was
counted, are not a variance. Each difference becomes a ledger row (reason ``count``) and,
past the threshold ``stock.count_variance_alert_milli`` (store or chain-wide setting,
default 0: any difference), a ``count_variance`` alert. A rejected count moves nothing.

Goods received (``stock.received``) are a ledger row per line (reason ``receive``) and a
``stock_receipts`` record, once per receipt id.

Planned in the push's transaction by :mod:`server_stub.ingest`, like the transfers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, bindparam, select, update

from server_stub import bulk
from server_stub import models as m
from server_stub.audit import Actor, audit_row
from server_stub.db import RetryableWrite
from server_stub.schemas import CountLineOut, CountOut
from server_stub.stock import move_row
from server_stub.stock_alerts import AlertSpec
from server_stub.transfers import StaffInfo, StepRefused, manager_problem
from sync_client.contract import protocol as p

__all__ = ["VARIANCE_SETTING", "CountEffects", "CountPlanner", "count_detail", "list_counts"]

VARIANCE_SETTING = "stock.count_variance_alert_milli"

Key = tuple[str, str]


@dataclass(slots=True)
class _Session:
    store: str
    count_no: str
    state: str
    lines: list[tuple[str, int, datetime]]  # (sku, counted_milli, counted_at)


@dataclass(slots=True)
class CountEffects:
    """What one count or receipt event writes: rows to insert, the session update of a
    decision, ledger rows with their level deltas, alerts."""

    inserts: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    decision: dict[str, Any] | None = None
    line_results: list[dict[str, Any]] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)
    deltas: list[tuple[Key, int]] = field(default_factory=list)
    alerts: list[AlertSpec] = field(default_factory=list)
    session: tuple[UUID, _Session] | None = None
    receipt: UUID | None = None


class CountPlanner:
    """Plans the count and receipt events of one push, in event order."""

    def __init__(self, conn: Connection, device_id: str, store: str, now: datetime) -> None:
        self.conn = conn
        self.actor = Actor(f"device:{device_id}", store)
        self.now = now
        self.sessions: dict[UUID, _Session] = {}
        self.receipts: set[UUID] = set()
        self.thresholds: dict[str, int] = {}

    def prefetch(self, payloads: Iterable[Any]) -> None:
        conn = self.conn
        count_ids: set[UUID] = set()
        receipt_ids: set[UUID] = set()
        decides = False
        for pl in payloads:
            if isinstance(pl, p.StockCountSubmitted | p.StockCountDecided):
                count_ids.add(pl.count_id)
                decides = decides or isinstance(pl, p.StockCountDecided)
            elif isinstance(pl, p.StockReceived):
                receipt_ids.add(pl.receipt_id)
        if count_ids:
            cs, cl = m.stock_count_sessions, m.stock_count_lines
            for r in conn.execute(
                select(cs.c.count_id, cs.c.store_code, cs.c.count_no, cs.c.state).where(
                    bulk.among(conn, cs.c.count_id, count_ids)
                )
            ):
                self.sessions[r.count_id] = _Session(r.store_code, r.count_no, r.state, [])
            if self.sessions:
                for r in conn.execute(
                    select(cl.c.count_id, cl.c.sku, cl.c.counted_milli, cl.c.counted_at)
                    .where(bulk.among(conn, cl.c.count_id, list(self.sessions)))
                    .order_by(cl.c.count_id, cl.c.sku)
                ):
                    self.sessions[r.count_id].lines.append(
                        (r.sku, int(r.counted_milli), r.counted_at)
                    )
        if decides:
            for setting in conn.execute(
                select(m.config.c.scope, m.config.c.value_json).where(
                    m.config.c.key == VARIANCE_SETTING
                )
            ):
                value = json.loads(setting.value_json)
                if isinstance(value, int) and not isinstance(value, bool):
                    self.thresholds[setting.scope] = max(0, value)
        if receipt_ids:
            sr = m.stock_receipts
            self.receipts = set(
                conn.execute(
                    select(sr.c.receipt_id).where(bulk.among(conn, sr.c.receipt_id, receipt_ids))
                ).scalars()
            )

    # -- planning -------------------------------------------------------------------------

    def plan_submit(self, pl: p.StockCountSubmitted, skus: set[str]) -> CountEffects:
        known = self.sessions.get(pl.count_id)
        if known is not None:
            raise StepRefused(
                "bad_transition", f"count {known.count_no} was submitted already ({known.state})"
            )
        unknown = sorted({ln.sku for ln in pl.lines} - skus)
        if unknown:
            raise StepRefused("unknown_sku", f"not in HQ's catalogue: {', '.join(unknown[:10])}")
        fx = CountEffects()
        fx.inserts.append(
            (
                m.stock_count_sessions,
                {
                    "count_id": pl.count_id,
                    "count_no": pl.count_no,
                    "store_code": pl.store,
                    "terminal": pl.terminal,
                    "staff": pl.staff,
                    "zone": pl.zone,
                    "started_at": pl.started_at,
                    "submitted_at": pl.submitted_at,
                    "state": "pending",
                    "decided_by": None,
                    "decided_at": None,
                    "decision_note": None,
                    "created_at": self.now,
                },
            )
        )
        for ln in pl.lines:
            fx.inserts.append(
                (
                    m.stock_count_lines,
                    {
                        "count_id": pl.count_id,
                        "sku": ln.sku,
                        "counted_milli": ln.counted_milli,
                        "counted_at": ln.counted_at,
                        "expected_milli": None,
                        "difference_milli": None,
                    },
                )
            )
        fx.session = (
            pl.count_id,
            _Session(
                pl.store,
                pl.count_no,
                "pending",
                [(ln.sku, ln.counted_milli, ln.counted_at) for ln in pl.lines],
            ),
        )
        return fx

    def plan_decide(
        self,
        pl: p.StockCountDecided,
        staff: Mapping[str, StaffInfo],
        level_now: Callable[[Key], int],
        pending_moves: Iterable[dict[str, Any]],
    ) -> CountEffects:
        """``level_now``: the level as this batch has left it so far; ``pending_moves``:
        ledger rows of this batch not yet in the database."""
        session = self.sessions.get(pl.count_id)
        if session is None:
            raise StepRefused(
                "unknown_count",
                f"count {pl.count_id} is not at HQ (yet); push the decision again later",
                retryable=True,
            )
        problem = None
        if session.store != pl.store:
            problem = f"count {session.count_no} belongs to store {session.store}"
        else:
            problem = manager_problem(staff, pl.staff, pl.store, pl.decided_at)
        if problem is not None:
            row = audit_row(
                self.actor,
                "count.refused_decision",
                None,
                {"count_id": str(pl.count_id), "staff": pl.staff, "why": problem},
                self.now,
            )
            raise StepRefused("not_authorised", problem, audit=row)
        if session.state != "pending":
            raise StepRefused(
                "bad_transition",
                f"count {session.count_no} is {session.state}; only a pending count is decided",
            )
        fx = CountEffects()
        state = "approved" if pl.approved else "rejected"
        fx.decision = {
            "count_id": pl.count_id,
            "state": state,
            "decided_by": pl.staff,
            "decided_at": pl.decided_at,
            "decision_note": pl.note,
        }
        fx.session = (
            pl.count_id,
            _Session(session.store, session.count_no, state, session.lines),
        )
        if not pl.approved:
            return fx
        later = self._moves_after(session, pending_moves)
        threshold = self.thresholds.get(session.store, self.thresholds.get("*", 0))
        ref = str(pl.count_id)
        for sku, counted, counted_at in session.lines:
            key = (session.store, sku)
            after = sum(delta for at, delta in later.get(sku, ()) if at > counted_at)
            expected = level_now(key) - after
            diff = counted - expected
            fx.line_results.append(
                {
                    "b_count_id": pl.count_id,
                    "b_sku": sku,
                    "expected_milli": expected,
                    "difference_milli": diff,
                }
            )
            if diff == 0:
                continue
            fx.moves.append(
                move_row(
                    *key, diff, "count", ref, counted_at, self.now, note=session.count_no[:200]
                )
            )
            fx.deltas.append((key, diff))
            if abs(diff) > threshold:
                fx.alerts.append(
                    AlertSpec(
                        session.store,
                        sku,
                        "count_variance",
                        ref=ref,
                        qty_milli=diff,
                        detail=f"count {session.count_no}: counted {counted}, expected {expected}",
                    )
                )
        return fx

    def _moves_after(
        self, session: _Session, pending: Iterable[dict[str, Any]]
    ) -> dict[str, list[tuple[datetime, int]]]:
        """Per sku of the count, ledger rows (time, delta) later than its earliest
        ``counted_at``, from the database and from this batch."""
        skus = {sku for sku, _, _ in session.lines}
        since = min(at for _, _, at in session.lines)
        out: dict[str, list[tuple[datetime, int]]] = {}
        sm = m.stock_moves
        for r in self.conn.execute(
            select(sm.c.sku, sm.c.delta_milli, sm.c.occurred_at).where(
                sm.c.store_code == session.store,
                bulk.among(self.conn, sm.c.sku, skus),
                sm.c.occurred_at > since,
            )
        ):
            out.setdefault(r.sku, []).append((r.occurred_at, int(r.delta_milli)))
        for row in pending:
            if (
                row["store_code"] == session.store
                and row["sku"] in skus
                and row["occurred_at"] > since
            ):
                out.setdefault(row["sku"], []).append((row["occurred_at"], row["delta_milli"]))
        return out

    def plan_receipt(self, ev: p.Event, pl: p.StockReceived, skus: set[str]) -> CountEffects:
        if pl.receipt_id in self.receipts:
            raise StepRefused("invalid", f"receipt {pl.receipt_id} is booked already")
        unknown = sorted({ln.sku for ln in pl.lines} - skus)
        if unknown:
            raise StepRefused("unknown_sku", f"not in HQ's catalogue: {', '.join(unknown[:10])}")
        fx = CountEffects(receipt=pl.receipt_id)
        fx.inserts.append(
            (
                m.stock_receipts,
                {
                    "receipt_id": pl.receipt_id,
                    "event_id": ev.id,
                    "store_code": pl.store,
                    "terminal": pl.terminal,
                    "staff": pl.staff,
                    "document": pl.document,
                    "received_at": pl.received_at,
                    "lines_json": json.dumps([[ln.sku, ln.qty_milli] for ln in pl.lines]),
                    "created_at": self.now,
                },
            )
        )
        ref = str(pl.receipt_id)
        for ln in pl.lines:
            if ln.qty_milli == 0:
                continue
            key = (pl.store, ln.sku)
            fx.moves.append(
                move_row(*key, ln.qty_milli, "receive", ref, pl.received_at, self.now, pl.document)
            )
            fx.deltas.append((key, ln.qty_milli))
        return fx

    def remember(self, fx: CountEffects) -> None:
        if fx.session is not None:
            self.sessions[fx.session[0]] = fx.session[1]
        if fx.receipt is not None:
            self.receipts.add(fx.receipt)

    def write(self, conn: Connection, fx: CountEffects) -> None:
        """Writes a decision (the inserts go with the batch's); a lost race starts the
        transaction over."""
        if fx.decision is None:
            return
        cs, cl = m.stock_count_sessions, m.stock_count_lines
        d = fx.decision
        done = conn.execute(
            update(cs)
            .where(cs.c.count_id == d["count_id"], cs.c.state == "pending")
            .values({k: v for k, v in d.items() if k != "count_id"})
        ).rowcount
        if done != 1:
            raise RetryableWrite(f"count {d['count_id']} was decided concurrently")
        if fx.line_results:
            conn.execute(
                update(cl)
                .where(cl.c.count_id == bindparam("b_count_id"), cl.c.sku == bindparam("b_sku"))
                .values(
                    expected_milli=bindparam("expected_milli"),
                    difference_milli=bindparam("difference_milli"),
                ),
                fx.line_results,
            )


# -- reading ------------------------------------------------------------------------------


def _count_out(row: Any, lines: list[CountLineOut]) -> CountOut:
    return CountOut(
        count_id=row.count_id,
        count_no=row.count_no,
        store=row.store_code,
        terminal=row.terminal,
        staff=row.staff,
        zone=row.zone,
        started_at=row.started_at,
        submitted_at=row.submitted_at,
        state=row.state,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_note=row.decision_note,
        lines=lines,
    )


def list_counts(
    conn: Connection, *, store: str | None = None, state: str | None = None, limit: int = 200
) -> list[CountOut]:
    """Count sessions (without their lines), newest first."""
    cs = m.stock_count_sessions
    q = select(cs).order_by(cs.c.submitted_at.desc()).limit(limit)
    if store is not None:
        q = q.where(cs.c.store_code == store)
    if state is not None:
        q = q.where(cs.c.state == state)
    return [_count_out(r, []) for r in conn.execute(q)]


def count_detail(conn: Connection, count_id: UUID) -> CountOut | None:
    """A count with its lines (expected and difference once approved): the variance
    report."""
    cs, cl = m.stock_count_sessions, m.stock_count_lines
    row = conn.execute(select(cs).where(cs.c.count_id == count_id)).first()
    if row is None:
        return None
    lines = [
        CountLineOut(
            sku=r.sku,
            counted_milli=r.counted_milli,
            counted_at=r.counted_at,
            expected_milli=r.expected_milli,
            difference_milli=r.difference_milli,
        )
        for r in conn.execute(select(cl).where(cl.c.count_id == count_id).order_by(cl.c.sku))
    ]
    return _count_out(row, lines)
