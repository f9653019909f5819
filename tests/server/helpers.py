"""Reading HQ's database directly, to check what a request did (or did not) change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from server_stub import feed
from server_stub import models as m
from server_stub.db import Database


def level(db: Database, store: str, sku: str) -> int | None:
    """The store's on-hand level of ``sku`` in thousandths (None: never touched)."""
    with db.read() as conn:
        return conn.execute(
            select(m.stock_levels.c.on_hand_milli).where(
                m.stock_levels.c.store_code == store, m.stock_levels.c.sku == sku
            )
        ).scalar()


def head(db: Database) -> int:
    with db.read() as conn:
        return feed.state(conn).last_seq


def counts(db: Database) -> dict[str, int]:
    """Row counts of every table that terminal events or admin calls write."""
    tables = [
        m.events,
        m.sales,
        m.sale_lines,
        m.sale_tenders,
        m.stock_moves,
        m.stock_levels,
        m.stock_alerts,
        m.stock_counts,
        m.shifts,
        m.feed,
        m.items,
        m.price_versions,
        m.stores,
        m.staff,
        m.devices,
        m.config,
    ]
    with db.read() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables
        }


def state(db: Database) -> dict[str, Any]:
    """Counts plus every stock level and the feed head: equal states mean nothing changed."""
    with db.read() as conn:
        levels = sorted(
            (r.store_code, r.sku, r.on_hand_milli) for r in conn.execute(select(m.stock_levels))
        )
        voided = sorted(
            str(r.sale_id)
            for r in conn.execute(select(m.sales.c.sale_id).where(m.sales.c.voided_at.is_not(None)))
        )
    return {"counts": counts(db), "levels": levels, "voided": voided, "head": head(db)}


def feed_changes(db: Database, kind: str, key: str) -> list[str]:
    """Bodies of the feed rows of one kind and key, oldest first."""
    with db.read() as conn:
        return list(
            conn.execute(
                select(m.feed.c.body)
                .where(m.feed.c.kind == kind, m.feed.c.key == key)
                .order_by(m.feed.c.seq)
            ).scalars()
        )
