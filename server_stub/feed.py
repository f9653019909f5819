"""The change feed: every change terminals need, in commit order, with a strictly
increasing ``seq``.

Why a terminal never misses a committed change: a writer takes its seqs by updating the
single ``feed_state`` row inside its own transaction, as the last thing before commit. On
PostgreSQL the row lock makes the next writer wait until this one commits or rolls back,
so seqs are handed out gap-free and committed in seq order; on SQLite writers are serial
anyway. So when a reader sees ``last_seq = H`` committed, every row with ``seq <= H`` is
committed and visible to any statement that starts later. A pull reads ``H`` first, then
the rows ``after < seq <= H``: nothing below ``H`` can appear afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import Connection, and_, delete, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from server_stub import bulk
from server_stub import models as m
from server_stub.db import WriteTx
from sync_client.contract import protocol as p

_CHANGE_MODELS: dict[str, type[BaseModel]] = {
    "item": p.ItemChange,
    "price": p.PriceChange,
    "stock": p.StockChange,
    "store": p.StoreChange,
    "config": p.ConfigChange,
    "staff": p.StaffChange,
    "member": p.MemberChange,
    "transfer": p.TransferChange,
    "alert": p.AlertChange,
    "pickup": p.PickupChange,
    "menu": p.MenuChange,
    "sold_out": p.SoldOutChange,
    "promotion": p.PromotionChange,
}
SNAPSHOT_PATH = "/v1/sync/snapshot"


@dataclass(frozen=True, slots=True)
class Pending:
    """A change to append: ``store`` None means chain-wide. ``store2``: a second store
    whose devices see it too (a transfer's receiving store)."""

    kind: str
    key: str
    store: str | None
    data: BaseModel
    store2: str | None = None


@dataclass(frozen=True, slots=True)
class FeedState:
    """``last_seq``: newest committed seq. ``pruned_through``: rows at or below may be gone."""

    last_seq: int
    pruned_through: int


@dataclass(frozen=True, slots=True)
class Row:
    """A feed row as the live hub and pull read it; ``body`` is the change's JSON."""

    seq: int
    kind: str
    store: str | None
    body: str
    store2: str | None = None

    def visible_to(self, store: str, stock: str) -> bool:
        """Whether a device of ``store`` subscribed with ``stock`` ("all"/"own") sees it."""
        return (
            self.store is None
            or self.store == store
            or self.store2 == store
            or (stock == "all" and self.kind == "stock")
        )


class ResyncNeeded(Exception):
    """The cursor is older than what the feed keeps, or ahead of its head."""

    def __init__(self, detail: str, state: FeedState) -> None:
        super().__init__(detail)
        self.detail = detail
        self.state = state

    def body(self) -> p.ResyncRequired:
        return p.ResyncRequired(
            detail=self.detail,
            oldest_after=self.state.pruned_through,
            head=self.state.last_seq,
            snapshot=SNAPSHOT_PATH,
        )


def append(tx: WriteTx, changes: Sequence[Pending], now: datetime) -> int:
    """Appends changes in order and returns the last seq given out.

    Call it as the last statement of the transaction: from here to commit this
    transaction holds the feed counter, and other writers wait for it.
    """
    if not changes:
        return 0
    n = len(changes)
    last = tx.conn.execute(
        update(m.feed_state)
        .where(m.feed_state.c.id == 1)
        .values(last_seq=m.feed_state.c.last_seq + n)
        .returning(m.feed_state.c.last_seq)
    ).scalar_one()
    first = last - n + 1
    rows = []
    for i, change in enumerate(changes):
        model = _CHANGE_MODELS[change.kind](
            seq=first + i,
            key=change.key,
            store=change.store,
            created_at=now,
            data=change.data,
        )
        rows.append(
            {
                "seq": first + i,
                "kind": change.kind,
                "key": change.key,
                "store_code": change.store,
                "created_at": now,
                "body": model.model_dump_json(),
                "store2_code": change.store2,
            }
        )
    bulk.insert_rows(tx.conn, m.feed, rows)
    tx.feed_touched = True
    return int(last)


def state(conn: Connection) -> FeedState:
    """The feed's head and retention floor as of this statement."""
    row = conn.execute(
        select(m.feed_state.c.last_seq, m.feed_state.c.pruned_through).where(m.feed_state.c.id == 1)
    ).one()
    return FeedState(int(row.last_seq), int(row.pruned_through))


def visibility(store: str, stock: str) -> ColumnElement[bool]:
    """SQL form of :meth:`Row.visible_to`."""
    cond = or_(
        m.feed.c.store_code.is_(None), m.feed.c.store_code == store, m.feed.c.store2_code == store
    )
    if stock == "all":
        cond = or_(cond, m.feed.c.kind == "stock")
    return cond


def check_cursor(after: int, st: FeedState) -> None:
    """Raises :class:`ResyncNeeded` when ``after`` cannot be served from the feed."""
    if after < st.pruned_through:
        raise ResyncNeeded(
            f"cursor {after} is older than the feed keeps (oldest usable {st.pruned_through})",
            st,
        )
    if after > st.last_seq:
        raise ResyncNeeded(f"cursor {after} is ahead of HQ's feed head {st.last_seq}", st)


@dataclass(frozen=True, slots=True)
class Page:
    """One pull answer: bodies of the visible changes in ``(after, next_after]``."""

    after: int
    next_after: int
    head: int
    more: bool
    bodies: list[str]

    def to_json(self) -> str:
        """The :class:`~sync_client.contract.protocol.PullResponse` JSON, not re-encoded."""
        return (
            f'{{"protocol":{p.PROTOCOL_VERSION},"after":{self.after},'
            f'"next_after":{self.next_after},"head":{self.head},'
            f'"more":{"true" if self.more else "false"},"changes":[{",".join(self.bodies)}]}}'
        )


def pull(conn: Connection, store: str, after: int, limit: int, stock: str = "all") -> Page:
    """Reads up to ``limit`` visible changes after ``after``.

    Raises:
        ResyncNeeded: the cursor cannot be served.
    """
    st = state(conn)
    check_cursor(after, st)
    rows = conn.execute(
        select(m.feed.c.seq, m.feed.c.body)
        .where(m.feed.c.seq > after, m.feed.c.seq <= st.last_seq, visibility(store, stock))
        .order_by(m.feed.c.seq)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    if more:
        rows = rows[:limit]
    next_after = int(rows[-1].seq) if more else st.last_seq
    return Page(after, next_after, st.last_seq, more, [r.body for r in rows])


def read_rows(conn: Connection, after: int, upto: int | None, limit: int) -> list[Row]:
    """All rows (every store) with ``after < seq <= upto``, oldest first."""
    cond = m.feed.c.seq > after
    if upto is not None:
        cond = and_(cond, m.feed.c.seq <= upto)
    result = conn.execute(
        select(
            m.feed.c.seq, m.feed.c.kind, m.feed.c.store_code, m.feed.c.body, m.feed.c.store2_code
        )
        .where(cond)
        .order_by(m.feed.c.seq)
        .limit(limit)
    )
    return [Row(int(r.seq), r.kind, r.store_code, r.body, r.store2_code) for r in result]


def prune(tx: WriteTx, older_than: timedelta, now: datetime | None = None) -> int:
    """Deletes changes older than ``older_than``; returns how many.

    Terminals whose cursor falls below the new floor get a resync answer.
    """
    now = now or datetime.now(UTC)
    cutoff = now - older_than
    top = tx.conn.execute(
        select(func.max(m.feed.c.seq)).where(m.feed.c.created_at < cutoff)
    ).scalar_one()
    if top is None:
        return 0
    deleted = tx.conn.execute(delete(m.feed).where(m.feed.c.seq <= top)).rowcount
    tx.conn.execute(
        update(m.feed_state)
        .where(m.feed_state.c.id == 1, m.feed_state.c.pruned_through < top)
        .values(pruned_through=top)
    )
    return int(deleted)
