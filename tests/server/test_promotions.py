"""Promotions at HQ on real uvicorn (SQLite and PostgreSQL): publishing and refusing,
versions through the feed and the snapshot, sale lines carrying what each promotion took,
the report (usage, cost, low stores, 限量 overruns) and the ``chainpos-hq promo``
commands."""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from server_stub import cli, operations, promotions
from server_stub import models as m
from server_stub.errors import ApiError
from sync_client.contract import protocol as p
from sync_client.contract.promotions import parse_promotion
from tests.server.conftest import Chain, Device, RunningHQ
from tests.support import error_code

SHANGHAI = ZoneInfo("Asia/Shanghai")
_codes = itertools.count(os.getpid() % 1000 * 1000)


def _half_price(sku: str, region: str, starts_at: datetime, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name_zh": "第二件半价",
        "name_en": "Second cup half price",
        "kind": "nth_item",
        "params": {"n": 2, "percent_bp": 5000},
        "targets": {"items": [sku]},
        "scope": {"regions": [region]},
        "starts_at": starts_at.isoformat(),
        "stackable": True,
    }
    body.update(extra)
    return body


def _pull(client: httpx.Client, dev: Device, kind: str) -> list[dict[str, Any]]:
    r = client.get("/v1/sync/pull", params={"after": 0, "limit": 5000}, headers=dev.headers)
    assert r.status_code == 200, r.text
    return [c for c in r.json()["changes"] if c["kind"] == kind]


def _push(client: httpx.Client, dev: Device, events: list[dict[str, Any]]) -> dict[str, Any]:
    r = client.post("/v1/sync/push", json={"events": events}, headers=dev.headers)
    assert r.status_code == 200, r.text
    return r.json()


def _region(chain: Chain, region: str) -> str:
    """A new store of ``region``."""
    code = f"P{next(_codes):06d}"
    operations.add_store(chain.db, code, f"门店 {code}", region=region)
    return code


