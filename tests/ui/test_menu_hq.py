"""The menu between a real HQ on loopback and an enrolled terminal, driven by its screens:
the drink's options reach HQ's sale lines, a sold-out mark reaches HQ, and a menu HQ
publishes reaches the tiles while the till sells."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from pos_app.app import build_terminal, build_window, install_scan_filter
from pos_app.localdb.engine import open_database
from pos_app.localdb.seed import load_demo_json
from pos_app.services.enrollment import EnrollmentService, EnrollTicket
from server_stub import menu, operations
from server_stub import models as m
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from server_stub.queries import stale_report
from sync_client import CredentialStore
from tests.support import FakeClock, sell_without_shifts
from tests.sync.conftest import FAST, start_hq
from tests.ui.helpers import open_shift_if_asked, sign_in, tap


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[EmbeddedHQ]:
    server = start_hq(f"sqlite:///{tmp_path / 'hq.sqlite3'}")
    seed_chain(server.db, load_demo_json())
    sell_without_shifts(server.db)
    yield server
    server.stop()


def test_options_and_sold_out_reach_hq_and_a_new_menu_reaches_the_tiles(
    qtbot, qapp, hq: EmbeddedHQ, tmp_path: Path
):
    """GIVEN a terminal of S001 enrolled with an HQ that published the demo menu
    WHEN the cashier sells 芋泥波波 大杯 少冰 with 珍珠 from the tiles, marks 烤奶 sold out,
    and HQ then publishes a menu without 珍珠奶茶
    THEN HQ's sale line carries the options, the menu version and ¥20.00, and is not
    counted stale; HQ lists 烤奶 as sold out at S001 today; the tiles lose 珍珠奶茶."""
    data = tmp_path / "till"
    store = CredentialStore(data, use_keyring=False)
    engine = open_database(data / "terminal.db")
    code = operations.create_enroll_code(hq.db, "S001").code
    EnrollmentService(engine, store).enroll(EnrollTicket(hq.url, "S001", code), "1号机")
    engine.dispose()
    terminal = build_terminal(
        data / "terminal.db", credential_store=store, sync_config=FAST, language="zh_CN"
    )
    win = build_window(terminal)
    qtbot.addWidget(win)
    scan_filter = install_scan_filter(qapp, win, FakeClock())
    win.show()
    assert terminal.sync is not None
    terminal.sync.start()
    since = datetime.now(UTC) - timedelta(minutes=1)
    try:
        qtbot.waitUntil(lambda: "在线" in win.sync_indicator.text(), timeout=10_000)
        sign_in(qtbot, win, "1001", "1234")
        open_shift_if_asked(qtbot, win)
        qtbot.waitUntil(lambda: win.stack.currentWidget() is win.checkout, timeout=5000)
        panel = win.menu_panel
        assert panel is not None
        qtbot.waitUntil(lambda: "MT001" in panel.tiles, timeout=5000)
        tap(qtbot, panel.tiles["MT001"])
        qtbot.waitUntil(lambda: panel.sheet is not None)
        sheet = panel.sheet
        for key in (("size", "large"), ("ice", "less"), ("topping", "pearl")):
            tap(qtbot, sheet.buttons[key])
        tap(qtbot, sheet.add)
        assert win.checkout.values["total"].text() == "¥20.00"
        tap(qtbot, win.checkout.pay)
        tap(qtbot, win.tender.exact)
        qtbot.waitUntil(lambda: win.stack.currentWidget() is win.done, timeout=5000)
        tap(qtbot, win.done.next_sale)
        tap(qtbot, panel.sold_out_button)
        tap(qtbot, panel.tiles["MT010"])
        tap(qtbot, panel.sold_out_button)
        terminal.sync.notify_outbox()

        def hq_has_it() -> bool:
            with hq.db.read() as conn:
                lines = conn.execute(select(m.sale_lines)).all()
                sold_out = menu.sold_out_list(conn, "S001", datetime.now().astimezone().date())
            return len(lines) == 1 and [s.sku for s in sold_out] == ["MT010"]

        qtbot.waitUntil(hq_has_it, timeout=20_000)
        with hq.db.read() as conn:
            (line,) = conn.execute(select(m.sale_lines)).all()
            in_force = menu.menu_in_effect(conn, "S001", datetime.now(UTC))
            report = stale_report(conn, since, "S001")
        assert in_force is not None
        assert (line.sku, line.unit_price_fen, line.amount_fen) == ("MT001", 2000, 2000)
        assert [o["name"] for o in json.loads(line.options_json)] == [
            "大杯",
            "半糖",
            "少冰",
            "珍珠",
        ]
        assert line.menu_version == in_force.version
        assert (report.lines, report.stale_lines) == (1, 0)

        body = load_demo_json()["menu"]
        body["tiles"] = [t for t in body["tiles"] if t["sku"] != "MT002"]
        menu.publish_menu(hq.db, body)
        qtbot.waitUntil(
            lambda: "MT002" not in panel.tiles and "MT001" in panel.tiles, timeout=20_000
        )
    finally:
        qapp.removeEventFilter(scan_filter)
        terminal.close()
