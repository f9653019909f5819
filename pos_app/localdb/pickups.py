"""Online pick-up orders (到店自提) of this store in the terminal database.

:func:`apply_pickups` runs on the sync client's raw ``sqlite3`` connection inside the
replica's transaction (see :mod:`pos_app.localdb.replica`); the rest take a Session.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from pos_app.localdb.models import PickupOrder
from pos_app.localdb.types import to_utc_text
from sync_client.contract import protocol as p

__all__ = ["apply_pickups", "mark_collected_here", "open_orders", "order"]


def apply_pickups(db: sqlite3.Connection, store: str, items: Sequence[p.PickupData]) -> None:
    """HQ's pick-up orders of this store; HQ sends no other store's."""
    mine = [x for x in items if x.store == store]
    if not mine:
        return
    db.executemany(
        "INSERT INTO pickup_order (reservation_id, order_id, channel, store_code, status, "
        "ready, lines, code_hash, confirmed_at, sale_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(reservation_id) DO UPDATE SET status = excluded.status, "
        "ready = excluded.ready, lines = excluded.lines, code_hash = excluded.code_hash, "
        "confirmed_at = excluded.confirmed_at, sale_id = excluded.sale_id",
        [
            (
                str(x.reservation_id),
                x.order_id,
                x.channel,
                x.store,
                x.status,
                x.ready,
                json.dumps([[ln.sku, ln.qty_milli] for ln in x.lines]),
                x.code_hash,
                None if x.confirmed_at is None else to_utc_text(x.confirmed_at),
                None if x.sale_id is None else str(x.sale_id),
            )
            for x in mine
        ],
    )


def open_orders(session: Session, store: str) -> list[PickupOrder]:
    """Paid pick-up orders waiting for their customer (not collected here either),
    oldest first."""
    rows = session.scalars(
        select(PickupOrder)
        .where(
            PickupOrder.store_code == store,
            PickupOrder.status == "confirmed",
            PickupOrder.local_sale_id.is_(None),
        )
        .order_by(PickupOrder.confirmed_at, PickupOrder.order_id)
    ).all()
    return list(rows)


def order(session: Session, reservation_id: str) -> PickupOrder | None:
    return session.get(PickupOrder, reservation_id)


def mark_collected_here(db: sqlite3.Connection, reservation_id: str, sale_id: str) -> bool:
    """Records the sale this till made of an order, once, on the ``sqlite3`` connection of
    the sale's transaction; False if it was collected."""
    cur = db.execute(
        "UPDATE pickup_order SET local_sale_id = ? WHERE reservation_id = ? "
        "AND status = 'confirmed' AND local_sale_id IS NULL",
        (sale_id, reservation_id),
    )
    return cur.rowcount == 1
