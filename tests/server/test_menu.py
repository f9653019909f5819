"""The menu at HQ on real uvicorn (SQLite and PostgreSQL): publishing versions, refusing
bad ones, the feed and the snapshot, sale lines with options, sold-out reports, stale
counting, and the ``chainpos-hq menu`` commands."""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from server_stub import cli, menu
from server_stub import models as m
from server_stub.errors import ApiError
from server_stub.queries import stale_report
from sync_client.contract import protocol as p
from tests.server.conftest import Chain, Device, RunningHQ
from tests.support import error_code


def _menu(*skus: str, toppings_max: int = 3) -> dict[str, Any]:
    return {
        "categories": [{"code": "tea", "name_zh": "奶茶", "name_en": "Milk tea"}],
        "groups": [
            {
                "code": "size",
                "name_zh": "杯型",
                "min_choices": 1,
                "max_choices": 1,
                "choices": [
                    {"code": "medium", "name_zh": "中杯", "default": True},
                    {"code": "large", "name_zh": "大杯", "price_fen": 300},
                ],
            },
            {
                "code": "topping",
                "name_zh": "加料",
                "min_choices": 0,
                "max_choices": toppings_max,
                "choices": [{"code": "pearl", "name_zh": "珍珠", "price_fen": 200}],
            },
        ],
        "tiles": [
            {"sku": sku, "category": "tea", "colour": "#C8875E", "groups": ["size", "topping"]}
            for sku in skus
        ],
    }


def _pull(client: httpx.Client, dev: Device, kind: str) -> list[dict[str, Any]]:
    r = client.get("/v1/sync/pull", params={"after": 0, "limit": 5000}, headers=dev.headers)
    assert r.status_code == 200, r.text
    return [c for c in r.json()["changes"] if c["kind"] == kind]


def _push(client: httpx.Client, dev: Device, events: list[dict[str, Any]]) -> dict[str, Any]:
    r = client.post("/v1/sync/push", json={"events": events}, headers=dev.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_published_menu_reaches_the_store_tills_through_the_feed_and_the_snapshot(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a chain menu and a menu of S-A's own published ahead of time
    THEN a till of S-A pulls both as ``menu`` changes and finds both in its snapshot; a
    till of S-B sees only the chain's; the data reads back as the lenient reader reads it."""
    store_a, store_b = chain.store(), chain.store()
    sku = chain.item()
    chain_menu = menu.publish_menu(hq.db, _menu(sku))
    later = datetime.now(UTC) + timedelta(days=1)
    own = menu.publish_menu(hq.db, _menu(sku, toppings_max=2), store=store_a, effective_at=later)
    assert own.version > chain_menu.version
    dev_a, dev_b = chain.device(store_a), chain.device(store_b)
    seen_a = {c["data"]["version"] for c in _pull(client, dev_a, "menu")}
    seen_b = {c["data"]["version"] for c in _pull(client, dev_b, "menu")}
    assert {chain_menu.version, own.version} <= seen_a
    assert chain_menu.version in seen_b and own.version not in seen_b
    change = next(c for c in _pull(client, dev_a, "menu") if c["key"] == str(own.version))
    parsed = p.MenuChange.model_validate(change)
    assert parsed.data.store == store_a
    assert [g.max_choices for g in parsed.data.groups] == [1, 2]
    snap = client.get("/v1/sync/snapshot", headers=dev_a.headers).json()
    versions = [mn["version"] for mn in snap["menus"]]
    assert own.version in versions and versions.count(own.version) == 1
    snap_b = client.get("/v1/sync/snapshot", headers=dev_b.headers).json()
    assert own.version not in [mn["version"] for mn in snap_b["menus"]]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["tiles"].append({"sku": "NO-SUCH", "category": "tea"}), "no such item"),
        (lambda d: d["groups"][1].update(choices=[]), "has no choices"),
        (lambda d: d["groups"][0].update(min_choices=3, max_choices=3), "needs 3 of its"),
        (lambda d: d["groups"][0].update(min_choices=2), "min_choices is above max_choices"),
        (lambda d: d["tiles"][0].update(groups=["size", "ice"]), "no option group ice"),
        (lambda d: d["tiles"][0].update(category="coffee"), "no category coffee"),
        (lambda d: d["groups"][0]["choices"][1].update(price_fen=-1), "greater than or equal"),
        (lambda d: d.update(extra=[]), "unknown field"),
    ],
)
def test_a_menu_that_does_not_hold_together_is_refused_and_nothing_is_published(
    hq: RunningHQ, chain: Chain, change, problem: str
):
    """A tile of a missing item, a group with no choices or limits it cannot meet, a tile
    naming a group or category that is not there, a negative price, an unknown field:
    ``invalid_menu`` naming the problem, and the feed does not move."""
    sku = chain.item()
    body = _menu(sku)
    change(body)
    with hq.db.read() as conn:
        before = conn.execute(select(m.menu_versions.c.id)).all()
    with pytest.raises(ApiError) as refused:
        menu.publish_menu(hq.db, body)
    assert refused.value.code == "invalid_menu"
    assert problem in refused.value.detail
    with hq.db.read() as conn:
        assert conn.execute(select(m.menu_versions.c.id)).all() == before


