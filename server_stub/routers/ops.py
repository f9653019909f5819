"""Operations routes: health, HQ's clock and the Prometheus metrics page (no token)."""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations.
import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from server_stub import feed
from server_stub.db import Database
from server_stub.deps import HQ
from server_stub.schemas import HealthOut
from sync_client.contract import protocol as p

log = logging.getLogger("chainpos.hq")

router = APIRouter()


@router.get("/healthz", response_model=HealthOut, tags=["ops"])
def healthz(ctx: HQ) -> Any:
    try:
        with ctx.db.read() as conn:
            seq = feed.state(conn).last_seq
    except Exception as exc:
        log.error("health check: database unreachable: %s", exc)
        return JSONResponse({"status": "unavailable"}, 503)
    return HealthOut(backend=ctx.db.backend, feed_seq=seq)


@router.get("/v1/time", response_model=p.TimeResponse, tags=["terminals"])
def hq_time() -> p.TimeResponse:
    """HQ's clock, for terminals to measure their offset (no token needed)."""
    return p.TimeResponse(server_time=datetime.now(UTC))


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    tags=["ops"],
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text."}},
)
async def metrics_page(ctx: HQ) -> PlainTextResponse:
    st = await asyncio.to_thread(_feed_state, ctx.db)
    text = ctx.metrics.render(
        feed_seq=st.last_seq,
        connections=len(ctx.hub.connections),
        backend=ctx.db.backend,
    )
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")


def _feed_state(db: Database) -> feed.FeedState:
    with db.read() as conn:
        return feed.state(conn)
