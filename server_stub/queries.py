"""Read-side queries: the terminal snapshot, the stock lookup, reports and lists."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, exists, or_, select, tuple_

from server_stub import feed, menu, promotions, reservations, stock_alerts, transfers
from server_stub import models as m
from server_stub.errors import ApiError
from server_stub.ingest import stale_price_lines
from server_stub.operations import store_data
from server_stub.schemas import StalePriceReport, StoreStaleLines
from server_stub.stock import in_transit
from sync_client.contract import protocol as p


def _prices_for(conn: Connection, store: str, now: datetime) -> list[p.PriceData]:
    """Per (sku, scope): the version in effect now and every later one."""
    pv = m.price_versions
    newer = pv.alias("newer")
    superseded = exists().where(
        newer.c.sku == pv.c.sku,
        newer.c.store_code.is_not_distinct_from(pv.c.store_code),
        newer.c.effective_at <= now,
        or_(
            newer.c.effective_at > pv.c.effective_at,
            and_(newer.c.effective_at == pv.c.effective_at, newer.c.id > pv.c.id),
        ),
    )
    rows = conn.execute(
        select(pv)
        .where(
            or_(pv.c.store_code.is_(None), pv.c.store_code == store),
            or_(pv.c.effective_at > now, ~superseded),
        )
        .order_by(pv.c.id)
    )
    return [
        p.PriceData(
            version=r.id,
            sku=r.sku,
            price_fen=r.price_fen,
            effective_at=r.effective_at,
            store=r.store_code,
        )
        for r in rows
    ]


def snapshot(conn: Connection, store: str) -> p.Snapshot:
    """Everything a terminal of ``store`` needs, consistent as of the returned ``seq``.

    Run it in one read transaction: on SQLite that is a snapshot; on PostgreSQL the
    caller uses REPEATABLE READ (see :meth:`server_stub.db.Database.read`)."""
    now = datetime.now(UTC)
    seq = feed.state(conn).last_seq
    barcodes: dict[str, list[str]] = {}
    for r in conn.execute(
        select(m.item_barcodes.c.sku, m.item_barcodes.c.barcode).order_by(m.item_barcodes.c.barcode)
    ):
        barcodes.setdefault(r.sku, []).append(r.barcode)
    items = [
        p.ItemData(
            sku=r.sku,
            name_zh=r.name_zh,
            name_en=r.name_en,
            unit=r.unit,
            barcodes=barcodes.get(r.sku, []),
            category=r.category,
            active=r.active,
        )
        for r in conn.execute(select(m.items).order_by(m.items.c.sku))
    ]
    stores = [store_data(r) for r in conn.execute(select(m.stores).order_by(m.stores.c.code))]
    levels = conn.execute(
        select(m.stock_levels)
        .where(m.stock_levels.c.store_code == store)
        .order_by(m.stock_levels.c.sku)
    ).all()
    transit = in_transit(conn, ((store, r.sku) for r in levels))
    stock = [
        p.StockData(
            store=r.store_code,
            sku=r.sku,
            on_hand_milli=r.on_hand_milli,
            reserved_milli=r.reserved_milli,
            available_milli=r.on_hand_milli - r.reserved_milli,
            updated_at=r.updated_at,
            in_transit_milli=transit.get((store, r.sku), 0),
        )
        for r in levels
    ]
    config = [
        p.ConfigData(
            store=None if r.scope == "*" else r.scope, key=r.key, value=json.loads(r.value_json)
        )
        for r in conn.execute(
            select(m.config)
            .where(m.config.c.scope.in_(["*", store]))
            .order_by(m.config.c.scope, m.config.c.key)
        )
    ]
    staff = [
        p.StaffData(
            number=r.number,
            store=r.store_code,
            name=r.name,
            role=r.role,
            pin_hash=r.pin_hash,
            active=r.active,
        )
        for r in conn.execute(
            select(m.staff)
            .where(or_(m.staff.c.store_code.is_(None), m.staff.c.store_code == store))
            .where(m.staff.c.role != "hq_admin")  # HQ admins never sign in at a till
            .order_by(m.staff.c.number)
        )
    ]
    return p.Snapshot(
        seq=seq,
        generated_at=now,
        store=store,
        stores=stores,
        items=items,
        prices=_prices_for(conn, store, now),
        stock=stock,
        config=config,
        staff=staff,
        transfers=transfers.open_transfers(conn, store),
        alerts=stock_alerts.list_alerts(conn, store=store),
        pickups=reservations.pickups_of_store(conn, store),
        menus=menu.menus_for(conn, store, now),
        sold_out=menu.sold_out_reports(conn, store, now.date() - timedelta(days=1)),
        promotions=promotions.live_promotions(conn, now),
    )


def stock_page(conn: Connection, after: str, limit: int) -> p.StockPage:
    """Every store's levels after the key ``after`` (``""``: from the first), at most
    ``limit``, in ``(store, sku)`` order: a page of what a new till needs besides the
    snapshot (:class:`~sync_client.contract.protocol.StockPage`).

    Run it in one consistent read transaction (``Database.read(consistent=True)``): the
    levels are then exactly those as of the feed head read first, the page's ``seq``. The
    page is found through the levels' primary key, so every page costs the same however
    deep into the chain it starts."""
    seq = feed.state(conn).last_seq
    sl = m.stock_levels
    q = select(sl.c.store_code, sl.c.sku, sl.c.on_hand_milli, sl.c.reserved_milli, sl.c.updated_at)
    if after:
        store, _, sku = after.partition(":")
        q = q.where(tuple_(sl.c.store_code, sl.c.sku) > tuple_(store, sku))
    rows = conn.execute(q.order_by(sl.c.store_code, sl.c.sku).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    transit = in_transit(conn, ((r.store_code, r.sku) for r in rows))
    levels = [
        p.StockData(
            store=r.store_code,
            sku=r.sku,
            on_hand_milli=r.on_hand_milli,
            reserved_milli=r.reserved_milli,
            available_milli=r.on_hand_milli - r.reserved_milli,
            updated_at=r.updated_at,
            in_transit_milli=transit.get((r.store_code, r.sku), 0),
        )
        for r in rows
    ]
    next_after = f"{rows[-1].store_code}:{rows[-1].sku}" if more else None
    return p.StockPage(seq=seq, after=after, next_after=next_after, levels=levels)


def stock_lookup(conn: Connection, sku: str) -> p.StockLookup:
    """Every store's level of ``sku``, most recently changed first.

    Raises:
        ApiError: 404 if the item does not exist.
    """
    unit = conn.execute(select(m.items.c.unit).where(m.items.c.sku == sku)).scalar()
    if unit is None:
        raise ApiError(404, "unknown_sku", f"no item {sku}")
    sl, st = m.stock_levels, m.stores
    rows = conn.execute(
        select(sl, st.c.name)
        .select_from(sl.join(st, sl.c.store_code == st.c.code))
        .where(sl.c.sku == sku)
        .order_by(sl.c.updated_at.desc(), sl.c.store_code)
    )
    levels = [
        p.StoreStockLevel(
            store=r.store_code,
            store_name=r.name,
            on_hand_milli=r.on_hand_milli,
            reserved_milli=r.reserved_milli,
            available_milli=r.on_hand_milli - r.reserved_milli,
            updated_at=r.updated_at,
        )
        for r in rows
    ]
    return p.StockLookup(sku=sku, unit=unit, levels=levels)


def stale_report(conn: Connection, since: datetime, store: str | None = None) -> StalePriceReport:
    """How many sale lines since ``since`` used a price other than the one in effect."""
    per_store = [
        StoreStaleLines(store=s, lines=n, stale_lines=k)
        for s, n, k in stale_price_lines(conn, since, store)
    ]
    return StalePriceReport(
        since=since,
        lines=sum(x.lines for x in per_store),
        stale_lines=sum(x.stale_lines for x in per_store),
        stores=per_store,
    )


def list_stores(conn: Connection) -> list[p.StoreData]:
    return [store_data(r) for r in conn.execute(select(m.stores).order_by(m.stores.c.code))]


def list_staff(conn: Connection, store: str | None = None) -> list[p.StaffData]:
    q = select(m.staff).order_by(m.staff.c.number)
    if store:
        q = q.where(m.staff.c.store_code == store)
    return [
        p.StaffData(
            number=r.number,
            store=r.store_code,
            name=r.name,
            role=r.role,
            pin_hash=r.pin_hash,
            active=r.active,
        )
        for r in conn.execute(q)
    ]
