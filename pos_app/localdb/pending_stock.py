"""Stock the till shows: HQ's last level for its store minus its own sales HQ has not
counted yet. The one place that keeps that bookkeeping.

``stock_level.hq_qty_milli`` is HQ's figure as the feed last delivered it;
``stock_level.local_sold_milli`` is what this till sold that the figure does not include.
A sale adds its lines' quantities when it commits (:func:`add_sold`, in the sale's own
transaction). When HQ accepts the sale it names a feed seq at or after the stock change the
sale caused; the quantities wait in ``stock_pending`` until the cursor reaches that seq, then
leave ``local_sold_milli``. A sale HQ refuses for good leaves at once (HQ will never count
it), and comes back if a manager sends it again. So ``local_sold_milli`` always equals the
``sale_line`` quantities of the pending outbox sales plus ``stock_pending``.

The quantities always come from ``sale_line``; an outbox row only names its sale
(:data:`EVENT_SALE_ID`). When HQ's stock change arrives before its answer to the push,
the sale is subtracted twice until the answer comes: the till cannot tell which of its
sales a level includes until HQ says so.

:func:`stock_on_hand` and :func:`add_returned` take a SQLAlchemy session; the rest run on
the raw ``sqlite3`` connection of the sale's and the sync client's transactions
(:func:`~pos_app.localdb.engine.raw_write_transaction`), inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.orm import Session

_ADD_SOLD = (
    "INSERT INTO stock_level (item_id, hq_qty_milli, local_sold_milli) VALUES (:i, 0, :q) "
    "ON CONFLICT(item_id) DO UPDATE SET local_sold_milli = local_sold_milli + :q"
)
"""Adds ``:q`` to what item ``:i`` sold here; an item HQ sent no level for starts at 0.
Named parameters, so the one statement serves SQLAlchemy and ``sqlite3`` alike."""

EVENT_SALE_ID = (
    "CASE type WHEN 'sale.completed' THEN json_extract(payload, '$.sale_id') "
    "WHEN 'sale.returned' THEN json_extract(payload, '$.return_id') END"
)
"""SQL over an ``outbox`` row: the id of the sale or return it reports (the two kinds of
event that move the shown stock), NULL for other events. Sale and return ids are UUIDs,
so one id names one or the other."""

_MOVED_BY = (
    "SELECT item_id, SUM(qty_milli) FROM sale_line WHERE sale_id IN ({marks}) GROUP BY item_id "
    "UNION ALL "
    "SELECT item_id, -SUM(qty_milli) FROM sale_return_line WHERE return_id IN ({marks}) "
    "AND restock = 'sellable' AND item_id IS NOT NULL GROUP BY item_id"
)
"""item id -> qty_milli taken off the shown stock by the given sales (their lines) and
returns (negative: their goods back on the shelf; goods for the damaged bin never were)."""

_CHUNK = 500
"""Bound parameters per ``IN (…)`` (SQLite allows 32766; kept small and predictable)."""


class SoldLine(Protocol):
    """A sale line as far as stock cares (``LineRecord`` is one)."""

    @property
    def item_id(self) -> int: ...

    @property
    def qty_milli(self) -> int: ...


def add_sold(db: sqlite3.Connection, lines: Iterable[SoldLine]) -> None:
    """Subtracts a sale's lines from the shown stock, on the ``sqlite3`` connection of the
    sale's own transaction."""
    sold: dict[int, int] = defaultdict(int)
    for ln in lines:
        sold[ln.item_id] += ln.qty_milli
    if sold:
        db.executemany(_ADD_SOLD, [{"i": i, "q": q} for i, q in sold.items()])


def stock_on_hand(session: Session, item_id: int) -> int | None:
    """This store's level in qty_milli: HQ's last figure minus unsynced local sales."""
    row = session.execute(
        text("SELECT hq_qty_milli - local_sold_milli FROM stock_level WHERE item_id = :i"),
        {"i": item_id},
    ).first()
    return None if row is None else int(row[0])


# -- on the sync client's sqlite3 connection -------------------------------------------------


