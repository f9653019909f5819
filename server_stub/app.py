"""The HQ web application: :func:`create_app` builds it from :class:`Settings`.

Routes:
    ``/v1/devices/enroll``, ``/v1/sync/push``, ``/v1/sync/pull``, ``/v1/sync/snapshot``,
    ``/v1/sync/live`` (WebSocket) and ``/v1/stock/{sku}`` for terminals (device token);
    ``/v1/admin/...`` for HQ staff tools (admin token); ``/healthz``, ``/metrics``,
    ``/openapi.json``.

Thread rules: plain ``def`` routes run on Starlette's worker threads and each opens its
own transaction; the live hub runs on the event loop (see :mod:`server_stub.live`).
"""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations,
# some of which are local aliases.
import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from server_stub import auth, errors, feed, ingest, operations, queries
from server_stub.auth import AdminIdentity, DeviceIdentity
from server_stub.db import Database
from server_stub.errors import ERROR_RESPONSES, ApiError
from server_stub.live import Hub
from server_stub.metrics import Metrics
from server_stub.schemas import (
    CatalogImportOut,
    CatalogIn,
    ConfigIn,
    DeviceOut,
    EnrollCodeIn,
    EnrollCodeOut,
    HealthOut,
    PriceSetIn,
    PriceSetOut,
    StaffIn,
    StaffPatch,
    StalePriceReport,
    StockMoveIn,
    StockMoveOut,
    StoreIn,
)
from server_stub.settings import Settings
from sync_client import protocol as p

log = logging.getLogger("chainpos.hq")

SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
CodeQuery = Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Z0-9-]+$")]


def _responses(*extra: int) -> dict[int | str, dict[str, Any]]:
    out = dict(ERROR_RESPONSES)
    text = {404: "No such thing.", 409: "Already exists.", 415: "Wrong Content-Type."}
    for status in extra:
        out[status] = {"model": p.ErrorBody, "description": text.get(status, "Refused.")}
    return out


