"""The menu from HQ on the till: menu versions kept whole, sold-out marks.

The replica stores each version as HQ sent it (:func:`apply_menus`) and reports what of
it cannot be used (:func:`menu_problems`: a tile of an item this till does not have, an
option group with no choices, a tile naming a group or category that is not there)
through the quarantine, so HQ sees it. Reading (:func:`menu_in_force`) leaves those
parts out, so a bad menu never breaks the checkout screen; a tile whose item arrives
later appears then.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from pos_app.localdb.types import from_utc_text, to_utc_text
from sync_client.contract import protocol as p
from sync_client.replica import QuarantinedChange

__all__ = [
    "MenuVersionRow",
    "apply_menus",
    "apply_sold_out",
    "mark_sold_out",
    "menu_in_force",
    "menu_problems",
    "sold_out_skus",
]


def _body(menu: p.MenuData) -> str:
    return menu.model_dump_json(include={"categories", "groups", "tiles"})


def apply_menus(db: sqlite3.Connection, menus: Sequence[p.MenuData]) -> None:
    """Stores menu versions (a repeat replaces the same version with itself)."""
    if not menus:
        return
    db.executemany(
        "INSERT INTO menu_version (version, store_code, effective_at, body) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(version) DO UPDATE SET store_code = excluded.store_code, "
        "effective_at = excluded.effective_at, body = excluded.body",
        [(m.version, m.store, to_utc_text(m.effective_at), _body(m)) for m in menus],
    )


def menu_problems(
    db: sqlite3.Connection, menus: Iterable[tuple[int | None, p.MenuData]], store: str
) -> list[QuarantinedChange]:
    """What of each menu (with its feed seq) this till will leave out, one problem per
    part (``kind`` ``menu``, ``key`` ``<version>:<part>``), for the quarantine and HQ."""
    out: list[QuarantinedChange] = []
    for seq, menu in menus:
        if menu.store is not None and menu.store != store:
            continue
        skus = {t.sku for t in menu.tiles}
        known: set[str] = set()
        weighed: set[str] = set()
        if skus:
            marks = ",".join("?" * len(skus))
            rows = db.execute(
                f"SELECT sku, unit FROM item WHERE active = 1 AND sku IN ({marks})", sorted(skus)
            ).fetchall()
            known = {str(r[0]) for r in rows}
            weighed = {str(r[0]) for r in rows if r[1] == "kg"}
        groups = {g.code for g in menu.groups if g.choices}
        categories = {c.code for c in menu.categories}

        def bad(
            part: str, error: str, body: str, menu: p.MenuData = menu, seq: int | None = seq
        ) -> None:
            key = f"{menu.version}:{part}"
            out.append(QuarantinedChange(seq, "menu", key, body, error))

        for g in menu.groups:
            if not g.choices:
                bad(f"group:{g.code}", "option group has no choices", g.model_dump_json())
        for t in menu.tiles:
            if t.sku not in known:
                bad(f"tile:{t.sku}", "tile of an item this till does not have", t.model_dump_json())
            elif t.category not in categories:
                bad(f"tile:{t.sku}", f"no category {t.category}", t.model_dump_json())
            elif t.groups and t.sku in weighed:
                error = "an item sold by weight takes no options"
                bad(f"tile:{t.sku}", error, t.model_dump_json())
            else:
                missing = [c for c in t.groups if c not in groups]
                if missing:
                    error = f"option group(s) left out: {', '.join(missing)}"
                    bad(f"tile:{t.sku}", error, t.model_dump_json())
    return out


@dataclass(frozen=True, slots=True)
class MenuVersionRow:
    """The menu in force: HQ's version and its data (already read)."""

    version: int
    menu: p.MenuData


def menu_version_in_force(session: Session, store: str, now: datetime) -> int | None:
    """The version the till sells with at ``now``: its store's newest in effect, else the
    chain's (one indexed query; the checkout screen asks on every tap)."""
    row = session.execute(
        text(
            "SELECT version FROM menu_version WHERE effective_at <= :now "
            "AND (store_code = :store OR store_code IS NULL) "
            "ORDER BY store_code IS NULL, effective_at DESC, version DESC LIMIT 1"
        ),
        {"now": to_utc_text(now), "store": store},
    ).first()
    return None if row is None else int(row[0])


def menu_in_force(session: Session, store: str, now: datetime) -> MenuVersionRow | None:
    """The menu in force at ``now`` (None when HQ sent none, or its body cannot be read)."""
    version = menu_version_in_force(session, store, now)
    if version is None:
        return None
    return read_version(session, version)


def read_version(session: Session, version: int) -> MenuVersionRow | None:
    """One stored version, read back (None when missing or unreadable)."""
    row = session.execute(
        text("SELECT store_code, effective_at, body FROM menu_version WHERE version = :v"),
        {"v": version},
    ).first()
    if row is None:
        return None
    try:
        menu = p.MenuData(
            version=version,
            store=row[0],
            effective_at=from_utc_text(str(row[1])),
            **json.loads(row[2]),
        )
    except (ValidationError, ValueError, TypeError):
        return None
    return MenuVersionRow(version, menu)


def sold_out_skus(session: Session, business_date: str) -> set[str]:
    """Items marked sold out for ``business_date`` (YYYY-MM-DD)."""
    rows = session.execute(
        text("SELECT sku FROM sold_out WHERE business_date = :d AND sold_out"),
        {"d": business_date},
    )
    return {str(r[0]) for r in rows}


_UPSERT_SOLD_OUT = (
    "INSERT INTO sold_out (sku, business_date, sold_out, at, staff) "
    "VALUES (:s, :d, :o, :at, :st) "
    "ON CONFLICT(sku) DO UPDATE SET business_date = excluded.business_date, "
    "sold_out = excluded.sold_out, at = excluded.at, staff = excluded.staff "
    "WHERE excluded.at >= sold_out.at"
)


def mark_sold_out(
    session: Session, sku: str, business_date: str, sold_out: bool, at: datetime, staff: str
) -> None:
    """This till's mark (sold out, or back on sale), unless a later one is already here."""
    session.execute(
        text(_UPSERT_SOLD_OUT),
        {"s": sku, "d": business_date, "o": sold_out, "at": to_utc_text(at), "st": staff},
    )


def apply_sold_out(db: sqlite3.Connection, store: str, reports: Sequence[p.SoldOutData]) -> None:
    """Other tills' marks from HQ (this store's only); an older report than the one here
    changes nothing."""
    db.executemany(
        _UPSERT_SOLD_OUT,
        [
            {
                "s": r.sku,
                "d": r.business_date.isoformat(),
                "o": r.sold_out,
                "at": to_utc_text(r.at),
                "st": "",
            }
            for r in reports
            if r.store == store
        ],
    )
