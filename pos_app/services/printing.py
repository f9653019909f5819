"""The print queue: every printout goes through one worker thread, in order, and stays
in the database until the printer has taken it.

How a receipt gets printed:

1. ``CheckoutService`` writes the receipt's ``print_job`` row in the sale's own
   transaction and calls :meth:`PrintQueue.wake` after the commit. A crash at any point
   after the commit leaves the row ``pending``; the next start prints it.
2. The worker takes the oldest pending job, lays it out for the printer in use and sends
   it. It marks the job ``printed`` only when the printer took the bytes and, where it
   can tell, reported itself ready after them (see ``hardware.Printer.send``).
3. On paper out, cover open, offline or timeout the job stays pending; the failure is
   counted on the row, shown (events and the device board) and the worker polls the
   printer's status with a growing delay (``retry_initial`` doubling up to
   ``retry_max``), sending the job again as soon as the printer says it is ready, or
   at once when someone asks (:meth:`PrintQueue.retry_now`).

The cash drawer opens with the first attempt of a cash sale's receipt, or of a cash
top-up's slip (the kick is the first command of the job). If that attempt sent nothing,
the drawer is kicked on its own so the cashier can give change; later attempts never
kick it again, and nor does a job left from before a restart (nobody is waiting at an
open drawer).

Marking a job printed is a separate transaction after the printer took it: a crash in
between prints that receipt again at the next start (at least once, never lost).

Thread rule: only the worker thread talks to the printer and updates jobs (receipt rows
are also added by the sale's transaction). Public methods may be called from any thread
and never block on I/O: they post a command to the worker. Listeners are called on the
worker thread with frozen dataclasses.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from hardware import (
    CoverOpen,
    Document,
    HandoverSlip,
    PaperOut,
    PrinterConfigError,
    PrinterError,
    PrinterOffline,
    PrinterProfile,
    PrinterTimeout,
    StatusUnavailable,
    document_from_dict,
    document_to_dict,
    handover_document,
    receipt_test_page,
)
from pos_app.localdb import print_jobs as jobs_repo
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.print_jobs import PrintJobRecord
from pos_app.localdb.sales import get_sale
from pos_app.localdb.store import audit
from pos_app.services.auth import StaffMember
from pos_app.services.devices import DeviceBoard, DeviceState
from pos_app.services.errors import PrintError
from pos_app.services.ports import Clock, ReceiptPrinter
from pos_app.services.receipts import ReceiptService

__all__ = [
    "DrawerResult",
    "JobNotPrinted",
    "JobPrinted",
    "PrintEvent",
    "PrintJobInfo",
    "PrintQueue",
    "QueueChanged",
    "QueueState",
    "problem_code",
]

_log = logging.getLogger(__name__)

PRINTER = "printer"
DRAWER = "drawer"
_LISTED_JOBS = 50


def problem_code(exc: BaseException) -> str:
    """A stable code for a printer failure, translated by the UI (``printer.problem.*``)."""
    if isinstance(exc, CoverOpen):
        return "cover_open"
    if isinstance(exc, PaperOut):
        return "paper_out"
    if isinstance(exc, PrinterTimeout):
        return "timeout"
    if isinstance(exc, PrinterOffline):
        return "offline"
    if isinstance(exc, PrinterConfigError):
        return "config"
    if isinstance(exc, StatusUnavailable):
        return "no_status"
    return "error"


@dataclass(frozen=True, slots=True)
class PrintJobInfo:
    """A job as screens show it (no document)."""

    id: int
    kind: str
    sale_id: str | None
    receipt_no: str | None
    is_copy: bool
    state: str
    attempts: int
    last_error: str | None
    created_at: datetime
    printed_at: datetime | None

    @classmethod
    def of(cls, r: PrintJobRecord) -> PrintJobInfo:
        return cls(
            r.id,
            r.kind,
            r.sale_id,
            r.receipt_no,
            r.is_copy,
            r.state,
            r.attempts,
            r.last_error,
            r.created_at,
            r.printed_at,
        )


@dataclass(frozen=True, slots=True)
class QueueState:
    """The queue at a glance.

    Attributes:
        unprinted: Jobs not printed (pending and failed): "paid, not printed".
        jobs: Up to 50 of them, pending first, oldest first.
        printer: The printer's state on the device board.
        retry_in: Seconds until the next automatic try while the printer is not ready
            (``None`` when not waiting).
    """

    unprinted: int
    jobs: tuple[PrintJobInfo, ...]
    printer: DeviceState
    retry_in: float | None = None


@dataclass(frozen=True, slots=True)
class JobPrinted:
    """``job`` printed; ``data`` are the bytes the printer took, laid out for ``profile``
    (enough to draw a preview)."""

    job: PrintJobInfo
    data: bytes
    profile: PrinterProfile


@dataclass(frozen=True, slots=True)
class JobNotPrinted:
    """An attempt to print ``job`` failed; it stays queued unless ``state`` says failed."""

    job: PrintJobInfo
    problem: str
    message: str


@dataclass(frozen=True, slots=True)
class QueueChanged:
    state: QueueState


@dataclass(frozen=True, slots=True)
class DrawerResult:
    """Outcome of a drawer kick: a no-sale open, or the kick of a cash sale whose
    receipt could not start printing (``reason`` ``no_sale`` or ``sale``)."""

    ok: bool
    reason: str
    problem: str | None = None
    message: str | None = None


PrintEvent = JobPrinted | JobNotPrinted | QueueChanged | DrawerResult
PrinterFactory = Callable[[], ReceiptPrinter]


# -- commands posted to the worker ------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Refresh:
    pass


@dataclass(frozen=True, slots=True)
class _RetryNow:
    pass


@dataclass(frozen=True, slots=True)
class _CheckPrinter:
    pass


@dataclass(frozen=True, slots=True)
class _Enqueue:
    kind: str
    staff: str | None
    sale_id: str | None = None
    is_copy: bool = False
    document: str | None = None


@dataclass(frozen=True, slots=True)
class _Cancel:
    job_id: int
    staff: str


@dataclass(frozen=True, slots=True)
class _OpenDrawer:
    staff: str
    approver: str


@dataclass(frozen=True, slots=True)
class _SetPrinter:
    factory: PrinterFactory
    name: str


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


_Command = (
    _Refresh | _RetryNow | _CheckPrinter | _Enqueue | _Cancel | _OpenDrawer | _SetPrinter | _Stop
)


class PrintQueue:
    """The durable print queue and its worker thread.

    Args:
        engine: The terminal database.
        clock: Time for the rows and the device board (the retry timer uses
            ``time.monotonic``: it measures waits, not wall time).
        receipts: Lays receipts out from their sale.
        devices: Where the printer's and the drawer's state is reported.
        printer_factory: Makes the printer; called on the worker thread, so loading
            the driver never delays start-up.
        printer_name: How the printer is reached, for the status panel.
        retry_initial: Seconds before the first retry after a failure.
        retry_max: Longest wait between retries.
        idle_check: Seconds between status checks while there is nothing to print
            (``None``: only when asked).
        first_check: Seconds after :meth:`start` before the first status check when
            nothing is queued: the driver (python-escpos) loads then, not while the
            window is being built.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        receipts: ReceiptService,
        devices: DeviceBoard,
        printer_factory: PrinterFactory,
        printer_name: str,
        *,
        retry_initial: float = 1.0,
        retry_max: float = 15.0,
        idle_check: float | None = 60.0,
        first_check: float = 3.0,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._receipts = receipts
        self._devices = devices
        self._factory = printer_factory
        self._printer: ReceiptPrinter | None = None
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._idle_check = idle_check
        self._first_check = first_check
        devices.register(PRINTER, "printer", printer_name)
        devices.register(DRAWER, "drawer", printer_name)
        self._cond = threading.Condition()
        self._commands: deque[_Command] = deque()
        self._listeners: list[Callable[[PrintEvent], None]] = []
        self._thread: threading.Thread | None = None
        # Worker-owned state.
        self._head: PrintJobRecord | None = None
        self._delay = retry_initial
        self._retry_at: float | None = None
        self._next_check: float | None = None
        self._fresh_from = 0  # jobs with a smaller id were queued before this start
        self._state = QueueState(0, (), self._printer_state())

    # -- life cycle ------------------------------------------------------------------
    def subscribe(self, listener: Callable[[PrintEvent], None]) -> None:
        """Adds a listener (called on the worker thread; it must not block)."""
        with self._cond:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[PrintEvent], None]) -> None:
        with self._cond:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def start(self) -> None:
        """Reads the queue (jobs left from before a restart count at once) and starts
        the worker, which prints them first."""
        if self._thread is not None:
            raise RuntimeError("the print queue is already running")
        with read_session(self._engine) as session:
            self._fresh_from = jobs_repo.last_job_id(session) + 1
        self._load()
        self._next_check = time.monotonic() + self._first_check
        self._thread = threading.Thread(target=self._run, name="print-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stops taking commands, lets the current job finish and joins the worker.
        Jobs still pending stay in the database for the next start."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._post(_Stop())
        thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def state(self) -> QueueState:
        """The last published state (no I/O)."""
        with self._cond:
            return self._state

    def wait_for(self, predicate: Callable[[QueueState], bool], timeout: float) -> bool:
        """Blocks until ``predicate(state)`` holds after a publication, or the timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._state), timeout)

    # -- requests (any thread, non-blocking) ----------------------------------------
    def wake(self) -> None:
        """New jobs were committed elsewhere (a sale): look at the queue now."""
        self._post(_Refresh())

    def retry_now(self) -> None:
        """Try the job at the head of the queue now, without waiting for the timer."""
        self._post(_RetryNow())

    def check_printer(self) -> None:
        """Read the printer's status now (for the status panel)."""
        self._post(_CheckPrinter())

    def reprint(self, sale_id: str, staff: str | None) -> None:
        """Queues a copy of a sale's receipt, marked as a copy, audited, no drawer kick."""
        self._post(_Enqueue("receipt", staff, sale_id=sale_id, is_copy=True))

    def print_document(self, kind: str, document: Document, staff: str | None) -> None:
        """Queues any document (``kind`` ``handover``): kept as JSON until printed. (A
        top-up slip is queued in its top-up's own transaction instead.)"""
        data = json.dumps(document_to_dict(document), ensure_ascii=False)
        self._post(_Enqueue(kind, staff, document=data))

    def print_handover(self, slip: HandoverSlip, staff: str | None) -> None:
        """Queues a shift handover slip."""
        self.print_document("handover", handover_document(slip), staff)

    def print_test_page(self, staff: str | None) -> None:
        """Queues a test page, laid out for whatever printer prints it."""
        self._post(_Enqueue("test_page", staff))

    def cancel(self, job_id: int, staff: StaffMember) -> None:
        """Gives up on a job that has not printed (audited).

        Raises:
            PrintError: ``not_supervisor``: only a supervisor or manager may.
        """
        if not staff.can_approve:
            raise PrintError("not_supervisor", "giving up a printout needs a supervisor")
        self._post(_Cancel(job_id, staff.number))

    def open_drawer(self, staff: StaffMember, approver: StaffMember) -> None:
        """Opens the cash drawer without a sale (audited with who approved it).

        Raises:
            PrintError: ``not_supervisor``: the approver is not a supervisor or manager.
        """
        if not approver.can_approve:
            raise PrintError("not_supervisor", "a no-sale drawer open needs a supervisor")
        self._post(_OpenDrawer(staff.number, approver.number))

    def set_printer(self, factory: PrinterFactory, name: str) -> None:
        """Uses another printer from now on (new settings); retries the queue at once."""
        self._post(_SetPrinter(factory, name))

    def _post(self, command: _Command) -> None:
        with self._cond:
            self._commands.append(command)
            self._cond.notify_all()

    # -- worker ----------------------------------------------------------------------
    def _run(self) -> None:
        self._publish(QueueChanged(self._state))
        while True:
            command = self._next_command()
            try:
                if isinstance(command, _Stop):
                    return
                if command is not None:
                    self._handle(command)
                else:
                    self._step()
            except Exception:
                # A database error must not end the worker: note it, wait, go on.
                _log.exception("print worker error")
                self._schedule_retry()

    def _next_command(self) -> _Command | None:
        with self._cond:
            timeout = self._timeout()
            if not self._commands and (timeout is None or timeout > 0):
                self._cond.wait(timeout)
            return self._commands.popleft() if self._commands else None

    def _timeout(self) -> float | None:
        now = time.monotonic()
        if self._head is not None:
            return 0 if self._retry_at is None else max(0.0, self._retry_at - now)
        if self._next_check is None:
            return None
        return max(0.0, self._next_check - now)

    def _handle(self, command: _Command) -> None:
        if isinstance(command, _Refresh):
            self._load()
        elif isinstance(command, _RetryNow):
            self._clear_retry()
            self._load()
        elif isinstance(command, _CheckPrinter):
            self._check_status()
        elif isinstance(command, _Enqueue):
            self._enqueue(command)
        elif isinstance(command, _Cancel):
            self._cancel(command)
        elif isinstance(command, _OpenDrawer):
            self._no_sale(command)
        elif isinstance(command, _SetPrinter):
            self._factory, self._printer = command.factory, None
            self._devices.register(PRINTER, "printer", command.name)
            self._devices.register(DRAWER, "drawer", command.name)
            self._clear_retry()
            self._check_status()
            self._load()

    def _step(self) -> None:
        now = time.monotonic()
        job = self._head
        if job is None:
            if self._next_check is not None and now >= self._next_check:
                self._check_status()
            return
        if self._retry_at is not None:
            if now < self._retry_at:
                return
            if not self._check_status():
                self._schedule_retry()
                self._publish_state()
                return
        self._attempt(job)

    # -- printing ----------------------------------------------------------------------
    def _device(self) -> ReceiptPrinter:
        if self._printer is None:
            try:
                self._printer = self._factory()
            except PrinterError:
                raise
            except Exception as exc:  # settings that cannot make a printer
                raise PrinterConfigError(str(exc)) from exc
        return self._printer

    def _document(self, job: PrintJobRecord, printer: ReceiptPrinter) -> Document:
        if job.kind == "test_page":
            return receipt_test_page(printer.profile)
        if job.kind == "receipt":
            assert job.sale_id is not None
            with read_session(self._engine) as session:
                sale = get_sale(session, job.sale_id)
            if sale is None:
                raise LookupError(f"sale {job.sale_id} is not in this terminal's database")
            doc = self._receipts.document(sale, reprint=job.is_copy)
        elif job.document is None:
            raise ValueError(f"{job.kind} job {job.id} has no document")
        else:
            doc = document_from_dict(json.loads(job.document))
        if job.attempts or job.id < self._fresh_from:
            # The first attempt kicked the drawer (or it was kicked on its own), or the
            # job is from before a restart: the drawer must not open by itself now.
            doc = dataclasses.replace(doc, open_drawer=False)
        return doc

    def _attempt(self, job: PrintJobRecord) -> None:
        try:
            printer = self._device()
        except PrinterError as exc:
            self._not_printed(job, exc)
            return
        try:
            doc = self._document(job, printer)
        except Exception as exc:  # a job that can never print as it is
            self._fail(job, f"{type(exc).__name__}: {exc}")
            return
        try:
            data = printer.print_document(doc)
        except PrinterError as exc:
            self._not_printed(job, exc)
            if doc.open_drawer and not exc.during_job:
                self._kick("sale", None, None)
            return
        except ValueError as exc:  # the layout engine refused the document
            self._fail(job, f"{type(exc).__name__}: {exc}")
            return
        now = self._clock.now()
        with write_session(self._engine) as session:
            jobs_repo.mark_printed(session, job.id, now)
            session.commit()
        self._clear_retry()
        self._devices.report_ok(PRINTER, used=True)
        if doc.open_drawer:
            self._devices.report_ok(DRAWER, used=True)
        printed = dataclasses.replace(
            PrintJobInfo.of(job), state="printed", attempts=job.attempts + 1, printed_at=now
        )
        self._publish(JobPrinted(printed, data, printer.profile))
        self._load()

    def _not_printed(self, job: PrintJobRecord, exc: PrinterError) -> None:
        code = problem_code(exc)
        message = str(exc)
        # A test page is a check of the printer now, not a document anyone waits for: one
        # that did not print is given up, so it never prints late ahead of a sale's receipt.
        given_up = job.kind == "test_page"
        with write_session(self._engine) as session:
            jobs_repo.record_attempt(session, job.id, self._clock.now(), f"{code}: {message}")
            if given_up:
                jobs_repo.cancel(session, job.id)
            session.commit()
        self._devices.report_problem(PRINTER, code, message)
        self._schedule_retry()
        failed = dataclasses.replace(
            PrintJobInfo.of(job),
            state="cancelled" if given_up else job.state,
            attempts=job.attempts + 1,
            last_error=f"{code}: {message}",
        )
        self._publish(JobNotPrinted(failed, code, message))
        self._load()

    def _fail(self, job: PrintJobRecord, message: str) -> None:
        _log.error("print job %s cannot print: %s", job.id, message)
        with write_session(self._engine) as session:
            jobs_repo.mark_failed(session, job.id, self._clock.now(), message)
            if job.kind == "test_page":  # nothing to keep for later (see _not_printed)
                jobs_repo.cancel(session, job.id)
            session.commit()
        failed = dataclasses.replace(PrintJobInfo.of(job), state="failed", last_error=message)
        self._publish(JobNotPrinted(failed, "bad_document", message))
        self._load()

    def _check_status(self) -> bool:
        """Reads the printer's status into the device board; ``True`` when a job could
        be sent now (ready, or a printer whose status cannot be read)."""
        if self._idle_check is not None:
            self._next_check = time.monotonic() + self._idle_check
        else:
            self._next_check = None
        try:
            status = self._device().query_status()
        except StatusUnavailable:
            self._devices.report_unknown(PRINTER, "no_status")
            return True
        except PrinterError as exc:
            self._devices.report_problem(PRINTER, problem_code(exc), str(exc))
            return False
        if status.ready:
            self._devices.report_ok(
                PRINTER, note="paper_near_end" if status.paper_near_end else None
            )
            return True
        problem = (
            "cover_open" if status.cover_open else "paper_out" if status.paper_out else "offline"
        )
        self._devices.report_problem(PRINTER, problem, f"the printer reports {problem}")
        return False

    def _schedule_retry(self) -> None:
        self._retry_at = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, self._retry_max)

    def _clear_retry(self) -> None:
        self._retry_at = None
        self._delay = self._retry_initial

    # -- queue changes -----------------------------------------------------------------
    def _enqueue(self, command: _Enqueue) -> None:
        now = self._clock.now()
        with write_session(self._engine) as session:
            receipt_no = None
            if command.sale_id is not None:
                sale = get_sale(session, command.sale_id)
                if sale is None:
                    _log.error("reprint of unknown sale %s", command.sale_id)
                    return
                receipt_no = sale.receipt_no
            job_id = jobs_repo.add_job(
                session,
                kind=command.kind,
                created_at=now,
                sale_id=command.sale_id,
                is_copy=command.is_copy,
                document=command.document,
                requested_by=command.staff,
            )
            if command.is_copy:
                audit(
                    session,
                    now,
                    command.staff,
                    "receipt.reprint",
                    sale_id=command.sale_id,
                    receipt_no=receipt_no,
                    job_id=job_id,
                )
            session.commit()
        self._load()

    def _cancel(self, command: _Cancel) -> None:
        with write_session(self._engine) as session:
            job = jobs_repo.get_job(session, command.job_id)
            if job is None or not jobs_repo.cancel(session, command.job_id):
                return
            audit(
                session,
                self._clock.now(),
                command.staff,
                "print_job.cancel",
                job_id=job.id,
                kind=job.kind,
                receipt_no=job.receipt_no,
                attempts=job.attempts,
            )
            session.commit()
        if self._head is not None and self._head.id == command.job_id:
            self._clear_retry()
        self._load()

    def _no_sale(self, command: _OpenDrawer) -> None:
        self._kick("no_sale", command.staff, command.approver)

    def _kick(self, reason: str, staff: str | None, approver: str | None) -> None:
        problem: str | None = None
        message: str | None = None
        try:
            self._device().open_drawer()
        except PrinterError as exc:
            problem, message = problem_code(exc), str(exc)
            self._devices.report_problem(DRAWER, problem, message)
        else:
            self._devices.report_ok(DRAWER, used=True)
        if reason == "no_sale":
            with write_session(self._engine) as session:
                audit(
                    session,
                    self._clock.now(),
                    staff,
                    "drawer.no_sale",
                    approved_by=approver,
                    opened=problem is None,
                    problem=problem,
                )
                session.commit()
        self._publish(DrawerResult(problem is None, reason, problem, message))

    # -- publishing --------------------------------------------------------------------
    def _load(self) -> None:
        """Re-reads the head of the queue and publishes the state."""
        with read_session(self._engine) as session:
            self._head = jobs_repo.next_pending(session)
            count = jobs_repo.unprinted_count(session)
            listed = jobs_repo.unprinted(session, _LISTED_JOBS)
        if self._head is None:
            self._retry_at = None
        state = QueueState(
            count,
            tuple(PrintJobInfo.of(r) for r in listed),
            self._printer_state(),
            self._retry_in(),
        )
        with self._cond:
            self._state = state
        self._publish(QueueChanged(state))

    def _publish_state(self) -> None:
        with self._cond:
            state = dataclasses.replace(
                self._state, printer=self._printer_state(), retry_in=self._retry_in()
            )
            self._state = state
        self._publish(QueueChanged(state))

    def _printer_state(self) -> DeviceState:
        return self._devices.get(PRINTER) or DeviceState(PRINTER, "printer", "")

    def _retry_in(self) -> float | None:
        if self._retry_at is None:
            return None
        return max(0.0, self._retry_at - time.monotonic())

    def _publish(self, event: PrintEvent) -> None:
        with self._cond:
            listeners = list(self._listeners)
            self._cond.notify_all()
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                _log.exception("print queue listener failed")
