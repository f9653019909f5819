"""Safety stock, stock alerts and transfer proposals at HQ.

Safety stock is a minimum and a maximum per item, for one store or chain-wide (the
store's own row wins). After every change of levels (:func:`server_stub.stock.settle`)
the touched levels are checked: a level below its minimum opens one ``low`` alert (not
one per sale), a level back at or above it resolves the open one. Alerts of the other
kinds (``negative``, ``count_variance``, ``transfer_shortfall``) are raised by the step
that found the problem. Every alert raised or resolved appends an ``alert`` feed change
for its store's tills, in the same transaction.

Proposals pair each store below its minimum with stores above their maximum, nearest
first: by great-circle distance when both stores have coordinates, otherwise same region
first, then by store code.

Quantities are thousandths (``*_milli``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from server_stub import bulk, feed
from server_stub import models as m
from server_stub.db import Database, WriteTx
from server_stub.errors import ApiError
from server_stub.schemas import SafetyOut
from sync_client.contract import protocol as p

__all__ = [
    "AlertSpec",
    "alert_data",
    "check_levels",
    "list_alerts",
    "list_safety",
    "proposals",
    "raise_alerts",
    "resolve_alert",
    "set_safety",
]

Key = tuple[str, str]  # (store, sku)
EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """An alert to raise; ``on_hand`` None: the store's level as it is at write time."""

    store: str
    sku: str
    kind: str
    ref: str | None = None
    qty_milli: int | None = None
    min_milli: int | None = None
    on_hand: int | None = None
    detail: str | None = None


def alert_data(row: Any) -> p.StockAlertData:
    """The feed/API form of a ``stock_alerts`` row."""
    return p.StockAlertData(
        alert_id=row.id,
        store=row.store_code,
        sku=row.sku,
        kind=row.kind,
        on_hand_milli=row.on_hand_milli,
        min_milli=row.min_milli,
        created_at=row.created_at,
        resolved=row.resolved_at is not None,
        qty_milli=row.qty_milli,
        ref=row.ref,
    )


def _change(data: p.StockAlertData) -> feed.Pending:
    return feed.Pending("alert", str(data.alert_id), data.store, data)


def _current_levels(conn: Connection, keys: Iterable[Key]) -> dict[Key, int]:
    keys = sorted(set(keys))
    if not keys:
        return {}
    sl = m.stock_levels
    rows = conn.execute(
        select(sl.c.store_code, sl.c.sku, sl.c.on_hand_milli).where(
            bulk.among(conn, sl.c.sku, {k[1] for k in keys}),
            bulk.among(conn, sl.c.store_code, {k[0] for k in keys}),
        )
    )
    wanted = set(keys)
    return {
        (r.store_code, r.sku): int(r.on_hand_milli) for r in rows if (r.store_code, r.sku) in wanted
    }


def raise_alerts(conn: Connection, specs: Sequence[AlertSpec], now: datetime) -> list[feed.Pending]:
    """Inserts alerts; returns their feed changes."""
    if not specs:
        return []
    missing = [(s.store, s.sku) for s in specs if s.on_hand is None]
    levels = _current_levels(conn, missing)
    rows: list[dict[str, Any]] = [
        {
            "store_code": s.store,
            "sku": s.sku,
            "kind": s.kind,
            "on_hand_milli": levels.get((s.store, s.sku), 0) if s.on_hand is None else s.on_hand,
            "ref": s.ref,
            "created_at": now,
            "resolved_at": None,
            "min_milli": s.min_milli,
            "qty_milli": s.qty_milli,
            "detail": s.detail,
        }
        for s in specs
    ]
    a = m.stock_alerts
    ids = conn.execute(insert(a).returning(a.c.id, sort_by_parameter_order=True), rows).scalars()
    changes = []
    for alert_id, row in zip(ids, rows, strict=True):
        data = p.StockAlertData(
            alert_id=int(alert_id),
            store=row["store_code"],
            sku=row["sku"],
            kind=row["kind"],
            on_hand_milli=row["on_hand_milli"],
            min_milli=row["min_milli"],
            created_at=now,
            qty_milli=row["qty_milli"],
            ref=row["ref"],
        )
        changes.append(_change(data))
    return changes


def _safety(conn: Connection, keys: Iterable[Key]) -> dict[Key, tuple[int, int]]:
    """The (min, max) in force for each key that has one."""
    keys = set(keys)
    if not keys:
        return {}
    ss = m.safety_stock
    stores = {k[0] for k in keys}
    rows = conn.execute(
        select(ss.c.store_code, ss.c.sku, ss.c.min_milli, ss.c.max_milli).where(
            bulk.among(conn, ss.c.sku, {k[1] for k in keys}),
            or_(ss.c.store_code.is_(None), bulk.among(conn, ss.c.store_code, stores)),
        )
    )
    chain: dict[str, tuple[int, int]] = {}
    own: dict[Key, tuple[int, int]] = {}
    for r in rows:
        bounds = (int(r.min_milli), int(r.max_milli))
        if r.store_code is None:
            chain[r.sku] = bounds
        else:
            own[(r.store_code, r.sku)] = bounds
    out: dict[Key, tuple[int, int]] = {}
    for key in keys:
        found = own.get(key) or chain.get(key[1])
        if found is not None:
            out[key] = found
    return out


