"""Admin routes for the menu (admin token): publish a menu version, read the one in force,
list a store's sold-out items. The ``chainpos-hq menu`` commands call the same
:mod:`server_stub.menu`."""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations.
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from server_stub import menu
from server_stub.audit import Actor
from server_stub.deps import HQ, Admin, CodeQuery, error_responses, require_admin
from sync_client.contract import protocol as p

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


class MenuPublishIn(BaseModel):
    """``menu``: the menu document (``categories``, ``groups``, ``tiles``, as for
    ``chainpos-hq menu import``); ``store`` absent: chain-wide; ``effective_at`` absent:
    now."""

    model_config = ConfigDict(extra="forbid")

    menu: dict[str, Any]
    store: p.Code | None = None
    effective_at: AwareDatetime | None = None


class SoldOutItem(BaseModel):
    sku: str
    at: datetime
    staff: str
    terminal: str


class SoldOutList(BaseModel):
    store: str
    business_date: date
    items: Annotated[list[SoldOutItem], Field(max_length=100_000)]


@router.post("/menus", status_code=201, response_model=p.MenuData, responses=error_responses(404))
def publish_menu(body: MenuPublishIn, who: Admin, ctx: HQ) -> p.MenuData:
    return menu.publish_menu(
        ctx.db,
        body.menu,
        store=body.store,
        effective_at=body.effective_at,
        actor=Actor.of_admin(who),
    )


@router.get("/menus/current", response_model=p.MenuData | None, responses=error_responses())
def current_menu(ctx: HQ, store: CodeQuery = None) -> p.MenuData | None:
    """The menu in force now as ``store``'s tills see it (the chain's without a store);
    null when none was published."""
    with ctx.db.read() as conn:
        return menu.menu_in_effect(conn, store, datetime.now(UTC))


@router.get("/sold-out", response_model=SoldOutList, responses=error_responses())
def sold_out(
    ctx: HQ, store: Annotated[p.Code, Query()], day: Annotated[date, Query(alias="date")]
) -> SoldOutList:
    """The items ``store`` marked sold out (估清) on ``date`` (its business day)."""
    with ctx.db.read() as conn:
        rows = menu.sold_out_list(conn, store, day)
    return SoldOutList(
        store=store,
        business_date=day,
        items=[SoldOutItem(sku=r.sku, at=r.at, staff=r.staff, terminal=r.terminal) for r in rows],
    )
