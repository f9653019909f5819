"""Catalogue reads and writes: barcode lookup, search, items and price versions.

All reads are indexed; the catalogue is never loaded into memory. Search combines an
indexed prefix match on pinyin initials, SKU and Chinese name with an FTS5 trigram match
for substrings of three characters or more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from pos_app.localdb.pinyin import pinyin_keys
from pos_app.localdb.types import to_utc_text


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """An item with the price in force for a store at a moment (``None`` if unpriced)."""

    item_id: int
    sku: str
    name_zh: str
    name_en: str
    unit: str
    category: str | None
    price_fen: int | None
    price_version: int | None


_PRICE = (
    "(SELECT p.{col} FROM price p WHERE p.item_id = i.id AND p.effective_at <= :now "
    "AND (p.store_code IS NULL OR p.store_code = :store) "
    "ORDER BY p.store_code IS NULL, p.effective_at DESC, p.version DESC LIMIT 1)"
)
_SELECT = (
    "SELECT i.id, i.sku, i.name_zh, i.name_en, i.unit, i.category, "
    + _PRICE.format(col="price_fen")
    + ", "
    + _PRICE.format(col="version")
    + " FROM item i "
)


def _row(r: Sequence[object]) -> CatalogRow:
    return CatalogRow(*r)  # type: ignore[arg-type]


def find_by_code(
    conn: Connection | Session, code: str, store: str, now: datetime
) -> CatalogRow | None:
    """The active item with barcode/PLU ``code`` or, failing that, SKU ``code``."""
    params = {"code": code, "store": store, "now": to_utc_text(now)}
    row = conn.execute(
        text(_SELECT + "JOIN barcode b ON b.item_id = i.id WHERE b.code = :code AND i.active"),
        params,
    ).first()
    if row is None:
        row = conn.execute(text(_SELECT + "WHERE i.sku = :code AND i.active"), params).first()
    return _row(row) if row else None


def get_item(
    conn: Connection | Session, item_id: int, store: str, now: datetime
) -> CatalogRow | None:
    row = conn.execute(
        text(_SELECT + "WHERE i.id = :id"), {"id": item_id, "store": store, "now": to_utc_text(now)}
    ).first()
    return _row(row) if row else None


def find_by_skus(
    conn: Connection | Session, skus: Sequence[str], store: str, now: datetime
) -> dict[str, CatalogRow]:
    """The active items among ``skus`` with their prices in force (the menu's tiles)."""
    if not skus:
        return {}
    params: dict[str, object] = {"store": store, "now": to_utc_text(now)}
    params.update({f"s{i}": sku for i, sku in enumerate(skus)})
    marks = ", ".join(f":s{i}" for i in range(len(skus)))
    rows = conn.execute(text(_SELECT + f"WHERE i.sku IN ({marks}) AND i.active"), params)
    return {r[1]: _row(r) for r in rows}


def _prefix_bounds(prefix: str) -> tuple[str, str]:
    return prefix, prefix + "\U0010ffff"


def search(
    conn: Connection | Session, query: str, store: str, now: datetime, limit: int = 30
) -> list[CatalogRow]:
    """Items matching ``query`` by pinyin initials, SKU, barcode, name or substring.

    Prefix matches come first, then substring matches; at most ``limit`` rows.
    """
    q = query.strip()
    if not q:
        return []
    lowered = q.lower()
    params: dict[str, object] = {"store": store, "now": to_utc_text(now), "limit": limit}
    found: dict[int, CatalogRow] = {}

    def take(sql: str, extra: dict[str, object]) -> None:
        if len(found) >= limit:
            return
        for r in conn.execute(text(sql), {**params, **extra}):
            if r[0] not in found:
                found[r[0]] = _row(r)

    lo, hi = _prefix_bounds(lowered)
    take(
        _SELECT + "WHERE i.pinyin_initials >= :lo AND i.pinyin_initials < :hi AND i.active "
        "ORDER BY i.pinyin_initials LIMIT :limit",
        {"lo": lo, "hi": hi},
    )
    lo, hi = _prefix_bounds(q.upper())
    take(
        _SELECT + "WHERE i.sku >= :lo AND i.sku < :hi AND i.active ORDER BY i.sku LIMIT :limit",
        {"lo": lo, "hi": hi},
    )
    lo, hi = _prefix_bounds(q)
    take(
        _SELECT + "WHERE i.name_zh >= :lo AND i.name_zh < :hi AND i.active "
        "ORDER BY i.name_zh LIMIT :limit",
        {"lo": lo, "hi": hi},
    )
    if q.isdigit() and len(q) >= 4:
        take(
            _SELECT + "JOIN barcode b ON b.item_id = i.id WHERE b.code = :code AND i.active",
            {"code": q},
        )
    if len(q) < 3 and not q.isascii():
        # Trigrams need three characters; one or two hanzi scan names until enough match.
        take(
            _SELECT + "WHERE i.name_zh LIKE :pat AND i.active LIMIT :limit",
            {"pat": "%" + q.replace("%", "").replace("_", "") + "%"},
        )
    if len(q) >= 3:
        phrase = '"' + q.replace('"', '""') + '"'
        take(
            _SELECT + "WHERE i.id IN (SELECT rowid FROM item_fts WHERE item_fts MATCH :m "
            "LIMIT :limit) AND i.active",
            {"m": phrase},
        )
    return list(found.values())[:limit]


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """An item as HQ or a catalogue file describes it."""

    sku: str
    name_zh: str
    name_en: str
    unit: str
    category: str | None = None
    barcodes: tuple[str, ...] = ()
    active: bool = True


def upsert_items(session: Session, items: Iterable[ItemRecord]) -> dict[str, int]:
    """Inserts or updates items and replaces their barcodes; returns sku -> item id."""
    ids: dict[str, int] = {}
    for rec in items:
        if rec.unit not in ("piece", "kg"):
            raise ValueError(f"{rec.sku}: unit must be piece or kg, not {rec.unit!r}")
        initials, full = pinyin_keys(rec.name_zh)
        values = {
            "sku": rec.sku,
            "name_zh": rec.name_zh,
            "name_en": rec.name_en,
            "unit": rec.unit,
            "category": rec.category,
            "pi": initials,
            "pf": full,
            "active": rec.active,
        }
        existing = session.execute(text("SELECT id FROM item WHERE sku = :sku"), values).scalar()
        if existing is None:
            item_id = session.execute(
                text(
                    "INSERT INTO item (sku, name_zh, name_en, unit, category, pinyin_initials, "
                    "pinyin_full, active) VALUES (:sku, :name_zh, :name_en, :unit, :category, "
                    ":pi, :pf, :active) RETURNING id"
                ),
                values,
            ).scalar_one()
        else:
            item_id = existing
            session.execute(
                text(
                    "UPDATE item SET name_zh=:name_zh, name_en=:name_en, unit=:unit, "
                    "category=:category, pinyin_initials=:pi, pinyin_full=:pf, active=:active "
                    "WHERE id=:id"
                ),
                {**values, "id": item_id},
            )
            session.execute(text("DELETE FROM barcode WHERE item_id = :id"), {"id": item_id})
        for code in rec.barcodes:
            session.execute(
                text("INSERT OR REPLACE INTO barcode (code, item_id) VALUES (:c, :i)"),
                {"c": code, "i": item_id},
            )
        ids[rec.sku] = item_id
    return ids


def add_price(
    session: Session,
    *,
    version: int,
    sku: str,
    price_fen: int,
    effective_at: datetime,
    store_code: str | None = None,
) -> None:
    """Records a price version (idempotent on ``version``)."""
    if price_fen < 0:
        raise ValueError("price must not be negative")
    item_id = session.execute(text("SELECT id FROM item WHERE sku = :sku"), {"sku": sku}).scalar()
    if item_id is None:
        raise KeyError(sku)
    session.execute(
        text(
            "INSERT OR REPLACE INTO price (version, item_id, store_code, price_fen, effective_at) "
            "VALUES (:v, :i, :s, :p, :e)"
        ),
        {
            "v": version,
            "i": item_id,
            "s": store_code,
            "p": price_fen,
            "e": to_utc_text(effective_at),
        },
    )


def next_price_version(session: Session) -> int:
    return int(
        session.execute(text("SELECT COALESCE(MAX(version), 0) + 1 FROM price")).scalar_one()
    )
