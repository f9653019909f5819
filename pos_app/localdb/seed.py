"""Demo data and large generated catalogues.

``load_demo`` fills a terminal database from ``resources/demo/milktea.json`` (a milk-tea
chain with three stores). ``generate_catalog`` writes N synthetic but realistic items with
barcodes, pinyin keys and prices, straight through the SQLite driver in large
transactions, for benchmarks at 100k and 1M SKUs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from pos_app.localdb.catalog import ItemRecord, add_price, upsert_items
from pos_app.localdb.engine import write_session
from pos_app.localdb.pinyin import pinyin_keys
from pos_app.localdb.store import StoreInfo, set_setting, upsert_staff, upsert_store
from pos_app.localdb.types import to_utc_text
from sync_client.contract.pin import hash_pin

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
DEMO_STOCK_PIECES = 240


def demo_data_path() -> Path:
    return Path(__file__).resolve().parents[2] / "resources" / "demo" / "milktea.json"


def load_demo_json(path: Path | None = None) -> dict[str, Any]:
    """The demo chain; its menu (tiles and drink options, ``menu``) comes from
    ``menu.json`` beside it, the document ``chainpos-hq menu import`` takes."""
    path = path or demo_data_path()
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    menu_path = path.with_name("menu.json")
    if "menu" not in data and menu_path.exists():
        data["menu"] = json.loads(menu_path.read_text(encoding="utf-8"))
    return data


def load_demo(
    engine: Engine,
    *,
    store_code: str,
    terminal_id: str,
    data: dict[str, Any] | None = None,
    pin_hasher: Callable[[str], str] = hash_pin,
) -> None:
    """Fills an empty terminal database with the demo chain, for the given store."""
    data = data or load_demo_json()
    with write_session(engine) as session:
        for s in data["stores"]:
            upsert_store(
                session,
                StoreInfo(
                    s["code"],
                    s["name_zh"],
                    s["name_en"],
                    s["address_zh"],
                    s["address_en"],
                    s["phone"],
                ),
            )
        for p in data["staff"]:
            if p["store"] in (store_code, None):
                upsert_staff(
                    session,
                    number=p["number"],
                    name=p["name"],
                    role=p["role"],
                    store_code=p["store"],
                    pin_hash=pin_hasher(p["pin"]),
                )
        for c in data["categories"]:
            session.execute(
                text(
                    "INSERT OR REPLACE INTO category (code, name_zh, name_en) VALUES (:c, :z, :e)"
                ),
                {"c": c["code"], "z": c["name_zh"], "e": c["name_en"]},
            )
        ids = upsert_items(
            session,
            [
                ItemRecord(
                    i["sku"],
                    i["name_zh"],
                    i["name_en"],
                    i["unit"],
                    i["category"],
                    tuple(i["barcodes"]),
                )
                for i in data["items"]
            ],
        )
        for version, item in enumerate(data["items"], start=1):
            add_price(
                session,
                version=version,
                sku=item["sku"],
                price_fen=item["price_fen"],
                effective_at=EPOCH,
            )
            qty = DEMO_STOCK_PIECES * 1000 if item["unit"] == "piece" else 20_000
            session.execute(
                text(
                    "INSERT OR REPLACE INTO stock_level (item_id, hq_qty_milli, local_sold_milli) "
                    "VALUES (:i, :q, 0)"
                ),
                {"i": ids[item["sku"]], "q": qty},
            )
        if data.get("menu"):
            session.execute(
                text(
                    "INSERT OR REPLACE INTO menu_version (version, store_code, effective_at, body) "
                    "VALUES (1, NULL, :at, :body)"
                ),
                {"at": to_utc_text(EPOCH), "body": json.dumps(data["menu"], ensure_ascii=False)},
            )
        set_setting(session, "store_code", store_code)
        set_setting(session, "terminal_id", terminal_id)
        session.commit()


_BRANDS = [
    "茶语",
    "鲜果园",
    "农夫",
    "康师傅",
    "统一",
    "伊利",
    "蒙牛",
    "旺旺",
    "良品",
    "三只松鼠",
    "百草味",
    "达利园",
    "盼盼",
    "好丽友",
    "徐福记",
    "金丝猴",
    "娃哈哈",
    "怡宝",
    "元气森林",
    "东方树叶",
    "维他",
    "雀巢",
    "光明",
    "卫龙",
    "洽洽",
    "来伊份",
    "稻香村",
    "桃李",
    "味全",
    "喜茶",
]
_FLAVOURS = [
    "芋泥",
    "芒果",
    "草莓",
    "葡萄",
    "水蜜桃",
    "柠檬",
    "红豆",
    "抹茶",
    "焦糖",
    "椰子",
    "黑糖",
    "杨枝",
    "荔枝",
    "百香果",
    "乌龙",
    "茉莉",
    "桂花",
    "可可",
    "榛果",
    "海盐",
    "原味",
    "香草",
    "蓝莓",
    "西柚",
    "哈密瓜",
    "菠萝",
    "奶油",
    "芝士",
    "咸蛋黄",
    "麻辣",
]
_BASES = [
    "奶茶",
    "果茶",
    "拿铁",
    "酸奶",
    "冰沙",
    "饼干",
    "蛋糕",
    "面包",
    "薯片",
    "果冻",
    "牛奶",
    "汽水",
    "矿泉水",
    "糖果",
    "坚果",
    "蛋卷",
    "麻薯",
    "瓜子",
    "海苔",
    "豆浆",
]
_SIZES = ["大杯", "中杯", "小杯", "500ml", "330ml", "1L", "家庭装", "便携装", "200g", "6连包"]
_EN = {
    "奶茶": "Milk Tea",
    "果茶": "Fruit Tea",
    "拿铁": "Latte",
    "酸奶": "Yogurt",
    "冰沙": "Smoothie",
    "饼干": "Biscuits",
    "蛋糕": "Cake",
    "面包": "Bread",
    "薯片": "Crisps",
    "果冻": "Jelly",
    "牛奶": "Milk",
    "汽水": "Soda",
    "矿泉水": "Water",
    "糖果": "Candy",
    "坚果": "Nuts",
    "蛋卷": "Egg Rolls",
    "麻薯": "Mochi",
    "瓜子": "Seeds",
    "海苔": "Seaweed",
    "豆浆": "Soy Milk",
}


def _ean13(body12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def generated_sku(i: int) -> str:
    return f"G{i:07d}"


def generated_barcode(i: int) -> str:
    return _ean13(f"692{i:09d}")


def generate_catalog(engine: Engine, n: int, *, seed: int = 7, batch: int = 50_000) -> None:
    """Adds ``n`` generated items (SKU ``G0000001``...) with one EAN-13 and one price each.

    The FTS index is rebuilt once at the end instead of row by row.
    """
    rng = random.Random(seed)
    keys = {w: pinyin_keys(w) for w in _BRANDS + _FLAVOURS + _BASES + _SIZES}
    effective = to_utc_text(EPOCH)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        for trig in ("item_fts_ai", "item_fts_ad", "item_fts_au"):
            cur.execute(f"DROP TRIGGER IF EXISTS {trig}")
        start = (cur.execute("SELECT COALESCE(MAX(id), 0) FROM item").fetchone()[0]) + 1
        version0 = (cur.execute("SELECT COALESCE(MAX(version), 0) FROM price").fetchone()[0]) + 1
        for chunk in range(0, n, batch):
            items, codes, prices = [], [], []
            for k in range(chunk, min(n, chunk + batch)):
                i = start + k
                parts = (
                    rng.choice(_BRANDS),
                    rng.choice(_FLAVOURS),
                    rng.choice(_BASES),
                    rng.choice(_SIZES),
                )
                name = f"{parts[0]}{parts[1]}{parts[2]} {parts[3]}"
                initials = "".join(keys[p][0] for p in parts)
                full = "".join(keys[p][1] for p in parts)
                name_en = f"{_EN[parts[2]]} {parts[3]} #{k + 1}"
                items.append(
                    (i, generated_sku(k + 1), name, name_en, "piece", None, initials, full, 1)
                )
                codes.append((generated_barcode(k + 1), i))
                prices.append((version0 + k, i, None, rng.randrange(100, 50_000), effective))
            cur.execute("BEGIN")
            cur.executemany(
                "INSERT INTO item (id, sku, name_zh, name_en, unit, category, pinyin_initials, "
                "pinyin_full, active) VALUES (?,?,?,?,?,?,?,?,?)",
                items,
            )
            cur.executemany("INSERT INTO barcode (code, item_id) VALUES (?,?)", codes)
            cur.executemany(
                "INSERT INTO price (version, item_id, store_code, price_fen, effective_at) "
                "VALUES (?,?,?,?,?)",
                prices,
            )
            cur.execute("COMMIT")
        cur.execute("INSERT INTO item_fts(item_fts) VALUES ('rebuild')")
        _recreate_fts_triggers(cur)
        raw.commit()
    finally:
        # The connection goes back to the pool: later sales on it must commit durably.
        raw.rollback()  # no-op after the last COMMIT; the pragma is refused inside a transaction
        raw.cursor().execute("PRAGMA synchronous=FULL")
        raw.close()


def _recreate_fts_triggers(cur: Any) -> None:
    from importlib import import_module

    migration = import_module("pos_app.localdb.migrations.versions.0001_initial_schema")
    for sql in migration.FTS_TRIGGERS:
        cur.execute(sql)


def seed_summary(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
            for t in ("item", "barcode", "price", "staff", "store")
        }


__all__ = [
    "generate_catalog",
    "generated_barcode",
    "generated_sku",
    "load_demo",
    "load_demo_json",
    "seed_summary",
    "set_setting",
]