def _promoted_sale(chain: Chain, dev: Device, sku: str, promo: p.PromotionData, cups: int):
    """``cups`` cups at ¥18.00, the second of each pair half price by ``promo``."""
    event = chain.sale(dev, [(sku, cups * 1000)], price_fen=1800)
    line = event["payload"]["lines"][0]
    off = 900 * (cups // 2)
    line.update(
        discount_fen=off,
        amount_fen=line["list_amount_fen"] - off,
        promotions=[{"id": promo.id, "version": promo.version, "amount_fen": off}] if off else None,
    )
    pl = event["payload"]
    pl["discount_fen"] = off
    pl["total_fen"] = pl["subtotal_fen"] - off
    pl["tenders"] = [
        {"kind": "cash", "amount_fen": pl["total_fen"], "tendered_fen": pl["total_fen"]}
    ]
    return event


def test_a_published_promotion_reaches_every_till_and_ending_it_is_a_new_version(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a 第二件半价 for the East region published ahead of time
    THEN every till pulls it as a ``promotion`` change the shared parser reads, its
    snapshot carries it; ending it publishes version 2 with ``ends_at``, and a snapshot
    after the end no longer carries it."""
    east = _region(chain, "east")
    sku = chain.item(price_fen=1800)
    start = datetime.now(UTC) + timedelta(days=1)
    data = promotions.add_promotion(hq.db, _half_price(sku, "east", start))
    dev = chain.device(east)
    changes = [c for c in _pull(client, dev, "promotion") if c["key"] == str(data.id)]
    assert [c["data"]["version"] for c in changes] == [1]
    parsed = parse_promotion(p.PromotionChange.model_validate(changes[0]).data.definition)
    assert (parsed.id, parsed.version, parsed.starts_at) == (data.id, 1, start)
    snap = client.get("/v1/sync/snapshot", headers=dev.headers).json()
    assert data.id in [pr["id"] for pr in snap["promotions"]]
    ended = promotions.end_promotion(hq.db, data.id, start + timedelta(hours=1))
    assert ended.version == 2
    assert parse_promotion(ended.definition).ends_at == start + timedelta(hours=1)
    with hq.db.read() as conn:
        assert promotions.latest(conn, data.id).version == 2
        later = promotions.live_promotions(conn, start + timedelta(hours=2))
    assert data.id not in [pr.id for pr in later]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"targets": {"items": ["NO-SUCH-SKU"]}}, "targets.items"),
        ({"scope": {"regions": ["atlantis"]}}, "scope.regions"),
        ({"scope": {"stores": ["NOPE"]}}, "scope.stores"),
        ({"params": {"n": 2}}, "params.percent_bp"),
        ({"kind": "lottery"}, "kind"),
    ],
)
def test_a_promotion_no_till_could_apply_is_refused_and_nothing_is_published(
    hq: RunningHQ, chain: Chain, change: dict[str, Any], field: str
):
    _region(chain, "east")
    sku = chain.item()
    body = _half_price(sku, "east", datetime.now(UTC))
    body.update(change)
    with hq.db.read() as conn:
        before = conn.execute(select(m.promotion_versions.c.promotion_id)).all()
    with pytest.raises(ApiError) as refused:
        promotions.add_promotion(hq.db, body)
    assert refused.value.code == "invalid_promotion"
    assert refused.value.params["field"] == field
    with hq.db.read() as conn:
        assert conn.execute(select(m.promotion_versions.c.promotion_id)).all() == before


def test_sale_lines_carry_their_promotions_and_the_report_counts_them_and_flags_a_store(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN 第二件半价 in the East region, two East stores
    WHEN store A sells two cups under it in both of its sales and store B sells four
    sales without it
    THEN HQ keeps each line's promotion (id, version, fen); the report shows the chain's
    usage, cost and sales, store A at 100% and store B flagged far below the chain."""
    a, b = _region(chain, "east"), _region(chain, "east")
    sku = chain.item(price_fen=1800)
    promo = promotions.add_promotion(hq.db, _half_price(sku, "east", datetime.now(UTC)))
    dev_a, dev_b = chain.device(a), chain.device(b)
    since = datetime.now(UTC) - timedelta(minutes=1)
    body = _push(client, dev_a, [_promoted_sale(chain, dev_a, sku, promo, 2) for _ in range(2)])
    assert [r["status"] for r in body["results"]] == ["applied", "applied"]
    body = _push(
        client, dev_b, [chain.sale(dev_b, [(sku, 1000)], price_fen=1800) for _ in range(4)]
    )
    assert {r["status"] for r in body["results"]} == {"applied"}
    with hq.db.read() as conn:
        rows = conn.execute(
            select(m.sale_line_promotions).where(m.sale_line_promotions.c.promotion_id == promo.id)
        ).all()
        rep = promotions.report(
            conn,
            since,
            datetime.now(UTC) + timedelta(minutes=1),
            zone=SHANGHAI,
            promotion_id=promo.id,
        )
    assert sorted((r.store_code, r.version, r.amount_fen) for r in rows) == [(a, 1, 900)] * 2
    (total,) = rep.chain
    assert (total.sales, total.discount_fen, total.sales_fen, total.pieces) == (2, 1800, 5400, 4)
    by_store = {u.store: u for u in rep.stores}
    assert by_store[a].usage_rate == 1.0
    assert [u.store for u in rep.low] == [b]


def test_a_limited_promotion_sold_beyond_its_day_limit_by_offline_tills_is_reported(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a 限量 special price of 3 cups a day per store
    WHEN two tills of one store, offline at the same time, each sold 2 cups under it
    THEN the report shows the store's day at 4 against 3: an overrun of 1."""
    store = _region(chain, "east")
    sku = chain.item(price_fen=1800)
    body = {
        "name_zh": "限量特价",
        "kind": "special_price",
        "params": {"price_fen": 990, "daily_limit": 3},
        "targets": {"items": [sku]},
        "starts_at": datetime.now(UTC).isoformat(),
    }
    promo = promotions.add_promotion(hq.db, body)
    since = datetime.now(UTC) - timedelta(minutes=1)
    for dev in (chain.device(store), chain.device(store)):
        event = chain.sale(dev, [(sku, 2000)], price_fen=1800)
        line = event["payload"]["lines"][0]
        line.update(
            discount_fen=1620,
            amount_fen=1980,
            promotions=[{"id": promo.id, "version": 1, "amount_fen": 1620}],
        )
        pl = event["payload"]
        pl.update(discount_fen=1620, total_fen=1980)
        pl["tenders"] = [{"kind": "cash", "amount_fen": 1980, "tendered_fen": 1980}]
        assert _push(client, dev, [event])["results"][0]["status"] == "applied"
    with hq.db.read() as conn:
        rep = promotions.report(
            conn,
            since,
            datetime.now(UTC) + timedelta(minutes=1),
            zone=SHANGHAI,
            promotion_id=promo.id,
        )
    assert [(o.store, o.limit, o.sold, o.over) for o in rep.overruns] == [(store, 3, 4, 1)]


def test_promotions_taking_more_than_the_line_discount_are_refused_alone(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    store = _region(chain, "east")
    sku = chain.item(price_fen=1800)
    promo = promotions.add_promotion(hq.db, _half_price(sku, "east", datetime.now(UTC)))
    dev = chain.device(store)
    good = _promoted_sale(chain, dev, sku, promo, 2)
    bad = _promoted_sale(chain, dev, sku, promo, 2)
    bad["payload"]["lines"][0]["promotions"][0]["amount_fen"] = 5000
    body = _push(client, dev, [good, bad])
    assert [r["status"] for r in body["results"]] == ["applied", "rejected"]
    assert error_code(body["results"][1]) == "invalid"


def test_the_promo_commands_add_list_show_end_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """``chainpos-hq promo add`` publishes a JSON file's promotions (and refuses a bad one,
    exit 1); ``list``, ``show``, ``end`` and ``report`` read them back."""
    db = ["--db", f"sqlite:///{tmp_path / 'hq.sqlite3'}"]
    csv = tmp_path / "items.csv"
    csv.write_text("sku,name_zh,unit,price\nMT1,杨枝甘露,piece,18\n", encoding="utf-8")
    assert cli.main(["catalog", "import", str(csv), *db]) == 0
    file = tmp_path / "promos.json"
    body = _half_price("MT1", "east", datetime.now(UTC))
    del body["scope"]
    file.write_text(json.dumps([body], ensure_ascii=False), encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["promo", "add", str(file), *db]) == 0
    out = capsys.readouterr().out
    pid = int(out.split()[1])
    assert "第二件半价" in out
    assert cli.main(["promo", "list", *db]) == 0
    assert f"{pid}\tv1\tnth_item\t第二件半价\tchain-wide" in capsys.readouterr().out
    assert cli.main(["promo", "show", str(pid), *db]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == pid
    assert cli.main(["promo", "end", str(pid), *db]) == 0
    assert f"promotion {pid} version 2: ends" in capsys.readouterr().out
    assert cli.main(["promo", "report", "--id", str(pid), *db]) == 0
    assert "no sale used a promotion" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name_zh": "坏", "kind": "nth_item"}), encoding="utf-8")
    assert cli.main(["promo", "add", str(bad), *db]) != 0