def test_options_on_an_item_sold_by_weight_are_refused(hq: RunningHQ, chain: Chain):
    """Options are per cup: a tile of a weighed item may not ask for any."""
    nuts = chain.item(price_fen=9800, unit="kg")
    with pytest.raises(ApiError) as refused:
        menu.publish_menu(hq.db, _menu(nuts))
    assert refused.value.code == "invalid_menu"
    assert f"tile {nuts}: an item sold by weight takes no options" in refused.value.detail
    body = _menu(nuts)
    body["tiles"][0]["groups"] = []
    assert menu.publish_menu(hq.db, body).tiles[0].sku == nuts


def _sale_with_options(
    chain: Chain, dev: Device, sku: str, price_version: int, menu_version: int
) -> dict[str, Any]:
    event = chain.sale(dev, [(sku, 2000)], price_fen=1600, price_version=price_version)
    line = event["payload"]["lines"][0]
    # 大杯 (+3.00) and 珍珠 (+2.00) on a ¥16.00 drink: ¥21.00 a cup.
    line.update(
        unit_price_fen=2100,
        list_amount_fen=4200,
        amount_fen=4200,
        options=[
            {"group": "size", "code": "large", "name": "大杯", "price_fen": 300},
            {"group": "topping", "code": "pearl", "name": "珍珠", "price_fen": 200},
        ],
        menu_version=menu_version,
    )
    pl = event["payload"]
    pl["subtotal_fen"] = pl["total_fen"] = 4200
    pl["tenders"] = [{"kind": "cash", "amount_fen": 4200, "tendered_fen": 4200}]
    return event


