"""A till enrolled after stock moved elsewhere sees every store's levels at once.

Its snapshot holds its own store's levels; every store's levels follow in pages
(``GET /v1/sync/snapshot/stock``) fetched by the sync client right after, each level with
HQ's time. Nothing changes at the other stores after the till enrols, so only the pages
can bring their levels. HQ runs on SQLite, and on PostgreSQL when
``CHAINPOS_TEST_PG_URL`` is set.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from sqlalchemy import select

from pos_app.localdb.replica import LocalReplica
from pos_app.localdb.seed import load_demo_json
from server_stub import models as m
from server_stub import operations
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from sync_client import HQClient
from sync_client.contract import protocol as p
from tests.server.helpers import level
from tests.server.stock_helpers import push, request, step
from tests.server.support import Chain
from tests.support import sell_without_shifts
from tests.sync.conftest import Enrol, start_hq, wait_until
from tests.sync.test_scenario_stock import ALL_STOCK, WATER, place_stores, stock

pytestmark = pytest.mark.slow  # an enrolled till against a real HQ on loopback


@pytest.fixture
def hq(hq_url_db: str) -> Iterator[EmbeddedHQ]:
    """The demo chain without opening stock: the levels are booked in before the till
    under test enrols."""
    server = start_hq(hq_url_db)
    seed_chain(server.db, load_demo_json(), stock=False)
    sell_without_shifts(server.db)
    yield server
    server.stop()


def hq_time(hq: EmbeddedHQ, store: str, sku: str) -> datetime:
    sl = m.stock_levels
    with hq.db.read() as conn:
        at = conn.execute(
            select(sl.c.updated_at).where(sl.c.store_code == store, sl.c.sku == sku)
        ).scalar_one()
    assert isinstance(at, datetime)
    return at


MANAGERS = {"S001": "1004", "S002": "2004", "S003": "3004"}


def ship(hq: EmbeddedHQ, sender: str, receiver: str, qty_milli: int) -> uuid.UUID:
    """The receiver's manager asks the sender for ``qty_milli`` of 矿泉水; the sender's
    manager approves and ships it: pushed by the two stores' devices as their tills would."""
    chain = Chain(hq.db, hq.url)
    to, sends = chain.device(receiver), chain.device(sender)
    boss_to, boss_from = MANAGERS[receiver], MANAGERS[sender]
    with httpx.Client(base_url=hq.url, timeout=30) as client:
        tid, ask = request(chain, to, sender, boss_to, [(WATER, qty_milli)])
        assert push(client, to, [ask]) == ["applied"]
        approve = step(chain, sends, "approved", tid, boss_from, [(WATER, qty_milli)])
        shipped = step(chain, sends, "shipped", tid, boss_from, [(WATER, qty_milli)])
        assert push(client, sends, [approve, shipped]) == ["applied", "applied"]
    return tid


