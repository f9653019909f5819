"""Read queries of the console pages. Nothing here writes; every store-bound query takes
``stores`` (the codes in the user's scope, or None for every store)."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, or_, select

from server_stub import feed
from server_stub import models as m
from server_stub.schemas import ItemIn

# The console shows and reads times in the chain's time zone.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")

Stores = Collection[str] | None


def _in(col: Any, stores: Stores) -> Any:
    return True if stores is None else col.in_(sorted(stores))


def day_start(day: date) -> datetime:
    """Midnight of ``day`` in the chain's time zone, as an aware datetime."""
    return datetime.combine(day, time(0), LOCAL_TZ)


def today() -> date:
    return datetime.now(LOCAL_TZ).date()


# -- stores -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreRow:
    code: str
    name: str
    region: str | None
    active: bool


def stores(conn: Connection, scope: Stores) -> list[StoreRow]:
    st = m.stores
    rows = conn.execute(select(st).where(_in(st.c.code, scope)).order_by(st.c.code))
    return [StoreRow(r.code, r.name, r.region, bool(r.active)) for r in rows]


def regions(conn: Connection) -> list[str]:
    st = m.stores
    q = select(st.c.region).where(st.c.region.is_not(None)).distinct().order_by(st.c.region)
    return [str(r) for r in conn.execute(q).scalars()]


# -- dashboard ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreSales:
    store: str
    name: str
    sales: int
    total_fen: int


def sales_today(conn: Connection, scope: Stores, since: datetime) -> list[StoreSales]:
    """Per store in scope, the sales completed since ``since`` (voided ones left out),
    busiest first; stores without sales are listed too (with zeros)."""
    s, st = m.sales, m.stores
    agg = (
        select(
            s.c.store_code,
            func.count().label("n"),
            func.coalesce(func.sum(s.c.total_fen), 0).label("total"),
        )
        .where(s.c.completed_at >= since, s.c.voided_at.is_(None), _in(s.c.store_code, scope))
        .group_by(s.c.store_code)
        .subquery()
    )
    rows = conn.execute(
        select(st.c.code, st.c.name, agg.c.n, agg.c.total)
        .select_from(st.outerjoin(agg, agg.c.store_code == st.c.code))
        .where(_in(st.c.code, scope))
        .order_by(func.coalesce(agg.c.total, 0).desc(), st.c.code)
    )
    return [StoreSales(r.code, r.name, int(r.n or 0), int(r.total or 0)) for r in rows]


@dataclass(frozen=True, slots=True)
class Terminal:
    device_id: str
    store: str
    name: str
    last_seen_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


def terminals(conn: Connection, scope: Stores, *, include_revoked: bool = False) -> list[Terminal]:
    d = m.devices
    q = select(d).where(_in(d.c.store_code, scope)).order_by(d.c.id)
    if not include_revoked:
        q = q.where(d.c.revoked_at.is_(None))
    return [
        Terminal(r.id, r.store_code, r.name, r.last_seen_at, r.revoked_at, r.created_at)
        for r in conn.execute(q)
    ]


@dataclass(frozen=True, slots=True)
class TerminalKey:
    device_id: str
    store: str


def terminal_keys(conn: Connection, scope: Stores) -> list[TerminalKey]:
    """The unrevoked terminals in scope, as :func:`terminals` orders them, without their
    times: reading 2,000 devices' three timestamps costs the dashboard tens of ms, and it
    shows the times of 200 at most (see :func:`terminals_by_id`)."""
    d = m.devices
    q = (
        select(d.c.id, d.c.store_code)
        .where(_in(d.c.store_code, scope), d.c.revoked_at.is_(None))
        .order_by(d.c.id)
    )
    return [TerminalKey(r.id, r.store_code) for r in conn.execute(q)]


def terminals_by_id(conn: Connection, ids: Collection[str]) -> dict[str, Terminal]:
    d = m.devices
    out: dict[str, Terminal] = {}
    wanted = sorted(ids)
    for n in range(0, len(wanted), 500):
        for r in conn.execute(select(d).where(d.c.id.in_(wanted[n : n + 500]))):
            out[r.id] = Terminal(
                r.id, r.store_code, r.name, r.last_seen_at, r.revoked_at, r.created_at
            )
    return out


