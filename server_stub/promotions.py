"""Promotions HQ pushes to every store: define, end, list, and report what they did.

A promotion is published as a JSON definition (the wire form of
:mod:`sync_client.contract.promotions`, without ``id`` and ``version``, which HQ assigns);
HQ refuses one no till could apply — the shared parser's checks, and items and stores
HQ does not know — and stores each version immutably. Ending a promotion is a new version
with ``ends_at``. Each version reaches every till through the feed (kind ``promotion``)
in the transaction that stores it, ahead of its ``starts_at``, so every store switches at
the same moment on its own clock.

The tills send, on each sale line, what each promotion took (id, version, fen); the ingest
keeps them in ``sale_line_promotions`` (:func:`line_rows`) and :func:`report` reads them:
usage, discount cost and sales by promotion and store, stores far below the chain's usage,
and the pieces a 限量 promotion sold per store and day beyond its limit (tills offline at
the same time may overrun it by what they sold offline).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, insert, select

from server_stub import feed
from server_stub import models as m
from server_stub.audit import SYSTEM, Actor, audit_row, write_audit
from server_stub.db import Database, WriteTx
from server_stub.errors import ApiError
from sync_client.contract import protocol as p
from sync_client.contract.promotions import Promotion, PromotionInvalid, parse_promotion

__all__ = [
    "PromotionUsage",
    "Report",
    "add_promotion",
    "end_promotion",
    "latest",
    "line_rows",
    "live_promotions",
    "report",
]

LOW_USAGE_SHARE = 0.5
"""A store is flagged when its usage rate is below this share of the chain's."""


def _now() -> datetime:
    return datetime.now(UTC)


def _check(conn: Connection, definition: dict[str, Any]) -> Promotion:
    """The promotion of ``definition``, or a 422 ``invalid_promotion`` naming the field."""
    try:
        promo = parse_promotion(definition)
    except PromotionInvalid as exc:
        raise ApiError.of(422, exc) from exc
    skus: set[str] = set()
    for targets in promo.all_targets():
        skus |= targets.items
    if skus:
        known = set(
            conn.execute(select(m.items.c.sku).where(m.items.c.sku.in_(sorted(skus)))).scalars()
        )
        missing = sorted(skus - known)
        if missing:
            raise ApiError(
                422,
                "invalid_promotion",
                f"no such item: {', '.join(missing[:5])}",
                field="targets.items",
                reason="no such item",
            )
    if promo.scope.stores or promo.scope.regions:
        rows = conn.execute(select(m.stores.c.code, m.stores.c.region)).all()
        codes = {r.code for r in rows}
        regions = {r.region for r in rows if r.region}
        if promo.scope.stores - codes:
            raise ApiError(
                422,
                "invalid_promotion",
                f"no such store: {', '.join(sorted(promo.scope.stores - codes)[:5])}",
                field="scope.stores",
                reason="no such store",
            )
        if promo.scope.regions - regions:
            raise ApiError(
                422,
                "invalid_promotion",
                f"no store in region: {', '.join(sorted(promo.scope.regions - regions)[:5])}",
                field="scope.regions",
                reason="no store in that region",
            )
    return promo


def _data(pid: int, version: int, definition: dict[str, Any]) -> p.PromotionData:
    full = dict(definition, id=pid, version=version)
    return p.PromotionData(id=pid, version=version, definition=full)


def _store(
    tx: WriteTx, pid: int, version: int, definition: dict[str, Any], actor: Actor, action: str
) -> p.PromotionData:
    now = _now()
    data = _data(pid, version, definition)
    promo = _check(tx.conn, data.definition)
    tx.conn.execute(
        insert(m.promotion_versions).values(
            promotion_id=pid,
            version=version,
            name_zh=promo.name_zh,
            kind=promo.kind.value,
            starts_at=promo.starts_at,
            ends_at=promo.ends_at,
            daily_limit=promo.daily_limit,
            created_at=now,
            definition_json=json.dumps(data.definition, ensure_ascii=False, sort_keys=True),
        )
    )
    detail = {"id": pid, "version": version, "kind": promo.kind.value, "name": promo.name_zh}
    write_audit(tx.conn, [audit_row(actor, action, None, detail, now)])
    feed.append(tx, [feed.Pending("promotion", str(pid), None, data)], now)
    return data