def sales_of_events(db: sqlite3.Connection, seqs: Iterable[int]) -> dict[int, str]:
    """outbox seq -> id of the sale the event reports, for those of ``seqs`` that are sales."""
    out: dict[int, str] = {}
    wanted = list(seqs)
    for n in range(0, len(wanted), _CHUNK):
        chunk = wanted[n : n + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        for seq, sale_id in db.execute(
            f"SELECT seq, {EVENT_SALE_ID} FROM outbox WHERE seq IN ({marks})", chunk
        ):
            if sale_id is not None:
                out[int(seq)] = str(sale_id)
    return out


def sold_by_sales(db: sqlite3.Connection, sale_ids: Iterable[str]) -> dict[int, int]:
    """item id -> qty_milli the given sales and returns took off the shown stock
    (:data:`_MOVED_BY`)."""
    totals: dict[int, int] = defaultdict(int)
    ids = list(sale_ids)
    for n in range(0, len(ids), _CHUNK):
        chunk = ids[n : n + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        for item_id, qty in db.execute(_MOVED_BY.format(marks=marks), chunk + chunk):
            totals[int(item_id)] += int(qty)
    return totals


def add_returned(session: Session, back: Mapping[int, int]) -> None:
    """Puts a return's sellable goods (item id -> qty_milli) back on the shown stock, in
    the return's own transaction."""
    if back:
        session.execute(text(_ADD_SOLD), [{"i": i, "q": -q} for i, q in back.items()])


class PushSettlement:
    """What one push answer does to the shown stock, collected while the outbox rows are
    removed or parked and written once by :meth:`write`, in the same transaction.

    Args:
        db: the connection of the transaction applying the answer.
        cursor: the feed seq applied so far.
        head: the feed seq HQ named in its answer (at or after the stock changes of the
            sales it accepted).
    """

    def __init__(self, db: sqlite3.Connection, cursor: int, head: int) -> None:
        self._db = db
        self._cursor = cursor
        self._head = head
        self._counted: list[str] = []
        self._never: list[str] = []

    def counted_by_hq(self, sale_id: str) -> None:
        """HQ took the sale: it stops counting once the feed reaches the answer's head."""
        self._counted.append(sale_id)

    def never_counted(self, sale_id: str) -> None:
        """HQ refused the sale for good: stop subtracting it, so the till shows HQ's level."""
        self._never.append(sale_id)

    def write(self) -> None:
        moved = sold_by_sales(self._db, self._never)
        counted = sold_by_sales(self._db, self._counted)
        if self._cursor >= self._head:
            for item_id, qty in counted.items():
                moved[item_id] = moved.get(item_id, 0) + qty
        elif counted:
            self._db.executemany(
                "INSERT INTO stock_pending (until_seq, item_id, qty_milli) VALUES (?, ?, ?)",
                [(self._head, i, q) for i, q in counted.items()],
            )
        _unsell(self._db, moved)


def resell(db: sqlite3.Connection, sale_id: str) -> None:
    """A refused sale goes back in the queue: subtract it again until HQ counts it."""
    _resell(db, sold_by_sales(db, (sale_id,)))


def release_until(db: sqlite3.Connection, cursor: int) -> None:
    """The feed is applied up to ``cursor``: HQ's level now includes the sales it counted
    up to there, so they stop being subtracted."""
    rows = db.execute(
        "SELECT item_id, SUM(qty_milli) FROM stock_pending WHERE until_seq <= ? GROUP BY item_id",
        (cursor,),
    ).fetchall()
    if rows:
        _unsell(db, {int(r[0]): int(r[1]) for r in rows})
        db.execute("DELETE FROM stock_pending WHERE until_seq <= ?", (cursor,))


def rebuild(db: sqlite3.Connection, cursor: int) -> None:
    """After a snapshot at ``cursor``: drops what it includes and recomputes
    ``local_sold_milli`` from the pending outbox sales and what is still waiting."""
    db.execute("DELETE FROM stock_pending WHERE until_seq <= ?", (cursor,))
    totals: dict[int, int] = defaultdict(int)
    pending = f"SELECT {EVENT_SALE_ID} FROM outbox WHERE state = 'pending'"
    for item_id, qty in db.execute(_MOVED_BY.format(marks=pending)):
        totals[int(item_id)] += int(qty)
    for item_id, qty in db.execute(
        "SELECT item_id, SUM(qty_milli) FROM stock_pending GROUP BY item_id"
    ):
        totals[int(item_id)] += int(qty)
    db.execute("UPDATE stock_level SET local_sold_milli = 0")
    _resell(db, totals)


def _unsell(db: sqlite3.Connection, moved: Mapping[int, int]) -> None:
    if moved:
        db.executemany(
            "UPDATE stock_level SET local_sold_milli = local_sold_milli - ? WHERE item_id = ?",
            [(q, i) for i, q in moved.items()],
        )


def _resell(db: sqlite3.Connection, sold: Mapping[int, int]) -> None:
    if sold:
        db.executemany(_ADD_SOLD, [{"i": i, "q": q} for i, q in sold.items()])
