"""第二件半价 from HQ to two tills and back: a real HQ on loopback, two enrolled terminals
(one in the East region, one in the West) driven by their screens, each on its own
:class:`FakeClock` (set months away from HQ's time, so the sync client's clock offset, which
ignores anything over a week, leaves it alone)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from hardware import decode
from pos_app.app import Terminal, build_terminal, build_window, install_scan_filter
from pos_app.localdb.engine import open_database, read_session
from pos_app.localdb.seed import load_demo_json
from pos_app.services.enrollment import EnrollmentService, EnrollTicket
from server_stub import models as m
from server_stub import operations, promotions
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from sync_client import CredentialStore
from tests.support import FakeClock, sell_without_shifts
from tests.sync.conftest import FAST, start_hq
from tests.ui.helpers import scan, sign_in, tap

pytestmark = pytest.mark.slow

MANGO_L = "6954321100137"  # 杨枝甘露(大), FT001, ¥16.00
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _saturday() -> datetime:
    """Saturday 00:00 in Shanghai, two to three weeks ahead: prices HQ publishes now are
    in force then, and the till's clock is more than a week from HQ's."""
    day = (datetime.now(UTC) + timedelta(days=14)).astimezone(SHANGHAI).date()
    day += timedelta(days=(5 - day.weekday()) % 7)
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[EmbeddedHQ]:
    server = start_hq(f"sqlite:///{tmp_path / 'hq.sqlite3'}")
    seed_chain(server.db, load_demo_json())
    sell_without_shifts(server.db)
    operations.set_store_region(server.db, "S001", "east")
    operations.set_store_region(server.db, "S002", "west")
    yield server
    server.stop()


def _till(qtbot, qapp, hq: EmbeddedHQ, where: Path, store: str, clock: FakeClock):
    creds = CredentialStore(where, use_keyring=False)
    engine = open_database(where / "terminal.db")
    code = operations.create_enroll_code(hq.db, store).code
    EnrollmentService(engine, creds).enroll(EnrollTicket(hq.url, store, code), "1号机")
    engine.dispose()
    terminal = build_terminal(
        where / "terminal.db",
        credential_store=creds,
        sync_config=FAST,
        language="zh_CN",
        clock=clock,
        print_retry=(0.05, 0.5),
    )
    win = build_window(terminal)
    qtbot.addWidget(win)
    win.show()
    assert terminal.sync is not None
    terminal.sync.start()
    return terminal, win


def _holds_promotion(terminal: Terminal) -> bool:
    with read_session(terminal.engine) as s:
        return s.execute(text("SELECT count(*) FROM promotion")).scalar_one() == 1


def _two_cups(qtbot, qapp, win, clock: FakeClock) -> str:
    """Two cups scanned at ``win`` (the only window listening to the scanner meanwhile)."""
    scan_filter = install_scan_filter(qapp, win, clock)
    try:
        win.activateWindow()
        scan(qtbot, win, clock, MANGO_L)
        scan(qtbot, win, clock, MANGO_L)
        qtbot.waitUntil(lambda: win.checkout.model.rowCount() == 1, timeout=5000)
    finally:
        qapp.removeEventFilter(scan_filter)
    return win.checkout.values["total"].text()


def _pay(qtbot, win) -> None:
    tap(qtbot, win.checkout.pay)
    tap(qtbot, win.tender.exact)
    qtbot.waitUntil(lambda: win.stack.currentWidget() is win.done, timeout=5000)
    tap(qtbot, win.done.next_sale)


def test_second_cup_half_price_starts_at_saturday_midnight_in_the_east_only(
    qtbot, qapp, hq: EmbeddedHQ, tmp_path: Path
):
    saturday = _saturday()
    """GIVEN HQ publishes 第二件半价 for 杨枝甘露 in the East region from Saturday 00:00,
    a till of S001 (East) and a till of S002 (West) online
    WHEN at 23:59:59 Friday S001 rings up two cups, and at 00:00:00 both tills do
    THEN on Friday two cups cost ¥32.00; at midnight S001's cost ¥24.00, its line naming
    the promotion and the receipt listing it with 共优惠, while S002's still cost ¥32.00;
    HQ's report counts one sale under the promotion at S001 with ¥8.00 off."""
    definition: dict[str, Any] = {
        "name_zh": "第二件半价",
        "name_en": "Second cup half price",
        "kind": "nth_item",
        "params": {"n": 2, "percent_bp": 5000},
        "targets": {"items": ["FT001"]},
        "scope": {"regions": ["east"]},
        "starts_at": saturday.isoformat(),
    }
    promo = promotions.add_promotion(hq.db, definition)
    friday_235959 = saturday.astimezone(UTC) - timedelta(seconds=1)
    east_clock, west_clock = FakeClock(friday_235959), FakeClock(friday_235959)
    east, east_win = _till(qtbot, qapp, hq, tmp_path / "east", "S001", east_clock)
    west, west_win = _till(qtbot, qapp, hq, tmp_path / "west", "S002", west_clock)
    try:
        for terminal, win in ((east, east_win), (west, west_win)):
            qtbot.waitUntil(lambda w=win: "在线" in w.sync_indicator.text(), timeout=10_000)
            qtbot.waitUntil(lambda t=terminal: _holds_promotion(t), timeout=10_000)
        sign_in(qtbot, east_win, "1001", "1234")
        sign_in(qtbot, west_win, "2001", "3579")
        for win in (east_win, west_win):
            qtbot.waitUntil(lambda w=win: w.stack.currentWidget() is w.checkout, timeout=5000)

        assert _two_cups(qtbot, qapp, east_win, east_clock) == "¥32.00"
        _pay(qtbot, east_win)

        for clock in (east_clock, west_clock):
            clock.advance(saturday.astimezone(UTC) - clock.now())
        assert _two_cups(qtbot, qapp, east_win, east_clock) == "¥24.00"
        line_text = east_win.checkout.model.index(0, 0).data()
        assert "第二件半价 -¥8.00" in line_text
        _pay(qtbot, east_win)
        assert _two_cups(qtbot, qapp, west_win, west_clock) == "¥32.00"

        device = east.virtual_printer
        qtbot.waitUntil(lambda: len(device.jobs) >= 2, timeout=5000)
        profile = east.device_settings.printer().printer_profile()
        receipt = decode(
            device.jobs[1], profile.encoding, chinese_at_power_on=not profile.chinese_mode
        )
        assert any("促销：第二件半价" in ln and "-¥8.00" in ln for ln in receipt.text_lines)
        assert any("共优惠" in ln and "-¥8.00" in ln for ln in receipt.text_lines)

        east.sync.notify_outbox()

        def hq_counted() -> bool:
            with hq.db.read() as conn:
                return bool(conn.execute(select(m.sale_line_promotions)).all())

        qtbot.waitUntil(hq_counted, timeout=20_000)
        with hq.db.read() as conn:
            report = promotions.report(
                conn,
                saturday - timedelta(days=1),
                saturday + timedelta(days=1),
                zone=SHANGHAI,
                promotion_id=promo.id,
            )
        (total,) = report.chain
        assert (total.sales, total.discount_fen, total.pieces) == (1, 800, 2)
        assert [(u.store, u.sales) for u in report.stores] == [("S001", 1)]
    finally:
        east.close()
        west.close()
