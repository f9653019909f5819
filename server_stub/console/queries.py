"""Read queries of the console pages. Nothing here writes; every store-bound query takes
``stores`` (the codes in the user's scope, or None for every store)."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from server_stub import feed, sales_summary
from server_stub import models as m
from server_stub.schemas import ItemIn

# The console shows and reads times in the chain's time zone.
LOCAL_TZ = sales_summary.CHAIN_TZ

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


def sales_today(conn: Connection, scope: Stores, day: date) -> list[StoreSales]:
    """Per store in scope, the sales completed on the chain's ``day`` (voided ones left
    out), busiest first; stores without sales are listed too (with zeros). Read from the
    per-store-per-day summary (:mod:`server_stub.sales_summary`): one row per store,
    whatever the day's volume."""
    d, st = m.store_day_sales, m.stores
    rows = conn.execute(
        select(st.c.code, st.c.name, d.c.sales_count.label("n"), d.c.sales_fen.label("total"))
        .select_from(st.outerjoin(d, and_(d.c.store_code == st.c.code, d.c.day == day)))
        .where(_in(st.c.code, scope))
        .order_by(func.coalesce(d.c.sales_fen, 0).desc(), st.c.code)
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


SalesByDay = sales_summary.StoreDay


def sales_by_store_day(
    conn: Connection, scope: Stores, first: date, last: date
) -> list[SalesByDay]:
    """Sales (voids left out), voids and returns per store and local day, ``first`` to
    ``last`` inclusive, from the summary; days without any left out."""
    return [
        r
        for r in sales_summary.read_days(conn, scope, first, last)
        if r.sales or r.voids or r.returns
    ]


def tenders_by_kind(
    conn: Connection, scope: Stores, first: date, last: date
) -> dict[str, tuple[int, int]]:
    """Per tender kind, what the unvoided sales took and the returns refunded."""
    return sales_summary.tenders_of(conn, scope, first, last)


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


# -- transfers ----------------------------------------------------------------------------


def _store_pair_in(a: Any, b: Any, scope: Stores) -> Any:
    """Rows whose store ``a`` or store ``b`` is in scope."""
    return True if scope is None else or_(a.in_(sorted(scope)), b.in_(sorted(scope)))


@dataclass(frozen=True, slots=True)
class TransferRow:
    transfer_id: Any
    transfer_no: str
    from_store: str
    to_store: str
    state: str
    requested_by: str
    requested_at: datetime
    updated_at: datetime
    lines: int
    requested_milli: int


def transfers(
    conn: Connection,
    scope: Stores,
    *,
    states: Collection[str] | None = None,
    store: str | None = None,
    limit: int = 200,
) -> list[TransferRow]:
    """Transfers from or to a store in scope (and from or to ``store``), newest request
    first, with their line count and requested quantity."""
    tr, tl = m.transfers, m.transfer_lines
    agg = (
        select(
            tl.c.transfer_id,
            func.count().label("n"),
            func.sum(tl.c.requested_milli).label("qty"),
        )
        .group_by(tl.c.transfer_id)
        .subquery()
    )
    q = (
        select(tr, agg.c.n, agg.c.qty)
        .select_from(tr.outerjoin(agg, agg.c.transfer_id == tr.c.transfer_id))
        .where(_store_pair_in(tr.c.from_store, tr.c.to_store, scope))
        .order_by(tr.c.requested_at.desc(), tr.c.transfer_no.desc())
        .limit(limit)
    )
    if states:
        q = q.where(tr.c.state.in_(sorted(states)))
    if store:
        q = q.where(or_(tr.c.from_store == store, tr.c.to_store == store))
    return [
        TransferRow(
            r.transfer_id,
            r.transfer_no,
            r.from_store,
            r.to_store,
            r.state,
            r.requested_by,
            r.requested_at,
            r.updated_at,
            int(r.n or 0),
            int(r.qty or 0),
        )
        for r in conn.execute(q)
    ]


def item_names(conn: Connection, skus: Collection[str]) -> dict[str, tuple[str, str]]:
    """(name_zh, unit) of each known sku."""
    it = m.items
    if not skus:
        return {}
    rows = conn.execute(select(it.c.sku, it.c.name_zh, it.c.unit).where(it.c.sku.in_(sorted(skus))))
    return {r.sku: (r.name_zh, r.unit) for r in rows}


# -- stock counts -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CountRow:
    count_id: Any
    count_no: str
    store: str
    zone: str
    staff: str
    submitted_at: datetime
    state: str
    decided_by: str | None
    decided_at: datetime | None
    lines: int
    difference_milli: int | None


def counts(
    conn: Connection,
    scope: Stores,
    *,
    state: str | None = None,
    store: str | None = None,
    limit: int = 200,
) -> list[CountRow]:
    """Count sessions of the stores in scope, newest first, with their line count and
    (once approved) their net difference."""
    cs, cl = m.stock_count_sessions, m.stock_count_lines
    agg = (
        select(
            cl.c.count_id,
            func.count().label("n"),
            func.sum(cl.c.difference_milli).label("diff"),
        )
        .group_by(cl.c.count_id)
        .subquery()
    )
    q = (
        select(cs, agg.c.n, agg.c.diff)
        .select_from(cs.outerjoin(agg, agg.c.count_id == cs.c.count_id))
        .where(_in(cs.c.store_code, scope))
        .order_by(cs.c.submitted_at.desc())
        .limit(limit)
    )
    if state:
        q = q.where(cs.c.state == state)
    if store:
        q = q.where(cs.c.store_code == store)
    return [
        CountRow(
            r.count_id,
            r.count_no,
            r.store_code,
            r.zone,
            r.staff,
            r.submitted_at,
            r.state,
            r.decided_by,
            r.decided_at,
            int(r.n or 0),
            None if r.diff is None or r.state != "approved" else int(r.diff),
        )
        for r in conn.execute(q)
    ]


def levels_now(conn: Connection, store: str, skus: Collection[str]) -> dict[str, int]:
    """On hand of ``skus`` at ``store`` now (a pending count's variance is only known once
    its manager decides; this is what the level reads meanwhile)."""
    sl = m.stock_levels
    if not skus:
        return {}
    rows = conn.execute(
        select(sl.c.sku, sl.c.on_hand_milli).where(
            sl.c.store_code == store, sl.c.sku.in_(sorted(skus))
        )
    )
    return {r.sku: int(r.on_hand_milli) for r in rows}


# -- reservations -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReservationRow:
    id: Any
    channel: str
    order_id: str
    store: str
    status: str
    pickup: bool
    reserved_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    settled_at: datetime | None
    lines: list[tuple[str, int]]


def reservations(
    conn: Connection,
    scope: Stores,
    *,
    status: str | None = None,
    store: str | None = None,
    ids: Collection[Any] | None = None,
    limit: int = 200,
) -> list[ReservationRow]:
    """Online orders holding (or having held) stock at the stores in scope, newest
    first, with their lines."""
    r, rl = m.reservations, m.reservation_lines
    q = (
        select(r)
        .where(_in(r.c.store_code, scope))
        .order_by(r.c.reserved_at.desc(), r.c.id.desc())
        .limit(limit)
    )
    if status:
        q = q.where(r.c.status == status)
    if store:
        q = q.where(r.c.store_code == store)
    if ids is not None:
        q = q.where(r.c.id.in_(list(ids)))
    rows = conn.execute(q).all()
    lines: dict[Any, list[tuple[str, int]]] = {}
    ids = [x.id for x in rows]
    for n in range(0, len(ids), 500):
        for x in conn.execute(
            select(rl).where(rl.c.reservation_id.in_(ids[n : n + 500])).order_by(rl.c.sku)
        ):
            lines.setdefault(x.reservation_id, []).append((x.sku, int(x.qty_milli)))
    return [
        ReservationRow(
            x.id,
            x.channel,
            x.order_id,
            x.store_code,
            x.status,
            bool(x.pickup),
            x.reserved_at,
            x.expires_at,
            x.confirmed_at,
            x.settled_at,
            lines.get(x.id, []),
        )
        for x in rows
    ]


def reservation(conn: Connection, reservation_id: Any) -> ReservationRow | None:
    found = reservations(conn, None, ids=[reservation_id])
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class ConflictRow:
    id: int
    store: str
    sku: str
    sale_ref: str | None
    on_hand_milli: int
    reserved_milli: int
    orders: list[str]
    created_at: datetime


def reservation_conflicts(conn: Connection, scope: Stores, limit: int = 100) -> list[ConflictRow]:
    c = m.reservation_conflicts
    rows = conn.execute(
        select(c).where(_in(c.c.store_code, scope)).order_by(c.c.id.desc()).limit(limit)
    )
    return [
        ConflictRow(
            int(x.id),
            x.store_code,
            x.sku,
            x.sale_ref,
            int(x.on_hand_milli),
            int(x.reserved_milli),
            [o for o in x.orders.split(",") if o],
            x.created_at,
        )
        for x in rows
    ]


# -- shifts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClosedShift:
    shift_id: Any
    store: str
    terminal: str
    shift_no: str | None
    business_date: date | None
    opened_by: str | None
    closed_by: str | None
    closed_at: datetime
    expected_cash_fen: int | None
    counted_cash_fen: int | None
    over_short_fen: int | None
    approved_by: str | None


def closed_shifts(
    conn: Connection, scope: Stores, first: date, last: date, limit: int = 300
) -> list[ClosedShift]:
    """Closed shifts of the stores in scope with business dates ``first`` to ``last``,
    the largest over/short first (the rows behind ``chainpos-hq shifts over-short``)."""
    s = m.shifts
    rows = conn.execute(
        select(s)
        .where(
            s.c.closed_at.is_not(None),
            s.c.business_date >= first,
            s.c.business_date <= last,
            _in(s.c.store_code, scope),
        )
        .order_by(func.abs(func.coalesce(s.c.over_short_fen, 0)).desc(), s.c.closed_at.desc())
        .limit(limit)
    )
    return [
        ClosedShift(
            r.shift_id,
            r.store_code,
            r.terminal,
            r.shift_no,
            r.business_date,
            r.opened_by,
            r.closed_by,
            r.closed_at,
            r.expected_cash_fen,
            r.counted_cash_fen,
            r.over_short_fen,
            r.approved_by,
        )
        for r in rows
    ]


# -- returns ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReturnRow:
    return_id: Any
    store: str
    terminal: str
    cashier: str
    receipt_no: str
    returned_at: datetime
    sale_id: Any
    sale_store: str | None
    refund_fen: int
    conflict: bool
    lines: int


def returns(
    conn: Connection,
    scope: Stores,
    first: date,
    last: date,
    *,
    store: str | None = None,
    limit: int = 200,
) -> list[ReturnRow]:
    """Returns made at the stores in scope on local days ``first`` to ``last``, newest
    first, with the store of the sale each returns."""
    r, rl, s = m.returns, m.return_lines, m.sales
    n_lines = select(rl.c.return_id, func.count().label("n")).group_by(rl.c.return_id).subquery()
    q = (
        select(r, s.c.store_code.label("sale_store"), n_lines.c.n)
        .select_from(
            r.outerjoin(s, s.c.sale_id == r.c.sale_id).outerjoin(
                n_lines, n_lines.c.return_id == r.c.return_id
            )
        )
        .where(
            r.c.returned_at >= day_start(first),
            r.c.returned_at < day_start(last + timedelta(days=1)),
            _in(r.c.store_code, scope),
        )
        .order_by(r.c.returned_at.desc())
        .limit(limit)
    )
    if store:
        q = q.where(r.c.store_code == store)
    return [
        ReturnRow(
            x.return_id,
            x.store_code,
            x.terminal,
            x.cashier,
            x.receipt_no,
            x.returned_at,
            x.sale_id,
            x.sale_store,
            int(x.refund_fen),
            bool(x.conflict),
            int(x.n or 0),
        )
        for x in conn.execute(q)
    ]


def return_store(conn: Connection, return_id: Any) -> str | None:
    r = m.returns
    found: str | None = conn.execute(
        select(r.c.store_code).where(r.c.return_id == return_id)
    ).scalar()
    return found


@dataclass(frozen=True, slots=True)
class SaleLine:
    line_no: int
    sku: str
    name: str
    unit: str
    qty_milli: int
    unit_price_fen: int
    amount_fen: int
    returned_milli: int
    refunded_fen: int


@dataclass(frozen=True, slots=True)
class SaleDetail:
    sale_id: Any
    store: str
    terminal: str
    cashier: str
    receipt_no: str
    completed_at: datetime
    total_fen: int
    discount_fen: int
    member_no: str | None
    voided_at: datetime | None
    void_reason: str | None
    void_supervisor: str | None
    lines: list[SaleLine]
    tenders: list[tuple[str, int, str | None]]
    returns: list[tuple[Any, str, datetime, int]]  # (return_id, store, at, refund_fen)


def sale_detail(conn: Connection, sale_id: Any) -> SaleDetail | None:
    """One sale with its lines (and what was returned of each), tenders and returns."""
    s, sl, st, r = m.sales, m.sale_lines, m.sale_tenders, m.returns
    row = conn.execute(select(s).where(s.c.sale_id == sale_id)).first()
    if row is None:
        return None
    lines = [
        SaleLine(
            int(x.line_no),
            x.sku,
            x.name,
            x.unit,
            int(x.qty_milli),
            int(x.unit_price_fen),
            int(x.amount_fen),
            int(x.returned_milli),
            int(x.refunded_fen),
        )
        for x in conn.execute(select(sl).where(sl.c.sale_id == sale_id).order_by(sl.c.line_no))
    ]
    tenders = [
        (x.kind, int(x.amount_fen), x.reference)
        for x in conn.execute(select(st).where(st.c.sale_id == sale_id).order_by(st.c.idx))
    ]
    rets = [
        (x.return_id, x.store_code, x.returned_at, int(x.refund_fen))
        for x in conn.execute(
            select(r.c.return_id, r.c.store_code, r.c.returned_at, r.c.refund_fen)
            .where(r.c.sale_id == sale_id)
            .order_by(r.c.returned_at)
        )
    ]
    return SaleDetail(
        row.sale_id,
        row.store_code,
        row.terminal,
        row.cashier,
        row.receipt_no,
        row.completed_at,
        int(row.total_fen),
        int(row.discount_fen),
        row.member_no,
        row.voided_at,
        row.void_reason,
        row.void_supervisor,
        lines,
        tenders,
        rets,
    )


@dataclass(frozen=True, slots=True)
class DiscrepancyRow:
    id: int
    kind: str
    store: str
    sale_id: Any
    line_no: int | None
    ref: str | None
    detail: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None


def discrepancies(
    conn: Connection,
    scope: Stores,
    *,
    payments: bool | None,
    open_only: bool = False,
    kind: str | None = None,
    store: str | None = None,
    limit: int = 200,
) -> list[DiscrepancyRow]:
    """Discrepancies of the stores in scope, newest first: the payment reconciliation's
    (``payments`` True: kinds ``payment_*``; those the provider alone booked name no store
    and are seen only with every store in scope), the others (False: offline conflicts,
    refused money events, unverified staff) or all (None); optionally of one ``kind`` or
    ``store``."""
    d = m.discrepancies
    q = (
        select(d)
        .where(_in(d.c.store_code, scope))
        .order_by(d.c.created_at.desc(), d.c.id.desc())
        .limit(limit)
    )
    if payments is not None:
        is_payment = d.c.kind.like("payment\\_%", escape="\\")
        q = q.where(is_payment if payments else ~is_payment)
    if open_only:
        q = q.where(d.c.resolved_at.is_(None))
    if kind:
        q = q.where(d.c.kind == kind)
    if store:
        q = q.where(d.c.store_code == store)
    return [
        DiscrepancyRow(
            int(x.id),
            x.kind,
            x.store_code,
            x.sale_id,
            x.line_no,
            x.ref,
            x.detail,
            x.created_at,
            x.resolved_at,
            x.resolved_by,
            x.resolution,
        )
        for x in conn.execute(q)
    ]


# -- menu ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MenuVersionRow:
    """A published menu version; ``state``: ``in_effect`` (what its scope's tills sell
    with now), ``scheduled`` (effective later) or ``superseded``."""

    version: int
    store: str | None
    effective_at: datetime
    created_at: datetime
    categories: int
    groups: int
    tiles: int
    state: str


def menu_versions(
    conn: Connection, scope: Stores, now: datetime, limit: int = 100
) -> list[MenuVersionRow]:
    """The chain's menu versions and those of the stores in scope, latest effective
    first."""
    mv = m.menu_versions
    where: Any = mv.c.store_code.is_(None)
    if scope is None:
        where = True
    elif scope:
        where = or_(where, mv.c.store_code.in_(sorted(scope)))
    rows = conn.execute(
        select(mv).where(where).order_by(mv.c.effective_at.desc(), mv.c.id.desc()).limit(limit)
    )
    out: list[MenuVersionRow] = []
    current: set[str | None] = set()
    for r in rows:
        if r.effective_at > now:
            state = "scheduled"
        elif r.store_code in current:
            state = "superseded"
        else:
            state = "in_effect"
            current.add(r.store_code)
        body = json.loads(r.body_json)
        out.append(
            MenuVersionRow(
                int(r.id),
                r.store_code,
                r.effective_at,
                r.created_at,
                len(body.get("categories", [])),
                len(body.get("groups", [])),
                len(body.get("tiles", [])),
                state,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class SoldOutRow:
    store: str
    sku: str
    name: str
    at: datetime
    staff: str
    terminal: str


def sold_out_today(
    conn: Connection, scope: Stores, day: date, store: str | None = None
) -> list[SoldOutRow]:
    """The items the stores in scope marked sold out (估清) for business day ``day``:
    those whose latest report that day says so, by store and sku."""
    so = m.menu_sold_out
    cond = and_(so.c.business_date == day, _in(so.c.store_code, scope))
    if store:
        cond = and_(cond, so.c.store_code == store)
    latest = (
        select(so.c.store_code, so.c.sku, func.max(so.c.at).label("at"))
        .where(cond)
        .group_by(so.c.store_code, so.c.sku)
        .subquery()
    )
    rows = conn.execute(
        select(so.c.store_code, so.c.sku, so.c.at, so.c.staff, so.c.terminal, so.c.sold_out)
        .join(
            latest,
            and_(
                so.c.store_code == latest.c.store_code,
                so.c.sku == latest.c.sku,
                so.c.at == latest.c.at,
            ),
        )
        .where(cond)
        .order_by(so.c.store_code, so.c.sku)
    ).all()
    names = item_names(conn, {r.sku for r in rows})
    return [
        SoldOutRow(r.store_code, r.sku, names.get(r.sku, (r.sku, ""))[0], r.at, r.staff, r.terminal)
        for r in rows
        if r.sold_out
    ]
