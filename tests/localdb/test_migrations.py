"""Schema migrations: an empty file becomes a working terminal database, and the
migrations describe exactly what the models say.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

from pos_app.localdb.engine import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    migrate,
    write_session,
)
from pos_app.localdb.models import Base
from pos_app.localdb.replica import LocalReplica

FTS_OBJECTS = ("item_fts",)
"""The FTS5 virtual table (and its shadow tables ``item_fts_*``) and triggers live only in
the migration: SQLAlchemy metadata cannot describe them."""


def _sqlite_objects(engine: Engine, kind: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type = :t AND name NOT LIKE 'sqlite_%'"),
            {"t": kind},
        )
        return {r[0] for r in rows}


def test_empty_database_migrates_to_head(empty_engine: Engine) -> None:
    """GIVEN a brand-new, empty database file
    WHEN it is migrated to head
    THEN every model table, the search index and its triggers exist at HEAD_REVISION."""
    assert current_revision(empty_engine) is None
    migrate(empty_engine)
    tables = _sqlite_objects(empty_engine, "table")
    assert set(Base.metadata.tables) <= tables
    assert "item_fts" in tables
    assert _sqlite_objects(empty_engine, "trigger") == {"item_fts_ai", "item_fts_ad", "item_fts_au"}
    assert current_revision(empty_engine) == HEAD_REVISION


def test_head_revision_constant_is_the_scripts_head(empty_engine: Engine) -> None:
    script = ScriptDirectory.from_config(alembic_config(empty_engine))
    assert script.get_heads() == [HEAD_REVISION]


def test_downgrade_to_base_and_upgrade_again(empty_engine: Engine) -> None:
    """GIVEN a migrated database
    WHEN it is downgraded to base and upgraded again
    THEN the downgrade leaves no application table behind and the upgrade works a second
    time, giving a usable search index."""
    migrate(empty_engine)
    command.downgrade(alembic_config(empty_engine), "base")
    assert _sqlite_objects(empty_engine, "table") == {"alembic_version"}
    assert _sqlite_objects(empty_engine, "trigger") == set()
    assert current_revision(empty_engine) is None

    migrate(empty_engine)
    assert current_revision(empty_engine) == HEAD_REVISION
    with write_session(empty_engine) as session:
        session.execute(
            text(
                "INSERT INTO item (sku, name_zh, name_en, unit, pinyin_initials, pinyin_full, "
                "active) VALUES ('MT001', '芋泥波波', 'Taro Boba', 'piece', 'ynbb', "
                "'yunibobo', 1)"
            )
        )
        session.commit()
    with empty_engine.connect() as conn:
        hit = conn.execute(text("SELECT rowid FROM item_fts WHERE item_fts MATCH '\"Taro\"'")).all()
    assert len(hit) == 1


def _not_fts(name: str | None, type_: str, _parent: Any) -> bool:
    return not (type_ == "table" and name is not None and name.startswith(FTS_OBJECTS))


def test_models_and_migrations_describe_the_same_schema(empty_engine: Engine) -> None:
    """GIVEN a database built only by the migrations
    WHEN Alembic compares it with the SQLAlchemy models
    THEN there is no difference at all (types, nullability, indexes, constraints), apart
    from the FTS5 objects, which the models cannot express."""
    migrate(empty_engine)
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_name": _not_fts, "compare_type": True, "compare_server_default": True},
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_the_comparison_would_see_a_missing_index(empty_engine: Engine) -> None:
    """GIVEN the parity check above
    WHEN an index the models declare is dropped from the database
    THEN the comparison reports it (so the parity test can fail)."""
    migrate(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_outbox_state_seq"))
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": _not_fts})
        differences = compare_metadata(context, Base.metadata)
    assert [d[0] for d in differences] == ["add_index"]
    assert differences[0][1].name == "ix_outbox_state_seq"


def test_migrate_twice_is_harmless(empty_engine: Engine) -> None:
    migrate(empty_engine)
    migrate(empty_engine)
    assert current_revision(empty_engine) == HEAD_REVISION
    assert "sale" in inspect(empty_engine).get_table_names()


def test_upgrade_from_the_first_release_keeps_its_data(empty_engine: Engine) -> None:
    """GIVEN a database of the first release (revision 0001) with a store and a pending
    outbox event
    WHEN the terminal starts with this release
    THEN the schema reaches head, the store is active and the event is still pending."""
    migrate(empty_engine, "0001")
    with empty_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO store (code, name_zh, name_en, address_zh, address_en, phone) "
                "VALUES ('S001', '人民广场店', 'People''s Square', '', '', '')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO outbox (event_id, type, occurred_at, payload, state, attempts) "
                "VALUES ('e1', 'sale.completed', '2026-11-21T01:00:00.000000Z', '{}', "
                "'pending', 0)"
            )
        )
    migrate(empty_engine)
    assert current_revision(empty_engine) == HEAD_REVISION
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT active FROM store")).scalar_one() == 1
        assert conn.execute(text("SELECT state FROM outbox")).scalar_one() == "pending"


def test_upgrade_from_0002_adds_an_empty_print_queue(empty_engine: Engine) -> None:
    """GIVEN a database of revision 0002 with a sale (its receipt printed by that release)
    WHEN the terminal starts with this release
    THEN the print queue exists and is empty: old sales are not printed again."""
    migrate(empty_engine, "0002")
    with empty_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sale (id, receipt_no, store_code, terminal_id, cashier, started_at,"
                " completed_at, subtotal_fen, discount_fen, rounding_fen, total_fen, change_fen,"
                " reference, status) VALUES ('s1', 'S001-T01-000001', 'S001', 'S001-T01',"
                " '1001', '2026-11-21T01:00:00.000000Z', '2026-11-21T01:00:00.000000Z',"
                " 1500, 0, 0, 1500, 500, 'ref', 'completed')"
            )
        )
    migrate(empty_engine)
    assert current_revision(empty_engine) == HEAD_REVISION
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM print_job")).scalar_one() == 0
        assert conn.execute(text("SELECT receipt_no FROM sale")).scalar_one() == "S001-T01-000001"
    command.downgrade(alembic_config(empty_engine), "0002")
    assert "print_job" not in inspect(empty_engine).get_table_names()


def test_upgrade_from_0004_keeps_sales_outside_any_shift(empty_engine: Engine) -> None:
    """GIVEN a database of revision 0004 with a sale
    WHEN the terminal starts with this release
    THEN the shift tables exist and are empty, the old sale belongs to no shift, and a
    downgrade to 0004 removes the shift tables and column again, keeping the sale."""
    migrate(empty_engine, "0004")
    with empty_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sale (id, receipt_no, store_code, terminal_id, cashier, started_at,"
                " completed_at, subtotal_fen, discount_fen, rounding_fen, total_fen, change_fen,"
                " reference, status) VALUES ('s1', 'S001-T01-000001', 'S001', 'S001-T01',"
                " '1001', '2026-11-21T01:00:00.000000Z', '2026-11-21T01:00:00.000000Z',"
                " 1500, 0, 0, 1500, 500, 'ref', 'completed')"
            )
        )
    migrate(empty_engine)
    assert current_revision(empty_engine) == HEAD_REVISION
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM shift")).scalar_one() == 0
        assert conn.execute(text("SELECT shift_id FROM sale")).scalar_one() is None
    command.downgrade(alembic_config(empty_engine), "0004")
    tables = inspect(empty_engine).get_table_names()
    assert "shift" not in tables and "shift_cash_movement" not in tables
    assert "shift_id" not in {c["name"] for c in inspect(empty_engine).get_columns("sale")}
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT receipt_no FROM sale")).scalar_one() == "S001-T01-000001"


def test_upgrade_from_0011_fetches_every_stores_levels_once_on_an_enrolled_till(
    tmp_path: Path,
) -> None:
    """GIVEN two databases of revision 0011: an enrolled till (a feed cursor, S003's level
    from the feed, an open alert) and a till never enrolled
    WHEN each starts with this release
    THEN the enrolled one is to fetch every store's levels from the first page, keeping
    its level (as of no seq, so any page replaces it) and its alert (no quantity yet);
    the other has nothing to fetch; a downgrade to 0011 keeps the level and the alert."""
    enrolled = create_engine(f"sqlite:///{tmp_path / 'enrolled.db'}")
    fresh = create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    for engine in (enrolled, fresh):
        migrate(engine, "0011")
    with enrolled.begin() as conn:
        conn.execute(text("INSERT INTO setting (key, value) VALUES ('sync.cursor', '42')"))
        conn.execute(
            text(
                "INSERT INTO chain_stock (store_code, sku, on_hand_milli, reserved_milli, "
                "available_milli, updated_at) VALUES ('S003', 'DR001', 240000, 0, 240000, "
                "'2026-12-04T08:00:00.000000Z')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO stock_alert (alert_id, store_code, sku, kind, on_hand_milli, "
                "min_milli, created_at, resolved) VALUES (1, 'S001', 'DR001', 'low', 2000, "
                "10000, '2026-12-04T08:00:00.000000Z', 0)"
            )
        )
    for engine in (enrolled, fresh):
        migrate(engine)
        assert current_revision(engine) == HEAD_REVISION
    assert LocalReplica(enrolled, "S001").stock_pages_after() == ""
    assert LocalReplica(fresh, "S001").stock_pages_after() is None
    with enrolled.connect() as conn:
        level = conn.execute(
            text("SELECT on_hand_milli, as_of_seq, in_transit_milli FROM chain_stock")
        ).one()
        assert tuple(level) == (240_000, 0, 0)
        assert conn.execute(text("SELECT qty_milli FROM stock_alert")).scalar_one() is None
    command.downgrade(alembic_config(enrolled), "0011")
    with enrolled.connect() as conn:
        assert conn.execute(text("SELECT on_hand_milli FROM chain_stock")).scalar_one() == 240_000
        assert conn.execute(text("SELECT COUNT(*) FROM stock_alert")).scalar_one() == 1
        keys = conn.execute(text("SELECT key FROM setting")).scalars().all()
        assert "sync.stock_after" not in keys
    for engine in (enrolled, fresh):
        engine.dispose()
