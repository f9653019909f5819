"""The local catalogue: code lookup, the price in force, search, and big generated catalogues."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from pos_app.localdb import catalog
from pos_app.localdb.catalog import ItemRecord, add_price, find_by_code, search, upsert_items
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.seed import EPOCH, generate_catalog, generated_barcode, generated_sku
from tests.localdb.conftest import NOW, STORE


def _find(
    engine: Engine, code: str, store: str = STORE, now: datetime = NOW
) -> catalog.CatalogRow | None:
    with read_session(engine) as session:
        return find_by_code(session, code, store, now)


def _search(engine: Engine, query: str, limit: int = 30) -> list[str]:
    with read_session(engine) as session:
        return [row.sku for row in search(session, query, STORE, NOW, limit)]


def _add_price(engine: Engine, **kwargs: object) -> None:
    with write_session(engine) as session:
        add_price(session, **kwargs)  # type: ignore[arg-type]
        session.commit()


# ------------------------------------------------------------------ find_by_code


@pytest.mark.parametrize(
    ("code", "sku"),
    [
        ("6954321100014", "MT001"),  # first barcode
        ("6958806100025", "MT001"),  # second barcode of the same cup
        ("PLU:00101", "SN001"),  # scale PLU
        ("MT002", "MT002"),  # SKU typed on the keypad
    ],
)
def test_find_by_code_by_barcode_plu_and_sku(demo_engine: Engine, code: str, sku: str) -> None:
    row = _find(demo_engine, code)
    assert row is not None
    assert row.sku == sku


def test_find_by_code_returns_the_item_with_its_price(demo_engine: Engine) -> None:
    row = _find(demo_engine, "6954321100014")
    assert row is not None
    assert (row.name_zh, row.name_en, row.unit, row.price_fen, row.price_version) == (
        "芋泥波波",
        "Taro Boba",
        "piece",
        1500,
        1,
    )
    walnuts = _find(demo_engine, "PLU:00101")
    assert walnuts is not None and (walnuts.unit, walnuts.price_fen) == ("kg", 9800)


def test_unknown_and_inactive_codes_find_nothing(demo_engine: Engine) -> None:
    assert _find(demo_engine, "6900000000000") is None
    with write_session(demo_engine) as session:
        upsert_items(
            session,
            [
                ItemRecord(
                    "MT001",
                    "芋泥波波",
                    "Taro Boba",
                    "piece",
                    barcodes=("6954321100014",),
                    active=False,
                )
            ],
        )
        session.commit()
    assert _find(demo_engine, "6954321100014") is None
    assert _find(demo_engine, "MT001") is None


# ------------------------------------------------------------------ price in force


def test_the_latest_effective_price_is_in_force(demo_engine: Engine) -> None:
    """GIVEN the demo price ¥15.00 (v1, since 2024-01-01) and ¥16.00 (v1001) from 2025-01-01
    WHEN the item is looked up in 2024-06 and in 2025-03
    THEN each moment sees the price that had taken effect by then, with its version."""
    _add_price(
        demo_engine,
        version=1001,
        sku="MT001",
        price_fen=1600,
        effective_at=EPOCH.replace(year=2025),
    )
    before = _find(demo_engine, "MT001", now=EPOCH.replace(month=6))
    after = _find(demo_engine, "MT001", now=NOW)
    assert before is not None and (before.price_fen, before.price_version) == (1500, 1)
    assert after is not None and (after.price_fen, after.price_version) == (1600, 1001)


def test_a_future_price_waits_for_its_moment(demo_engine: Engine) -> None:
    """GIVEN HQ published ¥18.00 effective one hour from now
    WHEN the item is looked up now, one microsecond before, and exactly at the moment
    THEN the old price holds until the moment, and the new one from then on."""
    switch = NOW + timedelta(hours=1)
    _add_price(demo_engine, version=1002, sku="MT001", price_fen=1800, effective_at=switch)
    prices = [
        (r.price_fen, r.price_version)
        for r in (
            _find(demo_engine, "MT001", now=NOW),
            _find(demo_engine, "MT001", now=switch - timedelta(microseconds=1)),
            _find(demo_engine, "MT001", now=switch),
        )
        if r is not None
    ]
    assert prices == [(1500, 1), (1500, 1), (1800, 1002)]


def test_a_store_price_beats_the_chain_price(demo_engine: Engine) -> None:
    """GIVEN a chain-wide ¥15.00 and a ¥14.00 price for store S001 only
    WHEN S001 and S002 look the item up
    THEN S001 charges ¥14.00 and S002 ¥15.00."""
    _add_price(
        demo_engine,
        version=1003,
        sku="MT001",
        price_fen=1400,
        effective_at=EPOCH,
        store_code="S001",
    )
    s001 = _find(demo_engine, "MT001", store="S001")
    s002 = _find(demo_engine, "MT001", store="S002")
    assert s001 is not None and (s001.price_fen, s001.price_version) == (1400, 1003)
    assert s002 is not None and (s002.price_fen, s002.price_version) == (1500, 1)


def test_a_future_store_price_does_not_hide_the_chain_price(demo_engine: Engine) -> None:
    _add_price(
        demo_engine,
        version=1004,
        sku="MT001",
        price_fen=1400,
        effective_at=NOW + timedelta(days=1),
        store_code="S001",
    )
    row = _find(demo_engine, "MT001")
    assert row is not None and (row.price_fen, row.price_version) == (1500, 1)


def test_an_item_without_a_price_has_none(demo_engine: Engine) -> None:
    with write_session(demo_engine) as session:
        upsert_items(session, [ItemRecord("NEW1", "新品", "New", "piece", barcodes=("20000001",))])
        session.commit()
    row = _find(demo_engine, "20000001")
    assert row is not None and (row.price_fen, row.price_version) == (None, None)


def test_negative_prices_and_unknown_skus_are_refused(demo_engine: Engine) -> None:
    with write_session(demo_engine) as session:
        with pytest.raises(ValueError):
            add_price(session, version=9, sku="MT001", price_fen=-1, effective_at=NOW)
        with pytest.raises(KeyError):
            add_price(session, version=9, sku="NOPE", price_fen=1, effective_at=NOW)


# ------------------------------------------------------------------ search


@pytest.mark.parametrize(
    "query",
    ["ynbb", "YNBB", "ynb", "芋泥", "芋泥波波", "MT001", "mt00", "6954321100014", "Taro", "taro b"],
)
def test_search_finds_taro_boba_every_way_a_cashier_types_it(
    demo_engine: Engine, query: str
) -> None:
    assert "MT001" in _search(demo_engine, query)


def test_search_by_initials_prefix_ranks_the_prefix_match_first(demo_engine: Engine) -> None:
    assert _search(demo_engine, "ynbb") == ["MT001"]
    # 杨枝甘露(大) and (中): both cup sizes, in initials order (yzgld < yzglz).
    assert _search(demo_engine, "yzgl") == ["FT001", "FT002"]


def test_search_limits_results(demo_engine: Engine) -> None:
    assert len(_search(demo_engine, "MT")) == 10
    assert len(_search(demo_engine, "MT", limit=3)) == 3
    assert _search(demo_engine, "   ") == []


def test_search_does_not_return_inactive_items(demo_engine: Engine) -> None:
    """GIVEN 芋泥波波 taken off the menu (inactive)
    WHEN it is searched by initials, name, SKU, barcode and English name
    THEN it never appears."""
    with write_session(demo_engine) as session:
        upsert_items(
            session,
            [
                ItemRecord(
                    "MT001",
                    "芋泥波波",
                    "Taro Boba",
                    "piece",
                    barcodes=("6954321100014",),
                    active=False,
                )
            ],
        )
        session.commit()
    for query in ("ynbb", "芋泥", "MT001", "6954321100014", "Taro Boba"):
        assert "MT001" not in _search(demo_engine, query), query


def test_search_results_carry_the_price_in_force(demo_engine: Engine) -> None:
    with read_session(demo_engine) as session:
        rows = search(session, "ynbb", STORE, NOW)
    assert [(r.sku, r.price_fen, r.price_version) for r in rows] == [("MT001", 1500, 1)]


def test_renamed_item_is_found_by_its_new_name_only(demo_engine: Engine) -> None:
    with write_session(demo_engine) as session:
        upsert_items(session, [ItemRecord("MT001", "紫薯波波", "Purple Yam Boba", "piece")])
        session.commit()
    assert "MT001" in _search(demo_engine, "zsbb")
    assert "MT001" in _search(demo_engine, "Purple Yam")
    assert "MT001" not in _search(demo_engine, "Taro Boba")
    assert "MT001" not in _search(demo_engine, "ynbb")


# ------------------------------------------------------------------ generated catalogue


def test_generated_catalogue_is_searchable_and_scannable(demo_engine: Engine) -> None:
    """GIVEN the demo catalogue plus 2000 generated items written in bulk (FTS rebuilt
    once, triggers dropped during the load)
    WHEN generated items are looked up by barcode, SKU and English-name substring
    THEN they are found with a price, the demo items are still found, and an item
    added AFTER the bulk load is found through the search index too (triggers are back)."""
    generate_catalog(demo_engine, 2000)
    with demo_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM item")).scalar() == 60 + 2000
        triggers = conn.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'"))
        assert {t[0] for t in triggers} == {"item_fts_ai", "item_fts_ad", "item_fts_au"}

    row = _find(demo_engine, generated_barcode(1234))
    assert row is not None
    assert row.sku == generated_sku(1234)
    assert row.price_fen is not None and 100 <= row.price_fen < 50_000
    assert _find(demo_engine, generated_sku(2000)) is not None

    # "#1777" appears in exactly one English name; only the FTS index can find it.
    assert _search(demo_engine, "#1777") == [generated_sku(1777)]
    assert "MT001" in _search(demo_engine, "Taro")

    with write_session(demo_engine) as session:
        upsert_items(session, [ItemRecord("LATE1", "季节限定", "Zebra Seasonal Special", "piece")])
        session.commit()
    assert _search(demo_engine, "ra Seasonal") == ["LATE1"]
