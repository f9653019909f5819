"""The menu as the checkout screen sells from it: tiles, drink options, sold out (估清).

The menu in force is HQ's (:mod:`pos_app.localdb.menu`): a store's own version before the
chain's, switching at its ``effective_at`` like prices. Tiles carry the item's price in
force when the menu is built; a tap prices the item again (:meth:`CheckoutService.
add_menu_item`), so a price change between the two is never missed. Parts of the menu the
till cannot use were reported when they arrived and are left out here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Engine

from pos_app.domain.cart import MILLI, CartLine, Unit
from pos_app.domain.ids import uuid7
from pos_app.domain.menu import (
    Category,
    Menu,
    OptionChoice,
    OptionGroup,
    Tile,
    choose,
)
from pos_app.localdb import catalog as catalog_repo
from pos_app.localdb import menu as menu_repo
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.models import OutboxEvent
from pos_app.localdb.store import audit
from pos_app.services.auth import StaffMember
from pos_app.services.catalog import CatalogService
from pos_app.services.checkout import CheckoutService, SaleDraft
from pos_app.services.errors import CheckoutError
from pos_app.services.ports import Clock, TerminalIdentity
from pos_app.services.shifts import business_date_of
from sync_client.contract import protocol as p

__all__ = ["MenuService"]

log = logging.getLogger("chainpos.menu")


def _groups(menu: p.MenuData) -> dict[str, OptionGroup]:
    """The usable option groups (a group with no choices is left out)."""
    out: dict[str, OptionGroup] = {}
    for g in menu.groups:
        if not g.choices or g.code in out:
            continue
        choices = tuple(
            OptionChoice(c.code, c.name_zh, c.name_en, c.price_fen, c.default) for c in g.choices
        )
        low = min(g.min_choices, len(choices))
        out[g.code] = OptionGroup(
            g.code, g.name_zh, g.name_en, low, max(low, g.max_choices), choices
        )
    return out


class MenuService:
    """Reads the menu in force and marks items sold out. Thread: the GUI's (short reads
    and one small write transaction per mark)."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        identity: TerminalIdentity,
        catalog: CatalogService,
        checkout: CheckoutService,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._identity = identity
        self._catalog = catalog
        self._checkout = checkout

    def business_date(self) -> str:
        return business_date_of(self._clock.now()).isoformat()

    def version_in_force(self) -> int | None:
        """The menu version in force now (one indexed query)."""
        with read_session(self._engine) as session:
            return menu_repo.menu_version_in_force(
                session, self._identity.store_code, self._clock.now()
            )

    def menu(self) -> Menu | None:
        """The menu in force now, tiles priced now and marked sold out as they are today;
        None when HQ sent none."""
        now = self._clock.now()
        store = self._identity.store_code
        with read_session(self._engine) as session:
            found = menu_repo.menu_in_force(session, store, now)
            if found is None:
                return None
            data = found.menu
            rows = catalog_repo.find_by_skus(
                session, sorted({t.sku for t in data.tiles}), store, now
            )
            sold_out = menu_repo.sold_out_skus(session, business_date_of(now).isoformat())
        return self._build(data, rows, sold_out)

    def _build(
        self,
        data: p.MenuData,
        rows: Mapping[str, catalog_repo.CatalogRow],
        sold_out: set[str],
    ) -> Menu:
        groups = _groups(data)
        by_category: dict[str, list[Tile]] = {c.code: [] for c in data.categories}
        for t in data.tiles:
            row = rows.get(t.sku)
            if row is None or row.price_fen is None or row.price_version is None:
                continue  # reported when the menu arrived; unpriced items cannot sell
            if t.category not in by_category:
                continue
            item = self._catalog.priced_row(row)
            tile_groups = tuple(groups[c] for c in t.groups if c in groups)
            if len(tile_groups) != len(t.groups):
                continue  # a drink without one of its groups would sell wrong
            if tile_groups and item.unit is not Unit.PIECE:
                continue  # options are per cup: a weighed item takes none (reported)
            by_category[t.category].append(
                Tile(item, t.category, t.colour, t.image, tile_groups, t.sku in sold_out)
            )
        categories = tuple(
            Category(c.code, c.name_zh, c.name_en, tuple(by_category[c.code]))
            for c in data.categories
            if by_category.get(c.code)
        )
        return Menu(data.version, categories)

    def is_sold_out(self, sku: str) -> bool:
        """Whether ``sku`` is marked sold out today."""
        with read_session(self._engine) as session:
            today = business_date_of(self._clock.now()).isoformat()
            return sku in menu_repo.sold_out_skus(session, today)

    def add(
        self,
        draft: SaleDraft,
        menu: Menu,
        tile: Tile,
        selected: Mapping[str, Sequence[str]] | None = None,
        qty_milli: int = MILLI,
    ) -> CartLine:
        """Adds ``qty_milli`` of ``tile``'s item (one piece; a weighed item's weight) with
        the options ``selected`` (group code -> choice codes; None: the defaults), priced
        now.

        Raises:
            MenuError: the choice breaks a group's limits.
            CheckoutError: ``sold_out`` (marked sold out today), ``menu_changed`` (a newer
                menu came into force: take the tile from the new one).
            ScanError / CartError: as for any item (no price, too many lines).
        """
        options = choose(
            tile.groups,
            selected if selected is not None else {g.code: g.defaults() for g in tile.groups},
        )
        with read_session(self._engine) as session:
            now = self._clock.now()
            if tile.item.sku in menu_repo.sold_out_skus(session, business_date_of(now).isoformat()):
                raise CheckoutError(
                    "sold_out", f"{tile.item.sku} is sold out", name=tile.item.name_zh
                )
            if options:
                version = menu_repo.menu_version_in_force(session, self._identity.store_code, now)
                if version != menu.version:
                    raise CheckoutError("menu_changed", f"menu {version} is in force now")
        return self._checkout.add_menu_item(
            draft, tile.item.item_id, options, menu.version if options else None, qty_milli
        )

    def again(self, draft: SaleDraft, line_no: int) -> CartLine:
        """One more of a line, with the same options (再来一份), priced now."""
        line = draft.cart.line(line_no)
        with read_session(self._engine) as session:
            now = self._clock.now()
            if line.item.sku in menu_repo.sold_out_skus(session, business_date_of(now).isoformat()):
                raise CheckoutError(
                    "sold_out", f"{line.item.sku} is sold out", name=line.item.name_zh
                )
        if line.fixed_amount_fen is not None or line.item.unit.value != "piece":
            raise CheckoutError("not_repeatable", "a weighed line cannot be repeated")
        return self._checkout.add_menu_item(
            draft, line.item.item_id, line.options, line.menu_version
        )

    def set_sold_out(self, sku: str, sold_out: bool, staff: StaffMember) -> None:
        """Marks ``sku`` sold out for today (估清), or back on sale, and tells HQ (the mark
        and its event in one transaction)."""
        now: datetime = self._clock.now()
        day = business_date_of(now)
        ident = self._identity
        event = p.MenuSoldOut(
            store=ident.store_code,
            terminal=ident.terminal_id,
            sku=sku,
            business_date=day,
            sold_out=sold_out,
            staff=staff.number,
            at=now,
        )
        with write_session(self._engine) as session:
            menu_repo.mark_sold_out(session, sku, day.isoformat(), sold_out, now, staff.number)
            session.add(
                OutboxEvent(
                    event_id=str(uuid7()),
                    type=event.type,
                    occurred_at=now,
                    payload=event.model_dump_json(),
                    state="pending",
                    attempts=0,
                )
            )
            audit(session, now, staff.number, event.type, sku=sku, sold_out=sold_out)
            session.commit()
        log.info("menu: %s %s", sku, "sold out" if sold_out else "back on sale")
