"""Sync with HQ on screen: the Qt bridge, the status-bar indicator and its details.

:class:`SyncBridge` lives on the GUI thread. The sync service calls its listeners on the
sync thread; the bridge re-emits them as Qt signals, which Qt queues to the GUI thread.
Reading the details (refused events) touches the database, so it runs on the terminal's
worker and comes back as a signal too.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from pos_app.i18n import Translator
from pos_app.services.receipts import LOCAL_TZ
from pos_app.ui.errors import code_text, system_text
from pos_app.ui.widgets import TouchButton

if TYPE_CHECKING:
    # Types only: the sync client (httpx, websockets) loads when a terminal enrolled with
    # HQ builds its sync service, never for the first screen of one that is not.
    from pos_app.services.sync import SyncDetails, SyncService
    from pos_app.services.types import SyncStatus


class SyncBridge(QObject):
    """Turns the sync service's callbacks into signals on the GUI thread."""

    status_changed = Signal(object)  # SyncStatus
    data_changed = Signal(object)  # frozenset[str] of change kinds
    details_loaded = Signal(object)  # SyncDetails

    def __init__(self, service: SyncService, executor: Executor) -> None:
        super().__init__()
        self.service = service
        self._executor = executor
        service.subscribe(self.status_changed.emit, self.data_changed.emit)

    @property
    def status(self) -> SyncStatus:
        return self.service.status

    def load_details(self) -> None:
        """Reads the details off the GUI thread; ``details_loaded`` brings them back."""
        self._executor.submit(lambda: self.details_loaded.emit(self.service.details()))

    def retry_rejected(self, seq: int) -> None:
        def run() -> None:
            self.service.retry_rejected(seq)
            self.details_loaded.emit(self.service.details())

        self._executor.submit(run)