def test_sale_lines_keep_their_options_and_a_stale_menu_version_counts_as_stale(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a store selling from the chain's menu
    WHEN a till pushes a sale of two drinks with options priced by the menu in force, and
    another priced by an older menu version
    THEN HQ stores both lines' options and menu versions as sent, and the stale report
    counts the second line only."""
    store = chain.store()
    sku = chain.item(price_fen=1600)
    old = menu.publish_menu(hq.db, _menu(sku))
    current = menu.publish_menu(hq.db, _menu(sku, toppings_max=2))
    with hq.db.read() as conn:
        price_version = conn.execute(
            select(m.price_versions.c.id).where(m.price_versions.c.sku == sku)
        ).scalar_one()
    dev = chain.device(store)
    since = datetime.now(UTC) - timedelta(minutes=1)
    fresh = _sale_with_options(chain, dev, sku, price_version, current.version)
    stale = _sale_with_options(chain, dev, sku, price_version, old.version)
    body = _push(client, dev, [fresh, stale])
    assert [r["status"] for r in body["results"]] == ["applied", "applied"]
    with hq.db.read() as conn:
        rows = conn.execute(
            select(m.sale_lines.c.options_json, m.sale_lines.c.menu_version)
            .where(
                m.sale_lines.c.sale_id.in_(
                    [uuid.UUID(fresh["payload"]["sale_id"]), uuid.UUID(stale["payload"]["sale_id"])]
                )
            )
            .order_by(m.sale_lines.c.menu_version)
        ).all()
        report = stale_report(conn, since, store)
    assert [r.menu_version for r in rows] == [old.version, current.version]
    assert [o["name"] for o in json.loads(rows[0].options_json)] == ["大杯", "珍珠"]
    assert (report.lines, report.stale_lines) == (2, 1)


def test_options_that_cost_more_than_the_line_are_refused_alone(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """A line whose options add more than its unit price is refused (``invalid``); the
    good event in the same batch applies."""
    store = chain.store()
    sku = chain.item(price_fen=1600)
    dev = chain.device(store)
    good = chain.sale(dev, [(sku, 1000)])
    bad = _sale_with_options(chain, dev, sku, 1, 1)
    bad["payload"]["lines"][0]["options"][0]["price_fen"] = 5000
    body = _push(client, dev, [good, bad])
    assert body["results"][0]["status"] == "applied"
    assert body["results"][1]["status"] == "rejected"
    assert error_code(body["results"][1]) == "invalid"


def _sold_out(chain: Chain, dev: Device, staff: str, sku: str, on: bool, at: datetime):
    return chain.event(
        {
            "type": "menu.sold_out",
            "store": dev.store,
            "terminal": dev.device_id,
            "sku": sku,
            "business_date": at.date().isoformat(),
            "sold_out": on,
            "staff": staff,
            "at": at.isoformat(),
        }
    )


def test_sold_out_reports_reach_hq_once_and_the_latest_holds(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a till marking an item sold out, then another item, then the first back
    WHEN the events are pushed (and pushed again)
    THEN HQ lists only the second as sold out that day and passes the reports to the
    store's other tills only; the replay changes nothing; an event from a staff number HQ
    does not know is refused."""
    store = chain.store()
    first, second = chain.item(), chain.item()
    staff = chain.staff(store, role="cashier")
    dev = chain.device(store)
    now = datetime.now(UTC)
    events = [
        _sold_out(chain, dev, staff, first, True, now),
        _sold_out(chain, dev, staff, second, True, now + timedelta(seconds=1)),
        _sold_out(chain, dev, staff, first, False, now + timedelta(seconds=2)),
    ]
    assert [r["status"] for r in _push(client, dev, events)["results"]] == ["applied"] * 3
    assert [r["status"] for r in _push(client, dev, events)["results"]] == ["duplicate"] * 3
    with hq.db.read() as conn:
        listed = menu.sold_out_list(conn, store, now.date())
    assert [s.sku for s in listed] == [second]
    # The store's other till follows through the feed (latest per item); other stores
    # see nothing of it; a snapshot carries the latest report per item.
    other_till = chain.device(store)
    pulled = {c["key"]: c["data"]["sold_out"] for c in _pull(client, other_till, "sold_out")[-2:]}
    assert pulled == {f"{store}:{first}": False, f"{store}:{second}": True}
    assert _pull(client, chain.device(chain.store()), "sold_out") == []
    snap = client.get("/v1/sync/snapshot", headers=other_till.headers).json()
    assert {(r["sku"], r["sold_out"]) for r in snap["sold_out"]} == {
        (first, False),
        (second, True),
    }
    stranger = _sold_out(chain, dev, "999999", first, True, now)
    (result,) = _push(client, dev, [stranger])["results"]
    assert result["status"] == "rejected" and error_code(result) == "not_authorised"


def test_menu_commands_publish_show_and_list_sold_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """``chainpos-hq menu import`` publishes a JSON menu (and refuses a bad one with its
    problem, exit 1); ``menu show`` prints the menu in force; ``menu sold-out`` lists."""
    db = f"sqlite:///{tmp_path / 'hq.sqlite3'}"
    csv = tmp_path / "items.csv"
    csv.write_text("sku,name_zh,unit,price\nMT1,芋泥波波,piece,15\n", encoding="utf-8")
    assert cli.main(["catalog", "import", str(csv), "--db", db]) == 0
    good = tmp_path / "menu.json"
    good.write_text(json.dumps(_menu("MT1"), ensure_ascii=False), encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["menu", "import", str(good), "--db", db]) == 0
    out = capsys.readouterr().out
    assert out.startswith("menu version 1: 1 categories, 2 option groups, 1 tiles, chain-wide")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_menu("MT1", "MT2")), encoding="utf-8")
    assert cli.main(["menu", "import", str(bad), "--db", db]) == 1
    assert "tile MT2: no such item" in capsys.readouterr().err
    assert cli.main(["menu", "show", "--db", db]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == 1 and shown["tiles"][0]["sku"] == "MT1"
    assert cli.main(["menu", "sold-out", "--store", "S001", "--db", db]) == 0
    assert "nothing sold out at S001" in capsys.readouterr().out


def test_the_demo_menu_is_a_valid_menu(hq: RunningHQ, chain: Chain):
    """The demo's ``resources/demo/menu.json`` is published by HQ's own checks."""
    from pos_app.localdb.seed import load_demo_json

    data = load_demo_json()
    body = data["menu"]
    for sku in sorted({t["sku"] for t in body["tiles"]}):
        item = next(i for i in data["items"] if i["sku"] == sku)
        with contextlib.suppress(ApiError):  # a module's earlier test made it already
            chain.item(price_fen=item["price_fen"], sku=sku, name_zh=item["name_zh"])
    published = menu.publish_menu(hq.db, body)
    assert len(published.tiles) == len(body["tiles"]) and published.tiles[0].sku == "MT001"


def test_the_admin_api_publishes_and_reads_menus_like_the_cli(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """POST /v1/admin/menus publishes a store's menu (201, its version), a bad one is
    refused ``invalid_menu``, GET /v1/admin/menus/current shows what the store's tills
    use, GET /v1/admin/sold-out lists; a till's token may do none of it."""
    store = chain.store()
    sku = chain.item()
    admin = {"Authorization": f"Bearer {chain.admin_token()}"}
    r = client.post("/v1/admin/menus", json={"menu": _menu(sku), "store": store}, headers=admin)
    assert r.status_code == 201, r.text
    version = r.json()["version"]
    bad = client.post("/v1/admin/menus", json={"menu": _menu(sku, "NOPE")}, headers=admin)
    assert bad.status_code == 422 and error_code(bad) == "invalid_menu"
    current = client.get("/v1/admin/menus/current", params={"store": store}, headers=admin)
    assert current.status_code == 200 and current.json()["version"] == version
    listed = client.get(
        "/v1/admin/sold-out",
        params={"store": store, "date": datetime.now(UTC).date().isoformat()},
        headers=admin,
    )
    assert listed.status_code == 200 and listed.json()["items"] == []
    till = chain.device(store)
    refused = client.post("/v1/admin/menus", json={"menu": _menu(sku)}, headers=till.headers)
    assert refused.status_code in (401, 403)
