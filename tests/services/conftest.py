"""Fixtures for the service tests.

Why they exist:

* ``terminal`` is the real composition root (``build_terminal``) on a real SQLite file
  seeded with the demo milk-tea chain for store S001, till S001-T01, so services are
  tested with the wiring the shop runs. The seeded file is made once per session and
  copied per test, because seeding dominates otherwise; PIN hashes use scrypt n=2**4.
* ``clock`` is a :class:`FakeClock`: lockouts end and prices switch at exact moments
  the test chooses, without sleeping.
* ``printer`` is a :class:`RecordingPrinter`, a hand-written fake that keeps the
  documents it is given and can run out of paper; what reaches paper is the hardware
  tests' business (and the print queue tests', which use the virtual printer over
  TCP). The terminal's print worker runs, so every sale's receipt reaches it.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hardware import PROFILES, Document, PaperOut, PrinterStatus, render
from pos_app.app import Terminal, build_terminal
from pos_app.localdb.engine import open_database, read_session, write_session
from pos_app.localdb.models import AuditEntry
from pos_app.localdb.seed import load_demo
from pos_app.localdb.store import set_setting
from pos_app.services.auth import StaffMember
from tests.support import FakeClock, fast_hash

STORE = "S001"
TERMINAL = "S001-T01"


class RecordingPrinter:
    """Keeps every document it is asked to print and every drawer kick; ``paper_out``
    makes it refuse jobs (before sending anything) like a printer whose roll ran out.
    Called from the print worker thread, read by the test thread."""

    profile = PROFILES["generic-80-gb18030"]

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._documents: list[Document] = []
        self.kicks = 0
        self.paper_out = False

    @property
    def documents(self) -> list[Document]:
        with self._lock:
            return list(self._documents)

    def print_document(self, document: Document) -> bytes:
        if self.paper_out:
            raise PaperOut("the paper roll is empty")
        with self._lock:
            self._documents.append(document)
        return render(document, self.profile)

    def query_status(self) -> PrinterStatus:
        return PrinterStatus(
            online=not self.paper_out,
            paper_out=self.paper_out,
            paper_near_end=False,
            cover_open=False,
        )

    def open_drawer(self, pin: int | None = None) -> None:
        with self._lock:
            self.kicks += 1


def printed(
    terminal: Terminal, printer: RecordingPrinter, count: int, timeout: float = 5.0
) -> list[Document]:
    """Waits (on the print queue's own notifications) until ``count`` documents printed."""
    assert terminal.printing.wait_for(lambda _s: len(printer.documents) >= count, timeout)
    return printer.documents


def audit_actions(terminal: Terminal) -> list[tuple[str | None, str]]:
    """(staff, action) of every audit entry, oldest first."""
    with read_session(terminal.engine) as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(r.staff, r.action) for r in rows]


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("services-template") / "demo.db"
    engine = open_database(path)
    load_demo(engine, store_code=STORE, terminal_id=TERMINAL, pin_hasher=fast_hash)
    with write_session(engine) as session:
        # Selling outside a shift: the shift tests (test_shifts.py) turn it back on.
        set_setting(session, "shift.required", False)
        session.commit()
    engine.dispose()  # checkpoints the WAL: the main file alone is the database
    return path


@pytest.fixture
def db_path(demo_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "terminal.db"
    shutil.copyfile(demo_template, path)
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def printer() -> RecordingPrinter:
    return RecordingPrinter()


@pytest.fixture
def terminal(db_path: Path, clock: FakeClock, printer: RecordingPrinter) -> Iterator[Terminal]:
    terminal = build_terminal(db_path, clock=clock, printer=printer, print_retry=(0.05, 0.2))
    yield terminal
    terminal.close()


@pytest.fixture
def cashier(terminal: Terminal) -> StaffMember:
    return terminal.auth.sign_in("1001", "1234")


@pytest.fixture
def supervisor(terminal: Terminal) -> StaffMember:
    return terminal.auth.sign_in("1003", "135790")
