"""Applying pushed terminal events: sales, voids, stock counts, shifts, top-ups,
transfers, goods received.

One push is one database transaction; inside it every event is applied completely or not
at all, and a unique constraint on the event id (``events.id``) makes replays harmless.

Speed comes from doing the per-event work in bulk. The batch is first checked against the
database with a handful of ``IN (...)`` queries (which ids exist already, which skus, which
sales are being voided...), then planned event by event in memory, then written with one
multi-row insert per table. Stock deltas of the whole batch are summed per (store, sku) and
written in key order with one upsert, followed by one feed change per level touched. Two
pushes racing each other (the same batch retried to two HQ processes) can still collide
on a unique constraint; the transaction is then rolled back and planned again with fresh
lookups, and as a last resort applied with a savepoint per event, so one bad event never
sinks the others. A process killed mid-batch commits nothing: each event is applied once,
on the retry.

Member effects (points earned, holds captured, voids refunded, top-ups) are planned and
written the same way by :mod:`server_stub.ingest_members`; transfer steps by
:mod:`server_stub.transfers`, stock counts and goods received by :mod:`server_stub.counts`.
Their ledger rows and level changes join the batch's, so every level stays the sum of its
ledger (:func:`server_stub.stock.settle`).

Thread rules: :func:`push` may run on any thread; it uses its own connection.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import (
    Connection,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import DataError, IntegrityError

from server_stub import bulk, feed, menu, promotions, reservations, returns, sales_summary
from server_stub import models as m
from server_stub.approvals import (
    StaffRecord,
    approval_problem,
    int_setting,
    load_staff,
    staff_problem,
)
from server_stub.audit import Actor, audit_row, write_audit
from server_stub.auth import DeviceIdentity
from server_stub.counts import CountEffects, CountPlanner
from server_stub.db import Database, RetryableWrite, WriteTx
from server_stub.errors import ApiError
from server_stub.ingest_members import (
    MemberOps,
    MemberPlanner,
    MemberReject,
    SaleMemberInfo,
    feed_changes,
)
from server_stub.members.ledger import Balance
from server_stub.stock import move_row, settle
from server_stub.stock_alerts import AlertSpec
from server_stub.transfers import StepEffects, StepRefused, TransferPlanner
from sync_client.contract import protocol as p

log = logging.getLogger("chainpos.hq.ingest")

VOID_WINDOW_SETTING = "void.window_hours"
REFUSED_MONEY_EVENT = "refused_money_event"
"""The discrepancy kind a refused money movement or approval raises for a manager."""
UNVERIFIED_STAFF = "unverified_staff"
"""The discrepancy kind of an event HQ kept (a sale, a return, a shift step: it happened
at the counter) although the staff member it names fails HQ's check."""
_MONEY_EVENTS = frozenset(
    {
        "sale.completed",
        "sale.voided",
        "sale.returned",
        "member.topped_up",
        "shift.opened",
        "shift.closed",
        "shift.cash_moved",
    }
)
# Refusals a manager is alerted to (a ``refused_money_event`` discrepancy): money
# movements and approvals, and stock bookings by staff HQ does not accept.
_ALERTED_REFUSALS = _MONEY_EVENTS | {"stock.counted", "stock.received", "stock.count_submitted"}
# Insert order respects foreign keys (sales before their lines and tenders).
_TABLE_ORDER = (
    m.events,
    m.sales,
    m.sale_lines,
    m.sale_tenders,
    m.stock_counts,
    m.stock_receipts,
    m.stock_count_sessions,
    m.stock_count_lines,
    m.stock_moves,
    m.member_earnings,
    m.member_topups,
    m.member_alerts,
    m.cash_movements,
    m.discrepancies,
    m.menu_sold_out,
    m.sale_line_promotions,
)
_FAST_ATTEMPTS = 2


@dataclass(frozen=True, slots=True)
class _Parsed:
    index: int
    event: p.Event


@dataclass(slots=True)
class _SaleInfo:
    store: str
    voided: bool
    lines: list[tuple[str, int]]  # (sku, qty_milli)
    completed_at: datetime
    member: SaleMemberInfo | None = None
    total_fen: int = 0
    tenders: list[tuple[str, int]] = field(default_factory=list)  # (kind, amount_fen)


@dataclass(slots=True)
class _StockOp:
    """Pending change of one level: ``absolute`` means ``value`` replaces the level
    (a count), otherwise ``value`` is added to it. ``sold`` marks a sale decrement."""

    absolute: bool = False
    value: int = 0
    sold: bool = False
    ref: str | None = None


@dataclass(slots=True)
class _Effects:
    """Everything one event writes, planned before any of it is written."""

    inserts: list[tuple[Table, dict[str, Any]]] = field(default_factory=list)
    void: dict[str, Any] | None = None
    shift: tuple[str, dict[str, Any]] | None = None  # ("insert" | "update", row)
    stock: list[tuple[tuple[str, str], str, int, str]] = field(default_factory=list)
    new_sale: tuple[UUID, _SaleInfo] | None = None
    voided_sale: UUID | None = None
    new_shift: UUID | None = None
    member_ops: MemberOps = field(default_factory=MemberOps)
    member_alerts: int = 0
    returned: returns.ReturnPlan | None = None
    pickup: tuple[UUID, UUID] | None = None  # (reservation handed over, by this sale)
    audit: list[dict[str, Any]] = field(default_factory=list)
    transfer: StepEffects | None = None
    count: CountEffects | None = None
    changes: list[feed.Pending] = field(default_factory=list)
    alerts: list[AlertSpec] = field(default_factory=list)
    summary: sales_summary.SummaryDelta = field(default_factory=sales_summary.SummaryDelta)


