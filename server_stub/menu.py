"""The menu: tile layouts, categories and drink option groups, versioned like prices.

A menu version is published whole (categories, option groups with their prices, tiles) for
the chain or for one store (which then overrides the chain's menu as a whole), effective
now or ahead of time. Versions are immutable: a change is a new version. Each one reaches
the tills through the feed (kind ``menu``) in the transaction that stores it; the snapshot
carries, per scope, the version in effect and every later one.

HQ refuses a menu that does not hold together (a tile of an unknown item, a group with no
choices, limits its choices cannot meet): the tills still defend themselves against one
(:mod:`pos_app.localdb.menu`), but HQ never publishes one.

Sold out (估清) reports from the tills are stored by :func:`plan_sold_out`, called by
ingest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, and_, func, insert, or_, select

from server_stub import feed
from server_stub import models as m
from server_stub.audit import SYSTEM, Actor, audit_row, write_audit
from server_stub.db import Database, WriteTx
from server_stub.errors import ApiError
from sync_client.contract import protocol as p

__all__ = [
    "MenuProblem",
    "check_menu",
    "menu_findings",
    "menu_problems",
    "menus_for",
    "parse_menu",
    "publish_menu",
    "sold_out_list",
    "sold_out_row",
]

_PAST_TOLERANCE_S = 60
_BODY_FIELDS = ("categories", "groups", "tiles")


def _now() -> datetime:
    return datetime.now(UTC)


def parse_menu(body: dict[str, Any], version: int, store: str | None, at: datetime) -> p.MenuData:
    """The menu of a JSON document (``categories``, ``groups``, ``tiles``) as published.

    Raises:
        ApiError: 422 ``invalid_menu`` when the document does not have the menu's shape.
    """
    unknown = sorted(set(body) - set(_BODY_FIELDS))
    if unknown:
        raise ApiError(422, "invalid_menu", f"unknown field(s): {', '.join(unknown)}")
    try:
        return p.MenuData(
            version=version,
            store=store,
            effective_at=at,
            **{k: body.get(k, []) for k in _BODY_FIELDS},
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ApiError(422, "invalid_menu", f"{where}: {first['msg']}") from exc


@dataclass(frozen=True, slots=True)
class MenuProblem:
    """One reason a menu does not hold together: a machine ``code`` with its ``params``
    (the console says it in zh_CN or en) and ``text`` in English (the API's and CLI's
    ``invalid_menu`` detail)."""

    code: str
    params: dict[str, str | int]
    text: str


def menu_findings(
    menu: p.MenuData, items: dict[str, bool], weighed: frozenset[str] = frozenset()
) -> list[MenuProblem]:
    """What keeps ``menu`` from holding together; ``items``: sku -> active, of the
    catalogue; ``weighed``: the skus sold by weight. Empty when it is sound."""
    problems: list[MenuProblem] = []

    def add(kind: str, text: str, /, **params: str | int) -> None:
        problems.append(MenuProblem(kind, params, text))

    def dupes(codes: list[str], kind: str, what: str, **params: str) -> None:
        seen: set[str] = set()
        for c in codes:
            if c in seen:
                add(kind, f"{what} {c} is listed twice", code=c, **params)
            seen.add(c)

    dupes([c.code for c in menu.categories], "duplicate_category", "category")
    dupes([g.code for g in menu.groups], "duplicate_group", "option group")
    dupes([f"{t.category}/{t.sku}" for t in menu.tiles], "duplicate_tile", "tile")
    groups = {g.code: g for g in menu.groups}
    for g in menu.groups:
        dupes([c.code for c in g.choices], "duplicate_choice", f"choice of {g.code}:", group=g.code)
        defaults = sum(1 for c in g.choices if c.default)
        if not g.choices:
            add("group_no_choices", f"option group {g.code} has no choices", group=g.code)
        elif g.min_choices > len(g.choices):
            add(
                "group_min_unreachable",
                f"option group {g.code} needs {g.min_choices} of its choices",
                group=g.code,
                n=g.min_choices,
            )
        if g.min_choices > g.max_choices:
            add(
                "group_min_above_max",
                f"option group {g.code}: min_choices is above max_choices",
                group=g.code,
            )
        if defaults > g.max_choices:
            add(
                "group_too_many_defaults",
                f"option group {g.code} has more defaults than max_choices",
                group=g.code,
            )
    categories = {c.code for c in menu.categories}
    for t in menu.tiles:
        if t.category not in categories:
            add(
                "tile_no_category",
                f"tile {t.sku}: no category {t.category}",
                sku=t.sku,
                category=t.category,
            )
        if t.sku not in items:
            add("tile_unknown_item", f"tile {t.sku}: no such item", sku=t.sku)
        elif not items[t.sku]:
            add("tile_item_off_sale", f"tile {t.sku}: the item is off sale", sku=t.sku)
        elif t.groups and t.sku in weighed:
            add(
                "tile_weighed_options",
                f"tile {t.sku}: an item sold by weight takes no options",
                sku=t.sku,
            )
        for code in t.groups:
            if code not in groups:
                add(
                    "tile_unknown_group",
                    f"tile {t.sku}: no option group {code}",
                    sku=t.sku,
                    group=code,
                )
        if len(set(t.groups)) != len(t.groups):
            add("tile_group_twice", f"tile {t.sku}: an option group is listed twice", sku=t.sku)
    return problems


def menu_problems(
    menu: p.MenuData, items: dict[str, bool], weighed: frozenset[str] = frozenset()
) -> list[str]:
    """:func:`menu_findings` in English."""
    return [x.text for x in menu_findings(menu, items, weighed)]


def check_menu(
    conn: Connection, body: dict[str, Any], store: str | None, at: datetime
) -> tuple[p.MenuData | None, list[MenuProblem]]:
    """What :func:`publish_menu` would publish from ``body`` (version 1 standing in for
    the real one) and every problem it would refuse it for, against the catalogue read on
    ``conn``; writes nothing (the console's preview)."""
    unknown = sorted(set(body) - set(_BODY_FIELDS))
    if unknown:
        fields = ", ".join(unknown)
        return None, [
            MenuProblem("unknown_field", {"field": fields}, f"unknown field(s): {fields}")
        ]
    try:
        draft = p.MenuData(
            version=1, store=store, effective_at=at, **{k: body.get(k, []) for k in _BODY_FIELDS}
        )
    except ValidationError as exc:
        out = []
        for err in exc.errors()[:10]:
            where = ".".join(str(x) for x in err["loc"])
            out.append(MenuProblem("shape", {"where": where}, f"{where}: {err['msg']}"))
        return None, out
    skus = sorted({t.sku for t in draft.tiles})
    rows = conn.execute(
        select(m.items.c.sku, m.items.c.active, m.items.c.unit).where(m.items.c.sku.in_(skus))
    ).all()
    items = {r.sku: bool(r.active) for r in rows}
    weighed = frozenset(r.sku for r in rows if r.unit == "kg")
    return draft, menu_findings(draft, items, weighed)


def publish_menu(
    db: Database,
    body: dict[str, Any],
    *,
    store: str | None = None,
    effective_at: datetime | None = None,
    actor: Actor = SYSTEM,
) -> p.MenuData:
    """Publishes a menu version for the chain (``store`` None) or one store.

    Raises:
        ApiError: 422 ``invalid_menu`` (the document, with its first problems), 422
            ``naive_time`` / ``effective_in_past``, 404 ``unknown_store``.
    """
    if effective_at is not None and effective_at.tzinfo is None:
        raise ApiError(422, "naive_time", "effective_at needs a UTC offset, e.g. +08:00")
    # The shape first, outside the transaction (version 1 stands in for the real one).
    parse_menu(body, 1, store, effective_at or _now())

    def run(tx: WriteTx) -> p.MenuData:
        now = _now()
        eff = effective_at or now
        if (now - eff).total_seconds() > _PAST_TOLERANCE_S:
            raise ApiError(422, "effective_in_past", f"effective_at {eff.isoformat()} is past")
        if store is not None:
            found = tx.conn.execute(select(m.stores.c.code).where(m.stores.c.code == store))
            if found.first() is None:
                raise ApiError(404, "unknown_store", f"no store {store}")
        checked, findings = check_menu(tx.conn, body, store, eff)
        draft = checked or parse_menu(body, 1, store, eff)
        problems = [x.text for x in findings]
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise ApiError(422, "invalid_menu", "; ".join(problems[:5]) + more)
        stored = draft.model_dump_json(include=set(_BODY_FIELDS))
        version = tx.conn.execute(
            insert(m.menu_versions)
            .values(store_code=store, effective_at=eff, created_at=now, body_json=stored)
            .returning(m.menu_versions.c.id)
        ).scalar_one()
        menu = draft.model_copy(update={"version": int(version)})
        detail = {
            "version": menu.version,
            "effective_at": eff.isoformat(),
            "categories": len(menu.categories),
            "groups": len(menu.groups),
            "tiles": len(menu.tiles),
        }
        write_audit(tx.conn, [audit_row(actor, "menu.publish", None, detail, now, store)])
        feed.append(tx, [feed.Pending("menu", str(menu.version), store, menu)], now)
        return menu

    return db.run_write(run)


def _menu_of(row: Any) -> p.MenuData:
    return p.MenuData(
        version=row.id,
        store=row.store_code,
        effective_at=row.effective_at,
        **json.loads(row.body_json),
    )


def menus_for(conn: Connection, store: str, now: datetime) -> list[p.MenuData]:
    """Per scope (chain-wide, ``store``): the version in effect at ``now`` and every later
    one, oldest first (what a snapshot carries)."""
    mv = m.menu_versions
    out: list[p.MenuData] = []
    for scope in (mv.c.store_code.is_(None), mv.c.store_code == store):
        current = conn.execute(
            select(mv.c.id)
            .where(scope, mv.c.effective_at <= now)
            .order_by(mv.c.effective_at.desc(), mv.c.id.desc())
            .limit(1)
        ).scalar()
        cond = mv.c.effective_at > now
        if current is not None:
            cond = or_(cond, mv.c.id == current)
        rows = conn.execute(select(mv).where(scope, cond).order_by(mv.c.effective_at, mv.c.id))
        out.extend(_menu_of(r) for r in rows)
    return out


def menu_in_effect(conn: Connection, store: str | None, at: datetime) -> p.MenuData | None:
    """The menu a till of ``store`` sells with at ``at`` (its store's version, else the
    chain's); ``store`` None: the chain's."""
    mv = m.menu_versions
    scopes = [mv.c.store_code.is_(None)] if store is None else [mv.c.store_code == store]
    if store is not None:
        scopes.append(mv.c.store_code.is_(None))
    for scope in scopes:
        row = conn.execute(
            select(mv)
            .where(scope, mv.c.effective_at <= at)
            .order_by(mv.c.effective_at.desc(), mv.c.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            return _menu_of(row)
    return None


def sold_out_row(ev_id: Any, pl: p.MenuSoldOut) -> dict[str, Any]:
    """The ``menu_sold_out`` row of a till's report (deduplicated, like every event, by
    its event id)."""
    return {
        "event_id": ev_id,
        "store_code": pl.store,
        "sku": pl.sku,
        "business_date": pl.business_date,
        "sold_out": pl.sold_out,
        "at": pl.at,
        "staff": pl.staff,
        "terminal": pl.terminal,
    }


def sold_out_change(pl: p.MenuSoldOut) -> feed.Pending:
    """The feed change that tells the store's tills of a sold-out report."""
    data = p.SoldOutData(
        store=pl.store,
        sku=pl.sku,
        business_date=pl.business_date,
        sold_out=pl.sold_out,
        at=pl.at,
    )
    return feed.Pending("sold_out", f"{pl.store}:{pl.sku}", pl.store, data)


def sold_out_reports(conn: Connection, store: str, since: date) -> list[p.SoldOutData]:
    """``store``'s latest report per item and business day since ``since`` (what a
    snapshot carries)."""
    so = m.menu_sold_out
    latest = (
        select(so.c.sku, so.c.business_date, func.max(so.c.at).label("at"))
        .where(so.c.store_code == store, so.c.business_date >= since)
        .group_by(so.c.sku, so.c.business_date)
        .subquery()
    )
    rows = conn.execute(
        select(so.c.sku, so.c.business_date, so.c.sold_out, so.c.at)
        .join(
            latest,
            and_(
                so.c.sku == latest.c.sku,
                so.c.business_date == latest.c.business_date,
                so.c.at == latest.c.at,
            ),
        )
        .where(so.c.store_code == store)
        .order_by(so.c.business_date, so.c.sku)
    )
    return [
        p.SoldOutData(
            store=store, sku=r.sku, business_date=r.business_date, sold_out=r.sold_out, at=r.at
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class SoldOut:
    """An item a store has marked sold out for a day (the latest report says so)."""

    sku: str
    at: datetime
    staff: str
    terminal: str


def sold_out_list(conn: Connection, store: str, day: date) -> list[SoldOut]:
    """The items ``store`` has sold out on ``day``: those whose latest report says so."""
    so = m.menu_sold_out
    latest = (
        select(so.c.sku, func.max(so.c.at).label("at"))
        .where(so.c.store_code == store, so.c.business_date == day)
        .group_by(so.c.sku)
        .subquery()
    )
    rows = conn.execute(
        select(so.c.sku, so.c.at, so.c.staff, so.c.terminal, so.c.sold_out)
        .join(latest, and_(so.c.sku == latest.c.sku, so.c.at == latest.c.at))
        .where(so.c.store_code == store, so.c.business_date == day)
        .order_by(so.c.sku)
    )
    return [SoldOut(r.sku, r.at, r.staff, r.terminal) for r in rows if r.sold_out]
