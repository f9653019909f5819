"""Terminal routes: enrolment, push, pull, snapshot and every store's levels in pages, stock
look-up (device token, except enrolment) and the live WebSocket.

Thread rules: plain ``def`` routes run on Starlette's worker threads and each opens its
own transaction; the live hub runs on the event loop (see :mod:`server_stub.live`).
"""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations,
# some of which are module aliases.
import asyncio
import logging
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection, insert, select
from starlette.websockets import WebSocket

from server_stub import auth, feed, ingest, operations, queries
from server_stub import models as m
from server_stub.audit import Actor, audit_row, write_audit
from server_stub.auth import DeviceIdentity
from server_stub.db import Database
from server_stub.deps import (
    HQ,
    CodeQuery,
    Device,
    Reader,
    error_responses,
    hq_context,
    same_store,
)
from server_stub.errors import ApiError, error_body
from sync_client.contract import protocol as p

log = logging.getLogger("chainpos.hq")

ProtocolHeader = Annotated[int | None, Header(alias=p.PROTOCOL_HEADER, ge=0, le=10_000)]
"""The protocol version the terminal speaks (older terminals do not send it)."""

SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]

router = APIRouter(tags=["terminals"])


@router.post(
    "/v1/devices/enroll",
    response_model=p.EnrollResponse,
    responses=error_responses(),
)
def enroll(body: p.EnrollRequest, ctx: HQ) -> p.EnrollResponse:
    """Exchanges a one-time code for a device id, token and receipt secret."""
    out = operations.enroll(ctx.db, ctx.keys, body)
    log.info("enrolled %s (%s) for store %s", out.device_id, body.device_name, out.store)
    return out


@router.post(
    "/v1/sync/push",
    response_model=None,
    responses={
        200: {
            "model": p.PushResponse | p.PushResponseV1,
            "description": "Per-event results, in the protocol version of the request "
            '(`PushResponseV1` for a push with `"protocol": 1`).',
        },
        **error_responses(),
    },
)
async def push(
    body: p.PushRequest,
    device: Device,
    request: Request,
    ctx: HQ,
    protocol: ProtocolHeader = None,
) -> JSONResponse:
    """Applies a batch of outbox events; answers per event, in the protocol version the
    body names (else the header's): a version-1 till gets its results' codes as
    ``reason``."""
    version = p.answer_protocol(body.protocol if "protocol" in body.model_fields_set else protocol)
    # JSON spells a NUL character \u0000; one scan of the raw body (already read and
    # cached) spares walking every event's text when there is none.
    nul_possible = b"\\u0000" in await request.body()
    outcome = await run_in_threadpool(
        ingest.push, ctx.db, device, body.events, nul_possible=nul_possible
    )
    r = outcome.response
    ctx.metrics.pushed(
        r.applied, r.duplicate, r.rejected, outcome.stock_alerts, outcome.member_alerts
    )
    return JSONResponse(p.push_answer(r, version).model_dump(mode="json"))


@router.get(
    "/v1/sync/pull",
    response_class=Response,
    responses={
        200: {
            "model": p.PullResponse,
            "description": "Changes after the cursor.",
        },
        410: {
            "model": p.ResyncRequired | p.ResyncRequiredV1,
            "description": "Cursor unusable: resync (`ResyncRequiredV1` for protocol 1).",
        },
        **error_responses(),
    },
)
def pull(
    device: Device,
    ctx: HQ,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=p.MAX_PULL_LIMIT)] = 1000,
    stock: Literal["all", "own"] = "all",
    store: CodeQuery = None,
    protocol: ProtocolHeader = None,
) -> Response:
    """Changes this device may see with ``seq > after``, oldest first."""
    same_store(device, store)
    if protocol is not None and protocol != p.PROTOCOL_VERSION:
        log.info("device %s pulls with protocol %s", device.device_id, protocol)
    try:
        with ctx.db.read() as conn:
            page = feed.pull(conn, device.store, after, limit, stock)
    except feed.ResyncNeeded as exc:
        ctx.metrics.resync()
        log.warning("device %s: %s", device.device_id, exc.detail)
        answer = p.resync_answer(exc.body(), p.answer_protocol(protocol))
        return JSONResponse(answer.model_dump(mode="json"), 410)
    ctx.metrics.pulled(len(page.bodies), device.device_id, page.next_after)
    return Response(page.to_json(), media_type="application/json")