def test_a_till_enrolled_after_stock_moved_elsewhere_sees_every_store_at_once(
    hq: EmbeddedHQ, terminals: Enrol
) -> None:
    """GIVEN the demo chain placed on the map with 矿泉水 at S001 300 and S002 12, S003 at 192
    after shipping 48 to S002, and S001 at 280 after shipping 20 to S003 (both in transit)
    WHEN a new till of S002 that follows every store's levels enrols, and nothing moves
    THEN its look-up shows S002 at 12 with 48 in transit, S003 (nearest) at 192 with 20 in
    transit and S001 at 280, each with HQ's own time of the level; and when S001 then
    receives 10 at HQ, the till shows 290: the later change wins over what the snapshot
    brought."""
    place_stores(hq)
    for store, qty in {"S001": 300_000, "S002": 12_000, "S003": 240_000}.items():
        operations.move_stock(hq.db, "receive", store, WATER, qty, "opening stock")
    ship(hq, "S003", "S002", 48_000)
    ship(hq, "S001", "S003", 20_000)
    assert level(hq.db, "S003", WATER) == 192_000
    assert level(hq.db, "S001", WATER) == 280_000

    till = terminals("S002", config=ALL_STOCK)

    def every_store() -> dict[str, tuple[int, int, datetime | None]] | None:
        view = stock(till).lookup(WATER)
        shown = {
            lv.store: (lv.on_hand_milli, lv.in_transit_milli, lv.updated_at) for lv in view.levels
        }
        return shown if len(shown) == 3 else None

    shown = wait_until(every_store, what="every store's level on the new till")
    assert [lv.store for lv in stock(till).lookup(WATER).levels] == ["S002", "S003", "S001"]
    assert shown == {
        "S002": (12_000, 48_000, hq_time(hq, "S002", WATER)),
        "S003": (192_000, 20_000, hq_time(hq, "S003", WATER)),
        "S001": (280_000, 0, hq_time(hq, "S001", WATER)),
    }

    operations.move_stock(hq.db, "receive", "S001", WATER, 10_000, "delivery")

    def s001() -> int | None:
        at = {lv.store: lv.on_hand_milli for lv in stock(till).lookup(WATER).levels}["S001"]
        return at if at == 290_000 else None

    assert wait_until(s001, what="S001's new level on the till") == 290_000
    s001_level = next(lv for lv in stock(till).lookup(WATER).levels if lv.store == "S001")
    assert s001_level.updated_at == hq_time(hq, "S001", WATER)


def test_a_fetch_cut_short_resumes_from_its_key_and_the_feed_still_wins(
    hq: EmbeddedHQ, terminals: Enrol, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN 矿泉水 and 苏打水 at S001, S002 and S003 at HQ, and a new till of S002 that
    fetched the first page of every store's levels (2 levels) before it stopped
    WHEN S001's 矿泉水, already fetched, changes at HQ, and the till starts again
    THEN it fetches on from where it stopped (never the first page again) and ends with
    every level as HQ has it, S001's 矿泉水 at its new level from the feed."""
    soda = "DR002"
    for store in ("S001", "S002", "S003"):
        for sku, qty in ((WATER, 100_000), (soda, 50_000)):
            operations.move_stock(hq.db, "receive", store, sku, qty, "opening stock")
    config = dataclasses.replace(ALL_STOCK, stock_page_limit=2)
    till = terminals("S002", config=config, start=False)
    replica = LocalReplica(till.terminal.engine, "S002")
    assert replica.stock_pages_after() == ""

    sync = till.terminal.sync
    assert sync is not None

    async def first_page() -> p.StockPage:
        http = HQClient(hq.url, sync.creds.token)
        try:
            return await http.stock_page("", 2)
        finally:
            await http.aclose()

    page = asyncio.run(first_page())
    assert [(lv.store, lv.sku) for lv in page.levels] == [("S001", WATER), ("S001", soda)]
    assert replica.apply_stock_page(page) is True
    assert replica.stock_pages_after() == f"S001:{soda}"

    operations.move_stock(hq.db, "adjust", "S001", WATER, -30_000, "broken")
    asked: list[str] = []
    fetch = HQClient.stock_page

    async def recording(self: HQClient, after: str, limit: int = p.MAX_STOCK_PAGE) -> p.StockPage:
        asked.append(after)
        return await fetch(self, after, limit)

    monkeypatch.setattr(HQClient, "stock_page", recording)
    till.start()

    def everything() -> dict[tuple[str, str], int] | None:
        if replica.stock_pages_after() is not None:
            return None
        shown = {
            (lv.store, sku): lv.on_hand_milli
            for sku in (WATER, soda)
            for lv in stock(till).lookup(sku).levels
            if not lv.own
        }
        return shown if shown.get(("S001", WATER)) == 70_000 else None

    assert wait_until(everything, what="every level on the till") == {
        ("S001", WATER): 70_000,
        ("S001", soda): 50_000,
        ("S003", WATER): 100_000,
        ("S003", soda): 50_000,
    }
    assert asked and asked[0] == f"S001:{soda}" and "" not in asked
