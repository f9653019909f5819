"""The terminal joined to a real HQ on loopback, driven through its screens.

The HQ is the real app on uvicorn (SQLite), seeded with the demo chain; the terminal's
sync client runs on its own thread as in a store. Only the sync timings are shortened.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pos_app.app import build_terminal, build_window, install_scan_filter
from pos_app.i18n import Translator
from pos_app.localdb.engine import open_database
from pos_app.localdb.seed import load_demo_json
from pos_app.services.enrollment import EnrollmentService
from pos_app.ui.enroll_screen import EnrollScreen
from pos_app.ui.sync_status import SyncDetailsDialog
from server_stub import models as m
from server_stub import operations
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from sync_client import CredentialStore
from tests.support import sell_without_shifts
from tests.sync.conftest import FAST, start_hq
from tests.ui.helpers import open_shift_if_asked, scan, sign_in, tap

TARO = "6954321100014"


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[EmbeddedHQ]:
    server = start_hq(f"sqlite:///{tmp_path / 'hq.sqlite3'}")
    seed_chain(server.db, load_demo_json())
    sell_without_shifts(server.db)
    yield server
    server.stop()


def hq_sales(hq: EmbeddedHQ) -> int:
    with hq.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(m.sales)).scalar_one())


def test_first_start_enrols_with_the_qr_code_after_a_wrong_code(qtbot, hq, tmp_path):
    """GIVEN a new terminal's enrolment screen
    WHEN the manager types a wrong code, then scans the enrolment QR HQ printed
    THEN the wrong code is refused in plain Chinese, the QR enrols the terminal as
    S001-T01, and the credentials and HQ's catalogue are stored locally."""
    db = tmp_path / "till" / "terminal.db"
    store = CredentialStore(db.parent, use_keyring=False)
    engine = open_database(db)
    executor = ThreadPoolExecutor(1)
    screen = EnrollScreen(Translator("zh_CN"), EnrollmentService(engine, store).enroll, executor)
    qtbot.addWidget(screen)
    screen.show()
    qtbot.keyClicks(screen.hq_url, hq.url)
    qtbot.keyClicks(screen.store, "s001")
    qtbot.keyClicks(screen.code, "WRONG-CODE")
    tap(qtbot, screen.submit)
    qtbot.waitUntil(lambda: "注册码不对" in screen.banner.text(), timeout=10_000)
    assert store.load() is None

    ticket = operations.create_enroll_code(hq.db, "S001", hq_url=hq.url)
    with qtbot.waitSignal(screen.enrolled, timeout=20_000) as blocker:
        screen.handle_scan(ticket.qr_payload)
    result = blocker.args[0]
    assert result.credentials.device_id == "S001-T01"
    assert result.synced
    assert "S001-T01" in screen.banner.text()
    assert store.load() == result.credentials
    executor.shutdown()
    engine.dispose()

    terminal = build_terminal(db, credential_store=store, language="zh_CN")
    try:
        hit = terminal.catalog.scan(TARO)
        assert (hit.item.name_zh, hit.item.unit_price_fen) == ("芋泥波波", 1500)
    finally:
        terminal.close()


def test_status_bar_follows_hq_through_an_outage_and_sales_flow_once(qtbot, qapp, hq, tmp_path):
    """GIVEN an enrolled terminal on the checkout screen
    WHEN a sale is made online, HQ goes down, a second sale is made, HQ comes back
    THEN the status bar shows online / 0 to upload, then offline with 1 to upload, then
    online with 0; HQ has both sales exactly once; the details show HQ's address, the
    cursor and that the credentials sit in an unencrypted file."""
    from tests.support import FakeClock

    data = tmp_path / "till"
    store = CredentialStore(data, use_keyring=False)
    engine = open_database(data / "terminal.db")
    code = operations.create_enroll_code(hq.db, "S001").code
    from pos_app.services.enrollment import EnrollTicket

    EnrollmentService(engine, store).enroll(EnrollTicket(hq.url, "S001", code), "1号机")
    engine.dispose()
    terminal = build_terminal(
        data / "terminal.db", credential_store=store, sync_config=FAST, language="zh_CN"
    )
    win = build_window(terminal)
    qtbot.addWidget(win)
    clock = FakeClock()
    scan_filter = install_scan_filter(qapp, win, clock)
    win.show()
    terminal.sync.start()
    indicator = win.sync_indicator
    try:
        qtbot.waitUntil(lambda: "在线" in indicator.text(), timeout=10_000)
        sign_in(qtbot, win, "1001", "1234")
        open_shift_if_asked(qtbot, win)
        qtbot.waitUntil(lambda: win.stack.currentWidget() is win.checkout, timeout=5000)

        def sell() -> None:
            scan(qtbot, win, clock, TARO)
            tap(qtbot, win.checkout.pay)
            tap(qtbot, win.tender.quick_buttons[0])
            qtbot.waitUntil(lambda: win.stack.currentWidget() is win.done, timeout=5000)
            tap(qtbot, win.done.next_sale)

        sell()
        qtbot.waitUntil(lambda: hq_sales(hq) == 1, timeout=10_000)
        qtbot.waitUntil(lambda: "待上传 0 笔" in indicator.text(), timeout=10_000)

        port = int(hq.url.rsplit(":", 1)[1])
        hq.stop()
        qtbot.waitUntil(lambda: "离线" in indicator.text(), timeout=10_000)
        sell()
        qtbot.waitUntil(lambda: "待上传 1 笔" in indicator.text(), timeout=10_000)

        back = start_hq(hq.settings.db_url, port=port)
        try:
            qtbot.waitUntil(
                lambda: "在线" in indicator.text() and "待上传 0 笔" in indicator.text(),
                timeout=15_000,
            )
            assert hq_sales(back) == 2

            tap(qtbot, indicator)
            qtbot.waitUntil(lambda: win.findChild(SyncDetailsDialog) is not None)
            dialog = win.findChild(SyncDetailsDialog)
            qtbot.waitUntil(lambda: "未加密文件" in dialog.fields["credentials"].text())
            assert dialog.fields["hq"].text() == hq.url
            assert dialog.fields["device"].text() == "S001-T01"
            assert "已应用到" in dialog.fields["cursor"].text()
            assert dialog.rejected_list.item(0).text() == "没有被拒的记录"
            dialog.accept()
        finally:
            back.stop()
    finally:
        qapp.removeEventFilter(scan_filter)
        win.close()
        terminal.close()
