"""DevicesScreen: every device online or not, its last error, and the print queue.

Fed by :class:`~pos_app.ui.context.HardwareEvents` (the print worker and the scanners
report; nothing here does I/O). Anyone may look and ask for a retry or a status check;
giving up on an unprinted job needs a supervisor or a manager signed in.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pos_app.services.auth import StaffMember
from pos_app.services.devices import DeviceState
from pos_app.services.printing import PrintJobInfo, QueueState
from pos_app.services.receipts import LOCAL_TZ
from pos_app.ui.context import UiContext
from pos_app.ui.errors import system_text
from pos_app.ui.widgets import Banner, TouchButton


def local_stamp(at: datetime | None) -> str:
    """``MM-DD HH:MM:SS`` in the store's time zone; empty for ``None``."""
    return "" if at is None else at.astimezone(LOCAL_TZ).strftime("%m-%d %H:%M:%S")


def problem_text(ctx: UiContext, problem: str | None) -> str:
    """A device problem code in words (``printer.problem.<code>``)."""
    if problem is None:
        return ""
    key = f"printer.problem.{problem}"
    return ctx.translator.t(key) if ctx.translator.has(key) else problem


def _table(columns: int, name: str) -> QTableWidget:
    table = QTableWidget(0, columns)
    table.setObjectName(name)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(44)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    return table