@dataclass(frozen=True, slots=True)
class PriceFeedRow:
    seq: int
    version: int
    store: str | None


def recent_price_changes(conn: Connection, limit: int = 500) -> list[PriceFeedRow]:
    """The newest price changes of the feed, oldest first (to tell each terminal's newest
    price version from its cursor)."""
    f = m.feed
    rows = conn.execute(
        select(f.c.seq, f.c.key, f.c.store_code)
        .where(f.c.kind == "price")
        .order_by(f.c.seq.desc())
        .limit(limit)
    ).all()
    return [PriceFeedRow(int(r.seq), int(r.key), r.store_code) for r in reversed(rows)]


def head(conn: Connection) -> int:
    return feed.state(conn).last_seq


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    store: str
    sku: str
    kind: str
    on_hand_milli: int
    created_at: datetime


def open_alerts(conn: Connection, scope: Stores, limit: int = 50) -> tuple[int, list[Alert]]:
    """How many stock alerts are open in scope, and the newest ``limit`` of them."""
    a = m.stock_alerts
    cond = and_(a.c.resolved_at.is_(None), _in(a.c.store_code, scope))
    count = int(conn.execute(select(func.count()).select_from(a).where(cond)).scalar_one())
    rows = conn.execute(select(a).where(cond).order_by(a.c.id.desc()).limit(limit))
    return count, [
        Alert(int(r.id), r.store_code, r.sku, r.kind, int(r.on_hand_milli), r.created_at)
        for r in rows
    ]


# -- prices -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceRow:
    version: int
    sku: str
    name: str
    price_fen: int
    effective_at: datetime
    store: str | None
    created_at: datetime
    seq: int | None
    cancelled_by: int | None
    cancels: int | None


def price_versions(
    conn: Connection,
    scope: Stores,
    *,
    sku: str | None = None,
    version: int | None = None,
    limit: int = 100,
) -> list[PriceRow]:
    """The newest price versions visible in scope (chain-wide ones and those of stores
    in scope), with the feed seq that carried each and any cancellation."""
    pv, it, pc, f = m.price_versions, m.items, m.price_cancellations, m.feed
    cancels = pc.alias("cancels")
    q = (
        select(
            pv,
            it.c.name_zh,
            pc.c.superseded_by,
            cancels.c.version.label("cancels"),
        )
        .select_from(
            pv.join(it, it.c.sku == pv.c.sku)
            .outerjoin(pc, pc.c.version == pv.c.id)
            .outerjoin(cancels, cancels.c.superseded_by == pv.c.id)
        )
        .where(or_(pv.c.store_code.is_(None), _in(pv.c.store_code, scope)))
        .order_by(pv.c.id.desc())
        .limit(limit)
    )
    if sku:
        q = q.where(pv.c.sku == sku)
    if version is not None:
        q = q.where(pv.c.id == version)
    rows = conn.execute(q).all()
    keys = [str(r.id) for r in rows]
    seqs: dict[str, int] = {}
    if keys:
        seqs = {
            r.key: int(r.seq)
            for r in conn.execute(
                select(f.c.key, f.c.seq).where(f.c.kind == "price", f.c.key.in_(keys))
            )
        }
    return [
        PriceRow(
            version=int(r.id),
            sku=r.sku,
            name=r.name_zh,
            price_fen=int(r.price_fen),
            effective_at=r.effective_at,
            store=r.store_code,
            created_at=r.created_at,
            seq=seqs.get(str(r.id)),
            cancelled_by=r.superseded_by,
            cancels=r.cancels,
        )
        for r in rows
    ]


def price_version(conn: Connection, version: int) -> PriceRow | None:
    found = price_versions(conn, None, version=version, limit=1)
    return found[0] if found else None


# -- catalogue ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemRow:
    sku: str
    name_zh: str
    name_en: str
    unit: str
    category: str
    active: bool
    barcodes: list[str]
    price_fen: int | None