def add_promotion(
    db: Database, definition: dict[str, Any], *, actor: Actor = SYSTEM
) -> p.PromotionData:
    """Publishes a new promotion (version 1) and returns it with its id.

    Raises:
        ApiError: 422 ``invalid_promotion`` (params ``field``, ``reason``).
    """
    if not isinstance(definition, dict):
        raise ApiError(422, "invalid_promotion", "not an object", field="promotion", reason="")
    body = {k: v for k, v in definition.items() if k not in ("id", "version")}

    def run(tx: WriteTx) -> p.PromotionData:
        top = tx.conn.execute(select(func.max(m.promotion_versions.c.promotion_id))).scalar()
        return _store(tx, int(top or 0) + 1, 1, body, actor, "promotion.add")

    return db.run_write(run)


def _latest_row(conn: Connection, pid: int) -> Any:
    pv = m.promotion_versions
    return conn.execute(
        select(pv).where(pv.c.promotion_id == pid).order_by(pv.c.version.desc()).limit(1)
    ).first()


def latest(conn: Connection, pid: int) -> p.PromotionData:
    """The newest version of promotion ``pid``.

    Raises:
        ApiError: 404 ``unknown_promotion``.
    """
    row = _latest_row(conn, pid)
    if row is None:
        raise ApiError(404, "unknown_promotion", f"no promotion {pid}", id=pid)
    return p.PromotionData(id=pid, version=row.version, definition=json.loads(row.definition_json))


def end_promotion(
    db: Database, pid: int, at: datetime | None = None, *, actor: Actor = SYSTEM
) -> p.PromotionData:
    """Ends promotion ``pid`` at ``at`` (default now): a new version with ``ends_at``.
    Ending one that has not started yet ends it one second after its start, so it never
    runs."""
    if at is not None and at.tzinfo is None:
        raise ApiError(422, "naive_time", "the end needs a UTC offset, e.g. +08:00")

    def run(tx: WriteTx) -> p.PromotionData:
        current = latest(tx.conn, pid)
        promo = parse_promotion(current.definition)
        end = max(at or _now(), promo.starts_at + timedelta(seconds=1))
        if promo.ends_at is not None and promo.ends_at <= end:
            return current
        body = dict(current.definition, ends_at=end.astimezone(UTC).isoformat())
        return _store(tx, pid, current.version + 1, body, actor, "promotion.end")

    return db.run_write(run)


def all_latest(conn: Connection) -> list[p.PromotionData]:
    """The newest version of every promotion, by id."""
    pv = m.promotion_versions
    top = (
        select(pv.c.promotion_id, func.max(pv.c.version).label("version"))
        .group_by(pv.c.promotion_id)
        .subquery()
    )
    rows = conn.execute(
        select(pv.c.promotion_id, pv.c.version, pv.c.definition_json)
        .join(
            top,
            (pv.c.promotion_id == top.c.promotion_id) & (pv.c.version == top.c.version),
        )
        .order_by(pv.c.promotion_id)
    )
    return [
        p.PromotionData(
            id=r.promotion_id, version=r.version, definition=json.loads(r.definition_json)
        )
        for r in rows
    ]


def live_promotions(conn: Connection, now: datetime) -> list[p.PromotionData]:
    """What a snapshot carries: the newest version of every promotion not ended at ``now``."""
    out = []
    for data in all_latest(conn):
        ends = data.definition.get("ends_at")
        if ends is None or datetime.fromisoformat(str(ends).replace("Z", "+00:00")) > now:
            out.append(data)
    return out


def line_rows(pl: p.SaleCompleted) -> list[dict[str, Any]]:
    """The ``sale_line_promotions`` rows of a sale as the till priced it."""
    return [
        {
            "sale_id": pl.sale_id,
            "line_no": line.line_no,
            "promotion_id": pr.id,
            "version": pr.version,
            "amount_fen": pr.amount_fen,
            "store_code": pl.store,
            "completed_at": pl.completed_at,
        }
        for line in pl.lines
        for pr in line.promotions or ()
    ]


# ------------------------------------------------------------------ the report


@dataclass(frozen=True, slots=True)
class PromotionUsage:
    """One promotion at one store (``store`` None: the whole chain) over the period.

    ``sales``: sales it priced; ``usage_rate``: their share of the store's sales (核销率);
    ``discount_fen``: what it cost; ``sales_fen``: what the lines it priced brought in."""

    promotion_id: int
    name: str
    store: str | None
    sales: int
    store_sales: int
    discount_fen: int
    sales_fen: int
    pieces: int

    @property
    def usage_rate(self) -> float:
        return self.sales / self.store_sales if self.store_sales else 0.0


@dataclass(frozen=True, slots=True)
class Overrun:
    """A 限量 promotion sold beyond its daily limit at a store on a business day."""

    promotion_id: int
    store: str
    day: date
    limit: int
    sold: int

    @property
    def over(self) -> int:
        return self.sold - self.limit


