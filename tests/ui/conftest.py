"""Fixtures for screen tests.

The screens are driven the way a cashier drives them: real widgets on an offscreen Qt
platform, real services on a real (temporary) SQLite database seeded with the demo chain,
the real virtual printer whose ESC/POS bytes the tests decode. Only two things are made
up: PIN hashes use a cheap scrypt cost so sign-ins are fast, and the scan filter's clock
is a :class:`FakeClock` the test advances, so "typed at 5 ms per key" is exact instead of
depending on how busy the machine is.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from pos_app.app import Terminal, build_terminal, build_window, install_scan_filter
from pos_app.localdb.engine import open_database, write_session
from pos_app.localdb.seed import load_demo
from pos_app.localdb.store import set_setting
from pos_app.ui.main_window import MainWindow
from pos_app.ui.scan_filter import ScanEventFilter
from pos_app.ui.theme import apply_theme
from tests.support import FakeClock, fast_hash


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    db = tmp_path / "terminal.db"
    engine = open_database(db)
    load_demo(engine, store_code="S001", terminal_id="S001-T01", pin_hasher=fast_hash)
    with write_session(engine) as session:
        set_setting(session, "rounding", "jiao")
        # Selling outside a shift: the shift screens' tests turn it back on.
        set_setting(session, "shift.required", False)
        session.commit()
    engine.dispose()
    return db


@pytest.fixture
def terminal(demo_db: Path) -> Iterator[Terminal]:
    term = build_terminal(demo_db, language="zh_CN", print_retry=(0.05, 0.5))
    yield term
    term.close()


@pytest.fixture
def scan_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def window(
    qtbot, qapp: QApplication, terminal: Terminal, scan_clock: FakeClock
) -> Iterator[MainWindow]:
    apply_theme(qapp)
    win = build_window(terminal)
    qtbot.addWidget(win)
    scan_filter = install_scan_filter(qapp, win, scan_clock)
    win.scan_filter = scan_filter  # type: ignore[attr-defined]
    win.show()
    qtbot.waitExposed(win)
    yield win
    qapp.removeEventFilter(scan_filter)


def scan_filter_of(win: MainWindow) -> ScanEventFilter:
    return win.scan_filter  # type: ignore[attr-defined,no-any-return]