def chain_prices_now(conn: Connection, skus: list[str], now: datetime) -> dict[str, int]:
    pv = m.price_versions
    out: dict[str, tuple[datetime, int, int]] = {}
    for i in range(0, len(skus), 1000):
        rows = conn.execute(
            select(pv.c.sku, pv.c.id, pv.c.price_fen, pv.c.effective_at).where(
                pv.c.sku.in_(skus[i : i + 1000]),
                pv.c.store_code.is_(None),
                pv.c.effective_at <= now,
            )
        )
        for r in rows:
            best = out.get(r.sku)
            if best is None or (r.effective_at, r.id) > (best[0], best[1]):
                out[r.sku] = (r.effective_at, int(r.id), int(r.price_fen))
    return {k: v[2] for k, v in out.items()}


def items(conn: Connection, now: datetime, *, search: str = "", limit: int = 200) -> list[ItemRow]:
    """Items by sku or name prefix (or the first ``limit``), with barcodes and the
    chain-wide price in effect."""
    it, bc = m.items, m.item_barcodes
    q = select(it).order_by(it.c.sku).limit(limit)
    if search:
        like = f"{search}%"
        q = q.where(
            or_(
                it.c.sku.like(like),
                it.c.name_zh.like(like),
                it.c.name_en.like(like),
                it.c.sku.in_(select(bc.c.sku).where(bc.c.barcode == search)),
            )
        )
    rows = conn.execute(q).all()
    skus = [r.sku for r in rows]
    codes: dict[str, list[str]] = {}
    if skus:
        for b in conn.execute(
            select(bc.c.sku, bc.c.barcode).where(bc.c.sku.in_(skus)).order_by(bc.c.barcode)
        ):
            codes.setdefault(b.sku, []).append(b.barcode)
    prices = chain_prices_now(conn, skus, now)
    return [
        ItemRow(
            r.sku,
            r.name_zh,
            r.name_en,
            r.unit,
            r.category,
            bool(r.active),
            codes.get(r.sku, []),
            prices.get(r.sku),
        )
        for r in rows
    ]


def categories(conn: Connection) -> list[tuple[str, int]]:
    it = m.items
    rows = conn.execute(
        select(it.c.category, func.count()).group_by(it.c.category).order_by(it.c.category)
    )
    return [(str(c), int(n)) for c, n in rows]


@dataclass(frozen=True, slots=True)
class ImportLine:
    sku: str
    name_zh: str
    action: str  # create | update | unchanged
    changes: list[str]
    price_from: int | None
    price_to: int | None


def catalog_preview(conn: Connection, incoming: list[ItemIn], now: datetime) -> list[ImportLine]:
    """What importing ``incoming`` would change, item by item (nothing is written)."""
    skus = [i.sku for i in incoming]
    existing = {r.sku: r for r in items_by_sku(conn, skus, now)}
    out: list[ImportLine] = []
    for i in incoming:
        old = existing.get(i.sku)
        price_from = old.price_fen if old else None
        price_to = i.price_fen if i.price_fen is not None and i.price_fen != price_from else None
        if old is None:
            out.append(ImportLine(i.sku, i.name_zh, "create", [], None, i.price_fen))
            continue
        changes = [
            name
            for name, a, b in (
                ("name_zh", old.name_zh, i.name_zh),
                ("name_en", old.name_en, i.name_en),
                ("unit", old.unit, i.unit),
                ("category", old.category, i.category),
                ("active", old.active, i.active),
                ("barcodes", sorted(old.barcodes), sorted(set(i.barcodes))),
            )
            if a != b
        ]
        action = "update" if changes or price_to is not None else "unchanged"
        out.append(ImportLine(i.sku, i.name_zh, action, changes, price_from, price_to))
    return out


def items_by_sku(conn: Connection, skus: list[str], now: datetime) -> list[ItemRow]:
    it, bc = m.items, m.item_barcodes
    rows: list[Any] = []
    codes: dict[str, list[str]] = {}
    for i in range(0, len(skus), 1000):
        chunk = skus[i : i + 1000]
        rows += conn.execute(select(it).where(it.c.sku.in_(chunk))).all()
        for b in conn.execute(select(bc.c.sku, bc.c.barcode).where(bc.c.sku.in_(chunk))):
            codes.setdefault(b.sku, []).append(b.barcode)
    prices = chain_prices_now(conn, skus, now)
    return [
        ItemRow(
            r.sku,
            r.name_zh,
            r.name_en,
            r.unit,
            r.category,
            bool(r.active),
            sorted(codes.get(r.sku, [])),
            prices.get(r.sku),
        )
        for r in rows
    ]


