"""A till enrolled at a real HQ, with its window, for scenario tests driven by taps.

``enrol(hq, data, store)`` enrols a terminal database in ``data`` with a one-time code,
as a store does, and writes any local ``settings`` (a test's own thresholds); ``Till``
then builds the terminal and its window on it, online with its sync thread, nobody
signed in. The scan filter reads a :class:`~tests.support.FakeClock`, so a scan typed by
:func:`tests.ui.helpers.scan` is a scan whatever the machine's load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hardware import decode
from pos_app.app import Terminal, build_terminal, build_window, install_scan_filter
from pos_app.localdb.engine import open_database, write_session
from pos_app.localdb.store import set_setting
from pos_app.services.enrollment import EnrollmentService, EnrollTicket
from pos_app.ui.main_window import MainWindow
from server_stub import operations
from server_stub.embedded import EmbeddedHQ
from sync_client import CredentialStore
from tests.support import FakeClock
from tests.sync.conftest import FAST

WAIT = 10_000
"""Milliseconds a screen test waits for HQ's answers and the feed."""


def enrol(
    hq: EmbeddedHQ, data: Path, store: str = "S002", settings: dict[str, Any] | None = None
) -> CredentialStore:
    """Enrols a terminal of ``store`` whose database and credentials live in ``data``."""
    credentials = CredentialStore(data, use_keyring=False)
    engine = open_database(data / "terminal.db")
    code = operations.create_enroll_code(hq.db, store).code
    EnrollmentService(engine, credentials).enroll(EnrollTicket(hq.url, store, code), "1号机")
    if settings:
        with write_session(engine) as session:
            for key, value in settings.items():
                set_setting(session, key, value)
            session.commit()
    engine.dispose()
    return credentials


class Till:
    """An enrolled terminal with its window, online, nobody signed in."""

    def __init__(self, qtbot: Any, qapp: Any, hq: EmbeddedHQ, data: Path) -> None:
        store = CredentialStore(data, use_keyring=False)
        self.terminal: Terminal = build_terminal(
            data / "terminal.db", credential_store=store, sync_config=FAST, language="zh_CN"
        )
        self.win: MainWindow = build_window(self.terminal)
        qtbot.addWidget(self.win)
        self.clock = FakeClock()
        self.qapp = qapp
        self.scan_filter = install_scan_filter(qapp, self.win, self.clock)
        self.win.show()
        self.terminal.start_sync()
        qtbot.waitUntil(lambda: "在线" in self.win.sync_indicator.text(), timeout=WAIT)

    def close(self) -> None:
        self.qapp.removeEventFilter(self.scan_filter)
        self.win.close()
        self.terminal.close()

    def printed(self) -> list[str]:
        """The text of every receipt printed so far, decoded from the printer's bytes."""
        profile = self.terminal.device_settings.printer().printer_profile()
        return [
            decode(job, profile.encoding, chinese_at_power_on=not profile.chinese_mode).text
            for job in self.terminal.virtual_printer.jobs
        ]
