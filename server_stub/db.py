"""Engines, transactions and the "feed moved" wake-up for SQLite and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL`` (a pushed sale is acknowledged only once
it is on disk) and a busy timeout; write transactions start with ``BEGIN IMMEDIATE`` so two
writers never deadlock upgrading a read lock. PostgreSQL runs at READ COMMITTED.

Thread rules: a :class:`Database` is shared by every thread of a process; each transaction
runs on its own pooled connection. Listener callbacks run on the committing thread and must
not block.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger("chainpos.hq.db")

FEED_CHANNEL = "chainpos_feed"
REVOKE_CHANNEL = "chainpos_revoke"

T = TypeVar("T")


class RetryableWrite(Exception):
    """A write lost a race (deadlock, serialisation failure, a conditional update that
    matched nothing); running the whole transaction again is safe."""


def default_sqlite_url() -> str:
    """The default database: ``hq.sqlite3`` in the user's data directory."""
    import platformdirs

    path = Path(platformdirs.user_data_dir("chainpos-hq", appauthor=False)) / "hq.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, RetryableWrite):
        return True
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None)
        if code in {"40P01", "40001"}:  # deadlock detected, serialization failure
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
            return True
    return False


class WriteTx:
    """An open write transaction. Code that appends to the feed marks it so that the
    wake-up goes out after commit."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.feed_touched = False


class Database:
    """One database, by SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``)."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if self.url.database in (None, "", ":memory:"):
                raise ValueError("HQ needs a SQLite file, not an in-memory database")
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size * 2,
                connect_args={"check_same_thread": False, "timeout": 30},
            )
            _install_sqlite_hooks(self.engine)
        elif self.url.get_backend_name() == "postgresql":
            self.engine = create_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True
            )
        else:
            raise ValueError(f"unsupported database {self.url.get_backend_name()!r}")
        self._listeners: list[Callable[[str, str], None]] = []
        self._lock = threading.Lock()
        # SQLite has one writer at a time. Queueing this process's writers on a lock
        # hands the database over as soon as a commit ends, where SQLite's busy handler
        # would have them poll with growing sleeps. Other processes (the admin CLI)
        # still meet the busy timeout. PostgreSQL writers run concurrently.
        self._local_writer: AbstractContextManager[Any] = (
            threading.Lock() if self.is_sqlite else nullcontext()
        )

    @property
    def backend(self) -> Literal["sqlite", "pg"]:
        """``"sqlite"`` or ``"pg"``."""
        return "sqlite" if self.is_sqlite else "pg"

    def dispose(self) -> None:
        """Closes every pooled connection."""
        self.engine.dispose()

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def read(self, *, consistent: bool = False) -> Iterator[Connection]:
        """A read-only transaction.

        On SQLite every read transaction sees one snapshot. On PostgreSQL statements see
        what committed before each of them, unless ``consistent`` asks for REPEATABLE READ
        (one snapshot for the whole transaction).
        """
        with self.engine.connect() as conn:
            conn.execution_options(chainpos_write=False)
            if consistent and not self.is_sqlite:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def write(self) -> Iterator[WriteTx]:
        """A write transaction; sends the feed wake-up after a commit that touched the feed."""
        with self._local_writer, self.engine.connect() as conn:
            conn.execution_options(chainpos_write=True)
            tx = WriteTx(conn)
            with conn.begin():
                yield tx
            if tx.feed_touched:
                self._after_commit(conn, FEED_CHANNEL, "")

    def run_write(self, fn: Callable[[WriteTx], T], *, attempts: int = 8) -> T:
        """Runs ``fn`` in a write transaction, again from the start if it lost a race."""
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as tx:
                    return fn(tx)
            except Exception as exc:
                if attempt == attempts or not _retryable(exc):
                    raise
                log.info("write lost a race (%s), attempt %d", type(exc).__name__, attempt)
                time.sleep(0.005 * attempt)  # back off so the winner can commit
        raise AssertionError("unreachable")

    # -- wake-ups -----------------------------------------------------------------------

    def add_listener(self, callback: Callable[[str, str], None]) -> None:
        """Calls ``callback(channel, payload)`` after each local commit that signals."""
        with self._lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[str, str], None]) -> None:
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def signal(self, channel: str, payload: str = "") -> None:
        """Sends a wake-up outside any transaction (e.g. a device was revoked)."""
        with self.engine.connect() as conn:
            self._after_commit(conn, channel, payload)

    def _after_commit(self, conn: Connection, channel: str, payload: str) -> None:
        # This process's listeners first (no round trip), then the other processes'.
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            callback(channel, payload)
        # After the commit, never inside it: a NOTIFY inside a transaction takes a global
        # lock at commit and would serialise every writer.
        if not self.is_sqlite:
            try:
                conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})
                conn.commit()
            except DBAPIError:
                # Only a wake-up: listeners also poll the feed table, which is the truth.
                log.warning("NOTIFY %s failed", channel, exc_info=True)

    def psycopg_conninfo(self) -> str:
        """A libpq connection string for a raw psycopg connection (LISTEN)."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("chainpos_write", True)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def migrate(db: Database) -> None:
    """Brings the schema to the newest Alembic revision; safe to run from many processes."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with db.engine.connect() as conn:
        conn.execution_options(chainpos_write=True)
        with conn.begin():
            if not db.is_sqlite:
                # Two HQ processes starting together must not both create the tables.
                conn.execute(text("SELECT pg_advisory_xact_lock(7402871)"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