# -- stock --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Level:
    store: str
    sku: str
    name: str
    unit: str
    on_hand_milli: int
    reserved_milli: int
    updated_at: datetime


def stock_levels(
    conn: Connection,
    scope: Stores,
    *,
    store: str | None = None,
    sku: str | None = None,
    limit: int = 300,
) -> list[Level]:
    sl, it = m.stock_levels, m.items
    q = (
        select(sl, it.c.name_zh, it.c.unit)
        .select_from(sl.join(it, it.c.sku == sl.c.sku))
        .where(_in(sl.c.store_code, scope))
        .order_by(sl.c.store_code, sl.c.sku)
        .limit(limit)
    )
    if store:
        q = q.where(sl.c.store_code == store)
    if sku:
        q = q.where(sl.c.sku == sku)
    return [
        Level(
            r.store_code,
            r.sku,
            r.name_zh,
            r.unit,
            int(r.on_hand_milli),
            int(r.reserved_milli),
            r.updated_at,
        )
        for r in conn.execute(q)
    ]


# -- reports ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SalesByDay:
    store: str
    day: date
    sales: int
    total_fen: int


def sales_by_store_day(
    conn: Connection, scope: Stores, first: date, last: date
) -> list[SalesByDay]:
    """Sales per store and local day, ``first`` to ``last`` inclusive (voids left out)."""
    s = m.sales
    rows = conn.execute(
        select(s.c.store_code, s.c.completed_at, s.c.total_fen).where(
            s.c.completed_at >= day_start(first),
            s.c.completed_at < day_start(last + timedelta(days=1)),
            s.c.voided_at.is_(None),
            _in(s.c.store_code, scope),
        )
    )
    acc: dict[tuple[str, date], list[int]] = {}
    for r in rows:
        key = (r.store_code, r.completed_at.astimezone(LOCAL_TZ).date())
        slot = acc.setdefault(key, [0, 0])
        slot[0] += 1
        slot[1] += int(r.total_fen)
    return [SalesByDay(k[0], k[1], v[0], v[1]) for k, v in sorted(acc.items())]


@dataclass(frozen=True, slots=True)
class SalesByItem:
    sku: str
    name: str
    qty_milli: int
    amount_fen: int


def sales_by_item(
    conn: Connection, scope: Stores, first: date, last: date, limit: int = 100
) -> list[SalesByItem]:
    s, sl = m.sales, m.sale_lines
    qty = func.sum(sl.c.qty_milli)
    amount = func.sum(sl.c.amount_fen)
    rows = conn.execute(
        select(sl.c.sku, func.max(sl.c.name).label("name"), qty.label("qty"), amount.label("amt"))
        .select_from(sl.join(s, s.c.sale_id == sl.c.sale_id))
        .where(
            s.c.completed_at >= day_start(first),
            s.c.completed_at < day_start(last + timedelta(days=1)),
            s.c.voided_at.is_(None),
            _in(s.c.store_code, scope),
        )
        .group_by(sl.c.sku)
        .order_by(amount.desc())
        .limit(limit)
    )
    return [SalesByItem(r.sku, r.name, int(r.qty), int(r.amt)) for r in rows]


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    member: str | None
    store: str | None
    detail: dict[str, Any]


def audit_page(
    conn: Connection,
    scope: Stores,
    *,
    actor: str = "",
    action: str = "",
    before_id: int | None = None,
    per_page: int = 50,
) -> list[AuditRow]:
    """Audit entries, newest first, ``per_page`` of them older than ``before_id``."""
    a = m.audit_log
    q = select(a).order_by(a.c.id.desc()).limit(per_page)
    if scope is not None:
        q = q.where(a.c.store_code.in_(sorted(scope)))
    if actor:
        q = q.where(a.c.actor.like(f"%{actor}%"))
    if action:
        q = q.where(a.c.action.like(f"{action}%"))
    if before_id is not None:
        q = q.where(a.c.id < before_id)
    return [
        AuditRow(
            int(r.id), r.at, r.actor, r.action, r.member_no, r.store_code, json.loads(r.detail)
        )
        for r in conn.execute(q)
    ]