def check_levels(conn: Connection, levels: dict[Key, int], now: datetime) -> list[feed.Pending]:
    """Opens a ``low`` alert for each level below its minimum that has none open, and
    resolves the open ones whose level is back at or above the minimum (or that no
    longer have one). ``levels``: the new on-hand levels. Returns the feed changes."""
    if not levels:
        return []
    safety = _safety(conn, levels)
    a = m.stock_alerts
    stores = {k[0] for k in levels}
    open_rows = [
        r
        for r in conn.execute(
            select(a).where(
                a.c.kind == "low",
                a.c.resolved_at.is_(None),
                bulk.among(conn, a.c.sku, {k[1] for k in levels}),
                bulk.among(conn, a.c.store_code, stores),
            )
        )
        if (r.store_code, r.sku) in levels
    ]
    is_open = {(r.store_code, r.sku) for r in open_rows}
    specs = [
        AlertSpec(
            key[0],
            key[1],
            "low",
            min_milli=safety[key][0],
            on_hand=on_hand,
            qty_milli=safety[key][0] - on_hand,
        )
        for key, on_hand in sorted(levels.items())
        if key in safety and on_hand < safety[key][0] and key not in is_open
    ]
    changes = raise_alerts(conn, specs, now)
    back = [
        r
        for r in open_rows
        if (r.store_code, r.sku) not in safety
        or levels[(r.store_code, r.sku)] >= safety[(r.store_code, r.sku)][0]
    ]
    if back:
        conn.execute(
            update(a)
            .where(bulk.among(conn, a.c.id, [r.id for r in back]), a.c.resolved_at.is_(None))
            .values(resolved_at=now)
        )
        for r in back:
            data = alert_data(r).model_copy(
                update={"resolved": True, "on_hand_milli": levels[(r.store_code, r.sku)]}
            )
            changes.append(_change(data))
    return changes


# -- safety stock (HQ staff) ------------------------------------------------------------


def set_safety(
    db: Database, sku: str, store: str | None, min_milli: int, max_milli: int
) -> SafetyOut:
    """Sets an item's minimum and maximum for one store or chain-wide, and raises or
    resolves the low alerts it changes.

    Raises:
        ApiError: unknown item or store (404), min above max or negative (422).
    """
    if min_milli < 0 or max_milli < min_milli:
        raise ApiError(422, "bad_quantity", "0 <= min <= max")

    def run(tx: WriteTx) -> SafetyOut:
        conn = tx.conn
        now = datetime.now(UTC)
        if conn.execute(select(m.items.c.sku).where(m.items.c.sku == sku)).first() is None:
            raise ApiError(404, "unknown_sku", f"no item {sku}")
        ss = m.safety_stock
        if store is not None:
            found = conn.execute(select(m.stores.c.code).where(m.stores.c.code == store))
            if found.first() is None:
                raise ApiError(404, "unknown_store", f"no store {store}")
            scope = ss.c.store_code == store
        else:
            scope = ss.c.store_code.is_(None)
        conn.execute(delete(ss).where(scope, ss.c.sku == sku))
        conn.execute(
            insert(ss).values(
                store_code=store,
                sku=sku,
                min_milli=min_milli,
                max_milli=max_milli,
                updated_at=now,
            )
        )
        sl = m.stock_levels
        q = select(sl.c.store_code, sl.c.on_hand_milli).where(sl.c.sku == sku)
        if store is not None:
            q = q.where(sl.c.store_code == store)
        levels = {(r.store_code, sku): int(r.on_hand_milli) for r in conn.execute(q)}
        feed.append(tx, check_levels(conn, levels, now), now)
        return SafetyOut(
            sku=sku, store=store, min_milli=min_milli, max_milli=max_milli, updated_at=now
        )

    return db.run_write(run)


def list_safety(
    conn: Connection, store: str | None = None, sku: str | None = None
) -> list[SafetyOut]:
    ss = m.safety_stock
    q = select(ss).order_by(ss.c.sku, ss.c.store_code)
    if store is not None:
        q = q.where(or_(ss.c.store_code.is_(None), ss.c.store_code == store))
    if sku is not None:
        q = q.where(ss.c.sku == sku)
    return [
        SafetyOut(
            sku=r.sku,
            store=r.store_code,
            min_milli=r.min_milli,
            max_milli=r.max_milli,
            updated_at=r.updated_at,
        )
        for r in conn.execute(q)
    ]


