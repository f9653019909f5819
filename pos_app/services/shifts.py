"""Shifts and handover: open with a counted float, move cash in and out, X report, blind
close with over/short, and finding a shift a crash left open.

Each action is one ``BEGIN IMMEDIATE`` transaction that writes the shift's rows, its
outbox event for HQ and (for the close) the handover slip's print job, committed with
``synchronous=FULL``: a close never waits for HQ, and what is not synced yet is shown on
the figures instead. No Qt here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hardware import (
    Align,
    Amount,
    Columns,
    Document,
    HandoverSlip,
    Rule,
    Text,
    document_to_dict,
    handover_document,
)
from pos_app.domain.ids import uuid7
from pos_app.domain.shift import (
    CASH,
    CashCount,
    CashFigures,
    TenderExpected,
    cash_figures,
    expected_by_tender,
    needs_sign_off,
)
from pos_app.localdb import print_jobs
from pos_app.localdb import shifts as repo
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.models import OutboxEvent, Shift, ShiftCashMovement
from pos_app.localdb.store import all_settings, audit, get_setting, get_store, next_counter
from pos_app.services.auth import StaffMember
from pos_app.services.errors import ApprovalRequired, ServiceError
from pos_app.services.ports import Clock, TerminalIdentity
from sync_client import HQRefused, HQUnavailable, SyncRunner
from sync_client.contract import protocol
from sync_client.contract.money import format_yuan

__all__ = [
    "CloseResult",
    "CloseReview",
    "ShiftError",
    "ShiftFigures",
    "ShiftInfo",
    "ShiftService",
    "ShiftSettings",
    "shift_required",
]

TENDER_LABELS = {
    "cash": "现金",
    "card": "银行卡",
    "points": "积分",
    "stored_value": "储值",
    "other": "其他",
}


class ShiftError(ServiceError):
    """A shift action refused: ``shift_open`` (one per till), ``no_shift``,
    ``cart_in_progress``, ``reason_required``, ``bad_amount``, ``bad_direction``; for the
    day close ``day_close_offline``, ``not_store_manager``, ``shifts_open`` (``terminals``)
    and ``hq_refused``."""


class DayCloseHQ(Protocol):
    """The HQ call the day close needs (``sync_client.HQClient`` has it)."""

    async def close_day(self, store: str, req: protocol.DayCloseRequest) -> protocol.DayReport: ...


def _failed(exc: BaseException) -> concurrent.futures.Future[Any]:
    f: concurrent.futures.Future[Any] = concurrent.futures.Future()
    f.set_exception(exc)
    return f


@dataclass(frozen=True, slots=True)
class ShiftSettings:
    """The store's shift settings, as HQ publishes them (``shift.*``)."""

    required: bool = True
    over_short_threshold_fen: int = 1000
    carry_over_cash: bool = False
    default_float_fen: int = 50000

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ShiftSettings:
        return cls(
            required=bool(settings.get("shift.required", True)),
            over_short_threshold_fen=int(settings.get("shift.over_short_threshold_fen", 1000)),
            carry_over_cash=bool(settings.get("shift.carry_over_cash", False)),
            default_float_fen=int(settings.get("shift.default_float_fen", 50000)),
        )


def shift_required(session: Session) -> bool:
    """Whether selling needs an open shift (``shift.required``, default yes)."""
    return bool(get_setting(session, "shift.required", True))


@dataclass(frozen=True, slots=True)
class ShiftInfo:
    """A shift as the screens show it (frozen: may cross threads)."""

    id: str
    shift_no: str
    staff: str
    opened_at: datetime
    float_fen: int
    float_count: CashCount
    carried_from: str | None
    status: str


@dataclass(frozen=True, slots=True)
class ShiftFigures:
    """Everything the close screen and the X report show, from the shift's own records."""

    shift: ShiftInfo
    cash: CashFigures
    tenders: tuple[TenderExpected, ...]
    counts: repo.ShiftCounts
    cash_in_fen: int
    cash_out_fen: int

    @property
    def expected_cash_fen(self) -> int:
        return self.cash.expected_fen


@dataclass(frozen=True, slots=True)
class CloseReview:
    """The figures beside a blind count, before the close commits."""

    figures: ShiftFigures
    counted: CashCount
    over_short_fen: int
    needs_sign_off: bool
    threshold_fen: int


