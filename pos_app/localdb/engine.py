"""Opening the terminal database: pragmas, transactions, migrations.

Every connection runs in WAL mode with ``synchronous=FULL`` so that a committed sale
survives a power cut. The driver's own transaction handling is switched off and
SQLAlchemy's ``begin`` emits ``BEGIN`` for reads and ``BEGIN IMMEDIATE`` for sessions made
by :func:`write_session`, so a write never fails half-way on a lock upgrade.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session

HEAD_REVISION = "0015"
"""The newest migration; checked on start to skip Alembic when the schema is current."""

_MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(path: Path | str, *, echo: bool = False) -> Engine:
    """Creates the engine for the database file at ``path`` (``":memory:"`` for tests)."""
    url = "sqlite://" if str(path) == ":memory:" else f"sqlite:///{path}"
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.execute("PRAGMA cache_size=-16000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def checkpoint(engine: Engine) -> None:
    """Copies committed WAL pages into the database file without blocking writers.

    Run off the GUI thread after each sale, so that SQLite's automatic checkpoint (every
    1,000 WAL pages) seldom has to run inside a sale's commit.
    """
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def write_session(engine: Engine) -> Session:
    """A session whose transaction starts with ``BEGIN IMMEDIATE``."""
    return Session(engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False)


@contextmanager
def raw_write_transaction(engine: Engine, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
    """A ``BEGIN IMMEDIATE`` transaction on a pooled connection's own ``sqlite3`` handle.

    For small writes on a hot path, where SQLAlchemy's per-statement work would cost many
    times what SQLite does. Commit with ``db.commit()``; leaving without it rolls back.

    ``durable=False`` commits without waiting for the disk (``synchronous=NORMAL``), for
    data that HQ can send again: changes from the feed (with the cursor, in the same
    transaction) and push answers. After a power cut such a transaction may be rolled back
    as a whole (WAL keeps the file consistent), so the cursor goes back with the changes and
    they are pulled again; a lost push answer means the events are pushed again and HQ
    answers "duplicate". Sales never use it: they commit with ``synchronous=FULL``. The
    connection goes back to the pool with ``synchronous=FULL`` restored, or is discarded.
    """
    pooled = engine.raw_connection()
    db = pooled.driver_connection
    assert isinstance(db, sqlite3.Connection)
    try:
        if not durable:
            # Outside the transaction: SQLite refuses to change the safety level inside one.
            db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")
        yield db
    finally:
        try:
            if db.in_transaction:
                db.rollback()
            if not durable:
                db.execute("PRAGMA synchronous=FULL")
        except Exception:
            pooled.invalidate()  # never hand out a connection that might not fsync sales
            raise
        finally:
            pooled.close()


@contextmanager
def raw_read_connection(engine: Engine) -> Iterator[sqlite3.Connection]:
    """A pooled connection's own ``sqlite3`` handle for a read on a hot path (each
    statement sees the latest commit; no transaction is opened). For one or two small
    queries where a :func:`read_session` would cost several times the query."""
    pooled = engine.raw_connection()
    try:
        db = pooled.driver_connection
        assert isinstance(db, sqlite3.Connection)
        yield db
    finally:
        pooled.close()


@contextmanager
def replica_write_session(engine: Engine) -> Iterator[Session]:
    """A ``BEGIN IMMEDIATE`` session that commits without waiting for the disk.

    For data that HQ can send again, through the ORM (cached members); see
    :func:`raw_write_transaction`, which the sync client's changes and push answers use,
    for why that is safe. Sales never use this: they commit with ``synchronous=FULL``.
    The connection goes back to the pool with ``synchronous=FULL`` restored.
    """
    conn = engine.connect()
    # PRAGMAs go to the driver directly: a SQLAlchemy execute would open a transaction,
    # and SQLite refuses to change the safety level inside one.
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        raw.execute("PRAGMA synchronous=NORMAL")
        session = Session(conn.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
    finally:
        try:
            if conn.in_transaction():
                conn.rollback()
            raw.execute("PRAGMA synchronous=FULL")
        except Exception:
            conn.invalidate()  # never hand out a connection that might not fsync sales
            raise
        finally:
            conn.close()


def read_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'")
        ).first()
        if not exists:
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return row[0] if row else None


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Brings the schema to ``revision``. Cheap when already there (Alembic not imported)."""
    if revision == "head" and current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


FILE_MODE = 0o600
DIR_MODE = 0o700
_SIDE_FILES = ("-wal", "-shm", "-journal")


def secure_files(path: Path) -> None:
    """Makes the database at ``path`` (and its WAL, shared-memory and journal files)
    readable by this user only, creating the file empty with that mode if missing, and
    its folder 0700 when this user owns it (never a shared one such as ``/tmp``).

    The database holds PIN hashes, member data and the sales: a 4-8 digit PIN falls to a
    brute force of its hash in seconds, so nobody else may read them. SQLite creates the
    WAL and shared-memory files with the database file's mode.
    """
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, mode=DIR_MODE)
    st = folder.stat()
    if st.st_uid == os.getuid() and not st.st_mode & stat.S_ISVTX:
        _tighten(folder, DIR_MODE)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for p in (path, *(path.with_name(path.name + s) for s in _SIDE_FILES)):
        if p.exists():
            _tighten(p, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    if stat.S_IMODE(path.stat().st_mode) & ~mode:
        path.chmod(mode)


def open_database(path: Path | str) -> Engine:
    """Opens (creating if needed) and migrates the terminal database; its files are made
    owner-only first (:func:`secure_files`)."""
    if str(path) != ":memory:":
        secure_files(Path(path))
    engine = make_engine(path)
    migrate(engine)
    return engine