def list_alerts(
    conn: Connection,
    *,
    store: str | None = None,
    kind: str | None = None,
    open_only: bool = True,
    limit: int = 500,
) -> list[p.StockAlertData]:
    """Alerts, newest first."""
    a = m.stock_alerts
    conds = []
    if store is not None:
        conds.append(a.c.store_code == store)
    if kind is not None:
        conds.append(a.c.kind == kind)
    if open_only:
        conds.append(a.c.resolved_at.is_(None))
    rows = conn.execute(select(a).where(and_(True, *conds)).order_by(a.c.id.desc()).limit(limit))
    return [alert_data(r) for r in rows]


def resolve_alert(db: Database, alert_id: int) -> p.StockAlertData:
    """Closes an alert by hand (a manager looked at it); tells its store's tills."""

    def run(tx: WriteTx) -> p.StockAlertData:
        now = datetime.now(UTC)
        a = m.stock_alerts
        tx.conn.execute(
            update(a).where(a.c.id == alert_id, a.c.resolved_at.is_(None)).values(resolved_at=now)
        )
        row = tx.conn.execute(select(a).where(a.c.id == alert_id)).first()
        if row is None:
            raise ApiError(404, "unknown_alert", f"no stock alert {alert_id}")
        data = alert_data(row)
        feed.append(tx, [_change(data)], now)
        return data

    return db.run_write(run)


# -- proposals --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Place:
    code: str
    region: str
    lat: float | None
    lon: float | None


def distance_km(a: _Place, b: _Place) -> float | None:
    """Great-circle (haversine) distance, or None when either has no coordinates."""
    if a.lat is None or a.lon is None or b.lat is None or b.lon is None:
        return None
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi = phi2 - phi1
    dlmb = math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _nearness(target: _Place, donor: _Place) -> tuple[int, float, str]:
    km = distance_km(target, donor)
    if km is not None:
        return (0, km, donor.code)
    same_region = bool(target.region) and target.region == donor.region
    return (1, 0.0 if same_region else 1.0, donor.code)


def proposals(conn: Connection, store: str | None = None) -> list[p.TransferProposal]:
    """Transfers that would bring stores below their minimum up to their maximum from
    stores above theirs, nearest donor first; for ``store`` only, or chain-wide.

    Chain-wide, a donor's surplus (level above its maximum) is promised once: two stores
    short of the same item never both count on it. For one store, all of it is offered."""
    ss, sl = m.safety_stock, m.stock_levels
    safety_rows = conn.execute(
        select(ss.c.store_code, ss.c.sku, ss.c.min_milli, ss.c.max_milli)
    ).all()
    if not safety_rows:
        return []
    chain: dict[str, tuple[int, int]] = {}
    own: dict[Key, tuple[int, int]] = {}
    for r in safety_rows:
        if r.store_code is None:
            chain[r.sku] = (int(r.min_milli), int(r.max_milli))
        else:
            own[(r.store_code, r.sku)] = (int(r.min_milli), int(r.max_milli))
    if store is not None:
        skus = {sku for (s, sku) in own if s == store} | set(chain)
    else:
        skus = set(chain) | {sku for (_, sku) in own}
    places = {
        r.code: _Place(r.code, r.region or "", r.latitude, r.longitude)
        for r in conn.execute(
            select(
                m.stores.c.code, m.stores.c.region, m.stores.c.latitude, m.stores.c.longitude
            ).where(m.stores.c.active.is_(True))
        )
    }
    by_sku: dict[str, list[tuple[str, int, int, int]]] = {}  # sku -> (store, level, min, max)
    for lv in conn.execute(
        select(sl.c.store_code, sl.c.sku, sl.c.on_hand_milli)
        .where(bulk.among(conn, sl.c.sku, skus))
        .order_by(sl.c.sku, sl.c.store_code)
    ):
        bounds = own.get((lv.store_code, lv.sku)) or chain.get(lv.sku)
        if bounds is None or lv.store_code not in places:
            continue
        by_sku.setdefault(lv.sku, []).append((lv.store_code, int(lv.on_hand_milli), *bounds))
    out: list[p.TransferProposal] = []
    for sku in sorted(by_sku):
        rows = by_sku[sku]
        surplus = {s: level - hi for s, level, _, hi in rows if level > hi}
        info = {s: (level, lo, hi) for s, level, lo, hi in rows}
        if not surplus:
            continue
        for target, level, lo, hi in rows:
            if level >= lo or (store is not None and target != store):
                continue
            need = hi - level
            donors = sorted(
                (d for d in surplus if d != target),
                key=lambda d: _nearness(places[target], places[d]),
            )
            for donor in donors:
                if need <= 0:
                    break
                give = min(need, surplus[donor])
                if give <= 0:
                    continue
                surplus[donor] -= give
                need -= give
                d_level, _, d_hi = info[donor]
                out.append(
                    p.TransferProposal(
                        sku=sku,
                        to_store=target,
                        from_store=donor,
                        qty_milli=give,
                        to_on_hand_milli=level,
                        to_min_milli=lo,
                        to_max_milli=hi,
                        from_on_hand_milli=d_level,
                        from_max_milli=d_hi,
                        distance_km=distance_km(places[target], places[donor]),
                    )
                )
    out.sort(key=lambda x: (x.to_store, x.sku))
    return out