class _CountRefusals:
    """ASGI middleware: counts 4xx answers for the metrics page."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
                self.metrics.refused(message["status"])
            await send(message)

        await self.app(scope, receive, counting_send)


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    """Builds the HQ app. It uses ``db`` if given (and leaves it open), else opens
    ``settings.db_url`` and closes it at shutdown. The schema must be migrated already
    (:func:`server_stub.db.migrate`)."""
    owns_db = db is None
    database = db if db is not None else Database(settings.db_url)
    metrics = Metrics()
    hub = Hub(database, settings.live, metrics)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            if owns_db:
                database.dispose()

    app = FastAPI(
        title="ChainPOS HQ",
        version=f"protocol {p.PROTOCOL_VERSION}",
        description="The chain's source of truth: sync contract for terminals, admin API.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.db = database
    app.state.hub = hub
    app.state.metrics = metrics
    errors.install(app)
    app.add_middleware(errors.BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(_CountRefusals, metrics=metrics)

    device_scheme = HTTPBearer(
        auto_error=False,
        scheme_name="deviceToken",
        description="The token a terminal received at enrolment.",
    )
    admin_scheme = HTTPBearer(
        auto_error=False,
        scheme_name="adminToken",
        description="An admin token from `chainpos-hq admin token create` (role hq_admin).",
    )
    Creds = HTTPAuthorizationCredentials | None

    def require_device(creds: Annotated[Creds, Security(device_scheme)]) -> DeviceIdentity:
        with database.read() as conn:
            return auth.authenticate_device(conn, creds.credentials if creds else None)

    def require_admin(creds: Annotated[Creds, Security(admin_scheme)]) -> AdminIdentity:
        with database.read() as conn:
            return auth.authenticate_admin(
                conn, creds.credentials if creds else None, datetime.now(UTC)
            )

    def require_reader(
        creds: Annotated[Creds, Security(device_scheme)],
    ) -> DeviceIdentity | AdminIdentity:
        token = creds.credentials if creds else None
        with database.read() as conn:
            if token and token.startswith(auth.ADMIN_TOKEN_PREFIX):
                return auth.authenticate_admin(conn, token, datetime.now(UTC))
            return auth.authenticate_device(conn, token)

    Device = Annotated[DeviceIdentity, Depends(require_device)]

    def same_store(device: DeviceIdentity, store: str | None) -> None:
        if store is not None and store != device.store:
            raise ApiError(
                403,
                "wrong_store",
                f"device {device.device_id} acts only for store {device.store}",
            )

    # -- operations ---------------------------------------------------------------------

    @app.get("/healthz", response_model=HealthOut, tags=["ops"])
    def healthz() -> Any:
        try:
            with database.read() as conn:
                seq = feed.state(conn).last_seq
        except Exception as exc:
            log.error("health check: database unreachable: %s", exc)
            return JSONResponse({"status": "unavailable"}, 503)
        return HealthOut(backend=database.backend, feed_seq=seq)

    @app.get("/v1/time", response_model=p.TimeResponse, tags=["terminals"])
    def hq_time() -> p.TimeResponse:
        """HQ's clock, for terminals to measure their offset (no token needed)."""
        return p.TimeResponse(server_time=datetime.now(UTC))

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        tags=["ops"],
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text."}},
    )
    async def metrics_page() -> PlainTextResponse:
        st = await asyncio.to_thread(_feed_state, database)
        text = metrics.render(
            feed_seq=st.last_seq,
            connections=len(hub.connections),
            backend=database.backend,
        )
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- terminals ----------------------------------------------------------------------

    @app.post(
        "/v1/devices/enroll",
        response_model=p.EnrollResponse,
        responses=_responses(),
        tags=["terminals"],
    )
    def enroll(body: p.EnrollRequest) -> p.EnrollResponse:
        """Exchanges a one-time code for a device id, token and receipt secret."""
        out = operations.enroll(database, body)
        log.info("enrolled %s (%s) for store %s", out.device_id, body.device_name, out.store)
        return out

    @app.post(
        "/v1/sync/push",
        response_model=p.PushResponse,
        responses=_responses(),
        tags=["terminals"],
    )
    async def push(body: p.PushRequest, device: Device, request: Request) -> p.PushResponse:
        """Applies a batch of outbox events; answers per event."""
        # JSON spells a NUL character \u0000; one scan of the raw body (already read and
        # cached) spares walking every event's text when there is none.
        nul_possible = b"\\u0000" in await request.body()
        outcome = await run_in_threadpool(
            ingest.push, database, device, body.events, nul_possible=nul_possible
        )
        r = outcome.response
        metrics.pushed(r.applied, r.duplicate, r.rejected, outcome.stock_alerts)
        return r

    @app.get(
        "/v1/sync/pull",
        response_class=Response,
        responses={
            200: {
                "model": p.PullResponse,
                "description": "Changes after the cursor.",
            },
            410: {"model": p.ResyncRequired, "description": "Cursor unusable: resync."},
            **_responses(),
        },
        tags=["terminals"],
    )
    def pull(
        device: Device,
        after: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=p.MAX_PULL_LIMIT)] = 1000,
        stock: Literal["all", "own"] = "all",
        store: CodeQuery = None,
    ) -> Response:
        """Changes this device may see with ``seq > after``, oldest first."""
        same_store(device, store)
        try:
            with database.read() as conn:
                page = feed.pull(conn, device.store, after, limit, stock)
        except feed.ResyncNeeded as exc:
            metrics.resync()
            log.warning("device %s: %s", device.device_id, exc.detail)
            return JSONResponse(exc.body().model_dump(mode="json"), 410)
        metrics.pulled(len(page.bodies), device.device_id, page.next_after)
        return Response(page.to_json(), media_type="application/json")

    @app.get(
        "/v1/sync/snapshot",
        response_model=p.Snapshot,
        responses=_responses(),
        tags=["terminals"],
    )
    def snapshot(device: Device, store: CodeQuery = None) -> p.Snapshot:
        """The state a terminal needs, to start over from (see ``seq``)."""
        same_store(device, store)
        with database.read(consistent=True) as conn:
            return queries.snapshot(conn, device.store)

    @app.get(
        "/v1/stock/{sku}",
        response_model=p.StockLookup,
        responses=_responses(404),
        tags=["terminals"],
    )
    def stock_levels(
        sku: SkuPath,
        _who: Annotated[DeviceIdentity | AdminIdentity, Depends(require_reader)],
    ) -> p.StockLookup:
        """On-hand, reserved and available per store (levels only, any store)."""
        with database.read() as conn:
            return queries.stock_lookup(conn, sku)

    @app.websocket("/v1/sync/live")
    async def live(ws: WebSocket) -> None:
        header = ws.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        try:
            device = await asyncio.to_thread(
                _auth_device, database, token.strip() if scheme.lower() == "bearer" else None
            )
        except ApiError as exc:
            log.warning("live: refused handshake: %d %s", exc.status, exc.error)
            metrics.refused(exc.status)
            denial = JSONResponse({"error": exc.error, "detail": exc.detail}, exc.status)
            try:
                await ws.send_denial_response(denial)
            except RuntimeError:  # server without the denial extension
                await ws.close(p.CLOSE_UNAUTHORISED, exc.error)
            return
        await ws.accept()
        await hub.serve(ws, device)

    # -- admin --------------------------------------------------------------------------

    admin = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])

    @admin.post("/stores", status_code=201, response_model=p.StoreData, responses=_responses(409))
    def add_store(body: StoreIn) -> p.StoreData:
        return operations.add_store(database, body.code, body.name)

    @admin.get("/stores", response_model=list[p.StoreData], responses=_responses())
    def list_stores() -> list[p.StoreData]:
        with database.read() as conn:
            return queries.list_stores(conn)

    @admin.put("/config", response_model=p.ConfigData, responses=_responses(404))
    def set_config(body: ConfigIn) -> p.ConfigData:
        return operations.set_config(database, body.store, body.key, body.value)

    @admin.post(
        "/staff", status_code=201, response_model=p.StaffData, responses=_responses(404, 409)
    )
    def add_staff(body: StaffIn) -> p.StaffData:
        return operations.add_staff(database, body)

    @admin.get("/staff", response_model=list[p.StaffData], responses=_responses())
    def list_staff(store: CodeQuery = None) -> list[p.StaffData]:
        with database.read() as conn:
            return queries.list_staff(conn, store)

    @admin.patch("/staff/{number}", response_model=p.StaffData, responses=_responses(404))
    def patch_staff(
        number: Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")],
        body: StaffPatch,
    ) -> p.StaffData:
        return operations.update_staff(database, number, pin=body.pin, active=body.active)

    @admin.post(
        "/enroll-codes",
        status_code=201,
        response_model=EnrollCodeOut,
        responses=_responses(404),
    )
    def enroll_code(body: EnrollCodeIn) -> EnrollCodeOut:
        return operations.create_enroll_code(database, body.store, body.ttl_hours, settings.hq_url)

    @admin.get("/devices", response_model=list[DeviceOut], responses=_responses())
    def list_devices(store: CodeQuery = None) -> list[DeviceOut]:
        return operations.list_devices(database, store)

    @admin.post("/devices/{device_id}/revoke", response_model=DeviceOut, responses=_responses(404))
    def revoke(
        device_id: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Z0-9-]+$")],
    ) -> DeviceOut:
        out = operations.revoke_device(database, device_id)
        log.info("device %s revoked", device_id)
        return out

    @admin.post("/catalog/items", response_model=CatalogImportOut, responses=_responses(409))
    def catalog_items(body: CatalogIn) -> CatalogImportOut:
        return operations.import_catalog(database, body.items)

    @admin.post(
        "/catalog/import",
        response_model=CatalogImportOut,
        responses=_responses(415),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
    )
    async def catalog_csv(request: Request) -> CatalogImportOut:
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
        return await run_in_threadpool(operations.import_catalog, database, items)

    @admin.post("/prices", status_code=201, response_model=PriceSetOut, responses=_responses(404))
    def set_price(body: PriceSetIn) -> PriceSetOut:
        versions = operations.set_price(
            database, body.sku, body.price_fen, body.effective_at, list(body.stores)
        )
        return PriceSetOut(versions=versions)

    @admin.post("/stock/receive", response_model=StockMoveOut, responses=_responses(404))
    def stock_receive(body: StockMoveIn) -> StockMoveOut:
        level = operations.move_stock(
            database, "receive", body.store, body.sku, body.qty_milli, body.reason
        )
        return StockMoveOut(level=level)

    @admin.post("/stock/adjust", response_model=StockMoveOut, responses=_responses(404))
    def stock_adjust(body: StockMoveIn) -> StockMoveOut:
        level = operations.move_stock(
            database, "adjust", body.store, body.sku, body.qty_milli, body.reason
        )
        return StockMoveOut(level=level)

    @admin.get("/reports/stale-prices", response_model=StalePriceReport, responses=_responses())
    def stale_prices(since: datetime, store: CodeQuery = None) -> StalePriceReport:
        if since.tzinfo is None:
            raise ApiError(422, "naive_time", "since needs a UTC offset")
        try:
            since = since.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00+00:01 lies before year 1 in UTC
            raise ApiError(422, "invalid_value", "since is out of range") from None
        with database.read() as conn:
            return queries.stale_report(conn, since, store)

    app.include_router(admin)
    return app


def _feed_state(db: Database) -> feed.FeedState:
    with db.read() as conn:
        return feed.state(conn)


def _auth_device(db: Database, token: str | None) -> DeviceIdentity:
    with db.read() as conn:
        return auth.authenticate_device(conn, token)