@dataclass(frozen=True, slots=True)
class Report:
    chain: list[PromotionUsage]
    stores: list[PromotionUsage]
    low: list[PromotionUsage]
    """Stores whose usage rate of a promotion is below ``LOW_USAGE_SHARE`` of the chain's."""
    overruns: list[Overrun]


def report(
    conn: Connection,
    since: datetime,
    until: datetime,
    *,
    zone: ZoneInfo,
    promotion_id: int | None = None,
) -> Report:
    """Usage, cost and sales by promotion and store for sales completed in
    ``[since, until)`` (voided sales left out); business days in ``zone``."""
    slp, sl, s = m.sale_line_promotions, m.sale_lines, m.sales
    cond = [
        slp.c.completed_at >= since,
        slp.c.completed_at < until,
        s.c.voided_at.is_(None),
    ]
    if promotion_id is not None:
        cond.append(slp.c.promotion_id == promotion_id)
    rows = conn.execute(
        select(
            slp.c.promotion_id,
            slp.c.store_code,
            slp.c.sale_id,
            slp.c.amount_fen,
            slp.c.completed_at,
            sl.c.amount_fen.label("line_fen"),
            sl.c.qty_milli,
            sl.c.unit,
        )
        .join(s, s.c.sale_id == slp.c.sale_id)
        .join(sl, (sl.c.sale_id == slp.c.sale_id) & (sl.c.line_no == slp.c.line_no))
        .where(*cond)
    ).all()
    store_sales: dict[str, int] = dict(
        conn.execute(
            select(s.c.store_code, func.count())
            .where(s.c.completed_at >= since, s.c.completed_at < until, s.c.voided_at.is_(None))
            .group_by(s.c.store_code)
        ).all()
    )
    regions = {r.code: r.region for r in conn.execute(select(m.stores.c.code, m.stores.c.region))}
    pv = m.promotion_versions
    names: dict[int, str] = {}
    limits: dict[int, int] = {}
    versions = select(pv.c.promotion_id, pv.c.name_zh, pv.c.daily_limit).order_by(pv.c.version)
    for v in conn.execute(versions):
        names[v.promotion_id] = v.name_zh
        if v.daily_limit:
            limits[v.promotion_id] = v.daily_limit
    sales: dict[tuple[int, str], set[Any]] = defaultdict(set)
    cost: dict[tuple[int, str], int] = defaultdict(int)
    brought: dict[tuple[int, str], int] = defaultdict(int)
    pieces: dict[tuple[int, str], int] = defaultdict(int)
    per_day: dict[tuple[int, str, date], int] = defaultdict(int)
    for r in rows:
        key = (r.promotion_id, r.store_code)
        sales[key].add(r.sale_id)
        cost[key] += r.amount_fen
        brought[key] += r.line_fen
        n = r.qty_milli // 1000 if r.unit == "piece" else 0
        pieces[key] += n
        day = r.completed_at.astimezone(zone).date()
        per_day[(r.promotion_id, r.store_code, day)] += n
    stores = [
        PromotionUsage(
            pid,
            names.get(pid, str(pid)),
            store,
            len(sales[(pid, store)]),
            store_sales.get(store, 0),
            cost[(pid, store)],
            brought[(pid, store)],
            pieces[(pid, store)],
        )
        for pid, store in sorted(sales)
    ]
    chain: list[PromotionUsage] = []
    low: list[PromotionUsage] = []
    all_sales = sum(store_sales.values())
    for pid in sorted({k[0] for k in sales}):
        mine = [u for u in stores if u.promotion_id == pid]
        total = PromotionUsage(
            pid,
            names.get(pid, str(pid)),
            None,
            sum(u.sales for u in mine),
            all_sales,
            sum(u.discount_fen for u in mine),
            sum(u.sales_fen for u in mine),
            sum(u.pieces for u in mine),
        )
        chain.append(total)
        # Stores of its scope that sold nothing under it count too: they are the
        # likeliest to have missed it.
        seen = {u.store for u in mine}
        scope = parse_promotion(latest(conn, pid).definition).scope
        zero = [
            PromotionUsage(pid, total.name, st, 0, n, 0, 0, 0)
            for st, n in sorted(store_sales.items())
            if st not in seen and n and scope.covers(st, regions.get(st))
        ]
        low.extend(
            u
            for u in sorted(mine + zero, key=lambda u: u.store or "")
            if u.usage_rate < total.usage_rate * LOW_USAGE_SHARE
        )
    overruns = [
        Overrun(pid, store, day, limits[pid], sold)
        for (pid, store, day), sold in sorted(per_day.items())
        if pid in limits and sold > limits[pid]
    ]
    return Report(chain, stores, low, overruns)
