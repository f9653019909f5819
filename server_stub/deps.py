"""What HQ's routers share: the app's context, token checks, store scoping, the per-op
member counters, the phone look-up limit and the documented error answers.

Routes reach the database, settings, metrics and live hub through the :class:`HQContext`
that :func:`server_stub.app.create_app` stores on ``app.state.hq``, never through module
globals, so two apps in one process (tests, the embedded HQ) never share state.
"""

# No ``from __future__ import annotations``: FastAPI must resolve the dependency
# annotations at import.
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from server_stub import auth, reservations
from server_stub.auth import AdminIdentity, DeviceIdentity
from server_stub.db import Database
from server_stub.errors import ERROR_MODEL, ERROR_RESPONSES, ApiError
from server_stub.live import Hub
from server_stub.member_keys import MemberKeys
from server_stub.members.identify import LookupLimiter
from server_stub.metrics import Metrics
from server_stub.settings import Settings

__all__ = [
    "HQ",
    "Admin",
    "Channel",
    "CodeQuery",
    "Device",
    "HQContext",
    "Reader",
    "counted",
    "error_responses",
    "hq_context",
    "limit_phone_lookups",
    "require_admin",
    "require_channel",
    "require_device",
    "require_reader",
    "same_store",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HQContext:
    """Everything a route needs from the running app; built once by ``create_app``."""

    settings: Settings
    db: Database
    metrics: Metrics
    hub: Hub
    keys: MemberKeys
    lookups: LookupLimiter


def hq_context(conn: HTTPConnection) -> HQContext:
    """The context of the app serving this request or WebSocket."""
    ctx: HQContext = conn.app.state.hq
    return ctx


HQ = Annotated[HQContext, Depends(hq_context)]

CodeQuery = Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Z0-9-]+$")]


def error_responses(*extra: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route: the common ones plus ``extra`` statuses."""
    out = dict(ERROR_RESPONSES)
    text = {
        404: "No such thing.",
        409: "Already exists, or the state does not allow it.",
        415: "Wrong Content-Type.",
        429: "Too many requests; try again in a minute.",
    }
    for status in extra:
        out[status] = {"model": ERROR_MODEL, "description": text.get(status, "Refused.")}
    return out


# -- tokens -------------------------------------------------------------------------------

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
channel_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="channelToken",
    description="An online channel's token from `chainpos-hq channel add` (`cpc_...`), "
    "scoped to the stores the channel sells from.",
)
Creds = HTTPAuthorizationCredentials | None


def require_device(creds: Annotated[Creds, Security(device_scheme)], ctx: HQ) -> DeviceIdentity:
    with ctx.db.read() as conn:
        return auth.authenticate_device(conn, creds.credentials if creds else None)


def require_admin(creds: Annotated[Creds, Security(admin_scheme)], ctx: HQ) -> AdminIdentity:
    with ctx.db.read() as conn:
        return auth.authenticate_admin(
            conn, creds.credentials if creds else None, datetime.now(UTC)
        )


def require_reader(
    creds: Annotated[Creds, Security(device_scheme)], ctx: HQ
) -> DeviceIdentity | AdminIdentity:
    token = creds.credentials if creds else None
    with ctx.db.read() as conn:
        if token and token.startswith(auth.ADMIN_TOKEN_PREFIX):
            return auth.authenticate_admin(conn, token, datetime.now(UTC))
        return auth.authenticate_device(conn, token)


def require_channel(
    creds: Annotated[Creds, Security(channel_scheme)], ctx: HQ
) -> reservations.ChannelIdentity:
    with ctx.db.read() as conn:
        return reservations.authenticate_channel(conn, creds.credentials if creds else None)


Device = Annotated[DeviceIdentity, Depends(require_device)]
Channel = Annotated[reservations.ChannelIdentity, Depends(require_channel)]
Admin = Annotated[AdminIdentity, Depends(require_admin)]
Reader = Annotated[DeviceIdentity | AdminIdentity, Depends(require_reader)]


def same_store(device: DeviceIdentity, store: str | None) -> None:
    """Refuses a device asking for another store's data."""
    if store is not None and store != device.store:
        raise ApiError(
            403,
            "wrong_store",
            f"device {device.device_id} acts only for store {device.store}",
        )


# -- member requests ----------------------------------------------------------------------


def counted(ctx: HQContext, op: str, fn: Callable[..., T], *args: Any) -> T:
    """Runs ``fn(*args)`` and counts its outcome (``ok`` or the refusal's error) under
    ``op`` in the member request metrics."""
    try:
        out = fn(*args)
    except ApiError as exc:
        ctx.metrics.member_request(op, exc.code)
        raise
    ctx.metrics.member_request(op, "ok")
    return out


def limit_phone_lookups(ctx: HQContext, op: str, device: DeviceIdentity) -> None:
    """Refuses (429) a device's phone look-up past the per-minute limit."""
    if not ctx.lookups.allow(device.device_id):
        ctx.metrics.member_request(op, "too_many_lookups")
        raise ApiError(
            429,
            "too_many_lookups",
            f"more than {ctx.settings.phone_lookups_per_minute} phone lookups a minute from "
            f"{device.device_id}; scan the member's code instead, or try again shortly",
            per_minute=ctx.settings.phone_lookups_per_minute,
        )