class _Reject(Exception):
    def __init__(
        self,
        code: p.RejectReason,
        detail: str,
        retryable: bool = False,
        audit: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retryable = retryable
        self.audit = audit
        self.params = params or {}


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """The answer plus what the metrics need."""

    response: p.PushResponse
    stock_alerts: int
    member_alerts: int = 0


def _counts_json(counts: Sequence[p.DenominationCount]) -> str | None:
    """A count by denomination as stored at HQ (``[[value_fen, count], ...]``)."""
    return None if not counts else json.dumps([[c.value_fen, c.count] for c in counts])


def push(
    db: Database,
    device: DeviceIdentity,
    raw_events: Sequence[dict[str, Any]],
    *,
    nul_possible: bool = True,
) -> PushOutcome:
    """Validates and applies a batch pushed by ``device``.

    ``nul_possible=False`` skips the per-event search for NUL characters; pass it only
    when the raw request body holds no ``\\u0000`` escape.

    Raises:
        ApiError: 403 if any event is for another store than the device's (nothing is
            applied then).
    """
    results: list[p.EventResult | None] = [None] * len(raw_events)
    parsed: list[_Parsed] = []
    foreign: list[int] = []
    for index, raw in enumerate(raw_events):
        outcome = _parse(index, raw, nul_possible)
        if isinstance(outcome, p.EventResult):
            results[index] = outcome
            continue
        if outcome.event.payload.store != device.store:
            foreign.append(index)
        parsed.append(outcome)
    if foreign:
        raise ApiError(
            403,
            "wrong_store",
            f"events at {foreign[:10]} are for another store; device {device.device_id} "
            f"acts only for store {device.store}; nothing was applied",
        )
    alerts = 0
    member_alerts = 0
    head = 0
    if parsed:
        applied: dict[int, p.EventResult] = {}
        careful = False
        for attempt in range(_FAST_ATTEMPTS + 1):
            careful = careful or attempt == _FAST_ATTEMPTS
            try:
                applied, alerts, member_alerts, head = db.run_write(
                    partial(_apply, device, parsed, careful)
                )
                break
            except IntegrityError:
                # Another transaction committed one of these ids after our lookups:
                # plan again with fresh lookups (and at last one savepoint per event).
                if careful:
                    raise
                log.info("push from %s collided, planning again", device.device_id)
            except DataError:
                # A value the database refuses: find the event, one savepoint each.
                if careful:
                    raise
                careful = True
        for index, result in applied.items():
            results[index] = result
    final = [r for r in results if r is not None]
    counts = {"applied": 0, "duplicate": 0, "rejected": 0}
    for r in final:
        counts[r.status] += 1
    for r in final:
        if r.status == "rejected":
            log.warning(
                "device %s event %s (#%d) rejected: %s %s",
                device.device_id,
                r.id,
                r.index,
                r.code,
                r.detail,
            )
    response = p.PushResponse(results=final, head=head, **counts)
    return PushOutcome(response, alerts, member_alerts)


def _apply(
    device: DeviceIdentity, parsed: list[_Parsed], careful: bool, tx: WriteTx
) -> tuple[dict[int, p.EventResult], int, int, int]:
    batch = _Batch(tx, device, parsed, careful)
    results, alerts = batch.run()
    return results, alerts, batch.members.alerts, batch.head


# -- parsing ------------------------------------------------------------------------------


def _peek_id(raw: dict[str, Any]) -> UUID | None:
    value = raw.get("id")
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            return None
    return None


def _rejected(
    index: int, event_id: UUID | None, code: p.RejectReason, detail: str
) -> p.EventResult:
    return p.EventResult(
        index=index, id=event_id, status="rejected", code=code, detail=detail[:500]
    )


def _parse(index: int, raw: dict[str, Any], nul_possible: bool) -> _Parsed | p.EventResult:
    event_id = _peek_id(raw)
    payload = raw.get("payload")
    if isinstance(payload, dict):
        kind = payload.get("type")
        if isinstance(kind, str) and kind not in p.EVENT_TYPES:
            return _rejected(index, event_id, "unknown_type", f"unknown event type {kind!r}")
    try:
        event = p.Event.model_validate(raw)
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or '(event)'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        return _rejected(index, event_id, "invalid", detail)
    # The protocol's validators check what the till checks too (amounts add up, zones,
    # line numbers); what is left is what the database cannot store.
    if nul_possible and _has_nul(raw):
        return _rejected(index, event.id, "invalid", "text contains a NUL character")
    return _Parsed(index, event)


def _has_nul(value: Any) -> bool:
    """Whether any text in a decoded JSON value holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


# -- applying -----------------------------------------------------------------------------


class _Batch:
    """One attempt at applying the parsed events inside one write transaction."""

    def __init__(
        self, tx: WriteTx, device: DeviceIdentity, parsed: list[_Parsed], careful: bool
    ) -> None:
        self.tx = tx
        self.conn: Connection = tx.conn
        self.device = device
        self.parsed = parsed
        # A return reads the sale it returns (and earlier returns) from the database when
        # it is planned, so every event of a batch holding one is written as it is
        # planned: a sale and its return pushed together then see each other.
        # A pick-up sale captures its reservation with a conditional update, written the
        # same way.
        self.careful = careful or any(
            isinstance(x.event.payload, p.SaleReturned)
            or (isinstance(x.event.payload, p.SaleCompleted) and x.event.payload.pickup)
            for x in parsed
        )
        self.now = datetime.now(UTC)
        self.known_events: set[UUID] = set()
        self.sales: dict[UUID, _SaleInfo] = {}
        self.skus: set[str] = set()
        self.staff_records: dict[str, StaffRecord] = {}
        self.levels: dict[tuple[str, str], int] = {}
        self.shifts: set[UUID] = set()
        self.stock: dict[tuple[str, str], _StockOp] = {}
        self.pending: dict[Table, list[dict[str, Any]]] = {t: [] for t in _TABLE_ORDER}
        self.voids: list[dict[str, Any]] = []
        self.shift_writes: list[tuple[str, dict[str, Any]]] = []
        self._feed_changes: list[feed.Pending] = []
        self.head = 0
        self.categories: dict[str, str] = {}
        self.members = MemberPlanner(self.conn, device.store, self.now)
        self.member_touched: dict[int, Balance] = {}
        self.member_ops: list[MemberOps] = []
        self.discrepancies = 0
        self.actor = Actor.of_device(device)
        self.audit_rows: list[dict[str, Any]] = []
        self.audited_locals: set[int] = set()
        self.transfers = TransferPlanner(self.conn, device.device_id, device.store, self.now)
        self.counts = CountPlanner(self.conn, device.device_id, device.store, self.now)
        self.stock_writes: list[_Effects] = []
        self.alerts: list[AlertSpec] = []
        self.refusal_alerts: list[dict[str, Any]] = []
        self.void_windows: dict[str, int] = {}
        self.summary = sales_summary.SummaryDelta()

    def run(self) -> tuple[dict[int, p.EventResult], int]:
        self._prefetch()
        results: dict[int, p.EventResult] = {}
        for item in self.parsed:
            ev = item.event
            if ev.id in self.known_events:
                results[item.index] = p.EventResult(index=item.index, id=ev.id, status="duplicate")
                continue
            try:
                effects = self._plan(ev)
            except _Reject as rej:
                if rej.audit is not None:
                    self.audit_rows.append(rej.audit)
                elif rej.code == "not_authorised":
                    self._audit_refusal(ev, rej)
                if rej.code == "not_authorised" and ev.payload.type in _ALERTED_REFUSALS:
                    self._alert_refusal(ev, rej)
                results[item.index] = p.EventResult(
                    index=item.index,
                    id=ev.id,
                    status="rejected",
                    code=rej.code,
                    params=rej.params,
                    detail=rej.detail,
                    retryable=rej.retryable,
                )
                continue
            if self.careful:
                try:
                    with self.conn.begin_nested():
                        self._write_event(effects)
                except _Reject as rej:
                    results[item.index] = p.EventResult(
                        index=item.index,
                        id=ev.id,
                        status="rejected",
                        code=rej.code,
                        params=rej.params,
                        detail=rej.detail,
                        retryable=rej.retryable,
                    )
                    continue
                except DataError as exc:
                    results[item.index] = p.EventResult(
                        index=item.index,
                        id=ev.id,
                        status="rejected",
                        code="invalid",
                        detail=f"a value cannot be stored: {str(exc.orig).splitlines()[0]}",
                    )
                    continue
                except IntegrityError as exc:
                    log.warning("event %s collided: %s", ev.id, exc.orig)
                    if self._event_exists(ev.id):
                        results[item.index] = p.EventResult(
                            index=item.index, id=ev.id, status="duplicate"
                        )
                        continue
                    results[item.index] = p.EventResult(
                        index=item.index,
                        id=ev.id,
                        status="rejected",
                        code="conflict",
                        detail="a concurrent write collided with this event; push it again",
                        retryable=True,
                    )
                    continue
            else:
                for table, row in effects.inserts:
                    self.pending[table].append(row)
                if effects.void is not None:
                    self.voids.append(effects.void)
                if effects.shift is not None:
                    self.shift_writes.append(effects.shift)
                assert effects.returned is None, "returns are written as they are planned"
                if effects.transfer is not None or effects.count is not None:
                    self.stock_writes.append(effects)
                self.member_ops.append(effects.member_ops)
            self._remember(ev.id, effects)
            self.audit_rows.extend(effects.audit)
            results[item.index] = p.EventResult(index=item.index, id=ev.id, status="applied")
        if not self.careful:
            for table in _TABLE_ORDER:
                bulk.insert_rows(self.conn, table, self.pending[table])
            for row in self.voids:
                self._write_void(row)
            for op, row in self.shift_writes:
                self._write_shift(op, row)
            for fx in self.stock_writes:
                self._write_stock_steps(fx)
            self.member_touched.update(self.members.write(self.member_ops))
        self._feed_changes.extend(feed_changes(self.member_touched))
        alerts = self._apply_stock()
        if any(r.status == "applied" for r in results.values()):
            self.conn.execute(
                update(m.devices)
                .where(m.devices.c.id == self.device.device_id)
                .values(last_seen_at=self.now)
            )
        self._write_refusal_alerts()
        # Lock order: the audit head before the feed counter (server_stub.members).
        write_audit(self.conn, self.audit_rows)
        last = feed.append(self.tx, self._feed_changes, self.now)
        self.head = last or feed.state(self.conn).last_seq
        # Last: see the lock order in server_stub.sales_summary.
        sales_summary.write(self.conn, self.summary)
        return results, alerts

    # -- lookups ----------------------------------------------------------------------

    def _prefetch(self) -> None:
        conn = self.conn
        sale_ids: set[UUID] = set()
        void_ids: set[UUID] = set()
        skus: set[str] = set()
        staff_numbers: set[str] = set()
        count_keys: set[tuple[str, str]] = set()
        shift_ids: set[UUID] = set()
        for x in self.parsed:
            pl = x.event.payload
            staff_numbers.update(_named_staff(pl))
            if isinstance(pl, p.SaleCompleted):
                sale_ids.add(pl.sale_id)
                skus.update(line.sku for line in pl.lines)
            elif isinstance(pl, p.SaleVoided):
                void_ids.add(pl.sale_id)
            elif isinstance(pl, p.StockCounted):
                skus.add(pl.sku)
                count_keys.add((pl.store, pl.sku))
            elif isinstance(pl, p.ShiftOpened | p.ShiftClosed):
                shift_ids.add(pl.shift_id)
            elif isinstance(pl, p.TransferStep | p.StockReceived | p.StockCountSubmitted):
                skus.update(line.sku for line in pl.lines)
        if sale_ids | void_ids:
            rows = conn.execute(
                select(
                    m.sales.c.sale_id,
                    m.sales.c.store_code,
                    m.sales.c.voided_at,
                    m.sales.c.completed_at,
                    m.sales.c.total_fen,
                ).where(bulk.among(conn, m.sales.c.sale_id, sale_ids | void_ids))
            )
            for r in rows:
                self.sales[r.sale_id] = _SaleInfo(
                    r.store_code,
                    r.voided_at is not None,
                    [],
                    r.completed_at,
                    total_fen=int(r.total_fen),
                )
        existing_voided = [s for s in void_ids if s in self.sales]
        if existing_voided:
            rows = conn.execute(
                select(m.sale_lines.c.sale_id, m.sale_lines.c.sku, m.sale_lines.c.qty_milli)
                .where(bulk.among(conn, m.sale_lines.c.sale_id, existing_voided))
                .order_by(m.sale_lines.c.sale_id, m.sale_lines.c.line_no)
            )
            for r in rows:
                self.sales[r.sale_id].lines.append((r.sku, int(r.qty_milli)))
            st = m.sale_tenders
            for t in conn.execute(
                select(st.c.sale_id, st.c.kind, st.c.amount_fen)
                .where(bulk.among(conn, st.c.sale_id, existing_voided))
                .order_by(st.c.sale_id, st.c.idx)
            ):
                self.sales[t.sale_id].tenders.append((t.kind, int(t.amount_fen)))
        if skus:
            self.categories = {
                r.sku: r.category
                for r in conn.execute(
                    select(m.items.c.sku, m.items.c.category).where(
                        bulk.among(conn, m.items.c.sku, skus)
                    )
                )
            }
            self.skus = set(self.categories)
        if staff_numbers:
            self.staff_records = load_staff(conn, staff_numbers)
        if count_keys:
            rows = conn.execute(
                select(
                    m.stock_levels.c.store_code,
                    m.stock_levels.c.sku,
                    m.stock_levels.c.on_hand_milli,
                ).where(
                    tuple_(m.stock_levels.c.store_code, m.stock_levels.c.sku).in_(
                        sorted(count_keys)
                    )
                )
            )
            self.levels = {(r.store_code, r.sku): int(r.on_hand_milli) for r in rows}
        self.members.prefetch([x.event.payload for x in self.parsed], self.sales)
        payloads = [x.event.payload for x in self.parsed]
        self.transfers.prefetch(pl for pl in payloads if isinstance(pl, p.TransferStep))
        self.counts.prefetch(payloads)
        decided = [pl.count_id for pl in payloads if isinstance(pl, p.StockCountDecided)]
        counted = {
            (s.store, sku)
            for cid in decided
            if (s := self.counts.sessions.get(cid)) is not None
            for sku, _, _ in s.lines
        }
        counted.update(
            (pl.store, line.sku)
            for pl in payloads
            if isinstance(pl, p.StockCountSubmitted)
            for line in pl.lines
        )
        if counted:
            sl = m.stock_levels
            rows = conn.execute(
                select(sl.c.store_code, sl.c.sku, sl.c.on_hand_milli).where(
                    tuple_(sl.c.store_code, sl.c.sku).in_(sorted(counted - set(self.levels)))
                )
            )
            self.levels.update({(r.store_code, r.sku): int(r.on_hand_milli) for r in rows})
        if shift_ids:
            self.shifts = set(
                conn.execute(
                    select(m.shifts.c.shift_id).where(
                        bulk.among(conn, m.shifts.c.shift_id, shift_ids)
                    )
                ).scalars()
            )
        # Which events are applied already, read last: on PostgreSQL each statement sees
        # what committed before it, so a concurrent push of these very events that the
        # lookups above saw (its sale, its void, its captured hold) is seen here too, and
        # they are answered duplicate rather than sale_exists or already_voided.
        ids = [x.event.id for x in self.parsed]
        self.known_events = set(
            conn.execute(
                select(m.events.c.id).where(bulk.among(conn, m.events.c.id, ids))
            ).scalars()
        )

    def _event_exists(self, event_id: UUID) -> bool:
        found = self.conn.execute(select(m.events.c.id).where(m.events.c.id == event_id))
        return found.first() is not None

    # -- planning ---------------------------------------------------------------------

    def _event_row(self, ev: p.Event) -> dict[str, Any]:
        return {
            "id": ev.id,
            "device_id": self.device.device_id,
            "device_seq": ev.device_seq,
            "type": ev.payload.type,
            "store_code": ev.payload.store,
            "occurred_at": ev.occurred_at,
            "received_at": self.now,
        }

    def _plan(self, ev: p.Event) -> _Effects:
        pl = ev.payload
        fx = _Effects()
        fx.inserts.append((m.events, self._event_row(ev)))
        if isinstance(pl, p.SaleCompleted):
            self._plan_sale(ev, pl, fx)
        elif isinstance(pl, p.SaleVoided):
            self._plan_void(ev, pl, fx)
        elif isinstance(pl, p.StockCounted):
            self._check_staff(pl.staff, pl.store, "cashier", "a stock count", pl.counted_at)
            self._plan_count(ev, pl, fx)
        elif isinstance(pl, p.MemberToppedUp):
            self._check_staff(pl.cashier, pl.store, "cashier", "a top-up", pl.completed_at)
            rows: list[tuple[Table, dict[str, Any]]] = []
            try:
                self.members.plan_topup(ev, pl, fx.member_ops, rows)
            except MemberReject as rej:
                raise _Reject(rej.reason, rej.detail, rej.retryable) from None
            fx.inserts.extend(rows)
            detail = {
                "event": str(ev.id),
                "topup": str(pl.topup_id),
                "amount_fen": pl.amount_fen,
                "receipt_no": pl.receipt_no,
                "cashier": pl.cashier,
            }
            fx.audit.append(self._audit(ev, "member.topup", pl.number, detail))
        elif isinstance(pl, p.StaffSignInFailed | p.StaffLockedOut):
            fx.audit.append(
                audit_row(self.actor, pl.type, None, _sign_in_detail(pl), self.now, pl.store)
            )
        elif isinstance(pl, p.ShiftOpened):
            self._flag_staff(ev, fx, [self._staff_problem(pl.staff, "a shift", pl.opened_at)])
            self._plan_shift(
                pl.shift_id,
                {
                    "store_code": pl.store,
                    "terminal": pl.terminal,
                    "opened_by": pl.staff,
                    "opened_at": pl.opened_at,
                    "float_fen": pl.float_fen,
                    "shift_no": pl.shift_no,
                    "float_counts": _counts_json(pl.float_counts),
                    "carried_from": pl.carried_from,
                },
                fx,
            )
        elif isinstance(pl, p.ShiftClosed):
            problems = [self._staff_problem(pl.staff, "a shift", pl.closed_at)]
            if pl.approval is not None:
                problems.append(self._approval_problem(pl.approval, pl.store, "over_short"))
            self._flag_staff(ev, fx, problems)
            self._plan_shift(
                pl.shift_id,
                {
                    "store_code": pl.store,
                    "terminal": pl.terminal,
                    "closed_by": pl.staff,
                    "closed_at": pl.closed_at,
                    "expected_cash_fen": pl.expected_cash_fen,
                    "counted_cash_fen": pl.counted_cash_fen,
                    "over_short_fen": pl.over_short_fen,
                    "shift_no": pl.shift_no,
                    "business_date": pl.business_date,
                    "counted_counts": _counts_json(pl.counts),
                    "close_figures": pl.model_dump_json(
                        include={
                            "returns_count",
                            "voids_count",
                            "discounts_fen",
                            "no_sale_opens",
                            "unsynced_events",
                            "unprinted_receipts",
                        }
                    ),
                    "close_reason": pl.reason,
                    "approved_by": None if pl.approval is None else pl.approval.staff,
                    "sales_count": pl.sales_count,
                    "sales_fen": pl.sales_fen,
                    "refunds_fen": pl.refunds_fen,
                    "_tenders": [t.model_dump() for t in pl.tenders],
                },
                fx,
            )
        elif isinstance(pl, p.ShiftCashMoved):
            self._plan_cash_moved(ev, pl, fx)
        elif isinstance(pl, p.SaleReturned):
            self._plan_return(ev, pl, fx)
        elif isinstance(pl, p.AuditRecorded):
            self._plan_audit(pl, fx)
        elif isinstance(pl, p.MenuSoldOut):
            self._check_staff(pl.staff, pl.store, "cashier", "a sold-out mark", pl.at)
            fx.inserts.append((m.menu_sold_out, menu.sold_out_row(ev.id, pl)))
            # The store's other tills grey the tile out (or back) too.
            fx.changes.append(menu.sold_out_change(pl))
            detail = {
                "event": str(ev.id),
                "sku": pl.sku,
                "business_date": pl.business_date.isoformat(),
                "staff": pl.staff,
            }
            action = "menu.sold_out" if pl.sold_out else "menu.back_on_sale"
            fx.audit.append(self._audit(ev, action, None, detail))
        elif isinstance(
            pl, p.TransferStep | p.StockReceived | p.StockCountSubmitted | p.StockCountDecided
        ):
            self._plan_stock_step(ev, pl, fx)
        else:
            raise _Reject("unknown_type", f"{pl.type} is not handled by this HQ yet", False)
        return fx

    def _plan_sale(self, ev: p.Event, pl: p.SaleCompleted, fx: _Effects) -> None:
        if pl.sale_id in self.sales:
            raise _Reject("sale_exists", f"sale {pl.sale_id} is already recorded by another event")
        unknown = sorted({line.sku for line in pl.lines} - self.skus)
        if unknown:
            raise _Reject("unknown_sku", f"not in HQ's catalogue: {', '.join(unknown[:10])}")
        # The customer paid and left with the goods: a sale whose cashier or approver
        # fails HQ's check is kept (refusing it would lose the sale, its stock and its
        # member's holds) and flagged for a manager.
        problems = [self._staff_problem(pl.cashier, "a sale", pl.completed_at)]
        problems.extend(self._approval_problem(a, pl.store, a.action) for a in pl.approvals)
        self._flag_staff(ev, fx, problems, pl.sale_id)
        member_rows: list[tuple[Table, dict[str, Any]]] = []
        member_info, member_no = self.members.plan_sale(
            pl, self.categories, fx.member_ops, member_rows
        )
        fx.member_alerts = sum(1 for t, _ in member_rows if t is m.member_alerts)
        fx.inserts.append(
            (
                m.sales,
                {
                    "sale_id": pl.sale_id,
                    "event_id": ev.id,
                    "store_code": pl.store,
                    "terminal": pl.terminal,
                    "cashier": pl.cashier,
                    "receipt_no": pl.receipt_no,
                    "started_at": pl.started_at,
                    "completed_at": pl.completed_at,
                    "subtotal_fen": pl.subtotal_fen,
                    "discount_fen": pl.discount_fen,
                    "rounding_fen": pl.rounding_fen,
                    "total_fen": pl.total_fen,
                    "change_fen": pl.change_fen,
                    "received_at": self.now,
                    "voided_at": None,
                    "void_event_id": None,
                    "void_reason": None,
                    "void_supervisor": None,
                    "member_no": member_no,
                },
            )
        )
        ref = str(pl.sale_id)
        for line in pl.lines:
            fx.inserts.append(
                (
                    m.sale_lines,
                    {
                        "sale_id": pl.sale_id,
                        "line_no": line.line_no,
                        "sku": line.sku,
                        "barcode": line.barcode,
                        "name": line.name,
                        "unit": line.unit,
                        "qty_milli": line.qty_milli,
                        "unit_price_fen": line.unit_price_fen,
                        "price_version": line.price_version,
                        "list_amount_fen": line.list_amount_fen,
                        "discount_fen": line.discount_fen,
                        "amount_fen": line.amount_fen,
                        "options_json": None
                        if line.options is None
                        else json.dumps([o.model_dump() for o in line.options], ensure_ascii=False),
                        "menu_version": line.menu_version,
                    },
                )
            )
            fx.inserts.append(
                self._move(
                    pl.store, line.sku, -line.qty_milli, "sale", ref, occurred_at=pl.completed_at
                )
            )
            fx.stock.append(((pl.store, line.sku), "sale", -line.qty_milli, ref))
        fx.inserts.extend((m.sale_line_promotions, row) for row in promotions.line_rows(pl))
        for idx, tender in enumerate(pl.tenders):
            fx.inserts.append(
                (
                    m.sale_tenders,
                    {
                        "sale_id": pl.sale_id,
                        "idx": idx,
                        "kind": tender.kind,
                        "amount_fen": tender.amount_fen,
                        "tendered_fen": tender.tendered_fen,
                        "reference": tender.reference,
                        "placed_at": tender.placed_at,
                    },
                )
            )
        fx.inserts.extend(member_rows)
        info = _SaleInfo(
            pl.store,
            False,
            [(line.sku, line.qty_milli) for line in pl.lines],
            pl.completed_at,
            member_info,
            total_fen=pl.total_fen,
            tenders=[(t.kind, t.amount_fen) for t in pl.tenders],
        )
        fx.new_sale = (pl.sale_id, info)
        fx.summary.sale(pl.store, pl.completed_at, pl.total_fen, info.tenders)
        if pl.pickup is not None:
            fx.pickup = (pl.pickup, pl.sale_id)

    def _plan_void(self, ev: p.Event, pl: p.SaleVoided, fx: _Effects) -> None:
        sale = self.sales.get(pl.sale_id)
        if sale is None:
            raise _Reject(
                "unknown_sale",
                f"sale {pl.sale_id} is not at HQ (yet); push the void again after the sale",
                retryable=True,
            )
        if sale.store != pl.store:
            raise _Reject("not_authorised", f"sale {pl.sale_id} belongs to store {sale.store}")
        if sale.voided:
            raise _Reject("already_voided", f"sale {pl.sale_id} is already voided")
        hours = self._window_hours(pl.store)
        if pl.voided_at - sale.completed_at > timedelta(hours=hours):
            raise _Reject(
                "not_authorised",
                f"sale {pl.sale_id} completed at {sale.completed_at.isoformat()}; a sale may "
                f"be voided within {hours} hours, not at {pl.voided_at.isoformat()}",
            )
        self._check_staff(pl.supervisor, sale.store, "supervisor", "a void", pl.voided_at)
        if pl.cashier is not None:
            self._check_staff(pl.cashier, sale.store, "cashier", "a void", pl.voided_at)
        fx.void = {
            "sale_id": pl.sale_id,
            "voided_at": pl.voided_at,
            "void_event_id": ev.id,
            "void_reason": pl.reason,
            "void_supervisor": pl.supervisor,
        }
        ref = str(pl.sale_id)
        for sku, qty in sale.lines:
            fx.inserts.append(self._move(pl.store, sku, qty, "void", ref, occurred_at=pl.voided_at))
            fx.stock.append(((pl.store, sku), "delta", qty, ref))
        self.members.plan_void(pl.sale_id, sale.member, fx.member_ops)
        fx.voided_sale = pl.sale_id
        fx.summary.void(sale.store, sale.completed_at, sale.total_fen, sale.tenders)
        detail = {
            "event": str(ev.id),
            "sale": str(pl.sale_id),
            "reason": pl.reason,
            "supervisor": pl.supervisor,
        }
        fx.audit.append(self._audit(ev, "sale.void", None, detail))

    def _audit(
        self, ev: p.Event, action: str, member: str | None, detail: dict[str, Any]
    ) -> dict[str, Any]:
        return audit_row(self.actor, action, member, detail, self.now)

    def _check_staff(
        self, staff_no: str, store: str, min_role: str, what: str, at: datetime
    ) -> None:
        """Refuses the event (``not_authorised``) unless ``staff_no`` was an active staff
        member of ``store`` with ``min_role`` or above at the till's time ``at``."""
        record = self.staff_records.get(staff_no)
        problem = staff_problem(record, staff_no, store, min_role, what, at)
        if problem is not None:
            raise _Reject("not_authorised", problem)

    def _staff_problem(self, staff_no: str, what: str, at: datetime) -> str | None:
        """Why the event's own actor ``staff_no`` (any role) fails HQ's check at the
        device's store (None: they pass)."""
        record = self.staff_records.get(staff_no)
        return staff_problem(record, staff_no, self.device.store, "cashier", what, at)

    def _approval_problem(self, approval: p.Approval, store: str, action: str) -> str | None:
        return approval_problem(self.staff_records.get(approval.staff), approval, store, action)

    def _flag_staff(
        self,
        ev: p.Event,
        fx: _Effects,
        problems: Sequence[str | None],
        sale_id: UUID | None = None,
    ) -> None:
        """Keeps an event that already happened at the counter although staff it names
        fail HQ's check: audits it (``event.unverified_staff``) and raises an
        ``unverified_staff`` discrepancy a manager sees, once with the event."""
        found = [x for x in problems if x is not None]
        if not found:
            return
        detail = {"event": str(ev.id), "type": ev.payload.type, "problems": found[:5]}
        fx.audit.append(self._audit(ev, "event.unverified_staff", None, detail))
        text = f"{ev.payload.type} kept, staff not verified: {'; '.join(found)}"
        log.warning("event %s at %s: %s", ev.id, ev.payload.store, text)
        fx.inserts.append(
            (
                m.discrepancies,
                {
                    "kind": UNVERIFIED_STAFF,
                    "store_code": ev.payload.store,
                    "sale_id": sale_id,
                    "line_no": None,
                    "ref": str(ev.id),
                    "detail": text[:300],
                    "created_at": self.now,
                    "resolved_at": None,
                    "resolved_by": None,
                    "resolution": None,
                },
            )
        )

    def _window_hours(self, store: str) -> int:
        found = self.void_windows.get(store)
        if found is None:
            found = self.void_windows[store] = int_setting(self.conn, store, VOID_WINDOW_SETTING)
        return found

    def _alert_refusal(self, ev: p.Event, rej: _Reject) -> None:
        """A refused money movement or approval becomes a discrepancy a manager sees
        (``chainpos-hq discrepancies list``), once per event however often it is pushed."""
        self.refusal_alerts.append(
            {
                "kind": REFUSED_MONEY_EVENT,
                "store_code": ev.payload.store,
                "sale_id": None,
                "line_no": None,
                "ref": str(ev.id),
                "detail": f"{ev.payload.type} refused: {rej.detail}"[:300],
                "created_at": self.now,
                "resolved_at": None,
                "resolved_by": None,
                "resolution": None,
            }
        )

    def _write_refusal_alerts(self) -> None:
        if not self.refusal_alerts:
            return
        d = m.discrepancies
        refs = {row["ref"] for row in self.refusal_alerts}
        known = set(
            self.conn.execute(
                select(d.c.ref).where(
                    d.c.kind == REFUSED_MONEY_EVENT, bulk.among(self.conn, d.c.ref, refs)
                )
            ).scalars()
        )
        rows = []
        for row in self.refusal_alerts:
            if row["ref"] not in known:
                known.add(row["ref"])
                rows.append(row)
                log.warning("refused money event at %s: %s", row["store_code"], row["detail"])
        if rows:
            self.conn.execute(insert(d), rows)

    def _audit_refusal(self, ev: p.Event, rej: _Reject) -> None:
        """A refused event that would have moved money or goods (a void or return by the
        wrong store or staff) is an attempt worth recording, every time it comes."""
        detail = {"event": str(ev.id), "type": ev.payload.type, "reason": rej.code}
        detail["detail"] = rej.detail[:200]
        self.audit_rows.append(self._audit(ev, "event.refused", None, detail))

    def _plan_audit(self, pl: p.AuditRecorded, fx: _Effects) -> None:
        """A till's own audit entries join HQ's chain, each (device, local id) once."""
        ids = [e.local_id for e in pl.entries]
        a = m.audit_log
        known = set(
            self.conn.execute(
                select(a.c.local_id).where(
                    a.c.device_id == self.device.device_id, a.c.local_id.in_(ids)
                )
            ).scalars()
        )
        for e in pl.entries:
            if e.local_id in known or e.local_id in self.audited_locals:
                continue
            self.audited_locals.add(e.local_id)
            detail = {"staff": e.staff, "till_at": e.at.isoformat(), **e.detail}
            fx.audit.append(
                audit_row(
                    self.actor,
                    f"till.{e.action}",
                    None,
                    detail,
                    self.now,
                    device_id=self.device.device_id,
                    local_id=e.local_id,
                )
            )

    def _plan_count(self, ev: p.Event, pl: p.StockCounted, fx: _Effects) -> None:
        if pl.sku not in self.skus:
            raise _Reject("unknown_sku", f"not in HQ's catalogue: {pl.sku}")
        key = (pl.store, pl.sku)
        op = self.stock.get(key)
        base = self.levels.get(key, 0)
        # The level as this batch has left it so far.
        if op is not None and op.absolute:
            level = op.value
        else:
            level = base + (op.value if op is not None else 0)
        diff = pl.counted_milli - level
        fx.inserts.append(
            (
                m.stock_counts,
                {
                    "event_id": ev.id,
                    "store_code": pl.store,
                    "sku": pl.sku,
                    "counted_milli": pl.counted_milli,
                    "previous_milli": level,
                    "difference_milli": diff,
                    "counted_at": pl.counted_at,
                    "staff": pl.staff,
                    "terminal": pl.terminal,
                    "note": pl.note,
                },
            )
        )
        fx.inserts.append(
            self._move(pl.store, pl.sku, diff, "count", str(ev.id), pl.note, pl.counted_at)
        )
        fx.stock.append((key, "set", pl.counted_milli, str(ev.id)))

    def _plan_return(self, ev: p.Event, pl: p.SaleReturned, fx: _Effects) -> None:
        try:
            fx.returned = returns.plan_return(self.conn, self.device, ev.id, pl, self.now)
        except returns.ReturnReject as rej:
            raise _Reject(rej.reason, rej.detail, rej.retryable) from None
        # The goods came back and the money went out at the counter: kept, and flagged
        # when the cashier or an approval fails HQ's check, or the no-receipt cap is broken.
        self._flag_staff(
            ev,
            fx,
            [
                self._staff_problem(pl.cashier, "a return", pl.returned_at),
                fx.returned.policy_problem,
            ],
            sale_id=pl.original.sale_id if pl.original is not None else None,
        )
        fx.summary.refund(
            pl.store, pl.returned_at, pl.refund_fen, [(t.kind, t.amount_fen) for t in pl.refunds]
        )
        ref = str(pl.return_id)
        for line in pl.lines:
            key = (pl.store, line.sku)
            fx.inserts.append(self._move(pl.store, line.sku, line.qty_milli, "return", ref))
            if line.restock == "sellable":
                fx.stock.append((key, "delta", line.qty_milli, ref))
            else:
                # Into the damaged bin: in the ledger, out of the sellable level.
                fx.inserts.append(
                    self._move(pl.store, line.sku, -line.qty_milli, "damaged", ref, "damaged bin")
                )

    def _plan_cash_moved(self, ev: p.Event, pl: p.ShiftCashMoved, fx: _Effects) -> None:
        # The cash left or entered the drawer: kept, and flagged when staff fail the check.
        problems = [self._staff_problem(pl.staff, "a cash movement", pl.moved_at)]
        if pl.approval is not None:
            problems.append(self._approval_problem(pl.approval, pl.store, "cash_movement"))
        self._flag_staff(ev, fx, problems)
        fx.inserts.append(
            (
                m.cash_movements,
                {
                    "movement_id": pl.movement_id,
                    "event_id": ev.id,
                    "shift_id": pl.shift_id,
                    "store_code": pl.store,
                    "terminal": pl.terminal,
                    "staff": pl.staff,
                    "moved_at": pl.moved_at,
                    "direction": pl.direction,
                    "amount_fen": pl.amount_fen,
                    "reason": pl.reason,
                    "approved_by": None if pl.approval is None else pl.approval.staff,
                },
            )
        )

    def _plan_shift(self, shift_id: UUID, values: dict[str, Any], fx: _Effects) -> None:
        if shift_id in self.shifts:
            fx.shift = ("update", {"shift_id": shift_id, **values})
        else:
            fx.shift = ("insert", {"shift_id": shift_id, **values})
            fx.new_shift = shift_id

    def _move(
        self,
        store: str,
        sku: str,
        delta: int,
        reason: str,
        ref: str,
        note: str | None = None,
        occurred_at: datetime | None = None,
    ) -> tuple[Table, dict[str, Any]]:
        """A ledger row; ``occurred_at``: the event's time in the shop (default: now)."""
        return (
            m.stock_moves,
            move_row(store, sku, delta, reason, ref, occurred_at or self.now, self.now, note),
        )

    def _level_now(self, key: tuple[str, str]) -> int:
        """The level as this batch has left it so far (levels prefetched for the keys
        counts and transfers touch)."""
        op = self.stock.get(key)
        base = self.levels.get(key, 0)
        if op is not None and op.absolute:
            return op.value
        return base + (op.value if op is not None else 0)

    def _plan_stock_step(
        self,
        ev: p.Event,
        pl: p.TransferStep | p.StockReceived | p.StockCountSubmitted | p.StockCountDecided,
        fx: _Effects,
    ) -> None:
        """Transfers (:mod:`server_stub.transfers`), counts and goods received
        (:mod:`server_stub.counts`): their rows, ledger rows and level deltas."""
        # Bookings the right person can make again: refused when their staff fail the
        # check (transfer steps and count decisions check their manager themselves).
        if isinstance(pl, p.StockReceived):
            self._check_staff(pl.staff, pl.store, "cashier", "goods received", pl.received_at)
        elif isinstance(pl, p.StockCountSubmitted):
            self._check_staff(pl.staff, pl.store, "cashier", "a stock count", pl.submitted_at)
        try:
            if isinstance(pl, p.TransferStep):
                step = self.transfers.plan(pl, self.staff_records, self.skus)
                fx.transfer = step
                fx.changes.append(step.transfer.change())
                moves, deltas, alerts = step.moves, step.deltas, step.alerts
            else:
                if isinstance(pl, p.StockReceived):
                    counted = self.counts.plan_receipt(ev, pl, self.skus)
                elif isinstance(pl, p.StockCountSubmitted):
                    counted = self.counts.plan_submit(pl, self.skus)
                else:
                    counted = self.counts.plan_decide(
                        pl, self.staff_records, self._level_now, self.pending[m.stock_moves]
                    )
                fx.count = counted
                fx.inserts.extend(counted.inserts)
                moves, deltas, alerts = counted.moves, counted.deltas, counted.alerts
        except StepRefused as ref:
            raise _Reject(ref.reason, ref.detail, ref.retryable, ref.audit) from None
        fx.inserts.extend((m.stock_moves, row) for row in moves)
        fx.stock.extend((key, "delta", delta, str(ev.id)) for key, delta in deltas)
        fx.alerts.extend(alerts)

    def _write_stock_steps(self, fx: _Effects) -> None:
        if fx.transfer is not None:
            self.transfers.write(self.conn, fx.transfer)
        if fx.count is not None:
            self.counts.write(self.conn, fx.count)

    def _remember(self, event_id: UUID, fx: _Effects) -> None:
        self.known_events.add(event_id)
        self.members.remember(fx.member_ops, fx.member_alerts)
        if fx.new_sale is not None:
            self.sales[fx.new_sale[0]] = fx.new_sale[1]
        if fx.voided_sale is not None:
            self.sales[fx.voided_sale].voided = True
        if fx.new_shift is not None:
            self.shifts.add(fx.new_shift)
        if fx.transfer is not None:
            self.transfers.remember(fx.transfer)
        if fx.count is not None:
            self.counts.remember(fx.count)
        self._feed_changes.extend(fx.changes)
        self.alerts.extend(fx.alerts)
        self.summary.merge(fx.summary)
        for key, kind, value, ref in fx.stock:
            op = self.stock.setdefault(key, _StockOp())
            if kind == "set":
                op.absolute, op.value = True, value
            else:
                op.value += value
            if kind == "sale":
                op.sold = True
            op.ref = ref

    # -- writing ----------------------------------------------------------------------

    def _write_event(self, fx: _Effects) -> None:
        # First, so that a refused capture leaves nothing else of the event to undo.
        captured: list[feed.Pending] = []
        if fx.pickup is not None:
            outcome = reservations.capture_pickup(
                self.conn, self.device.store, fx.pickup[0], fx.pickup[1], self.now
            )
            if isinstance(outcome, reservations.CaptureRefused):
                raise _Reject(outcome.reason, outcome.detail, outcome.retryable)
            captured = outcome
        for table, row in fx.inserts:
            self.conn.execute(insert(table), [row])
        if fx.void is not None:
            self._write_void(fx.void)
        if fx.shift is not None:
            self._write_shift(*fx.shift)
        self._write_stock_steps(fx)
        self.member_touched.update(self.members.write([fx.member_ops]))
        if fx.returned is not None:
            written = returns.write_return(self.conn, self.device, fx.returned, self.now)
            self.member_touched.update(written.touched)
            self.discrepancies += written.discrepancies
        # Announced only once everything of the event is written (a collision above
        # rolls the capture back with the rest).
        self._feed_changes.extend(captured)

    def _write_void(self, row: dict[str, Any]) -> None:
        done = self.conn.execute(
            update(m.sales)
            .where(m.sales.c.sale_id == row["sale_id"], m.sales.c.voided_at.is_(None))
            .values({k: v for k, v in row.items() if k != "sale_id"})
        ).rowcount
        if done != 1:
            # Voided by a concurrent push since our lookup: plan the batch again.
            raise RetryableWrite(f"sale {row['sale_id']} changed while voiding")

    def _write_shift(self, op: str, row: dict[str, Any]) -> None:
        row = dict(row)
        tenders = row.pop("_tenders", None)
        if op == "insert":
            self.conn.execute(insert(m.shifts), [row])
        else:
            # The other event of the shift wrote its own columns: keep them.
            values = {
                k: v
                for k, v in row.items()
                if k not in ("shift_id", "store_code") and v is not None
            }
            self.conn.execute(
                update(m.shifts).where(m.shifts.c.shift_id == row["shift_id"]).values(values)
            )
        if tenders:
            self.conn.execute(
                delete(m.shift_tenders).where(m.shift_tenders.c.shift_id == row["shift_id"])
            )
            self.conn.execute(
                insert(m.shift_tenders), [{"shift_id": row["shift_id"], **t} for t in tenders]
            )

    def _apply_stock(self) -> int:
        """Writes the summed stock changes, their feed changes and the stock alerts they
        cause; returns how many ``negative`` alerts (offline sales below zero) it raised."""
        if not self.stock and not self.alerts:
            return 0
        settled = settle(
            self.conn,
            {k: (op.absolute, op.value) for k, op in self.stock.items()},
            self.now,
            sold={k: op.ref for k, op in self.stock.items() if op.sold},
            alerts=self.alerts,
        )
        sold = [
            (key[0], key[1], on_hand, reserved, self.stock[key].ref)
            for key, (on_hand, reserved) in sorted(settled.levels.items())
            if key in self.stock and self.stock[key].sold
        ]
        reservations.record_conflicts(self.conn, sold, self.now)
        self._feed_changes.extend(settled.changes)
        return settled.negative_alerts


def stale_price_lines(
    conn: Connection, since: datetime, store: str | None = None
) -> list[tuple[str, int, int]]:
    """Per store: (store, sale lines, lines priced with a version other than the one in
    effect at ``completed_at``), for non-voided sales completed since ``since``. A line
    with options is stale also when its ``menu_version`` is not the menu in effect.

    "In effect" follows :class:`sync_client.contract.protocol.PriceData`: the store's own newest
    version if any, else the chain-wide newest, among those with ``effective_at <=
    completed_at``.
    """
    pv = m.price_versions.alias("pv")
    s, sl = m.sales, m.sale_lines

    def newest(scope_cond: Any) -> Any:
        return (
            select(pv.c.id)
            .where(pv.c.sku == sl.c.sku, pv.c.effective_at <= s.c.completed_at, scope_cond)
            .order_by(pv.c.effective_at.desc(), pv.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    expected = func.coalesce(
        newest(pv.c.store_code == s.c.store_code), newest(pv.c.store_code.is_(None)), 0
    )
    mv = m.menu_versions.alias("mv")

    def newest_menu(scope_cond: Any) -> Any:
        return (
            select(mv.c.id)
            .where(mv.c.effective_at <= s.c.completed_at, scope_cond)
            .order_by(mv.c.effective_at.desc(), mv.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    # A drink's options are priced by the menu version: sold with another version than
    # the one in effect, the line is stale too.
    expected_menu = func.coalesce(
        newest_menu(mv.c.store_code == s.c.store_code), newest_menu(mv.c.store_code.is_(None)), 0
    )
    stale = case(
        (sl.c.price_version != expected, 1),
        (and_(sl.c.menu_version.is_not(None), sl.c.menu_version != expected_menu), 1),
        else_=0,
    )
    q = (
        select(s.c.store_code, func.count(), func.coalesce(func.sum(stale), 0))
        .select_from(sl.join(s, sl.c.sale_id == s.c.sale_id))
        .where(and_(s.c.completed_at >= since, s.c.voided_at.is_(None)))
        .group_by(s.c.store_code)
        .order_by(s.c.store_code)
    )
    if store is not None:
        q = q.where(s.c.store_code == store)
    return [(r[0], int(r[1]), int(r[2])) for r in conn.execute(q)]


def _sign_in_detail(pl: p.StaffSignInFailed | p.StaffLockedOut) -> dict[str, Any]:
    """The audit detail of a till's refused sign-in or lockout (deduplicated, like every
    event, by its event id)."""
    detail: dict[str, Any] = {
        "staff": pl.staff,
        "store": pl.store,
        "terminal": pl.terminal,
        "at": pl.at.isoformat(),
    }
    if isinstance(pl, p.StaffSignInFailed):
        detail.update(reason=pl.reason, action=pl.action, failed_attempts=pl.failed_attempts)
    else:
        detail.update(locked_until=pl.locked_until.isoformat(), lockouts=pl.lockouts)
    return detail


def _named_staff(pl: object) -> list[str]:
    """The staff numbers an event names as its actor or approvers, for one look-up per
    push."""
    named: list[str] = []
    for attr in ("cashier", "staff", "supervisor"):
        value = getattr(pl, attr, None)
        if isinstance(value, str):
            named.append(value)
    approvals = getattr(pl, "approvals", None) or []
    named.extend(a.staff for a in approvals)
    approval = getattr(pl, "approval", None)
    if isinstance(approval, p.Approval):
        named.append(approval.staff)
    return named