def _age_text(t: Callable[..., str], since: datetime | None, now: datetime) -> str:
    if since is None:
        return t("sync.never")
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        return t("sync.seconds_ago", n=seconds)
    if seconds < 3600:
        return t("sync.minutes_ago", n=seconds // 60)
    return since.astimezone(LOCAL_TZ).strftime("%m-%d %H:%M")


def status_text(t: Callable[..., str], status: SyncStatus, now: datetime) -> str:
    """One line for the status bar: state, outbox depth, age of the last change."""
    parts = [t(f"sync.state.{status.state}"), t("sync.outbox", n=status.outbox_pending)]
    if status.outbox_rejected:
        parts.append(t("sync.rejected", n=status.outbox_rejected))
    parts.append(t("sync.last_change", age=_age_text(t, status.last_change_at, now)))
    return " · ".join(parts)


class SyncIndicator(TouchButton):
    """The status bar's sync state; always visible, refreshed every second. Tap: details."""

    def __init__(
        self,
        bridge: SyncBridge,
        translator: Translator,
        may_retry: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__()
        self.setObjectName("sync_status")
        self.bridge = bridge
        self.translator = translator
        self.may_retry = may_retry
        self.status = bridge.status
        bridge.status_changed.connect(self._on_bridge_status_changed)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(1000)
        self.clicked.connect(self._on_clicked)
        self.refresh()

    def _on_bridge_status_changed(self, status: SyncStatus) -> None:
        self.status = status
        self.refresh()

    def refresh(self) -> None:
        self.setText(status_text(self.translator.t, self.status, datetime.now(UTC)))
        self.setProperty("state", self.status.state)
        self.style().unpolish(self)
        self.style().polish(self)

    def _on_clicked(self) -> None:
        dialog = SyncDetailsDialog(
            self.bridge, self.translator, self.window(), may_retry=self.may_retry()
        )
        dialog.open()


OFFLINE_STATES = frozenset({"offline", "revoked"})
"""Sync states in which the till sells on its own and nothing reaches HQ."""


class OfflineBanner(QLabel):
    """A coloured strip across the selling screens while HQ cannot be reached: the till
    sells on, and the cashier sees how old the prices and stock are. Hidden online.
    Runs on the GUI thread; the age is refreshed every second while shown."""

    def __init__(self, bridge: SyncBridge, translator: Translator) -> None:
        super().__init__()
        self.setObjectName("offline_banner")
        self.setProperty("kind", "offline")
        # One line, whatever the width: a wrapping label would make the selling screens
        # under it ask for a second line's height on a 768-pixel panel.
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.translator = translator
        self.status = bridge.status
        self.wanted = False
        """Whether the screen under it is one that sells (checkout, payment)."""
        bridge.status_changed.connect(self._on_bridge_status_changed)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(1000)
        self.refresh()

    @property
    def offline(self) -> bool:
        return self.status.state in OFFLINE_STATES

    def show_on_screen(self, wanted: bool) -> None:
        self.wanted = wanted
        self.refresh()

    def _on_bridge_status_changed(self, status: SyncStatus) -> None:
        self.status = status
        self.refresh()

    def refresh(self) -> None:
        t = self.translator.t
        if self.offline:
            age = _age_text(t, self.status.last_change_at, datetime.now(UTC))
            self.setText(t(f"sync.banner.{self.status.state}", age=age))
        self.setVisible(self.wanted and self.offline)


class SyncDetailsDialog(QDialog):
    """HQ address, device, cursor, last error, credential storage and refused events."""

    def __init__(
        self,
        bridge: SyncBridge,
        translator: Translator,
        parent: QWidget,
        *,
        may_retry: bool = False,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("SyncDetailsDialog")
        self.bridge = bridge
        self.may_retry = may_retry
        self.translator = translator
        t = translator.t
        self.t = t
        self.setWindowTitle(t("sync.details.title"))
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.fields: dict[str, QLabel] = {}
        for key in (
            "state",
            "hq",
            "device",
            "outbox",
            "cursor",
            "last_change",
            "last_error",
            "clock",
            "credentials",
        ):
            label = QLabel()
            label.setObjectName(f"sync_{key}")
            label.setWordWrap(True)
            self.fields[key] = label
            form.addRow(t(f"sync.details.{key}"), label)
        layout.addLayout(form)
        layout.addWidget(QLabel(t("sync.details.rejected")))
        self.rejected_list = QListWidget()
        self.rejected_list.setObjectName("sync_rejected")
        layout.addWidget(self.rejected_list)
        self.retry = QPushButton(t("sync.details.retry"))
        self.retry.setObjectName("sync_retry")
        self.retry.clicked.connect(self._on_retry_clicked)
        self.retry.setEnabled(False)
        layout.addWidget(self.retry)
        self.problems_label = QLabel(t("sync.details.problems", n=0))
        self.problems_label.setObjectName("sync_problems_count")
        layout.addWidget(self.problems_label)
        self.problems_list = QListWidget()
        self.problems_list.setObjectName("sync_problems")
        layout.addWidget(self.problems_list)
        close = TouchButton(t("common.close"))
        close.clicked.connect(self.accept)
        layout.addWidget(close)
        self._rejected_seqs: list[int] = []
        bridge.status_changed.connect(self._show_status)
        bridge.details_loaded.connect(self._show_details)
        self._show_status(bridge.status)
        bridge.load_details()
        self.resize(640, 560)

    def _show_status(self, s: SyncStatus) -> None:
        t = self.t
        now = datetime.now(UTC)
        f = self.fields
        f["state"].setText(t(f"sync.state.{s.state}"))
        f["hq"].setText(s.hq_url)
        f["device"].setText(s.device_id)
        f["outbox"].setText(
            t("sync.details.outbox_value", pending=s.outbox_pending, rejected=s.outbox_rejected)
        )
        f["cursor"].setText(t("sync.details.cursor_value", cursor=s.cursor, head=s.head))
        f["last_change"].setText(_age_text(t, s.last_change_at, now))
        if s.last_error:
            when = (
                s.last_error_at.astimezone(LOCAL_TZ).strftime("%H:%M:%S") if s.last_error_at else ""
            )
            f["last_error"].setText(f"{when} {self._said(s.last_error)}")
        else:
            f["last_error"].setText(t("sync.details.no_error"))
        f["clock"].setText(t("sync.details.clock_value", ms=f"{s.clock_offset_ms:+.0f}"))

    def _show_details(self, d: SyncDetails) -> None:
        t = self.t
        storage = d.credentials_storage
        if not d.credentials_encrypted:
            storage = t("sync.details.plain_file", where=storage)
        self.fields["credentials"].setText(storage)
        self.rejected_list.clear()
        self._rejected_seqs = []
        for ev in d.rejected:
            when = ev.occurred_at.astimezone(LOCAL_TZ).strftime("%m-%d %H:%M")
            self.rejected_list.addItem(
                f"#{ev.seq} {when} {self._named('event', ev.type)} {ev.summary} — "
                f"{self._said(ev.error)}"
            )
            self._rejected_seqs.append(ev.seq)
        if not d.rejected:
            self.rejected_list.addItem(t("sync.details.none_rejected"))
        # Refused events are never retried blindly: a supervisor or manager decides.
        self.retry.setEnabled(bool(d.rejected) and self.may_retry)
        self.problems_label.setText(t("sync.details.problems", n=len(d.problems)))
        self.problems_list.clear()
        for x in d.problems:
            when = x.at.astimezone(LOCAL_TZ).strftime("%m-%d %H:%M")
            seq = f"#{x.seq} " if x.seq is not None else ""
            state = t("sync.details.reported") if x.reported else t("sync.details.not_reported")
            self.problems_list.addItem(
                f"{seq}{when} {self._named('change', x.kind)} {x.key} — "
                f"{self._said(x.error)} ({state})"
            )
        if not d.problems:
            self.problems_list.addItem(t("sync.details.no_problems"))
        self._show_status(d.status)

    def _named(self, what: str, kind: str) -> str:
        """An event type or a feed change kind in words (``sync.event.*``,
        ``sync.change.*``); one this version does not name (a newer HQ's) as sent."""
        key = f"sync.{what}.{kind}"
        return self.translator.t(key) if self.translator.has(key) else kind

    def _said(self, error: str) -> str:
        """An error as HQ or the link reported it, in words: a registered code (a refused
        event's reason) by its text, anything else read by :func:`system_text`."""
        code = error.split(":", 1)[0].strip()
        if self.translator.has(f"error.{code}"):
            return code_text(self.translator, code)
        return system_text(self.translator, error, about="hq")

    def _on_retry_clicked(self) -> None:
        row = self.rejected_list.currentRow()
        if 0 <= row < len(self._rejected_seqs):
            self.bridge.retry_rejected(self._rejected_seqs[row])
