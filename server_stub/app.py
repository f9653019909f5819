"""The HQ web application: :func:`create_app` builds it from :class:`Settings`.

Routes:
    ``/v1/devices/enroll``, ``/v1/sync/push``, ``/v1/sync/pull``, ``/v1/sync/snapshot``,
    ``/v1/sync/live`` (WebSocket), ``/v1/stock/{sku}`` and ``/v1/members/...`` (identify,
    sign up, holds) for terminals (device token); ``/v1/admin/...`` for HQ staff tools
    (admin token); ``/healthz``, ``/metrics``, ``/openapi.json``.

Thread rules: plain ``def`` routes run on Starlette's worker threads and each opens its
own transaction; the live hub runs on the event loop (see :mod:`server_stub.live`).
"""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations,
# some of which are local aliases.
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from server_stub import auth, errors, feed, ingest, members, operations, ops_pages, queries
from server_stub.auth import AdminIdentity, DeviceIdentity
from server_stub.db import Database
from server_stub.errors import ERROR_RESPONSES, ApiError
from server_stub.live import Hub
from server_stub.member_keys import MemberKeys
from server_stub.metrics import Metrics
from server_stub.schemas import (
    AuditEntry,
    CatalogImportOut,
    CatalogIn,
    ConfigIn,
    CouponIn,
    DeviceOut,
    EnrollCodeIn,
    EnrollCodeOut,
    HealthOut,
    MemberAddIn,
    MemberAdjustIn,
    MemberCodeIn,
    MemberCodeOut,
    MemberDetail,
    MemberSearchIn,
    MemberSummary,
    PriceSetIn,
    PriceSetOut,
    StaffIn,
    StaffPatch,
    StalePriceReport,
    StockMoveIn,
    StockMoveOut,
    StoreIn,
    SweepOut,
)
from server_stub.settings import Settings
from sync_client.contract import protocol as p

log = logging.getLogger("chainpos.hq")

SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
CodeQuery = Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Z0-9-]+$")]
MemberPath = Annotated[str, Path(min_length=6, max_length=20, pattern=r"^[0-9]+$")]


