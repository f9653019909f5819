"""Stock levels at HQ: the one way a level changes and the feed change that announces it.

Both writers of levels use these: a push of terminal events (:mod:`server_stub.ingest`,
sales, returns, counts, transfers, goods received) and HQ staff receiving or adjusting
stock (:mod:`server_stub.operations`). A level is keyed by (store, sku); quantities are in
milli-units (``qty_milli``).

The invariant: a store's level of an item is the sum of its ledger rows
(``stock_moves``). Every writer builds its ledger rows with :func:`move_row` and applies
the same deltas with :func:`settle`, in one transaction; :func:`settle` also announces
the new levels on the feed and raises or resolves the stock alerts they cause
(:mod:`server_stub.stock_alerts`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import sqlite

from server_stub import bulk, feed, stock_alerts
from server_stub import models as m
from server_stub.stock_alerts import AlertSpec
from sync_client.contract import protocol as p

__all__ = [
    "Settled",
    "apply_stock_ops",
    "in_transit",
    "move_row",
    "settle",
    "stock_change",
    "with_in_transit",
]

log = logging.getLogger("chainpos.hq.stock")


def move_row(
    store: str,
    sku: str,
    delta_milli: int,
    reason: str,
    ref: str | None,
    occurred_at: datetime,
    now: datetime,
    note: str | None = None,
) -> dict[str, Any]:
    """A ledger row (``stock_moves``): ``occurred_at`` is when it happened in the shop
    (what a count is compared by), ``now`` when HQ writes it."""
    return {
        "store_code": store,
        "sku": sku,
        "delta_milli": delta_milli,
        "reason": reason,
        "note": note,
        "ref": ref,
        "created_at": now,
        "occurred_at": occurred_at,
    }


@dataclass(frozen=True, slots=True)
class Settled:
    """What :func:`settle` did: the new (on_hand, reserved) levels, the feed changes to
    append (levels and alerts) and how many ``negative`` alerts it raised."""

    levels: dict[tuple[str, str], tuple[int, int]]
    changes: list[feed.Pending]
    negative_alerts: int


def settle(
    conn: Connection,
    ops: Mapping[tuple[str, str], tuple[bool, int]],
    now: datetime,
    *,
    sold: Mapping[tuple[str, str], str | None] | None = None,
    alerts: Sequence[AlertSpec] = (),
) -> Settled:
    """Applies level changes (see :func:`apply_stock_ops`) and everything that follows
    from them: a feed change per level; a ``negative`` alert for each level in ``sold``
    (key -> the sale) that a sale left below zero; ``low`` alerts raised or resolved
    against safety stock; and the further ``alerts`` a step found."""
    levels = apply_stock_ops(conn, dict(ops), now) if ops else {}
    transit = in_transit(conn, levels)
    changes = [
        stock_change(key[0], key[1], on_hand, reserved, now, transit.get(key, 0))
        for key, (on_hand, reserved) in sorted(levels.items())
    ]
    specs = list(alerts)
    negative = 0
    for key, ref in sorted((sold or {}).items()):
        on_hand = levels[key][0]
        if on_hand < 0:
            negative += 1
            specs.append(AlertSpec(key[0], key[1], "negative", ref=ref, on_hand=on_hand))
            log.warning(
                "stock discrepancy: store %s sku %s at %d milli after sale %s",
                key[0],
                key[1],
                on_hand,
                ref,
            )
    changes.extend(stock_alerts.raise_alerts(conn, specs, now))
    changes.extend(stock_alerts.check_levels(conn, {k: v[0] for k, v in levels.items()}, now))
    return Settled(levels, changes, negative)


def stock_change(
    store: str, sku: str, on_hand: int, reserved: int, now: datetime, in_transit_milli: int = 0
) -> feed.Pending:
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
            in_transit_milli=in_transit_milli,
        ),
    )


def in_transit(conn: Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(store, sku) -> quantity shipped to the store by transfers not yet received, for
    those of ``keys`` that have any. Read from the transfers themselves (few are shipped at
    any time), inside the caller's transaction, so it counts the steps it wrote."""
    keys = set(keys)
    if not keys:
        return {}
    tr, tl = m.transfers, m.transfer_lines
    # By receiving store only (through ix_transfers_state_to_store): the items are
    # filtered here, a page's thousand skus would cost more as a list in the query.
    rows = conn.execute(
        select(tr.c.to_store, tl.c.sku, tl.c.shipped_milli)
        .select_from(tr.join(tl, tl.c.transfer_id == tr.c.transfer_id))
        .where(tr.c.state == "shipped", bulk.among(conn, tr.c.to_store, {k[0] for k in keys}))
    )
    found: dict[tuple[str, str], int] = {}
    for store, sku, shipped in rows:
        key = (str(store), str(sku))
        if key in keys and shipped:
            found[key] = found.get(key, 0) + int(shipped)
    return found


def with_in_transit(conn: Connection, changes: Sequence[feed.Pending]) -> list[feed.Pending]:
    """``changes`` with each stock level's in-transit quantity filled in (for writers that
    build stock changes themselves, like reservations)."""
    keys = {c.key: _level_key(c.key) for c in changes if c.kind == "stock"}
    transit = in_transit(conn, keys.values())
    out = []
    for c in changes:
        qty = transit.get(keys[c.key], 0) if c.kind == "stock" else 0
        out.append(
            replace(c, data=c.data.model_copy(update={"in_transit_milli": qty})) if qty else c
        )
    return out


def _level_key(key: str) -> tuple[str, str]:
    store, _, sku = key.partition(":")
    return store, sku


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
