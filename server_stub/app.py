"""The HQ web application: :func:`create_app` builds it from :class:`Settings`.

Routes, one router per audience (:mod:`server_stub.routers`):
    ``/healthz``, ``/v1/time``, ``/metrics`` (:mod:`~server_stub.routers.ops`);
    ``/v1/devices/enroll``, ``/v1/sync/push``, ``/v1/sync/pull``, ``/v1/sync/snapshot``,
    ``/v1/sync/snapshot/stock``,
    ``/v1/sync/live`` (WebSocket), ``/v1/stock/{sku}`` for terminals (device token,
    :mod:`~server_stub.routers.terminals`); ``/v1/members/...`` (identify, sign up, holds)
    for terminals (:mod:`~server_stub.routers.terminal_members`); ``/v1/admin/...`` for HQ
    staff tools (admin token, :mod:`~server_stub.routers.admin` and
    :mod:`~server_stub.routers.admin_members`); stock proposals and transfers for
    terminals (:mod:`~server_stub.routers.terminal_stock`) and safety stock, alerts,
    transfers and counts for HQ staff (:mod:`~server_stub.routers.admin_stock`);
    ``/v1/channel/reservations...`` for online channels (channel token) and
    ``/v1/pickups/...`` for the pick-up store's tills (:mod:`~server_stub.routers.channels`);
    ``/openapi.json``; the HQ console's pages at ``/console`` (signed-in people,
    :mod:`server_stub.console`).

The routes reach the database, settings, metrics, member keys and live hub through the
:class:`server_stub.deps.HQContext` stored on ``app.state.hq``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server_stub import (
    console,
    device_secrets,
    errors,
    members,
    ops_pages,
    reservations,
    returns,
)
from server_stub.db import Database
from server_stub.deps import HQContext
from server_stub.live import Hub
from server_stub.member_keys import MemberKeys
from server_stub.metrics import Metrics
from server_stub.routers import (
    admin,
    admin_members,
    admin_menu,
    admin_stock,
    channels,
    ops,
    shifts,
    terminal_members,
    terminal_returns,
    terminal_stock,
    terminals,
)
from server_stub.settings import Settings
from sync_client.contract import protocol as p

log = logging.getLogger("chainpos.hq")


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
            try:
                await asyncio.to_thread(returns.sweep_expired_auths, database)
            except Exception:
                log.exception("sweeping expired return authorisations failed; will try again")
            try:
                await asyncio.to_thread(reservations.sweep_expired, database)
            except Exception:
                log.exception("sweeping expired stock reservations failed; will try again")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.member_keys is not None:
            # Receipt secrets stored before they were sealed. Keys made up on the spot
            # would lock them away for good, so only configured keys seal.
            await asyncio.to_thread(device_secrets.seal_plaintext_secrets, database, keys)
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
    app.state.hq = HQContext(
        settings=settings, db=database, metrics=metrics, hub=hub, keys=keys, lookups=lookups
    )
    errors.install(app)
    app.add_middleware(errors.BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(_CountRefusals, metrics=metrics)
    ops_pages.install(app, settings.ops_pages, database)

    for router in (
        ops.router,
        # Before the terminals' /v1/stock/{sku}, which would take "proposals" for a sku.
        terminal_stock.router,
        terminals.router,
        terminal_members.router,
        terminal_returns.router,
        shifts.router,
        admin.router,
        admin_members.router,
        admin_stock.router,
        admin_menu.router,
        channels.router,
    ):
        app.include_router(router)
    app.include_router(console.router)
    app.mount("/console/static", StaticFiles(directory=console.STATIC_DIR), name="console-static")
    app.add_exception_handler(console.ConsoleRefusal, console.refusal_page)
    return app