class DevicesScreen(QWidget):
    """Device status panel and print queue. Runs on the GUI thread."""

    back_requested = Signal()

    DEVICE_COLUMNS = ("devices.device", "devices.where", "devices.status", "devices.last_error")
    JOB_COLUMNS = ("jobs.job", "jobs.state", "jobs.attempts", "jobs.last_error")

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DevicesScreen")
        self.ctx = ctx
        self.staff: StaffMember | None = None
        self._devices: tuple[DeviceState, ...] = ctx.devices.snapshot()
        self._queue: QueueState = ctx.printing.state
        root = QVBoxLayout(self)
        self.title = QLabel()
        self.title.setProperty("role", "grand")
        root.addWidget(self.title)
        self.device_table = _table(len(self.DEVICE_COLUMNS), "device_table")
        root.addWidget(self.device_table, 2)
        self.queue_title = QLabel()
        self.queue_title.setObjectName("queue_title")
        root.addWidget(self.queue_title)
        self.job_table = _table(len(self.JOB_COLUMNS), "job_table")
        root.addWidget(self.job_table, 3)
        self.banner = Banner()
        self.banner.setObjectName("devices_banner")
        root.addWidget(self.banner)
        row = QHBoxLayout()
        self.retry = TouchButton(role="primary")
        self.retry.setObjectName("retry_now")
        self.retry.clicked.connect(self._on_retry_clicked)
        self.check = TouchButton()
        self.check.setObjectName("check_devices")
        self.check.clicked.connect(self._on_check_clicked)
        self.cancel_job = TouchButton(role="danger")
        self.cancel_job.setObjectName("cancel_job")
        self.cancel_job.clicked.connect(self._on_cancel_job_clicked)
        self.back = TouchButton()
        self.back.setObjectName("devices_back")
        self.back.clicked.connect(self.back_requested)
        for b in (self.retry, self.check, self.cancel_job, self.back):
            row.addWidget(b)
        root.addLayout(row)
        ctx.hardware.devices_changed.connect(self.show_devices)
        ctx.hardware.queue_changed.connect(self.show_queue)
        self.retranslate()

    def open_for(self, staff: StaffMember | None) -> None:
        """Shown to ``staff`` (``None`` on the sign-in screen): cancelling needs a
        supervisor or manager."""
        self.staff = staff
        self.banner.clear_message()
        self._devices = self.ctx.devices.snapshot()
        self._fill()

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        self.title.setText(t("devices.title"))
        self.retry.setText(t("devices.retry_now"))
        self.check.setText(t("devices.check"))
        self.cancel_job.setText(t("devices.cancel_job"))
        self.back.setText(t("common.back"))
        self.device_table.setHorizontalHeaderLabels([t(k) for k in self.DEVICE_COLUMNS])
        self.job_table.setHorizontalHeaderLabels([t(k) for k in self.JOB_COLUMNS])
        self._fill()

    # -- data -------------------------------------------------------------------------
    def show_devices(self, states: tuple[DeviceState, ...]) -> None:
        self._devices = states
        self._fill_devices()

    def show_queue(self, state: QueueState) -> None:
        self._queue = state
        self._fill_jobs()

    def _fill(self) -> None:
        self._fill_devices()
        self._fill_jobs()

    def status_text(self, state: DeviceState) -> str:
        t = self.ctx.translator.t
        if state.online is None:
            text = t("devices.unknown")
        elif state.online:
            text = t("devices.online")
        else:
            text = f"{t('devices.offline')}: {problem_text(self.ctx, state.problem)}"
        if state.note:
            text += f" ({problem_text(self.ctx, state.note)})"
        if state.used_at is not None:
            text += "\n" + t("devices.last_used", at=local_stamp(state.used_at))
        return text

    def _fill_devices(self) -> None:
        t = self.ctx.translator.t
        table = self.device_table
        table.setRowCount(len(self._devices))
        for row, state in enumerate(self._devices):
            name = state.key.split(":", 1)[1] if ":" in state.key else ""
            label = t(f"devices.kind.{state.kind}")
            if state.key == "scanner:wedge":
                label = t("devices.kind.wedge")
            error = ""
            if state.error:
                what = problem_text(self.ctx, state.error_code)
                said = system_text(self.ctx.translator, state.error)
                error = f"{local_stamp(state.error_at)}  {what}"
                if said and said != what:
                    error += f"\n{said}"
            cells = (label, state.name or name, self.status_text(state), error)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 2 and state.online is False:
                    item.setForeground(Qt.GlobalColor.darkRed)
                table.setItem(row, col, item)
        table.resizeRowsToContents()

    def job_label(self, job: PrintJobInfo) -> str:
        t = self.ctx.translator.t
        what = t(f"jobs.kind.{job.kind}")
        if job.receipt_no:
            what += f" {job.receipt_no}"
        if job.is_copy:
            what += f" ({t('jobs.copy')})"
        return f"#{job.id} {what}"

    def job_error(self, job: PrintJobInfo) -> str:
        """Why a job has not printed, in words: its problem code and what the printer's
        link said (kept as ``code: message`` by the print queue)."""
        if not job.last_error:
            return ""
        code, _, message = job.last_error.partition(": ")
        key = f"printer.problem.{code}"
        if not message or not self.ctx.translator.has(key):
            return system_text(self.ctx.translator, job.last_error)
        what = self.ctx.translator.t(key)
        said = system_text(self.ctx.translator, message)
        if said == what:
            return what
        return self.ctx.translator.t("devices.error_detail", what=what, detail=said)

    def _fill_jobs(self) -> None:
        t = self.ctx.translator.t
        state = self._queue
        title = t("jobs.title", count=state.unprinted)
        if state.retry_in is not None and state.unprinted:
            title += "  ·  " + t("jobs.retry_in", seconds=f"{state.retry_in:.0f}")
        self.queue_title.setText(title)
        table = self.job_table
        table.setRowCount(len(state.jobs))
        for row, job in enumerate(state.jobs):
            cells = (
                self.job_label(job),
                t(f"jobs.state.{job.state}"),
                str(job.attempts),
                self.job_error(job),
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, job.id)
                table.setItem(row, col, item)
        self.retry.setEnabled(state.unprinted > 0)
        self.cancel_job.setEnabled(
            bool(state.jobs) and self.staff is not None and self.staff.can_approve
        )

    # -- actions ----------------------------------------------------------------------
    def _on_retry_clicked(self) -> None:
        self.ctx.printing.retry_now()
        self.banner.show_message(self.ctx.translator.t("devices.retrying"), "info")

    def _on_check_clicked(self) -> None:
        self.ctx.printing.check_printer()
        self.banner.show_message(self.ctx.translator.t("devices.checking"), "info")

    def _on_cancel_job_clicked(self) -> None:
        if self.staff is None or not self.staff.can_approve:
            return
        row = self.job_table.currentRow()
        if row < 0 or row >= len(self._queue.jobs):
            self.banner.show_message(self.ctx.translator.t("devices.pick_job"), "warn")
            return
        job = self._queue.jobs[row]
        self.ctx.printing.cancel(job.id, self.staff)
        self.banner.show_message(
            self.ctx.translator.t("devices.cancelled", job=self.job_label(job)), "info"
        )
