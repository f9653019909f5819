"""A terminal and HQ in sync on a healthy network: enrolment, sales up, changes down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from server_stub import models as m
from server_stub import operations
from server_stub.db import Database
from tests.sync.conftest import start_hq, wait_until
from tests.sync.convergence import hq_level

TARO = "MT001"  # 芋泥波波 ¥15, 240 in stock in every store
TARO_BARCODE = "6954321100014"


def hq_sales(db) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(m.sales)).scalar_one())


def test_enrolment_brings_the_chain_and_a_sale_reaches_hq_stock(hq, terminals):
    """GIVEN a new terminal enrolled at S001 with a one-time code
    WHEN it sells two 芋泥波波 by barcode
    THEN its first copy already had HQ's price and stock, HQ records the sale once and
    takes 2 off S001's stock, the outbox empties and the till shows HQ's level."""
    t = terminals("S001")
    before = t.item(TARO)
    assert (before.price_fen, before.stock_milli) == (1500, 240_000)

    sale = t.sell([(TARO_BARCODE, 2000)])
    assert sale.total_fen == 3000
    assert t.item(TARO).stock_milli == 238_000  # at once, before HQ answers

    wait_until(lambda: hq_level(hq.db, "S001", TARO) == 238_000, what="HQ stock")
    wait_until(lambda: t.outbox() == (0, 0), what="outbox empty")
    wait_until(lambda: t.terminal.sync.status.cursor >= version_seq(hq), what="caught up")
    assert hq_sales(hq.db) == 1
    assert t.item(TARO).stock_milli == 238_000
    assert hq_level(hq.db, "S002", TARO) == 240_000


def test_price_set_at_hq_reaches_every_terminal_and_switches_at_effective_at(hq, terminals):
    """GIVEN terminals at S001 and S002, online
    WHEN HQ publishes ¥18 for 芋泥波波 effective in two seconds
    THEN both terminals hold the new version before it applies, charge ¥15 until then and
    ¥18 from then, and a sale records the price version it used."""
    a, b = terminals("S001"), terminals("S002")
    wait_until(lambda: a.terminal.sync.status.online and b.terminal.sync.status.online)
    effective = datetime.now(UTC) + timedelta(seconds=2)
    (version,) = operations.set_price(hq.db, TARO, 1800, effective)
    wait_until(
        lambda: all(t.terminal.sync.status.cursor >= version_seq(hq) for t in (a, b)),
        what="both terminals at HQ's head",
    )
    if datetime.now(UTC) < effective - timedelta(milliseconds=300):
        assert a.item(TARO).price_fen == 1500
        assert b.item(TARO).price_fen == 1500
    wait_until(lambda: a.item(TARO).price_fen == 1800 and b.item(TARO).price_fen == 1800)
    sale = a.sell([(TARO, 1000)])
    assert sale.lines[0].price_version == version.version


def version_seq(hq) -> int:
    with hq.db.read() as conn:
        return int(conn.execute(select(m.feed_state.c.last_seq)).scalar_one())


def test_a_till_back_after_hq_restarts_is_current_from_the_live_channel_alone(
    hq, hq_url_db, terminals
):
    """GIVEN a terminal at S001, online
    WHEN HQ stops, a price is changed while it is down, and HQ starts again on its port
    THEN the terminal is back online holding the new price, and the new HQ process answered
    no pull request for it: what it missed came on the live channel behind the welcome."""
    t = terminals("S001")
    wait_until(lambda: t.terminal.sync.status.online, what="online")
    port = int(hq.url.rsplit(":", 1)[1])
    hq.stop()
    wait_until(lambda: not t.terminal.sync.status.online, what="offline while HQ is down")
    db = Database(hq_url_db)
    try:
        operations.set_price(db, TARO, 1900)
    finally:
        db.dispose()
    again = start_hq(hq_url_db, port=port)
    try:
        wait_until(
            lambda: t.terminal.sync.status.online and t.item(TARO).price_fen == 1900,
            what="back online with the new price",
        )
        assert t.terminal.sync.status.cursor >= version_seq(again)
        metrics = httpx.get(again.url + "/metrics", timeout=10).text
        assert "chainpos_pull_requests_total 0" in metrics.splitlines()
    finally:
        again.stop()
