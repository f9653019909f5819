"""Connection settings and transactions: durable commits and writers that never collide
half-way through a sale.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError, OperationalError

from pos_app.localdb.engine import make_engine, read_session, write_session
from pos_app.localdb.seed import generate_catalog


def _pragmas(conn: Any) -> tuple[str, int, int]:
    return (
        conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
        conn.exec_driver_sql("PRAGMA synchronous").scalar(),
        conn.exec_driver_sql("PRAGMA foreign_keys").scalar(),
    )


def test_every_connection_is_wal_synchronous_full_with_foreign_keys(demo_engine: Engine) -> None:
    """GIVEN the terminal engine
    WHEN two connections are open at once (two different SQLite handles)
    THEN both run in WAL mode, synchronous=FULL (2) and with foreign keys enforced."""
    with demo_engine.connect() as first, demo_engine.connect() as second:
        assert first.connection.dbapi_connection is not second.connection.dbapi_connection
        assert _pragmas(first) == ("wal", 2, 1)
        assert _pragmas(second) == ("wal", 2, 1)


def test_foreign_keys_are_enforced(demo_engine: Engine) -> None:
    with write_session(demo_engine) as session:
        with pytest.raises(IntegrityError):
            session.execute(text("INSERT INTO barcode (code, item_id) VALUES ('X', 999999)"))
        session.rollback()


def test_pool_connections_stay_durable_after_a_bulk_catalogue_load(demo_engine: Engine) -> None:
    """GIVEN a bulk catalogue load, which writes with synchronous=OFF for speed
    WHEN the next connection is taken from the pool
    THEN it commits with synchronous=FULL again (sales made afterwards survive a power cut)."""
    generate_catalog(demo_engine, 50)
    with demo_engine.connect() as conn:
        assert _pragmas(conn) == ("wal", 2, 1)


def _impatient_engine(path: Path) -> Engine:
    """A second terminal process's engine that gives up on a lock at once."""
    engine = make_engine(path)

    @event.listens_for(engine, "connect")
    def _no_wait(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    return engine


def test_a_write_session_takes_the_write_lock_at_begin(demo_path: Path) -> None:
    """GIVEN one write session that has begun (and has only READ so far)
    WHEN another engine opens a write session while the first is open
    THEN the second fails at BEGIN with 'database is locked' rather than half-way
    through its writes, while plain readers still read."""
    first_engine = make_engine(demo_path)
    second_engine = _impatient_engine(demo_path)
    try:
        with write_session(first_engine) as holder:
            assert holder.execute(text("SELECT COUNT(*) FROM item")).scalar() == 60
            with (
                write_session(second_engine) as contender,
                pytest.raises(OperationalError, match="database is locked"),
            ):
                contender.execute(text("SELECT 1"))
            with read_session(second_engine) as reader:
                assert reader.execute(text("SELECT COUNT(*) FROM item")).scalar() == 60
            holder.commit()
        with write_session(second_engine) as contender:
            contender.execute(text("UPDATE setting SET value = '\"S001\"' WHERE key='store_code'"))
            contender.commit()
    finally:
        first_engine.dispose()
        second_engine.dispose()


def test_a_read_session_does_not_take_the_write_lock(demo_path: Path) -> None:
    """GIVEN a read session that has read
    WHEN another engine writes
    THEN the write goes through (readers never block the till)."""
    first_engine = make_engine(demo_path)
    second_engine = _impatient_engine(demo_path)
    try:
        with read_session(first_engine) as reader:
            reader.execute(text("SELECT COUNT(*) FROM item")).scalar()
            with write_session(second_engine) as writer:
                writer.execute(text("INSERT INTO counter (name, value) VALUES ('x', 1)"))
                writer.commit()
        with read_session(first_engine) as reader:
            assert reader.execute(text("SELECT value FROM counter WHERE name='x'")).scalar() == 1
    finally:
        first_engine.dispose()
        second_engine.dispose()


def test_raw_replica_writes_skip_the_fsync_but_hand_back_full_durability(tmp_path) -> None:
    """GIVEN the pool's connections
    WHEN HQ's changes are written through raw_write_transaction(durable=False) (no fsync
    at commit)
    THEN that transaction ran at synchronous=NORMAL, its data is committed, and every
    connection a sale can get afterwards is back at synchronous=FULL, even after an
    error inside the transaction, which rolls it back."""
    from sqlalchemy import text as sql

    from pos_app.localdb.engine import open_database, raw_write_transaction, write_session

    engine = open_database(tmp_path / "t.db")
    with raw_write_transaction(engine, durable=False) as db:
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        db.execute("INSERT INTO setting (key, value) VALUES ('a', '1')")
        db.commit()
    with pytest.raises(RuntimeError), raw_write_transaction(engine, durable=False) as db:
        db.execute("INSERT INTO setting (key, value) VALUES ('b', '1')")
        raise RuntimeError("boom")
    with raw_write_transaction(engine, durable=False) as db:
        db.execute("INSERT INTO setting (key, value) VALUES ('c', '1')")  # never committed
    with write_session(engine) as s:
        assert s.execute(sql("PRAGMA synchronous")).scalar() == 2  # FULL
        assert s.execute(sql("SELECT key FROM setting ORDER BY key")).scalars().all() == ["a"]
    engine.dispose()


def test_a_raw_write_transaction_takes_the_write_lock_at_begin(demo_path: Path) -> None:
    """GIVEN a raw write transaction that has begun (and has only read so far)
    WHEN another engine opens a write session meanwhile
    THEN the second fails at BEGIN with 'database is locked', as with write sessions; a
    durable raw transaction commits at synchronous=FULL."""
    from pos_app.localdb.engine import raw_write_transaction

    first_engine = make_engine(demo_path)
    second_engine = _impatient_engine(demo_path)
    try:
        with raw_write_transaction(first_engine) as db:
            assert db.execute("PRAGMA synchronous").fetchone()[0] == 2
            assert db.execute("SELECT COUNT(*) FROM item").fetchone()[0] == 60
            with (
                write_session(second_engine) as contender,
                pytest.raises(OperationalError, match="database is locked"),
            ):
                contender.execute(text("SELECT 1"))
    finally:
        first_engine.dispose()
        second_engine.dispose()


def test_replica_writes_skip_the_fsync_but_hand_back_full_durability(tmp_path) -> None:
    """GIVEN the pool's connections
    WHEN data HQ can send again (cached members) goes through replica_write_session (no
    fsync at commit)
    THEN that transaction ran at synchronous=NORMAL, its data is committed, and every
    connection a sale can get afterwards is back at synchronous=FULL, even after an
    error inside the session."""
    from sqlalchemy import text as sql

    from pos_app.localdb.engine import open_database, replica_write_session, write_session

    engine = open_database(tmp_path / "t.db")
    with replica_write_session(engine) as s:
        assert s.execute(sql("PRAGMA synchronous")).scalar() == 1  # NORMAL
        s.execute(sql("INSERT INTO setting (key, value) VALUES ('a', '1')"))
        s.commit()
    try:
        with replica_write_session(engine) as s:
            s.execute(sql("INSERT INTO setting (key, value) VALUES ('b', '1')"))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with write_session(engine) as s:
        assert s.execute(sql("PRAGMA synchronous")).scalar() == 2  # FULL
        assert s.execute(sql("SELECT key FROM setting ORDER BY key")).scalars().all() == ["a"]
    engine.dispose()