@dataclass(frozen=True, slots=True)
class CloseResult:
    review: CloseReview
    closed_at: datetime
    slip_job_id: int
    next_float_fen: int


def _info(row: Shift) -> ShiftInfo:
    return ShiftInfo(
        id=row.id,
        shift_no=row.shift_no,
        staff=row.staff,
        opened_at=row.opened_at,
        float_fen=row.float_fen,
        float_count=CashCount.from_dict(json.loads(row.float_counts or "{}")),
        carried_from=row.carried_from,
        status=row.status,
    )


def _wire_counts(count: CashCount) -> list[protocol.DenominationCount]:
    return [protocol.DenominationCount(value_fen=d.value_fen, count=n) for d, n in count.lines()]


def _outbox(session: Session, payload: Any, now: datetime) -> None:
    session.add(
        OutboxEvent(
            event_id=str(uuid7()),
            type=payload.type,
            occurred_at=now,
            payload=payload.model_dump_json(),
            state="pending",
            attempts=0,
        )
    )


class ShiftService:
    """Shift use cases for one till. Methods block on SQLite: call them off the GUI thread
    when the screen must stay responsive (they take milliseconds)."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        identity: TerminalIdentity,
        after_commit: Callable[[], object] | None = None,
        *,
        runner: SyncRunner | None = None,
        hq: Callable[[], DayCloseHQ] | None = None,
        online: Callable[[], bool] = lambda: False,
    ) -> None:
        """``runner``/``hq``/``online``: the sync thread and HQ for the day close (None on
        a till without HQ: the day close is refused as offline)."""
        self._engine = engine
        self._clock = clock
        self._identity = identity
        self._after_commit = after_commit
        self._runner = runner
        self._hq = hq
        self._online = online

    @property
    def online(self) -> bool:
        return self._runner is not None and self._runner.running and self._online()

    def _done(self) -> None:
        if self._after_commit is not None:
            self._after_commit()

    def settings(self) -> ShiftSettings:
        with read_session(self._engine) as session:
            return ShiftSettings.from_settings(all_settings(session))

    def current(self) -> ShiftInfo | None:
        """The shift open at this till, e.g. one a crash or power loss left open."""
        with read_session(self._engine) as session:
            row = repo.open_shift(session, self._identity.terminal_id)
            return None if row is None else _info(row)

    def opening_float(self) -> tuple[int, CashCount | None, str | None]:
        """What the next cashier opens with: ``(float_fen, count, carried_from)``. With
        ``shift.carry_over_cash`` the counted cash of the last closed shift (its count
        and id), otherwise the store's default float (no count: the cashier counts it)."""
        with read_session(self._engine) as session:
            settings = ShiftSettings.from_settings(all_settings(session))
            last = repo.last_closed(session, self._identity.terminal_id)
            if settings.carry_over_cash and last is not None and last.counted_counts:
                count = CashCount.from_dict(json.loads(last.counted_counts))
                return count.total_fen, count, last.id
        return settings.default_float_fen, None, None

    # -- open --------------------------------------------------------------------------

    def open(
        self, staff: StaffMember, count: CashCount, *, carried_from: str | None = None
    ) -> ShiftInfo:
        """Opens a shift with the counted float.

        Raises:
            ShiftError: ``shift_open`` when this till has an open shift (``shift_no``).
        """
        now = self._clock.now()
        ident = self._identity
        with write_session(self._engine) as session:
            existing = repo.open_shift(session, ident.terminal_id)
            if existing is not None:
                raise ShiftError(
                    "shift_open", "this till has an open shift", shift_no=existing.shift_no
                )
            shift_id = uuid7()
            shift_no = f"{ident.terminal_id}-S{next_counter(session, 'shift'):05d}"
            row = Shift(
                id=str(shift_id),
                shift_no=shift_no,
                store_code=ident.store_code,
                terminal_id=ident.terminal_id,
                staff=staff.number,
                opened_at=now,
                float_fen=count.total_fen,
                float_counts=json.dumps(count.to_dict()),
                carried_from=carried_from,
                status="open",
            )
            session.add(row)
            _outbox(
                session,
                protocol.ShiftOpened(
                    shift_id=shift_id,
                    store=ident.store_code,
                    terminal=ident.terminal_id,
                    staff=staff.number,
                    opened_at=now,
                    float_fen=count.total_fen,
                    shift_no=shift_no,
                    float_counts=_wire_counts(count),
                    carried_from=None if carried_from is None else UUID(carried_from),
                ),
                now,
            )
            audit(session, now, staff.number, "shift.opened", shift_no=shift_no)
            session.commit()
            info = _info(row)
        self._done()
        return info

    # -- during the shift ----------------------------------------------------------------

    def move_cash(
        self,
        staff: StaffMember,
        direction: str,
        amount_fen: int,
        reason: str,
        approver: StaffMember | None = None,
    ) -> None:
        """Adds float (``in``, 备用金补充) or takes cash to the safe (``out``, 取款).

        Raises:
            ShiftError: ``no_shift``, ``bad_direction``, ``bad_amount``, ``reason_required``.
            ApprovalRequired: ``cash_movement`` when neither the cashier nor ``approver``
                is a supervisor.
        """
        if direction not in ("in", "out"):
            raise ShiftError("bad_direction", f"no cash direction {direction!r}")
        if amount_fen <= 0:
            raise ShiftError("bad_amount", "the amount must be positive")
        reason = reason.strip()
        if not reason:
            raise ShiftError("reason_required", "a cash movement needs a reason")
        approved_by = self._approver(staff, approver, "cash_movement")
        now = self._clock.now()
        ident = self._identity
        with write_session(self._engine) as session:
            shift = repo.open_shift(session, ident.terminal_id)
            if shift is None:
                raise ShiftError("no_shift", "no shift is open at this till")
            movement_id = uuid7()
            session.add(
                ShiftCashMovement(
                    id=str(movement_id),
                    shift_id=shift.id,
                    direction=direction,
                    amount_fen=amount_fen,
                    reason=reason,
                    staff=staff.number,
                    approved_by=approved_by.number,
                    moved_at=now,
                )
            )
            _outbox(
                session,
                protocol.ShiftCashMoved(
                    movement_id=movement_id,
                    shift_id=UUID(shift.id),
                    store=ident.store_code,
                    terminal=ident.terminal_id,
                    staff=staff.number,
                    moved_at=now,
                    direction=direction,  # type: ignore[arg-type]
                    amount_fen=amount_fen,
                    reason=reason,
                    approval=protocol.Approval(
                        action="cash_movement", staff=approved_by.number, approved_at=now
                    ),
                ),
                now,
            )
            audit(
                session,
                now,
                staff.number,
                f"shift.cash_{direction}",
                amount_fen=amount_fen,
                reason=reason,
                approved_by=approved_by.number,
            )
            session.commit()
        self._done()

    @staticmethod
    def _approver(staff: StaffMember, approver: StaffMember | None, action: str) -> StaffMember:
        if staff.can_approve:
            return staff
        if approver is None or not approver.can_approve:
            raise ApprovalRequired(action, f"{action} needs a supervisor")
        return approver

    def figures(self, shift_id: str | None = None) -> ShiftFigures:
        """The shift's figures so far (the open shift when ``shift_id`` is None).

        Raises:
            ShiftError: ``no_shift``.
        """
        with read_session(self._engine) as session:
            return self._figures(session, shift_id)

    def _figures(self, session: Session, shift_id: str | None) -> ShiftFigures:
        row = (
            repo.open_shift(session, self._identity.terminal_id)
            if shift_id is None
            else session.get(Shift, shift_id)
        )
        if row is None:
            raise ShiftError("no_shift", "no shift is open at this till")
        tenders = repo.tenders_in_shift(session, row.id)
        refunds = repo._refunds_in_shift(session, row.id)
        moves = repo.movements_in_shift(session, row.id)
        cash = cash_figures(row.float_fen, tenders, refunds, moves)
        return ShiftFigures(
            shift=_info(row),
            cash=cash,
            tenders=tuple(expected_by_tender(row.float_fen, tenders, refunds, moves)),
            counts=repo.shift_counts(session, row.id, row.opened_at, row.closed_at),
            cash_in_fen=cash.added_fen,
            cash_out_fen=cash.removed_fen,
        )

    def x_report(self, staff: StaffMember) -> ShiftFigures:
        """Queues an X report (figures so far; the shift stays open) and returns them."""
        now = self._clock.now()
        with write_session(self._engine) as session:
            figures = self._figures(session, None)
            doc = self._report_document(session, figures, "X 报表", now)
            print_jobs.add_job(
                session,
                kind="report",
                created_at=now,
                document=json.dumps(document_to_dict(doc), ensure_ascii=False),
                requested_by=staff.number,
            )
            audit(session, now, staff.number, "shift.x_report", shift_no=figures.shift.shift_no)
            session.commit()
        self._done()
        return figures

    # -- close ---------------------------------------------------------------------------

    def review_close(self, count: CashCount) -> CloseReview:
        """The figures beside the blind count: shown only after the cashier counted."""
        with read_session(self._engine) as session:
            return self._review(session, count)

    def _review(self, session: Session, count: CashCount) -> CloseReview:
        settings = ShiftSettings.from_settings(all_settings(session))
        figures = self._figures(session, None)
        diff = count.total_fen - figures.expected_cash_fen
        return CloseReview(
            figures=figures,
            counted=count,
            over_short_fen=diff,
            needs_sign_off=needs_sign_off(diff, settings.over_short_threshold_fen),
            threshold_fen=settings.over_short_threshold_fen,
        )

    def close(
        self,
        staff: StaffMember,
        count: CashCount,
        *,
        cart_in_progress: bool = False,
        reason: str | None = None,
        approver: StaffMember | None = None,
        store_name: str = "",
    ) -> CloseResult:
        """Closes the open shift with its blind count and queues the handover slip.

        Raises:
            ShiftError: ``cart_in_progress`` (pay, park or void it first), ``no_shift``,
                ``reason_required`` (over/short beyond the threshold).
            ApprovalRequired: ``over_short`` beyond the threshold without a supervisor.
        """
        if cart_in_progress:
            raise ShiftError(
                "cart_in_progress", "a sale is in progress: pay, park or void it first"
            )
        now = self._clock.now()
        ident = self._identity
        with write_session(self._engine) as session:
            review = self._review(session, count)
            reason = (reason or "").strip() or None
            approval: protocol.Approval | None = None
            if review.needs_sign_off:
                if reason is None:
                    raise ShiftError(
                        "reason_required",
                        "an over/short beyond the threshold needs a reason",
                        over_short=format_yuan(review.over_short_fen),
                    )
                signer = self._approver(staff, approver, "over_short")
                approval = protocol.Approval(
                    action="over_short", staff=signer.number, approved_at=now
                )
            figures = review.figures
            shift = session.get(Shift, figures.shift.id)
            assert shift is not None
            business_date = business_date_of(now)
            tender_rows = [
                protocol.TenderFigures(
                    kind=t.kind,
                    expected_fen=t.expected_fen,
                    counted_fen=count.total_fen if t.kind == CASH else None,
                    over_short_fen=review.over_short_fen if t.kind == CASH else None,
                    count=t.count,
                )
                for t in figures.tenders
            ]
            c = figures.counts
            shift.status = "closed"
            shift.closed_at = now
            shift.closed_by = staff.number
            shift.business_date = business_date.isoformat()
            shift.counted_counts = json.dumps(count.to_dict())
            shift.counted_cash_fen = count.total_fen
            shift.expected_cash_fen = figures.expected_cash_fen
            shift.over_short_fen = review.over_short_fen
            shift.reason = reason
            shift.approved_by = None if approval is None else approval.staff
            shift.figures = json.dumps(
                {
                    "tenders": [t.model_dump() for t in tender_rows],
                    "cash_in_fen": figures.cash_in_fen,
                    "cash_out_fen": figures.cash_out_fen,
                    **{f: getattr(c, f) for f in repo.ShiftCounts.__slots__},
                }
            )
            _outbox(
                session,
                protocol.ShiftClosed(
                    shift_id=UUID(shift.id),
                    store=ident.store_code,
                    terminal=ident.terminal_id,
                    staff=staff.number,
                    closed_at=now,
                    expected_cash_fen=figures.expected_cash_fen,
                    counted_cash_fen=count.total_fen,
                    over_short_fen=review.over_short_fen,
                    shift_no=shift.shift_no,
                    business_date=business_date,
                    counts=_wire_counts(count),
                    tenders=tender_rows,
                    sales_count=c.sales_count,
                    sales_fen=c.sales_fen,
                    returns_count=c.returns_count,
                    refunds_fen=c.refunds_fen,
                    voids_count=c.voids_count,
                    discounts_fen=c.discounts_fen,
                    no_sale_opens=c.no_sale_opens,
                    unsynced_events=c.unsynced_events,
                    unprinted_receipts=c.unprinted_receipts,
                    reason=reason,
                    approval=approval,
                ),
                now,
            )
            slip = self._slip(session, review, staff, now, store_name)
            job_id = print_jobs.add_job(
                session,
                kind="handover",
                created_at=now,
                document=json.dumps(document_to_dict(handover_document(slip)), ensure_ascii=False),
                requested_by=staff.number,
            )
            audit(
                session,
                now,
                staff.number,
                "shift.closed",
                shift_no=shift.shift_no,
                over_short_fen=review.over_short_fen,
                approved_by=shift.approved_by,
            )
            settings = ShiftSettings.from_settings(all_settings(session))
            session.commit()
        self._done()
        next_float = count.total_fen if settings.carry_over_cash else settings.default_float_fen
        return CloseResult(review, now, job_id, next_float)

    # -- day close (日结) -----------------------------------------------------------------

    def close_day(
        self, staff: StaffMember, business_date: date | None = None
    ) -> concurrent.futures.Future[protocol.DayReport]:
        """Asks HQ to close the store's business day (today by default) and queues the
        Z report it answers. Needs HQ: offline it fails ``day_close_offline`` at once.
        The future resolves on the sync thread (3 s timeout of interactive calls).

        Raises (through the future):
            ShiftError: ``not_store_manager``, ``day_close_offline``, ``shifts_open``
                (``terminals``: the tills whose shifts are open), ``hq_refused``.
        """
        if not staff.can_configure:
            return _failed(ShiftError("not_store_manager", "only a store manager closes the day"))
        if not self.online or self._hq is None or self._runner is None:
            return _failed(ShiftError("day_close_offline", "closing the day needs HQ"))
        day = business_date or business_date_of(self._clock.now())
        req = protocol.DayCloseRequest(business_date=day, staff=staff.number)
        return self._runner.submit(self._ask_close_day(req, staff))

    async def _ask_close_day(
        self, req: protocol.DayCloseRequest, staff: StaffMember
    ) -> protocol.DayReport:
        assert self._hq is not None
        try:
            report = await self._hq().close_day(self._identity.store_code, req)
        except HQUnavailable:
            raise ShiftError("day_close_offline", "HQ did not answer") from None
        except HQRefused as exc:
            if exc.code == "shifts_open":
                terminals = str(exc.params.get("terminals") or exc.detail.rsplit(": ", 1)[-1])
                raise ShiftError("shifts_open", exc.detail, terminals=terminals) from None
            if exc.code == "not_store_manager":
                raise ShiftError("not_store_manager", exc.detail) from None
            raise ShiftError("hq_refused", exc.detail, error=exc.code, detail=exc.detail) from None
        await asyncio.to_thread(self._queue_z_report, report, staff)
        return report

    def _queue_z_report(self, report: protocol.DayReport, staff: StaffMember) -> None:
        now = self._clock.now()
        with write_session(self._engine) as session:
            doc = self._z_document(session, report, now)
            print_jobs.add_job(
                session,
                kind="report",
                created_at=now,
                document=json.dumps(document_to_dict(doc), ensure_ascii=False),
                requested_by=staff.number,
            )
            audit(
                session,
                now,
                staff.number,
                "shift.day_closed",
                business_date=report.business_date.isoformat(),
                over_short_fen=report.over_short_fen,
            )
            session.commit()
        self._done()

    def _z_document(self, session: Session, r: protocol.DayReport, now: datetime) -> Document:
        blocks: list[Any] = [
            Text("日结报表 Z", align=Align.CENTER, bold=True, double=True),
            Text(self._store_name(session, ""), align=Align.CENTER),
            Rule(),
            Columns("营业日", r.business_date.isoformat()),
            Columns("日结人", r.closed_by),
            Columns("日结时间", _local(r.closed_at)),
            Columns("打印", _local(now)),
            Rule(),
            Columns(f"销售 {r.sales_count} 笔", format_yuan(r.sales_fen)),
            Columns(f"退货 {r.returns_count} 笔", format_yuan(r.refunds_fen)),
            Rule(),
        ]
        for t in r.tenders:
            blocks.append(Columns(TENDER_LABELS.get(t.kind, t.kind), format_yuan(t.expected_fen)))
            if t.counted_fen is not None:
                blocks.append(Columns("  实点", format_yuan(t.counted_fen)))
            if t.over_short_fen is not None:
                blocks.append(Columns("  长短款", _signed_yuan(t.over_short_fen)))
        blocks.append(Rule())
        for sh in r.shifts:
            blocks += [
                Text(f"{sh.terminal} {sh.shift_no or ''}".strip(), bold=True),
                Columns("收银员", sh.cashier),
                Columns("备用金", format_yuan(sh.float_fen)),
                Columns("应有现金", format_yuan(sh.expected_cash_fen)),
                Columns("实点现金", format_yuan(sh.counted_cash_fen)),
                Columns("长短款", _signed_yuan(sh.over_short_fen)),
            ]
        blocks += [Rule(), Columns("当日长短款", _signed_yuan(r.over_short_fen), bold=True)]
        return Document(tuple(blocks), cut=True, open_drawer=False)

    # -- printouts -----------------------------------------------------------------------

    def _store_name(self, session: Session, fallback: str) -> str:
        store = get_store(session, self._identity.store_code)
        return fallback or (store.name_zh if store is not None else self._identity.store_code)

    def _slip(
        self,
        session: Session,
        review: CloseReview,
        staff: StaffMember,
        now: datetime,
        store_name: str,
    ) -> HandoverSlip:
        f = review.figures
        c = f.counts
        diff = review.over_short_fen
        return HandoverSlip(
            store_name=self._store_name(session, store_name),
            terminal=f"{self._identity.terminal_id} {f.shift.shift_no}",
            cashier=f"{staff.name} ({staff.number})",
            shift_start=_local(f.shift.opened_at),
            shift_end=_local(now),
            sale_count=c.sales_count,
            totals=_totals(f),
            tenders=tuple(
                Amount(TENDER_LABELS.get(t.kind, t.kind), format_yuan(t.expected_fen))
                for t in f.tenders
            ),
            cash_expected=format_yuan(f.expected_cash_fen),
            cash_counted=format_yuan(review.counted.total_fen),
            cash_difference=_signed_yuan(diff),
        )

    def _report_document(
        self, session: Session, f: ShiftFigures, title: str, now: datetime
    ) -> Document:
        blocks: list[Any] = [
            Text(title, align=Align.CENTER, bold=True, double=True),
            Text(self._store_name(session, ""), align=Align.CENTER),
            Rule(),
            Columns("班次", f.shift.shift_no),
            Columns("收银员", f.shift.staff),
            Columns("开始", _local(f.shift.opened_at)),
            Columns("打印", _local(now)),
            Rule(),
        ]
        blocks += [Columns(a.label, a.amount) for a in _totals(f)]
        blocks.append(Rule())
        blocks += [
            Columns(TENDER_LABELS.get(t.kind, t.kind), format_yuan(t.expected_fen))
            for t in f.tenders
        ]
        blocks += [Rule(), Columns("应有现金", format_yuan(f.expected_cash_fen), bold=True)]
        return Document(tuple(blocks), cut=True, open_drawer=False)


def _totals(f: ShiftFigures) -> tuple[Amount, ...]:
    c = f.counts
    return (
        Amount("备用金", format_yuan(f.shift.float_fen)),
        Amount(f"销售 {c.sales_count} 笔", format_yuan(c.sales_fen)),
        Amount(f"退货 {c.returns_count} 笔", format_yuan(c.refunds_fen)),
        Amount("折扣", format_yuan(c.discounts_fen)),
        Amount("作废笔数", str(c.voids_count)),
        Amount("备用金补充", format_yuan(f.cash_in_fen)),
        Amount("取款", format_yuan(f.cash_out_fen)),
        Amount("找零", format_yuan(f.cash.change_fen)),
        Amount("开钱箱(无销售)", str(c.no_sale_opens)),
        Amount("未同步", str(c.unsynced_events)),
        Amount("未打印小票", str(c.unprinted_receipts)),
    )


def _signed_yuan(fen: int) -> str:
    return ("+" if fen > 0 else "") + format_yuan(fen)


def _local(at: datetime) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M")


def business_date_of(at: datetime) -> date:
    """The local calendar date a time falls on (the store's business date)."""
    return at.astimezone().date()