def _responses(*extra: int) -> dict[int | str, dict[str, Any]]:
    out = dict(ERROR_RESPONSES)
    text = {
        404: "No such thing.",
        409: "Already exists, or the state does not allow it.",
        415: "Wrong Content-Type.",
        429: "Too many requests; try again in a minute.",
    }
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
    keys = settings.member_keys
    if keys is None:
        log.warning("no member keys configured: using keys made up for this process only")
        keys = MemberKeys.generate()
    lookups = members.LookupLimiter(settings.phone_lookups_per_minute)

    async def sweep_holds() -> None:
        while True:
            await asyncio.sleep(settings.hold_sweep_s)
            try:
                metrics.swept(await asyncio.to_thread(members.sweep_expired, database))
            except Exception:
                log.exception("sweeping expired member holds failed; will try again")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        sweeper = asyncio.create_task(sweep_holds()) if settings.hold_sweep_s > 0 else None
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
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
    app.state.member_keys = keys
    errors.install(app)
    app.add_middleware(errors.BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(_CountRefusals, metrics=metrics)
    ops_pages.install(app, settings.ops_pages, database)

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
        metrics.pushed(
            r.applied, r.duplicate, r.rejected, outcome.stock_alerts, outcome.member_alerts
        )
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

    # -- members (terminals) ------------------------------------------------------------

    def counted(op: str, fn: Any, *args: Any) -> Any:
        try:
            out = fn(*args)
        except ApiError as exc:
            metrics.member_request(op, exc.error)
            raise
        metrics.member_request(op, "ok")
        return out

    def limit_phone_lookups(op: str, device: DeviceIdentity) -> None:
        if not lookups.allow(device.device_id):
            metrics.member_request(op, "too_many_lookups")
            raise ApiError(
                429,
                "too_many_lookups",
                f"more than {settings.phone_lookups_per_minute} phone lookups a minute from "
                f"{device.device_id}; scan the member's code instead, or try again shortly",
            )

    @app.post(
        "/v1/members/identify",
        response_model=p.MemberPanel,
        responses=_responses(404, 429),
        tags=["members"],
    )
    def identify_member(body: p.IdentifyRequest, device: Device) -> p.MemberPanel:
        """The member panel for a scanned member code / card code, or a phone number."""
        if body.phone is not None:
            limit_phone_lookups("identify", device)
        return counted("identify", members.identify, database, keys, device, body)  # type: ignore[no-any-return]

    @app.post(
        "/v1/members",
        status_code=201,
        response_model=p.SignUpResponse,
        responses={
            200: {"model": p.SignUpResponse, "description": "Already a member (or a replay)."},
            **_responses(429),
        },
        tags=["members"],
    )
    def sign_up(body: p.SignUpRequest, device: Device, response: Response) -> p.SignUpResponse:
        """A customer joins at the till; idempotent on ``signup_id``."""
        # A sign-up with a known phone answers its member: it counts as a phone lookup.
        limit_phone_lookups("sign_up", device)
        created, panel = counted("sign_up", members.sign_up, database, keys, device, body)
        response.status_code = 201 if created else 200
        return p.SignUpResponse(created=created, member=panel)

    @app.post(
        "/v1/members/holds",
        status_code=201,
        response_model=p.HoldData,
        responses={
            200: {"model": p.HoldData, "description": "This hold exists already (a retry)."},
            **_responses(404, 409),
        },
        tags=["members"],
    )
    def create_hold(body: p.HoldRequest, device: Device, response: Response) -> p.HoldData:
        """Reserves points, stored value or a coupon for the sale being rung up."""
        created, hold = counted("hold", members.create_hold, database, keys, device, body)
        response.status_code = 201 if created else 200
        return hold  # type: ignore[no-any-return]

    @app.get(
        "/v1/members/holds/{hold_id}",
        response_model=p.HoldData,
        responses=_responses(404),
        tags=["members"],
    )
    def get_hold(hold_id: UUID, device: Device) -> p.HoldData:
        """A hold of this device's store, as it is now (e.g. after a crash)."""
        return members.get_hold(database, device, hold_id)

    @app.post(
        "/v1/members/holds/{hold_id}/release",
        response_model=p.HoldData,
        responses=_responses(404, 409),
        tags=["members"],
    )
    def release_hold(hold_id: UUID, device: Device) -> p.HoldData:
        """Gives the hold's value back to the member (idempotent)."""
        return counted("release", members.release_hold, database, device, hold_id)  # type: ignore[no-any-return]

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

    # -- members (admin) ----------------------------------------------------------------

    Admin = Annotated[AdminIdentity, Depends(require_admin)]

    def actor(who: AdminIdentity) -> members.Actor:
        return members.Actor(f"admin:{who.name}")

    @admin.post("/members", status_code=201, response_model=MemberDetail, responses=_responses(409))
    def add_member(body: MemberAddIn, who: Admin) -> MemberDetail:
        return members.add_member(
            database,
            keys,
            actor(who),
            name=body.name,
            phone=body.phone,
            tier=body.tier,
            consent_version=body.consent_version,
        )

    @admin.post("/members/search", response_model=list[MemberSummary], responses=_responses())
    def search_members(body: MemberSearchIn, who: Admin) -> list[MemberSummary]:
        return members.search_members(
            database,
            keys,
            actor(who),
            phone=body.phone,
            name=body.name,
            number=body.number,
            limit=body.limit,
        )

    @admin.get("/members/{number}", response_model=MemberDetail, responses=_responses(404))
    def show_member(number: MemberPath, who: Admin, reveal: bool = False) -> MemberDetail:
        """A member; ``reveal=true`` shows the full phone number (audited)."""
        return members.show_member(database, keys, actor(who), number, reveal=reveal)

    @admin.post(
        "/members/{number}/adjust", response_model=MemberDetail, responses=_responses(404, 409)
    )
    def adjust_member(number: MemberPath, body: MemberAdjustIn, who: Admin) -> MemberDetail:
        return members.adjust_member(
            database,
            keys,
            actor(who),
            number,
            reason=body.reason,
            points=body.points,
            balance_fen=body.balance_fen,
            tier=body.tier,
            active=body.active,
            name=body.name,
        )

    @admin.post("/members/{number}/code", response_model=MemberCodeOut, responses=_responses(404))
    def member_code(number: MemberPath, body: MemberCodeIn, who: Admin) -> MemberCodeOut:
        return members.member_code(
            database,
            keys,
            actor(who),
            number,
            ttl_s=body.ttl_s,
            card=body.card,
            new_card=body.new_card,
        )

    @admin.post(
        "/members/{number}/coupons",
        status_code=201,
        response_model=p.CouponData,
        responses=_responses(404),
    )
    def issue_coupon(number: MemberPath, body: CouponIn, who: Admin) -> p.CouponData:
        return members.issue_coupon(
            database,
            actor(who),
            number,
            name=body.name,
            value_fen=body.value_fen,
            min_spend_fen=body.min_spend_fen,
            valid_from=body.valid_from,
            valid_until=body.valid_until,
        )

    @admin.post("/holds/sweep", response_model=SweepOut, responses=_responses())
    def sweep(_who: Admin) -> SweepOut:
        """Gives back every expired hold now (HQ also does it every ``hold_sweep_s``)."""
        n = members.sweep_expired(database)
        metrics.swept(n)
        return SweepOut(released=n)

    @admin.get("/audit", response_model=list[AuditEntry], responses=_responses())
    def audit(
        member: Annotated[
            str | None, Query(min_length=6, max_length=20, pattern=r"^[0-9]+$")
        ] = None,
        action: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AuditEntry]:
        """The newest audit log entries (sensitive member actions)."""
        return members.audit_entries(database, member=member, action=action, limit=limit)

    app.include_router(admin)
    return app


def _feed_state(db: Database) -> feed.FeedState:
    with db.read() as conn:
        return feed.state(conn)


def _auth_device(db: Database, token: str | None) -> DeviceIdentity:
    with db.read() as conn:
        return auth.authenticate_device(conn, token)
