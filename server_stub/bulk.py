"""Writing many rows with few statements, on both backends.

On PostgreSQL rows go in with binary ``COPY`` (no statement text to parse, no per-row
round trip) and the stock upsert is one ``INSERT .. SELECT * FROM unnest(arrays) .. ON
CONFLICT`` sent with binary parameters. Both use the psycopg connection underneath the
SQLAlchemy one, so they run inside the caller's transaction. (psycopg's ``executemany``
sends a statement per row, and SQLAlchemy's multi-row ``VALUES`` makes a long statement
text per batch that psycopg re-parses in Python each time; text-format arrays spend most
of their time escaping.) On SQLite, where a statement costs no round trip, rows go to
sqlite3's ``executemany`` already in the form SQLAlchemy stores them (UUIDs as 32 hex
digits, timestamps as naive UTC text), skipping its per-value processing.

Values must already be in their database form: aware UTC datetimes, ``uuid.UUID``, ints.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    Date,
    Integer,
    Table,
    Uuid,
    any_,
    bindparam,
    insert,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import DateTime, TypeEngine


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Inserts ``rows`` (dicts with the same keys) into ``table``."""
    if not rows:
        return
    columns = tuple(rows[0])
    if conn.dialect.name == "sqlite":
        convert = _sqlite_converters(table, columns)
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
        values = [
            tuple(
                v if f is None or v is None else f(v)
                for f, v in zip(convert, (row[c] for c in columns), strict=True)
            )
            for row in rows
        ]
        with _as_sqlalchemy_errors(conn, sql):
            _driver(conn).executemany(sql, values)
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), list(rows))
        return
    names = ", ".join(columns)
    sql = f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)"
    with _as_sqlalchemy_errors(conn, sql), _driver(conn).cursor() as cur, cur.copy(sql) as copy:
        copy.set_types(list(_pg_types(table, columns)))
        for row in rows:
            copy.write_row(tuple(row[c] for c in columns))


def upsert_returning(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    conflict: tuple[str, ...],
    set_sql: str,
    returning: tuple[str, ...],
) -> list[tuple[Any, ...]]:
    """PostgreSQL only: ``INSERT .. ON CONFLICT (conflict) DO UPDATE SET set_sql
    RETURNING returning`` for all ``rows`` in one statement; the returned rows, in no
    particular order. ``set_sql`` may refer to ``EXCLUDED`` and to the table by name."""
    columns = tuple(rows[0])
    types = _pg_types(table, columns)
    casts = ", ".join(f"%s::{t}[]" for t in types)
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({casts}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {set_sql} "
        f"RETURNING {', '.join(returning)}"
    )
    arrays = [[row[c] for row in rows] for c in columns]
    with _as_sqlalchemy_errors(conn, sql), _driver(conn).cursor() as cur:
        cur.execute(sql, arrays, binary=True)
        fetched: list[tuple[Any, ...]] = cur.fetchall()
        return fetched


def among(
    conn: Connection, column: ColumnElement[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(array)`` so that the statement
    text stays the same whatever the number of values (psycopg caches its parsing)."""
    values = list(values)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


@contextmanager
def _as_sqlalchemy_errors(conn: Connection, sql: str) -> Iterator[None]:
    """Re-raises driver errors as SQLAlchemy's (IntegrityError, DataError,
    OperationalError...), which is what callers and the retry logic look for."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, None, exc, dbapi.Error) from exc


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection


@functools.cache
def _pg_types(table: Table, columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_pg_type(table.c[c].type) for c in columns)


def _sqlite_datetime(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text (naive UTC), so that reads through it match.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_uuid(value: uuid.UUID) -> str:
    return value.hex  # SQLAlchemy's Uuid on SQLite: 32 hex digits


@functools.cache
def _sqlite_converters(
    table: Table, columns: tuple[str, ...]
) -> tuple[Callable[[Any], Any] | None, ...]:
    """Per column: how SQLAlchemy would store a Python value on SQLite (None: as is)."""
    out: list[Callable[[Any], Any] | None] = []
    for c in columns:
        impl = getattr(table.c[c].type, "impl", table.c[c].type)
        if isinstance(impl, DateTime):
            out.append(_sqlite_datetime)
        elif isinstance(impl, Uuid):
            out.append(_sqlite_uuid)
        elif isinstance(impl, Boolean):
            out.append(int)
        elif isinstance(impl, Date):
            out.append(date.isoformat)  # SQLAlchemy's Date on SQLite: YYYY-MM-DD
        else:
            out.append(None)
    return tuple(out)


def _pg_type(sa_type: TypeEngine[Any]) -> str:
    impl = getattr(sa_type, "impl", sa_type)  # TypeDecorator -> its storage type
    if isinstance(impl, BigInteger):
        return "int8"
    if isinstance(impl, Integer):
        return "int4"
    if isinstance(impl, Boolean):
        return "bool"
    if isinstance(impl, Uuid):
        return "uuid"
    if isinstance(impl, DateTime):
        return "timestamptz"
    if isinstance(impl, Date):
        return "date"
    return "text"
