"""Admin routes for HQ staff tools (admin token): stores, settings, staff, enrolment
codes, devices, the catalogue (JSON or CSV), prices, stock moves and the stale-price
report. The admin CLI calls the same :mod:`server_stub.operations`."""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations.
import logging
from datetime import UTC, datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from server_stub import operations, queries
from server_stub.audit import Actor
from server_stub.deps import HQ, Admin, CodeQuery, error_responses, require_admin
from server_stub.errors import ApiError
from server_stub.schemas import (
    CatalogImportOut,
    CatalogIn,
    ConfigIn,
    DeviceOut,
    EnrollCodeIn,
    EnrollCodeOut,
    PriceSetIn,
    PriceSetOut,
    StaffIn,
    StaffPatch,
    StalePriceReport,
    StockMoveIn,
    StockMoveOut,
    StoreIn,
    StorePatch,
)
from sync_client.contract import protocol as p

log = logging.getLogger("chainpos.hq")

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@router.post("/stores", status_code=201, response_model=p.StoreData, responses=error_responses(409))
def add_store(body: StoreIn, who: Admin, ctx: HQ) -> p.StoreData:
    return operations.add_store(
        ctx.db,
        body.code,
        body.name,
        region=body.region,
        latitude=body.latitude,
        longitude=body.longitude,
        actor=Actor.of_admin(who),
    )


@router.patch("/stores/{code}", response_model=p.StoreData, responses=error_responses(404))
def patch_store(
    code: Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Z0-9-]+$")],
    body: StorePatch,
    who: Admin,
    ctx: HQ,
) -> p.StoreData:
    """Changes a store's name, region or coordinates."""
    return operations.update_store(
        ctx.db,
        code,
        name=body.name,
        region=body.region,
        latitude=body.latitude,
        longitude=body.longitude,
        clear_location=body.clear_location,
        actor=Actor.of_admin(who),
    )


@router.get("/stores", response_model=list[p.StoreData], responses=error_responses())
def list_stores(ctx: HQ) -> list[p.StoreData]:
    with ctx.db.read() as conn:
        return queries.list_stores(conn)


@router.put("/config", response_model=p.ConfigData, responses=error_responses(404))
def set_config(body: ConfigIn, who: Admin, ctx: HQ) -> p.ConfigData:
    return operations.set_config(
        ctx.db, body.store, body.key, body.value, actor=Actor.of_admin(who)
    )


@router.post(
    "/staff", status_code=201, response_model=p.StaffData, responses=error_responses(404, 409)
)
def add_staff(body: StaffIn, who: Admin, ctx: HQ) -> p.StaffData:
    return operations.add_staff(ctx.db, body, actor=Actor.of_admin(who))


@router.get("/staff", response_model=list[p.StaffData], responses=error_responses())
def list_staff(ctx: HQ, store: CodeQuery = None) -> list[p.StaffData]:
    with ctx.db.read() as conn:
        return queries.list_staff(conn, store)


@router.patch("/staff/{number}", response_model=p.StaffData, responses=error_responses(404))
def patch_staff(
    number: Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")],
    body: StaffPatch,
    who: Admin,
    ctx: HQ,
) -> p.StaffData:
    return operations.update_staff(
        ctx.db, number, pin=body.pin, active=body.active, actor=Actor.of_admin(who)
    )


@router.post(
    "/enroll-codes",
    status_code=201,
    response_model=EnrollCodeOut,
    responses=error_responses(404),
)
def enroll_code(body: EnrollCodeIn, who: Admin, ctx: HQ) -> EnrollCodeOut:
    return operations.create_enroll_code(
        ctx.db, body.store, body.ttl_hours, ctx.settings.hq_url, actor=Actor.of_admin(who)
    )


@router.get("/devices", response_model=list[DeviceOut], responses=error_responses())
def list_devices(ctx: HQ, store: CodeQuery = None) -> list[DeviceOut]:
    return operations.list_devices(ctx.db, store)


@router.post(
    "/devices/{device_id}/revoke", response_model=DeviceOut, responses=error_responses(404)
)
def revoke(
    device_id: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Z0-9-]+$")],
    who: Admin,
    ctx: HQ,
) -> DeviceOut:
    out = operations.revoke_device(ctx.db, device_id, actor=Actor.of_admin(who))
    log.info("device %s revoked", device_id)
    return out


@router.post("/catalog/items", response_model=CatalogImportOut, responses=error_responses(409))
def catalog_items(body: CatalogIn, who: Admin, ctx: HQ) -> CatalogImportOut:
    return operations.import_catalog(ctx.db, body.items, actor=Actor.of_admin(who))


@router.post(
    "/catalog/import",
    response_model=CatalogImportOut,
    responses=error_responses(415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def catalog_csv(request: Request, who: Admin, ctx: HQ) -> CatalogImportOut:
    """A catalogue CSV (UTF-8): see ``chainpos-hq catalog import``."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "text/csv":
        raise ApiError(415, "unsupported_media_type", "send the catalogue as text/csv")
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_encoding", "the CSV must be UTF-8") from None
    items = operations.parse_catalog_csv(text)
    return await run_in_threadpool(
        partial(operations.import_catalog, actor=Actor.of_admin(who)), ctx.db, items
    )


@router.post("/prices", status_code=201, response_model=PriceSetOut, responses=error_responses(404))
def set_price(body: PriceSetIn, who: Admin, ctx: HQ) -> PriceSetOut:
    versions = operations.set_price(
        ctx.db,
        body.sku,
        body.price_fen,
        body.effective_at,
        list(body.stores),
        actor=Actor.of_admin(who),
    )
    return PriceSetOut(versions=versions)


@router.post("/stock/receive", response_model=StockMoveOut, responses=error_responses(404))
def stock_receive(body: StockMoveIn, who: Admin, ctx: HQ) -> StockMoveOut:
    level = operations.move_stock(
        ctx.db,
        "receive",
        body.store,
        body.sku,
        body.qty_milli,
        body.reason,
        actor=Actor.of_admin(who),
    )
    return StockMoveOut(level=level)


@router.post("/stock/adjust", response_model=StockMoveOut, responses=error_responses(404))
def stock_adjust(body: StockMoveIn, who: Admin, ctx: HQ) -> StockMoveOut:
    level = operations.move_stock(
        ctx.db,
        "adjust",
        body.store,
        body.sku,
        body.qty_milli,
        body.reason,
        actor=Actor.of_admin(who),
    )
    return StockMoveOut(level=level)


@router.get("/reports/stale-prices", response_model=StalePriceReport, responses=error_responses())
def stale_prices(since: datetime, ctx: HQ, store: CodeQuery = None) -> StalePriceReport:
    if since.tzinfo is None:
        raise ApiError(422, "naive_time", "since needs a UTC offset")
    try:
        since = since.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+00:01 lies before year 1 in UTC
        raise ApiError(422, "invalid_value", "since is out of range") from None
    with ctx.db.read() as conn:
        return queries.stale_report(conn, since, store)
