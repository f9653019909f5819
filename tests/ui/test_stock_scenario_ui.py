"""Scenario 9's first step on S002's stock screen, driven by taps, at a till enrolled with
a real HQ on loopback (SQLite), following every store's levels as the till does.

The rest of the scenario (approve, ship, a short receipt, what HQ and both tills hold
afterwards) runs through the tills' services in ``tests/sync/test_scenario_stock.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QInputMethodEvent
from PySide6.QtWidgets import QApplication, QLineEdit
from sqlalchemy import select

from pos_app.app import Terminal, build_terminal, build_window, install_scan_filter
from pos_app.localdb.engine import open_database
from pos_app.localdb.seed import load_demo_json
from pos_app.services.enrollment import EnrollmentService, EnrollTicket
from pos_app.ui.main_window import MainWindow
from server_stub import models as m
from server_stub import operations
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from sync_client import CredentialStore
from tests.support import FakeClock, sell_without_shifts
from tests.sync.conftest import FAST, start_hq
from tests.ui.helpers import sign_in, tap

pytestmark = pytest.mark.slow  # a real HQ and an enrolled till with its sync thread

WATER = "DR001"  # 矿泉水 550ml
MANAGER = ("2004", "97531")  # S002's store manager in the demo chain
WAIT = 10_000


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[EmbeddedHQ]:
    server = start_hq(f"sqlite:///{tmp_path / 'hq.sqlite3'}")
    seed_chain(server.db, load_demo_json(), stock=False)
    sell_without_shifts(server.db)
    for s in load_demo_json()["stores"]:
        operations.update_store(
            server.db, s["code"], region="华东", latitude=s["lat"], longitude=s["lon"]
        )
    yield server
    server.stop()


@pytest.fixture
def s002(qtbot, qapp, hq: EmbeddedHQ, tmp_path: Path) -> Iterator[tuple[Terminal, MainWindow]]:
    """S002's till, enrolled and online, its window shown; every store's 矿泉水 is booked
    in at HQ after enrolment, so the levels reach the till through the feed."""
    data = tmp_path / "till"
    store = CredentialStore(data, use_keyring=False)
    engine = open_database(data / "terminal.db")
    code = operations.create_enroll_code(hq.db, "S002").code
    EnrollmentService(engine, store).enroll(EnrollTicket(hq.url, "S002", code), "1号机")
    engine.dispose()
    terminal = build_terminal(
        data / "terminal.db",
        credential_store=store,
        sync_config=dataclasses.replace(FAST, stock="all"),
        language="zh_CN",
    )
    win = build_window(terminal)
    qtbot.addWidget(win)
    scan_filter = install_scan_filter(qapp, win, FakeClock())
    win.show()
    terminal.start_sync()
    qtbot.waitUntil(lambda: "在线" in win.sync_indicator.text(), timeout=WAIT)
    for code_, qty in (("S001", 300_000), ("S002", 12_000), ("S003", 240_000)):
        operations.move_stock(hq.db, "receive", code_, WATER, qty, "opening stock")
    yield terminal, win
    qapp.removeEventFilter(scan_filter)
    win.close()
    terminal.close()


def ime_commit(field: QLineEdit, text: str) -> None:
    """Chinese typed as a pinyin input method hands it over: one committed string (Qt's
    key clicks carry Latin-1 only)."""
    field.setFocus()
    event = QInputMethodEvent()
    event.setCommitString(text)
    QApplication.sendEvent(field, event)
    assert field.text() == text


def test_s002_searches_water_sees_s003_first_and_requests_48_by_taps(
    qtbot, hq: EmbeddedHQ, s002: tuple[Terminal, MainWindow]
) -> None:
    """GIVEN S002's enrolled till online, 矿泉水 at S001 300, S002 12, S003 240
    WHEN S002's manager opens 库存, types 矿泉水, taps 查询, taps S003's row, sets 48
    and taps 申请调拨
    THEN the levels list S002 first, then S003 (nearest, 240 on hand), then S001, and the
    request reaches HQ as a transfer of 48 from S003 to S002."""
    terminal, win = s002
    sign_in(qtbot, win, *MANAGER)
    qtbot.waitUntil(lambda: win.stack.currentWidget() is win.checkout, timeout=WAIT)
    tap(qtbot, win.checkout.stock_button)
    hub = win.stock_hub
    assert win.stack.currentWidget() is hub
    screen = hub.lookup
    ime_commit(screen.query, "矿泉水")

    def listed() -> list[str]:
        tap(qtbot, screen.find_button)
        rows = range(screen.levels.rowCount())
        return [screen.levels.item(r, 0).text() for r in rows]

    # The other stores' levels arrive through the feed; 查询 again until all three show.
    qtbot.waitUntil(lambda: len(listed()) == 3, timeout=WAIT)
    names = listed()
    assert names[0].startswith("茶语时光 西湖店") and names[1:] == [
        "茶语时光 观前街店",
        "茶语时光 人民广场店",
    ]
    assert screen.results.count() == 1 and WATER in screen.results.item(0).text()
    assert [screen.levels.item(r, 2).text() for r in range(3)] == ["12", "240", "300"]
    km = [screen.levels.item(r, 1).text() for r in (1, 2)]
    assert all(k.endswith(" 公里") for k in km)  # Suzhou ~125 km, Shanghai ~165 km away
    assert int(km[0].split()[0]) < int(km[1].split()[0])

    rect = screen.levels.visualItemRect(screen.levels.item(1, 2))
    qtbot.mouseClick(screen.levels.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert screen.levels.currentRow() == 1
    screen.quantity.setValue(48)
    tap(qtbot, screen.request_button)
    assert "S002-" in screen.banner.text()

    assert terminal.stock is not None
    (row,) = terminal.stock.transfers()
    assert (row.from_store, row.to_store, row.state) == ("S003", "S002", "requested")
    assert [(ln.sku, ln.requested_milli) for ln in row.lines] == [(WATER, 48_000)]
    t, ln = m.transfers, m.transfer_lines

    def at_hq() -> list[tuple[str, str, str, int]]:
        with hq.db.read() as conn:
            return [
                (str(r[0]), str(r[1]), str(r[2]), int(r[3]))
                for r in conn.execute(
                    select(t.c.from_store, t.c.to_store, t.c.state, ln.c.requested_milli).join(
                        ln, ln.c.transfer_id == t.c.transfer_id
                    )
                )
            ]

    qtbot.waitUntil(lambda: at_hq() == [("S003", "S002", "requested", 48_000)], timeout=WAIT)
