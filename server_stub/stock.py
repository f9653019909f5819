"""Stock levels at HQ: the one way a level changes and the feed change that announces it.

Both writers of levels use these: a push of terminal events (:mod:`server_stub.ingest`,
sales, returns, counts) and HQ staff receiving or adjusting stock
(:mod:`server_stub.operations`). A level is keyed by (store, sku); quantities are in
milli-units (``qty_milli``).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite

from server_stub import bulk, feed
from server_stub import models as m
from sync_client.contract import protocol as p

__all__ = ["apply_stock_ops", "stock_change"]


def stock_change(store: str, sku: str, on_hand: int, reserved: int, now: datetime) -> feed.Pending:
    """The feed change announcing a store's new level of an item."""
    return feed.Pending(
        "stock",
        f"{store}:{sku}",
        store,
        p.StockData(
            store=store,
            sku=sku,
            on_hand_milli=on_hand,
            reserved_milli=reserved,
            available_milli=on_hand - reserved,
            updated_at=now,
        ),
    )


def apply_stock_ops(
    conn: Connection, ops: dict[tuple[str, str], tuple[bool, int]], now: datetime
) -> dict[tuple[str, str], tuple[int, int]]:
    """Adds (``absolute`` False) or sets (True) levels; returns the new (on_hand, reserved).

    Rows are written in key order so that concurrent batches lock levels in the same
    order (no deadlocks between two pushes).
    """
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for absolute in (False, True):
        keys = sorted(k for k, (a, _) in ops.items() if a is absolute)
        if not keys:
            continue
        rows = [
            {
                "store_code": k[0],
                "sku": k[1],
                "on_hand_milli": ops[k][1],
                "reserved_milli": 0,
                "updated_at": now,
            }
            for k in keys
        ]
        if conn.dialect.name == "postgresql":
            level = "EXCLUDED.on_hand_milli"
            if not absolute:
                level = "stock_levels.on_hand_milli + " + level
            result: Any = bulk.upsert_returning(
                conn,
                m.stock_levels,
                rows,
                ("store_code", "sku"),
                f"on_hand_milli = {level}, updated_at = EXCLUDED.updated_at",
                ("store_code", "sku", "on_hand_milli", "reserved_milli"),
            )
        else:
            result = conn.execute(_upsert_levels(absolute), rows)
        for store, sku, on_hand, reserved in result:
            out[(store, sku)] = (int(on_hand), int(reserved))
    return out


@functools.cache
def _upsert_levels(absolute: bool) -> Any:
    """SQLite: ``INSERT .. ON CONFLICT DO UPDATE .. RETURNING`` for stock levels, built
    once so that SQLAlchemy's compiled cache serves every batch."""
    stmt = sqlite.insert(m.stock_levels)
    new_level = (
        stmt.excluded.on_hand_milli
        if absolute
        else m.stock_levels.c.on_hand_milli + stmt.excluded.on_hand_milli
    )
    return stmt.on_conflict_do_update(
        index_elements=[m.stock_levels.c.store_code, m.stock_levels.c.sku],
        set_={"on_hand_milli": new_level, "updated_at": stmt.excluded.updated_at},
    ).returning(
        m.stock_levels.c.store_code,
        m.stock_levels.c.sku,
        m.stock_levels.c.on_hand_milli,
        m.stock_levels.c.reserved_milli,
    )
