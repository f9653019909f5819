"""EnrollScreen: the first start of a terminal joins it to a store at HQ.

The store manager types HQ's address, the store and the one-time code HQ staff gave them,
or scans the enrolment QR code (``chainpos-hq device enroll-code`` prints it), which fills
everything and starts at once. Talking to HQ happens on a worker thread; the screen stays
responsive and says plainly what went wrong (wrong code, code used, HQ unreachable).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from pos_app.i18n import Translator
from pos_app.services.enrollment import (
    EnrollmentError,
    EnrollResult,
    EnrollTicket,
    parse_enroll_qr,
)
from pos_app.ui.widgets import Banner, TouchButton

KNOWN_ERRORS = frozenset(
    {
        "enroll_code_invalid",
        "enroll_code_used",
        "enroll_code_expired",
        "wrong_store",
        "unknown_store",
        "unreachable",
        "bad_address",
        "insecure_address",
        "bad_qr",
        "invalid_request",
    }
)


class EnrollScreen(QWidget):
    """Asks for HQ's address and a one-time code; ``enrolled`` fires with the result."""

    enrolled = Signal(object)  # EnrollResult
    _finished = Signal(object)  # EnrollResult or EnrollmentError, from the worker

    def __init__(
        self,
        translator: Translator,
        enroll: Callable[[EnrollTicket, str], EnrollResult],
        executor: Executor,
        *,
        default_device_name: str = "",
    ) -> None:
        super().__init__()
        self.setObjectName("EnrollScreen")
        self.translator = translator
        self._enroll = enroll
        self._executor = executor
        self.busy = False
        t = translator.t
        layout = QVBoxLayout(self)
        self.title = QLabel(t("enroll.title"))
        self.title.setObjectName("screen_title")
        layout.addWidget(self.title)
        self.hint = QLabel(t("enroll.hint"))
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        form = QFormLayout()
        self.hq_url = QLineEdit()
        self.hq_url.setObjectName("enroll_hq_url")
        self.hq_url.setPlaceholderText("https://hq.example.com")
        self.store = QLineEdit()
        self.store.setObjectName("enroll_store")
        self.store.setPlaceholderText("S001")
        self.code = QLineEdit()
        self.code.setObjectName("enroll_code")
        self.device_name = QLineEdit(default_device_name or t("enroll.default_device"))
        self.device_name.setObjectName("enroll_device_name")
        form.addRow(t("enroll.hq_url"), self.hq_url)
        form.addRow(t("enroll.store"), self.store)
        form.addRow(t("enroll.code"), self.code)
        form.addRow(t("enroll.device_name"), self.device_name)
        layout.addLayout(form)
        self.banner = Banner()
        layout.addWidget(self.banner)
        self.submit = TouchButton(t("enroll.submit"), role="primary")
        self.submit.setObjectName("enroll_submit")
        self.submit.clicked.connect(self._on_submit_clicked)
        layout.addWidget(self.submit)
        self._finished.connect(self._on_finished)
        self.hq_url.setFocus()

    def handle_scan(self, code: str) -> None:
        """A scanned enrolment QR fills the form and starts enrolling."""
        try:
            ticket = parse_enroll_qr(code)
        except EnrollmentError as exc:
            self._show_error(exc)
            return
        self.hq_url.setText(ticket.hq_url)
        self.store.setText(ticket.store)
        self.code.setText(ticket.code)
        self._on_submit_clicked()

    def _on_submit_clicked(self) -> None:
        if self.busy:
            return
        t = self.translator.t
        url, store, code = (w.text().strip() for w in (self.hq_url, self.store, self.code))
        if not (url and store and code):
            self.banner.show_message(t("enroll.missing"), "warn")
            return
        ticket = EnrollTicket(url, store.upper(), code)
        name = self.device_name.text().strip() or t("enroll.default_device")
        self.busy = True
        self.submit.setEnabled(False)
        self.banner.show_message(t("enroll.working", url=url), "info")
        self._executor.submit(self._run, ticket, name)

    def _run(self, ticket: EnrollTicket, name: str) -> None:
        # Worker thread: talks to HQ, then hands the outcome to the GUI thread.
        try:
            outcome: object = self._enroll(ticket, name)
        except EnrollmentError as exc:
            outcome = exc
        except Exception as exc:  # storage failures (keyring, disk): say so, keep the form
            outcome = EnrollmentError("storage", str(exc))
        self._finished.emit(outcome)

    def _on_finished(self, outcome: object) -> None:
        self.busy = False
        self.submit.setEnabled(True)
        if isinstance(outcome, EnrollmentError):
            self._show_error(outcome)
            return
        assert isinstance(outcome, EnrollResult)
        t = self.translator.t
        self.banner.show_message(t("enroll.done", device=outcome.credentials.device_id), "info")
        self.enrolled.emit(outcome)

    def _show_error(self, exc: EnrollmentError) -> None:
        t = self.translator.t
        key = f"enroll.error.{exc.error}" if exc.error in KNOWN_ERRORS else "enroll.error.other"
        self.banner.show_message(t(key, detail=exc.detail), "error")
