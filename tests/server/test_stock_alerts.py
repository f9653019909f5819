"""Safety stock, low-stock alerts and transfer proposals at HQ: an alert is raised once
when a store goes below its minimum and resolved when it is back; proposals pair short
stores with the nearest stores above their maximum."""

from __future__ import annotations

import httpx
import pytest

from server_stub import operations, stock_alerts
from tests.server.conftest import Chain, RunningHQ
from tests.server.stock_helpers import alerts, pulled, push


@pytest.fixture(scope="module")
def admin(chain: Chain) -> dict[str, str]:
    return {"Authorization": f"Bearer {chain.admin_token()}"}


def test_a_store_going_below_its_minimum_raises_one_alert_until_it_is_back(
    hq: RunningHQ, chain: Chain, client: httpx.Client, admin: dict[str, str]
):
    """GIVEN a chain-wide minimum of 10 and a store minimum of 20 for one store
    WHEN that store's sales take it from 25 to 19 and then to 12
    THEN one low alert (minimum 20, 1 short) is open, at HQ and on that store's tills only;
    WHEN 10 are received THEN it is resolved, and the tills hear that too."""
    store, other = chain.store(), chain.store()
    sku = chain.item()
    operations.move_stock(hq.db, "receive", store, sku, 25_000, "opening")
    r = client.put(
        "/v1/admin/stock/safety",
        json={"sku": sku, "min_milli": 10_000, "max_milli": 100_000},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    r = client.put(
        "/v1/admin/stock/safety",
        json={"sku": sku, "store": store, "min_milli": 20_000, "max_milli": 60_000},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    dev, dev_other = chain.device(store), chain.device(other)
    assert push(client, dev, [chain.sale(dev, [(sku, 6_000)])]) == ["applied"]
    assert push(client, dev, [chain.sale(dev, [(sku, 7_000)])]) == ["applied"]
    low = alerts(hq.db, store, sku, "low")
    assert [(a.min_milli, a.on_hand_milli, a.resolved_at) for a in low] == [(20_000, 19_000, None)]
    assert [a.qty_milli for a in low] == [1_000]
    listed = client.get("/v1/admin/stock/alerts", params={"store": store}, headers=admin).json()
    assert [(a["kind"], a["sku"], a["resolved"]) for a in listed] == [("low", sku, False)]

    operations.move_stock(hq.db, "receive", store, sku, 10_000, "delivery")
    assert alerts(hq.db, store, sku, "low")[0].resolved_at is not None
    heard = [c["data"] for c in pulled(client, dev, "alert") if c["data"]["sku"] == sku]
    assert [(a["kind"], a["resolved"]) for a in heard] == [("low", False), ("low", True)]
    assert heard[0]["qty_milli"] == 1_000
    assert pulled(client, dev_other, "alert") == []
    assert client.get("/v1/admin/stock/alerts", params={"store": store}, headers=admin).json() == []


def test_setting_a_minimum_above_the_level_raises_the_alert_at_once(
    hq: RunningHQ, chain: Chain, client: httpx.Client, admin: dict[str, str]
):
    """GIVEN a store with 5 on hand WHEN HQ sets its minimum to 8 THEN a low alert opens;
    WHEN the minimum is lowered to 4 THEN it is resolved."""
    store = chain.store()
    sku = chain.item()
    operations.move_stock(hq.db, "receive", store, sku, 5_000, "opening")
    stock_alerts.set_safety(hq.db, sku, store, 8_000, 20_000)
    assert [a.resolved_at for a in alerts(hq.db, store, sku, "low")] == [None]
    stock_alerts.set_safety(hq.db, sku, store, 4_000, 20_000)
    assert alerts(hq.db, store, sku, "low")[0].resolved_at is not None
    bad = client.put(
        "/v1/admin/stock/safety",
        json={"sku": sku, "min_milli": 5, "max_milli": 4},
        headers=admin,
    )
    assert bad.status_code == 422


def test_an_offline_sale_below_zero_is_accepted_and_raises_a_negative_alert(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN 1 on hand WHEN an offline sale of 3 arrives THEN HQ accepts it, the level is
    -2 and a negative alert reaches that store's tills."""
    store = chain.store()
    sku = chain.item()
    operations.move_stock(hq.db, "receive", store, sku, 1_000, "opening")
    dev = chain.device(store)
    sale = chain.sale(dev, [(sku, 3_000)])
    assert push(client, dev, [sale]) == ["applied"]
    neg = alerts(hq.db, store, sku, "negative")
    assert [(a.on_hand_milli, a.ref) for a in neg] == [(-2_000, sale["payload"]["sale_id"])]
    assert [c["data"]["kind"] for c in pulled(client, dev, "alert")] == ["negative"]


def _grid_chain(hq: RunningHQ, chain: Chain, admin, client: httpx.Client, sku: str):
    """A 6 x 5 grid of stores 0.1 degree apart around Shanghai, with a minimum of 10 and a
    maximum of 40 for ``sku`` chain-wide."""
    stores: dict[tuple[int, int], str] = {}
    for i in range(6):
        for j in range(5):
            code = chain.store(f"网格{i}{j}")
            r = client.patch(
                f"/v1/admin/stores/{code}",
                json={"region": "华东", "latitude": 31.0 + i * 0.1, "longitude": 121.0 + j * 0.1},
                headers=admin,
            )
            assert r.status_code == 200, r.text
            stores[(i, j)] = code
    stock_alerts.set_safety(hq.db, sku, None, 10_000, 40_000)
    return stores


def test_proposals_take_from_the_nearest_stores_above_their_maximum(
    hq: RunningHQ, chain: Chain, client: httpx.Client, admin: dict[str, str]
):
    """GIVEN a grid of 30 stores (minimum 10, maximum 40) where the corner store has 4,
    its neighbour two cells away has 50, one three cells away 70 and the far corner 100
    WHEN the corner store asks for proposals
    THEN it is offered 10 from the nearer store and 26 from the next (bringing it to 40,
    leaving neither donor below 40), nothing from the far corner; chain-wide HQ sees the
    same; and another store's device may not ask for the corner store."""
    sku = chain.item(name_zh="矿泉水")
    grid = _grid_chain(hq, chain, admin, client, sku)
    levels = {(0, 0): 4_000, (0, 2): 50_000, (3, 0): 70_000, (5, 4): 100_000}
    for (i, j), code in grid.items():
        operations.move_stock(hq.db, "receive", code, sku, levels.get((i, j), 20_000), "opening")
    corner = grid[(0, 0)]
    dev = chain.device(corner)
    r = client.get("/v1/stock/proposals", headers=dev.headers)
    assert r.status_code == 200, r.text
    got = [(x["from_store"], x["qty_milli"]) for x in r.json()["proposals"]]
    assert got == [(grid[(0, 2)], 10_000), (grid[(3, 0)], 26_000)]
    first = r.json()["proposals"][0]
    assert first["to_on_hand_milli"] == 4_000 and 18 < first["distance_km"] < 21
    chain_wide = client.get("/v1/admin/stock/proposals", headers=admin).json()["proposals"]
    assert [(x["from_store"], x["qty_milli"]) for x in chain_wide if x["sku"] == sku] == got
    other = chain.device(grid[(1, 1)])
    refused = client.get("/v1/stock/proposals", params={"store": corner}, headers=other.headers)
    assert refused.status_code == 403


def test_without_coordinates_the_same_region_comes_first(
    hq: RunningHQ, chain: Chain, client: httpx.Client, admin: dict[str, str]
):
    """GIVEN a short store in region 华南 and two donors, one in 华北 with the lower code
    and one in 华南 WHEN proposals are made THEN the 华南 donor is asked first."""
    sku = chain.item()
    short = chain.store()
    far = chain.store()
    near = chain.store()
    for code, region in ((short, "华南"), (far, "华北"), (near, "华南")):
        operations.update_store(hq.db, code, region=region)
    stock_alerts.set_safety(hq.db, sku, None, 10_000, 20_000)
    for code, qty in ((short, 0), (far, 30_000), (near, 25_000)):
        operations.move_stock(hq.db, "receive", code, sku, qty or 1, "opening")
    with hq.db.read() as conn:
        got = [(x.from_store, x.qty_milli) for x in stock_alerts.proposals(conn, short)]
    assert got == [(near, 5_000), (far, 10_000)]


def test_store_location_reaches_every_till(
    hq: RunningHQ, chain: Chain, client: httpx.Client, admin: dict[str, str]
):
    """GIVEN a store WHEN HQ sets its region and coordinates THEN every till receives the
    store change with them, and the snapshot carries them."""
    code = chain.store()
    dev = chain.device(chain.store())
    r = client.patch(
        f"/v1/admin/stores/{code}",
        json={"region": "华东", "latitude": 31.23, "longitude": 121.47},
        headers=admin,
    )
    assert r.status_code == 200
    last = [c["data"] for c in pulled(client, dev, "store") if c["key"] == code][-1]
    assert (last["region"], last["latitude"], last["longitude"]) == ("华东", 31.23, 121.47)
    snap = client.get("/v1/sync/snapshot", headers=dev.headers).json()
    mine = next(s for s in snap["stores"] if s["code"] == code)
    assert mine["region"] == "华东"
    half = client.patch(f"/v1/admin/stores/{code}", json={"latitude": 1.0}, headers=admin)
    assert half.status_code == 422
