"""GET /v1/sync/pull, /v1/sync/snapshot and /v1/stock/{sku}: what a device may see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from pydantic import TypeAdapter
from sqlalchemy import func, select

from server_stub import models as m
from server_stub import operations
from sync_client.contract import protocol as p
from tests.server.conftest import Chain, RunningHQ
from tests.server.helpers import head

PULL = TypeAdapter(p.PullResponse)


def pull_all(client: httpx.Client, device, after: int, **params) -> tuple[list[p.FeedChange], int]:
    """Pulls until ``more`` is false; checks every page's cursor arithmetic."""
    changes: list = []
    cursor = after
    while True:
        r = client.get("/v1/sync/pull", params={"after": cursor, **params}, headers=device.headers)
        assert r.status_code == 200, r.text
        page = PULL.validate_json(r.content)
        assert page.after == cursor
        assert all(cursor < c.seq <= page.next_after for c in page.changes)
        assert [c.seq for c in page.changes] == sorted(c.seq for c in page.changes)
        changes.extend(page.changes)
        cursor = page.next_after
        if not page.more:
            assert page.next_after == page.head
            return changes, cursor


def test_device_sees_chain_changes_its_store_and_all_stock_levels(
    hq: RunningHQ, chain: Chain, client
):
    mine, theirs = chain.store(), chain.store()
    dev = chain.device(mine)
    start = head(hq.db)
    sku = chain.item(price_fen=1600)
    operations.set_price(hq.db, sku, 1500, stores=[mine])
    operations.set_price(hq.db, sku, 1400, stores=[theirs])
    operations.set_config(hq.db, mine, "receipt.header", "欢迎光临")
    operations.set_config(hq.db, theirs, "receipt.header", "别家")
    my_staff = chain.staff(mine, role="cashier")
    their_staff = chain.staff(theirs, role="cashier")
    operations.move_stock(hq.db, "receive", theirs, sku, 24_000, "delivery")

    changes, _ = pull_all(client, dev, start)
    seen = {(c.kind, c.key) for c in changes}
    assert ("item", sku) in seen
    prices = [c.data for c in changes if isinstance(c, p.PriceChange)]
    assert sorted((x.store or "", x.price_fen) for x in prices) == [("", 1600), (mine, 1500)]
    assert ("config", f"{mine}:receipt.header") in seen
    assert ("config", f"{theirs}:receipt.header") not in seen
    staff_numbers = {c.data.number for c in changes if isinstance(c, p.StaffChange)}
    assert my_staff in staff_numbers and their_staff not in staff_numbers
    stock = [c.data for c in changes if isinstance(c, p.StockChange)]
    assert [(s.store, s.sku, s.on_hand_milli) for s in stock] == [(theirs, sku, 24_000)]

    own_only, _ = pull_all(client, dev, start, stock="own")
    assert not [c for c in own_only if isinstance(c, p.StockChange)]


def test_paging_returns_every_change_once_in_order(hq: RunningHQ, chain: Chain, client):
    store = chain.store()
    dev = chain.device(store)
    start = head(hq.db)
    skus = [chain.item(price_fen=100 + i) for i in range(7)]
    one_page, end = pull_all(client, dev, start, limit=5000)
    small_pages, end2 = pull_all(client, dev, start, limit=3)
    assert [c.seq for c in small_pages] == [c.seq for c in one_page]
    assert end == end2 == head(hq.db)
    assert [c.key for c in one_page if c.kind == "item"] == skus
    assert [c.model_dump() for c in small_pages] == [c.model_dump() for c in one_page]


def test_cursor_older_than_the_feed_keeps_gets_resync(hq: RunningHQ, chain: Chain, client):
    store = chain.store()
    dev = chain.device(store)
    chain.item()
    # Everything so far is older than "now + 1 s" and gets pruned.
    operations.prune_feed(hq.db, timedelta(seconds=-1))
    floor = head(hq.db)
    r = client.get("/v1/sync/pull", params={"after": 0}, headers=dev.headers)
    assert r.status_code == 410
    body = p.ResyncRequired.model_validate(r.json())
    assert body.code == "resync"
    assert body.snapshot == "/v1/sync/snapshot"
    assert body.oldest_after == floor
    ok = client.get("/v1/sync/pull", params={"after": floor}, headers=dev.headers)
    assert ok.status_code == 200
    ahead = client.get("/v1/sync/pull", params={"after": floor + 1000}, headers=dev.headers)
    assert ahead.status_code == 410
    assert "ahead" in ahead.json()["detail"]


def test_snapshot_is_what_a_new_terminal_needs(hq: RunningHQ, chain: Chain, client):
    store, other = chain.store(), chain.store()
    dev = chain.device(store)
    sku = chain.item(price_fen=1600, barcodes=["6901234500017", "PLU:0417"])
    later = datetime.now(UTC) + timedelta(hours=3)
    operations.set_price(hq.db, sku, 1700)
    operations.set_price(hq.db, sku, 1800, effective_at=later)
    operations.set_price(hq.db, sku, 1650, stores=[store])
    operations.set_price(hq.db, sku, 1200, stores=[other])
    operations.move_stock(hq.db, "receive", store, sku, 5000, "delivery")
    operations.move_stock(hq.db, "receive", other, sku, 9000, "delivery")
    cashier = chain.staff(store, role="cashier", pin="2580")
    chain.staff(other, role="cashier")

    r = client.get("/v1/sync/snapshot", headers=dev.headers)
    assert r.status_code == 200, r.text
    snap = p.Snapshot.model_validate(r.json())
    assert snap.seq <= head(hq.db)
    assert snap.store == store
    item = next(i for i in snap.items if i.sku == sku)
    assert item.barcodes == ["6901234500017", "PLU:0417"]
    mine = sorted((x.store or "", x.price_fen) for x in snap.prices if x.sku == sku)
    # Chain-wide: the one in effect (1700) and the future one (1800); the store's own 1650.
    assert mine == [("", 1700), ("", 1800), (store, 1650)]
    assert [(s.store, s.on_hand_milli) for s in snap.stock if s.sku == sku] == [(store, 5000)]
    staff = {s.number: s for s in snap.staff}
    assert cashier in staff and all(s.store in (store, None) for s in snap.staff)
    assert staff[cashier].pin_hash.startswith("scrypt$")
    assert {store, other} <= {s.code for s in snap.stores}