@router.post(
    "/v1/sync/problems",
    response_model=p.ProblemsAccepted,
    responses=error_responses(),
)
def report_problems(
    body: p.ProblemReport, device: Device, ctx: HQ, protocol: ProtocolHeader = None
) -> p.ProblemsAccepted:
    """Changes the terminal quarantined and settings it refused: stored once per problem
    (a repeated report stores nothing new) and audited, with the terminal's protocol."""
    version = protocol if protocol is not None else body.protocol
    stored = ctx.db.run_write(lambda tx: _store_problems(tx.conn, device, version, body))
    if stored:
        log.warning(
            "device %s (protocol %s) reported %d sync problem(s), first: %s %s: %s",
            device.device_id,
            version,
            stored,
            body.problems[0].kind,
            body.problems[0].key,
            body.problems[0].error,
        )
    return p.ProblemsAccepted(stored=len(body.problems))


def _store_problems(
    conn: Connection, device: DeviceIdentity, version: int, body: p.ProblemReport
) -> int:
    t = m.sync_problems
    ids = [x.id for x in body.problems]
    known = set(
        conn.execute(
            select(t.c.problem_id).where(t.c.device_id == device.device_id, t.c.problem_id.in_(ids))
        ).scalars()
    )
    now = datetime.now(UTC)
    new = [x for x in body.problems if x.id not in known]
    if not new:
        return 0
    conn.execute(
        insert(t),
        [
            {
                "device_id": device.device_id,
                "store_code": device.store,
                "problem_id": x.id,
                "protocol": version,
                "seq": x.seq,
                "kind": x.kind,
                "key": x.key,
                "body": x.body,
                "error": x.error,
                "at": x.at,
                "received_at": now,
            }
            for x in new
        ],
    )
    write_audit(
        conn,
        [
            audit_row(
                Actor.of_device(device),
                "sync.problem",
                None,
                {
                    "problem": x.id,
                    "seq": x.seq,
                    "kind": x.kind,
                    "key": x.key,
                    "error": x.error,
                    "protocol": version,
                },
                now,
            )
            for x in new
        ],
    )
    return len(new)


@router.get(
    "/v1/sync/snapshot",
    response_model=p.Snapshot,
    responses=error_responses(),
)
def snapshot(device: Device, ctx: HQ, store: CodeQuery = None) -> p.Snapshot:
    """The state a terminal needs, to start over from (see ``seq``)."""
    same_store(device, store)
    with ctx.db.read(consistent=True) as conn:
        return queries.snapshot(conn, device.store)


@router.get(
    p.STOCK_PAGES_PATH,
    response_class=Response,
    responses={
        200: {"model": p.StockPage, "description": "A page of every store's levels."},
        **error_responses(),
    },
)
def snapshot_stock(
    _device: Device,
    ctx: HQ,
    after: Annotated[str, Query(max_length=100, pattern=p.STOCK_KEY_PATTERN)] = "",
    limit: Annotated[int, Query(ge=1, le=p.MAX_STOCK_PAGE)] = p.MAX_STOCK_PAGE,
) -> Response:
    """Every store's stock levels after ``after``, a page at a time (levels only, which
    any till may read): what a new or resynced till fetches after the snapshot."""
    with ctx.db.read(consistent=True) as conn:
        page = queries.stock_page(conn, after, limit)
    # Thousands of levels: encoded once by pydantic, not validated again by FastAPI.
    return Response(page.model_dump_json(), media_type="application/json")


@router.get(
    "/v1/stock/{sku}",
    response_model=p.StockLookup,
    responses=error_responses(404),
)
def stock_levels(sku: SkuPath, _who: Reader, ctx: HQ) -> p.StockLookup:
    """On-hand, reserved and available per store (levels only, any store)."""
    with ctx.db.read() as conn:
        return queries.stock_lookup(conn, sku)


@router.websocket("/v1/sync/live")
async def live(ws: WebSocket) -> None:
    ctx = hq_context(ws)
    header = ws.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    try:
        device = await asyncio.to_thread(
            _auth_device, ctx.db, token.strip() if scheme.lower() == "bearer" else None
        )
    except ApiError as exc:
        log.warning("live: refused handshake: %d %s", exc.status, exc.code)
        ctx.metrics.refused(exc.status)
        denial = JSONResponse(error_body(ws, exc), exc.status)
        try:
            await ws.send_denial_response(denial)
        except RuntimeError:  # server without the denial extension
            await ws.close(p.CLOSE_UNAUTHORISED, exc.code)
        return
    await ws.accept()
    await ctx.hub.serve(ws, device)


def _auth_device(db: Database, token: str | None) -> DeviceIdentity:
    with db.read() as conn:
        return auth.authenticate_device(conn, token)
