"""The print queue's rows: add a job, find the next one, record what the printer did.

Every function works inside the caller's session and transaction; the caller commits.
A receipt job is added in the same transaction as its sale (see ``add_job``), which is
what makes "paid" imply "the receipt will print".
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from pos_app.localdb.models import PrintJob, Sale
from pos_app.localdb.types import to_utc_text

KINDS = ("receipt", "handover", "topup", "return", "test_page", "report")
UNPRINTED_STATES = ("pending", "failed")
"""States of jobs that have not printed and still need someone's attention."""


@dataclass(frozen=True, slots=True)
class PrintJobRecord:
    """One row of ``print_job``; ``receipt_no`` comes from the job's sale, if any."""

    id: int
    kind: str
    sale_id: str | None
    receipt_no: str | None
    is_copy: bool
    document: str | None
    state: str
    created_at: datetime
    requested_by: str | None
    attempts: int
    last_error: str | None
    last_attempt_at: datetime | None
    printed_at: datetime | None


_WITH_RECEIPT_NO = select(PrintJob, Sale.receipt_no).outerjoin(Sale, Sale.id == PrintJob.sale_id)
"""Jobs with their sale's receipt number (statements are immutable: safe to share)."""


def _record(row: PrintJob, receipt_no: str | None) -> PrintJobRecord:
    return PrintJobRecord(
        id=row.id,
        kind=row.kind,
        sale_id=row.sale_id,
        receipt_no=receipt_no,
        is_copy=row.is_copy,
        document=row.document,
        state=row.state,
        created_at=row.created_at,
        requested_by=row.requested_by,
        attempts=row.attempts,
        last_error=row.last_error,
        last_attempt_at=row.last_attempt_at,
        printed_at=row.printed_at,
    )


def add_job(
    session: Session,
    *,
    kind: str,
    created_at: datetime,
    sale_id: str | None = None,
    is_copy: bool = False,
    document: str | None = None,
    requested_by: str | None = None,
) -> int:
    """Queues a printout; returns its id (jobs print in id order).

    Raises:
        ValueError: unknown ``kind``, or a receipt without a sale.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown print job kind {kind!r}")
    if kind == "receipt" and sale_id is None:
        raise ValueError("a receipt job needs its sale")
    row = PrintJob(
        kind=kind,
        sale_id=sale_id,
        is_copy=is_copy,
        document=document,
        state="pending",
        created_at=created_at,
        requested_by=requested_by,
        attempts=0,
    )
    session.add(row)
    session.flush()
    return row.id


def queue_document(
    session: Session, *, kind: str, created_at: datetime, document: str, requested_by: str | None
) -> None:
    """Queues a laid-out printout (a return slip) inside the caller's transaction.

    It does not flush: the caller's commit writes the row with
    the rest of its transaction, in one flush.

    Raises:
        ValueError: unknown ``kind``, or a receipt (those are laid out from their sale).
    """
    if kind not in KINDS or kind == "receipt":
        raise ValueError(f"not a document print job kind: {kind!r}")
    session.add(
        PrintJob(
            kind=kind,
            is_copy=False,
            document=document,
            state="pending",
            created_at=created_at,
            requested_by=requested_by,
            attempts=0,
        )
    )


def queue_receipt(
    db: sqlite3.Connection, sale_id: str, created_at: datetime, requested_by: str | None
) -> None:
    """Queues the receipt of a sale being recorded, on the ``sqlite3`` connection of the
    sale's transaction, so the sale and its receipt job are durable together or not at
    all."""
    db.execute(
        "INSERT INTO print_job (kind, sale_id, is_copy, document, state, created_at, "
        "requested_by, attempts, last_error, last_attempt_at) "
        "VALUES ('receipt', ?, 0, NULL, 'pending', ?, ?, 0, NULL, NULL)",
        (sale_id, to_utc_text(created_at), requested_by),
    )


def get_job(session: Session, job_id: int) -> PrintJobRecord | None:
    row = session.execute(_WITH_RECEIPT_NO.where(PrintJob.id == job_id)).first()
    return None if row is None else _record(row[0], row[1])


def next_pending(session: Session) -> PrintJobRecord | None:
    """The oldest job still to print."""
    row = session.execute(
        _WITH_RECEIPT_NO.where(PrintJob.state == "pending").order_by(PrintJob.id).limit(1)
    ).first()
    return None if row is None else _record(row[0], row[1])


def unprinted(session: Session, limit: int = 200) -> list[PrintJobRecord]:
    """Jobs not printed (pending first, then failed), oldest first within each."""
    rows = session.execute(
        _WITH_RECEIPT_NO.where(PrintJob.state.in_(UNPRINTED_STATES))
        .order_by(PrintJob.state.desc(), PrintJob.id)
        .limit(limit)
    ).all()
    return [_record(job, no) for job, no in rows]


def last_job_id(session: Session) -> int:
    """The newest job's id (0 for an empty queue)."""
    return int(session.scalar(select(func.max(PrintJob.id))) or 0)


def unprinted_count(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(PrintJob).where(PrintJob.state.in_(UNPRINTED_STATES))
        )
        or 0
    )


def jobs_for_sale(session: Session, sale_id: str) -> list[PrintJobRecord]:
    rows = session.execute(
        _WITH_RECEIPT_NO.where(PrintJob.sale_id == sale_id).order_by(PrintJob.id)
    ).all()
    return [_record(job, no) for job, no in rows]


def record_attempt(session: Session, job_id: int, at: datetime, error: str) -> None:
    """A try that did not print: counted, with the reason."""
    session.execute(
        update(PrintJob)
        .where(PrintJob.id == job_id)
        .values(attempts=PrintJob.attempts + 1, last_error=error, last_attempt_at=at)
    )


def mark_printed(session: Session, job_id: int, at: datetime) -> bool:
    """Marks a pending job printed; ``False`` when it was not pending (nothing changes)."""
    result = session.execute(
        update(PrintJob)
        .where(PrintJob.id == job_id, PrintJob.state == "pending")
        .values(
            state="printed",
            attempts=PrintJob.attempts + 1,
            last_attempt_at=at,
            printed_at=at,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_failed(session: Session, job_id: int, at: datetime, error: str) -> None:
    """A job that can never print as it is (its document cannot be laid out)."""
    session.execute(
        update(PrintJob)
        .where(PrintJob.id == job_id)
        .values(state="failed", last_error=error, last_attempt_at=at)
    )


def cancel(session: Session, job_id: int) -> bool:
    """Cancels a job that has not printed; ``False`` when it already printed or is gone."""
    result = session.execute(
        update(PrintJob)
        .where(PrintJob.id == job_id, PrintJob.state.in_(UNPRINTED_STATES))
        .values(state="cancelled")
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
