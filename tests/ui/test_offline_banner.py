"""Offline is impossible to miss: a coloured strip across the selling screens.

A real HQ on loopback serves an enrolled S002 till; HQ is stopped and started again on
the same port, as a store's line going down and coming back does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pos_app.localdb.seed import load_demo_json
from pos_app.ui.theme import apply_theme
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from tests.support import sell_without_shifts
from tests.sync.conftest import start_hq
from tests.ui.enrolled import WAIT, Till, enrol
from tests.ui.fit import SIZES, misfits, put_on_screen
from tests.ui.helpers import open_shift_if_asked, scan, sign_in, tap

TARO = "6954321100014"  # 芋泥波波 ¥15.00


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[EmbeddedHQ]:
    server = start_hq(f"sqlite:///{tmp_path / 'hq.sqlite3'}")
    seed_chain(server.db, load_demo_json())
    sell_without_shifts(server.db)
    yield server
    server.stop()


@pytest.fixture
def till(qtbot, qapp, hq: EmbeddedHQ, tmp_path: Path) -> Iterator[Till]:
    apply_theme(qapp)  # the shipped font and sizes: what the fit below is judged with
    enrol(hq, tmp_path / "till")
    t = Till(qtbot, qapp, hq, tmp_path / "till")
    yield t
    t.close()


def test_a_till_that_loses_hq_shows_an_offline_banner_while_selling(
    qtbot, hq: EmbeddedHQ, till: Till
) -> None:
    """GIVEN a signed-in cashier at an S002 till online, with a member on the sale
    WHEN HQ stops answering
    THEN a coloured banner across the checkout screen and the payment screen says, in plain
    Chinese, that the till is offline, that selling goes on and how old the prices are;
    the screens still fit each panel with it; it is not on the device panel; and once
    HQ answers again the banner is gone."""
    from tests.server.member_helpers import add_member, card_code

    win = till.win
    banner = win.offline_banner
    assert banner is not None
    sign_in(qtbot, win, "2001", "3579")
    open_shift_if_asked(qtbot, win)
    qtbot.waitUntil(lambda: win.stack.currentWidget() is win.checkout)
    assert not banner.isVisible()
    number, _phone = add_member(hq.db, hq.keys, points=1280, balance_fen=5000, tier="gold")
    scan(qtbot, win, till.clock, TARO)
    scan(qtbot, win, till.clock, card_code(hq.keys, number))
    qtbot.waitUntil(lambda: win.checkout.member_panel.title.text() == "王芳", timeout=WAIT)

    port = int(hq.url.rsplit(":", 1)[1])
    hq.stop()
    qtbot.waitUntil(banner.isVisible, timeout=WAIT)
    text = banner.text()
    assert text.startswith("离线：连不上总部，照常收银")
    assert re.search(r"更新于 (\d+ 秒前|\d+ 分钟前|\d\d-\d\d \d\d:\d\d)", text), text
    assert not re.search(r"[A-Za-z]", text), text
    assert banner.property("kind") == "offline"
    problems = []
    for size in SIZES:
        put_on_screen(win, size)
        problems += [f"checkout {size}: {m}" for m in misfits(win)]
    tap(qtbot, win.checkout.pay)
    assert banner.isVisible()
    for size in SIZES:
        put_on_screen(win, size)
        problems += [f"tender {size}: {m}" for m in misfits(win)]
    assert not problems, "\n".join(problems)
    tap(qtbot, win.tender.back)
    tap(qtbot, win.devices_button)
    assert win.stack.currentWidget() is win.devices_screen
    assert not banner.isVisible()
    tap(qtbot, win.devices_screen.back)
    assert win.stack.currentWidget() is win.checkout
    assert banner.isVisible()

    back = start_hq(hq.settings.db_url, port=port)
    try:
        qtbot.waitUntil(lambda: not banner.isVisible(), timeout=15_000)
        assert "在线" in win.sync_indicator.text()
    finally:
        back.stop()
