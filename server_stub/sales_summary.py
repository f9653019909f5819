"""Sales per store and day, kept as the sales arrive (``store_day_sales`` and
``store_day_tenders``), so the dashboard and reports read one row per store and day
instead of summing every sale.

The ingest (:mod:`server_stub.ingest`) collects one :class:`SummaryDelta` per push from
the events it applies, and :func:`write` adds it in the same transaction as the events
themselves: a replayed event is answered ``duplicate`` before it is planned and so adds
nothing, and a push that rolls back takes its delta with it. The day is the chain's local
day (:data:`CHAIN_TZ`): a sale counts on the day it completed, its void takes it off that
same day, a return counts on the day it was made.

A row holds, for one store and day: the unvoided sales (count and total), the voids, the
returns (count and refunded amount); per tender kind, what the unvoided sales took and
what the returns refunded. Every figure equals a fresh sum over ``sales``,
``sale_tenders``, ``returns`` and ``return_refunds`` (``tests/server/test_sales_summary.py``
checks it).

Lock order: :func:`write` upserts its rows in key order and is the last write of the
ingest transaction (after the audit head and the feed counter), so two pushes never wait
on each other's summary rows in a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from server_stub import models as m

__all__ = [
    "CHAIN_TZ",
    "DayFigures",
    "StoreDay",
    "SummaryDelta",
    "local_day",
    "read_days",
    "tenders_of",
    "write",
]

CHAIN_TZ = ZoneInfo("Asia/Shanghai")
"""The chain's time zone: its days, as the console shows and reads them."""


def local_day(at: datetime) -> date:
    """The chain's calendar day of the aware instant ``at``."""
    return at.astimezone(CHAIN_TZ).date()


@dataclass(slots=True)
class DayFigures:
    """One store's day. ``sales``/``sales_fen``: unvoided sales; ``tenders``: per kind,
    ``[taken by the unvoided sales, refunded by the returns]`` in fen."""

    sales: int = 0
    sales_fen: int = 0
    voids: int = 0
    returns: int = 0
    refunds_fen: int = 0
    tenders: dict[str, list[int]] = field(default_factory=dict)

    def add(self, other: DayFigures) -> None:
        self.sales += other.sales
        self.sales_fen += other.sales_fen
        self.voids += other.voids
        self.returns += other.returns
        self.refunds_fen += other.refunds_fen
        for kind, (taken, refunded) in other.tenders.items():
            slot = self.tenders.setdefault(kind, [0, 0])
            slot[0] += taken
            slot[1] += refunded

    def _tender(self, kind: str, taken: int, refunded: int) -> None:
        slot = self.tenders.setdefault(kind, [0, 0])
        slot[0] += taken
        slot[1] += refunded


@dataclass(slots=True)
class SummaryDelta:
    """What a batch of events changes, per (store, day)."""

    days: dict[tuple[str, date], DayFigures] = field(default_factory=dict)

    def _day(self, store: str, at: datetime) -> DayFigures:
        return self.days.setdefault((store, local_day(at)), DayFigures())

    def sale(
        self, store: str, completed_at: datetime, total_fen: int, tenders: Iterable[tuple[str, int]]
    ) -> None:
        day = self._day(store, completed_at)
        day.sales += 1
        day.sales_fen += total_fen
        for kind, amount in tenders:
            day._tender(kind, amount, 0)

    def void(
        self, store: str, completed_at: datetime, total_fen: int, tenders: Iterable[tuple[str, int]]
    ) -> None:
        """A sale voided: off the day it completed on."""
        day = self._day(store, completed_at)
        day.sales -= 1
        day.sales_fen -= total_fen
        day.voids += 1
        for kind, amount in tenders:
            day._tender(kind, -amount, 0)

    def refund(
        self, store: str, returned_at: datetime, refund_fen: int, refunds: Iterable[tuple[str, int]]
    ) -> None:
        day = self._day(store, returned_at)
        day.returns += 1
        day.refunds_fen += refund_fen
        for kind, amount in refunds:
            day._tender(kind, 0, amount)

    def merge(self, other: SummaryDelta) -> None:
        for key, figures in other.days.items():
            self.days.setdefault(key, DayFigures()).add(figures)

    def __bool__(self) -> bool:
        return bool(self.days)


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


_DAY_COLUMNS = ("sales_count", "sales_fen", "voids_count", "returns_count", "refunds_fen")


def write(conn: Connection, delta: SummaryDelta) -> None:
    """Adds ``delta`` to the summary rows inside the caller's write transaction (rows
    created at zero first), in key order."""
    if not delta:
        return
    d, t = m.store_day_sales, m.store_day_tenders
    rows = [
        {
            "store_code": store,
            "day": day,
            "sales_count": f.sales,
            "sales_fen": f.sales_fen,
            "voids_count": f.voids,
            "returns_count": f.returns,
            "refunds_fen": f.refunds_fen,
        }
        for (store, day), f in sorted(delta.days.items())
    ]
    ins = _insert(conn)(d)
    conn.execute(
        ins.on_conflict_do_update(
            index_elements=[d.c.store_code, d.c.day],
            set_={c: d.c[c] + ins.excluded[c] for c in _DAY_COLUMNS},
        ),
        rows,
    )
    tender_rows = [
        {
            "store_code": store,
            "day": day,
            "kind": kind,
            "sales_fen": taken,
            "refunds_fen": refunded,
        }
        for (store, day), f in sorted(delta.days.items())
        for kind, (taken, refunded) in sorted(f.tenders.items())
    ]
    if tender_rows:
        ins_t = _insert(conn)(t)
        conn.execute(
            ins_t.on_conflict_do_update(
                index_elements=[t.c.store_code, t.c.day, t.c.kind],
                set_={c: t.c[c] + ins_t.excluded[c] for c in ("sales_fen", "refunds_fen")},
            ),
            tender_rows,
        )


@dataclass(frozen=True, slots=True)
class StoreDay:
    store: str
    day: date
    sales: int
    sales_fen: int
    voids: int
    returns: int
    refunds_fen: int


def read_days(
    conn: Connection, stores: Iterable[str] | None, first: date, last: date
) -> list[StoreDay]:
    """The summary rows of ``stores`` (None: every store), days ``first`` to ``last``
    inclusive, by store and day."""
    d = m.store_day_sales
    q = select(d).where(d.c.day >= first, d.c.day <= last).order_by(d.c.store_code, d.c.day)
    if stores is not None:
        q = q.where(d.c.store_code.in_(sorted(stores)))
    return [
        StoreDay(
            r.store_code,
            r.day,
            int(r.sales_count),
            int(r.sales_fen),
            int(r.voids_count),
            int(r.returns_count),
            int(r.refunds_fen),
        )
        for r in conn.execute(q)
    ]


def tenders_of(
    conn: Connection, stores: Iterable[str] | None, first: date, last: date
) -> dict[str, tuple[int, int]]:
    """Per tender kind, (taken by sales, refunded) over ``stores`` and the days."""
    t = m.store_day_tenders
    q = (
        select(t.c.kind, func.sum(t.c.sales_fen), func.sum(t.c.refunds_fen))
        .where(t.c.day >= first, t.c.day <= last)
        .group_by(t.c.kind)
        .order_by(t.c.kind)
    )
    if stores is not None:
        q = q.where(t.c.store_code.in_(sorted(stores)))
    return {str(k): (int(a or 0), int(b or 0)) for k, a, b in conn.execute(q)}