def stock_pages(client: httpx.Client, device, limit: int) -> list[p.StockPage]:
    """Fetches every store's levels page by page, as a new till does after its snapshot."""
    pages: list[p.StockPage] = []
    after = ""
    while True:
        r = client.get(
            p.STOCK_PAGES_PATH, params={"after": after, "limit": limit}, headers=device.headers
        )
        assert r.status_code == 200, r.text
        page = p.StockPage.model_validate_json(r.content)
        assert page.after == after and len(page.levels) <= limit
        pages.append(page)
        if page.next_after is None:
            return pages
        assert page.next_after == f"{page.levels[-1].store}:{page.levels[-1].sku}"
        after = page.next_after


def test_stock_pages_carry_every_stores_levels_once_in_key_order_as_of_their_seq(
    hq: RunningHQ, chain: Chain, client
):
    """GIVEN levels of three stores (another device's store among them), one moved twice
    WHEN a device of the first store fetches every store's levels 2 at a time, and again
    all in one page
    THEN each level of the chain comes once, in (store, sku) order, with its on hand,
    reserved, available and HQ's time; both fetches agree; each page is as of a feed seq
    at or after the last change made before it."""
    mine, b, c = chain.store(), chain.store(), chain.store()
    dev = chain.device(mine)
    water, tea = chain.item(name_zh="矿泉水"), chain.item(name_zh="绿茶")
    operations.move_stock(hq.db, "receive", mine, water, 5_000, "delivery")
    operations.move_stock(hq.db, "receive", b, water, 240_000, "delivery")
    operations.move_stock(hq.db, "receive", b, tea, 12_000, "delivery")
    operations.move_stock(hq.db, "receive", c, tea, 30_000, "delivery")
    operations.move_stock(hq.db, "adjust", c, tea, -1_000, "broken")
    moved = head(hq.db)

    small = stock_pages(client, dev, limit=2)
    levels = [lv for pg in small for lv in pg.levels]
    keys = [(lv.store, lv.sku) for lv in levels]
    assert keys == sorted(set(keys))  # each level once, in key order
    assert all(pg.seq >= moved for pg in small)
    with hq.db.read() as conn:
        total = conn.execute(select(func.count()).select_from(m.stock_levels)).scalar_one()
    assert len(levels) == total
    ours = {(lv.store, lv.sku): lv.on_hand_milli for lv in levels if lv.sku in (water, tea)}
    assert ours == {
        (mine, water): 5_000,
        (b, water): 240_000,
        (b, tea): 12_000,
        (c, tea): 29_000,
    }
    one = next(lv for lv in levels if (lv.store, lv.sku) == (c, tea))
    assert (one.reserved_milli, one.available_milli) == (0, 29_000)
    assert one.updated_at.tzinfo is not None
    whole = stock_pages(client, dev, limit=p.MAX_STOCK_PAGE)
    assert [lv for pg in whole for lv in pg.levels] == levels


def test_stock_pages_refuse_a_malformed_key_and_a_device_without_a_token(
    hq: RunningHQ, chain: Chain, client
):
    dev = chain.device(chain.store())
    bad = client.get(p.STOCK_PAGES_PATH, params={"after": "s1:x y"}, headers=dev.headers)
    assert bad.status_code == 422
    too_many = client.get(
        p.STOCK_PAGES_PATH, params={"limit": p.MAX_STOCK_PAGE + 1}, headers=dev.headers
    )
    assert too_many.status_code == 422
    anonymous = client.get(p.STOCK_PAGES_PATH)
    assert anonymous.status_code == 401


def test_stock_lookup_shows_every_store_newest_first(hq: RunningHQ, chain: Chain, client):
    a, b = chain.store("人民广场"), chain.store("静安寺")
    dev = chain.device(a)
    sku = chain.item(name_zh="矿泉水")
    operations.move_stock(hq.db, "receive", a, sku, 5000, "delivery")
    operations.move_stock(hq.db, "receive", b, sku, 240_000, "delivery")
    r = client.get(f"/v1/stock/{sku}", headers=dev.headers)
    assert r.status_code == 200
    out = p.StockLookup.model_validate(r.json())
    assert [(lv.store, lv.on_hand_milli, lv.available_milli) for lv in out.levels] == [
        (b, 240_000, 240_000),
        (a, 5000, 5000),
    ]
    assert out.levels[0].store_name.startswith("静安寺")
    missing = client.get("/v1/stock/NOPE", headers=dev.headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "unknown_sku"


def test_device_may_not_read_for_another_store(hq: RunningHQ, chain: Chain, client):
    mine, theirs = chain.store(), chain.store()
    dev = chain.device(mine)
    cursor = head(hq.db)
    for path in ("/v1/sync/pull", "/v1/sync/snapshot"):
        r = client.get(path, params={"store": theirs, "after": cursor}, headers=dev.headers)
        assert r.status_code == 403, path
        assert r.json()["code"] == "wrong_store"
        ok = client.get(path, params={"store": mine, "after": cursor}, headers=dev.headers)
        assert ok.status_code == 200, path
