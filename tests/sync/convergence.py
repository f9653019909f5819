"""Comparing terminals with HQ: the checks behind "nothing lost, nothing doubled, every
terminal converged". Shared by the scenario tests and the benchmarks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select, text

from pos_app.headless import HeadlessTerminal
from pos_app.localdb.engine import read_session
from server_stub import models as m
from server_stub.db import Database


@dataclass
class Report:
    """Counts a scenario prints: sales made, faults injected, lost, duplicated, diverged."""

    sales_made: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    diverged: list[str] = field(default_factory=list)
    outbox_left: int = 0

    def line(self) -> str:
        faults = ", ".join(f"{k}={v}" for k, v in sorted(self.faults.items()) if v) or "none"
        return (
            f"sales made={self.sales_made} faults injected: {faults}; lost={len(self.lost)} "
            f"duplicated={len(self.duplicated)} phantom={len(self.phantom)} "
            f"diverged={len(self.diverged)} outbox left={self.outbox_left}"
        )

    @property
    def clean(self) -> bool:
        return not (
            self.lost or self.duplicated or self.phantom or self.diverged or self.outbox_left
        )


def hq_level(db: Database, store: str, sku: str) -> int:
    """HQ's on-hand level of ``sku`` at ``store``, in thousandths."""
    with db.read() as conn:
        return int(
            conn.execute(
                select(m.stock_levels.c.on_hand_milli).where(
                    m.stock_levels.c.store_code == store, m.stock_levels.c.sku == sku
                )
            ).scalar_one()
        )


def hq_sale_ids(db: Database) -> list[str]:
    with db.read() as conn:
        return [str(r) for r in conn.execute(select(m.sales.c.sale_id)).scalars()]


def hq_head(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(m.feed_state.c.last_seq)).scalar_one())


def check_sales(db: Database, made: set[str], report: Report) -> None:
    """Every sale committed at a terminal is at HQ exactly once; HQ has no other."""
    at_hq = hq_sale_ids(db)
    seen: set[str] = set()
    for sid in at_hq:
        if sid in seen:
            report.duplicated.append(sid)
        seen.add(sid)
    report.lost.extend(sorted(made - seen))
    report.phantom.extend(sorted(seen - made))
    with db.read() as conn:
        events = conn.execute(select(func.count()).select_from(m.sales)).scalar_one()
    if events != len(seen):
        report.duplicated.append(f"{events} sale rows for {len(seen)} ids")


def terminal_sale_ids(t: HeadlessTerminal) -> set[str]:
    return {str(uuid.UUID(s)) for s in t.sale_ids()}


def check_terminal(db: Database, t: HeadlessTerminal, report: Report) -> None:
    """The terminal's prices, stock and staff equal HQ's for its store; outbox empty."""
    pending, rejected = t.outbox()
    report.outbox_left += pending + rejected
    store = t.store
    with db.read() as conn:
        hq_prices = {
            (int(r.id), r.sku, int(r.price_fen), r.store_code)
            for r in conn.execute(
                select(
                    m.price_versions.c.id,
                    m.price_versions.c.sku,
                    m.price_versions.c.price_fen,
                    m.price_versions.c.store_code,
                ).where(
                    (m.price_versions.c.store_code.is_(None))
                    | (m.price_versions.c.store_code == store)
                )
            )
        }
        hq_stock = {
            r.sku: int(r.on_hand_milli)
            for r in conn.execute(
                select(m.stock_levels.c.sku, m.stock_levels.c.on_hand_milli).where(
                    m.stock_levels.c.store_code == store
                )
            )
        }
    with read_session(t.terminal.engine) as s:
        local_prices = {
            (int(r[0]), str(r[1]), int(r[2]), r[3])
            for r in s.execute(
                text(
                    "SELECT p.version, i.sku, p.price_fen, p.store_code FROM price p "
                    "JOIN item i ON i.id = p.item_id"
                )
            )
        }
        local_stock = {
            str(r[0]): (int(r[1]), int(r[2]))
            for r in s.execute(
                text(
                    "SELECT i.sku, s.hq_qty_milli, s.local_sold_milli FROM stock_level s "
                    "JOIN item i ON i.id = s.item_id"
                )
            )
        }
    # The terminal may have dropped versions superseded before a snapshot; every version
    # it holds must be HQ's, and it must hold HQ's newest version of every item.
    extra = local_prices - hq_prices
    if extra:
        report.diverged.append(f"{t.device_id}: prices HQ does not have: {sorted(extra)[:3]}")
    newest_hq: dict[tuple[str, str | None], int] = {}
    for v, sku, _fen, st in hq_prices:
        newest_hq[(sku, st)] = max(v, newest_hq.get((sku, st), 0))
    newest_local: dict[tuple[str, str | None], int] = {}
    for v, sku, _fen, st in local_prices:
        newest_local[(sku, st)] = max(v, newest_local.get((sku, st), 0))
    if newest_hq != newest_local:
        missing = {k: v for k, v in newest_hq.items() if newest_local.get(k) != v}
        report.diverged.append(f"{t.device_id}: newest prices differ: {list(missing.items())[:3]}")
    for sku, hq_qty in hq_stock.items():
        local = local_stock.get(sku)
        if local is None or local[0] - local[1] != hq_qty:
            report.diverged.append(f"{t.device_id}: stock {sku} HQ {hq_qty} till {local}")
