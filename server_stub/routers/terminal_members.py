"""Member routes for terminals (device token): identify, sign-up and holds.

Each answer is counted per operation in the member request metrics; phone look-ups
(identify by phone, sign-up) are limited per device (see :mod:`server_stub.deps`).
"""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations.
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import Response

from server_stub import members
from server_stub.deps import HQ, Device, counted, error_responses, limit_phone_lookups
from sync_client.contract import protocol as p

router = APIRouter(tags=["members"])


@router.post(
    "/v1/members/identify",
    response_model=p.MemberPanel,
    responses=error_responses(404, 429),
)
def identify_member(body: p.IdentifyRequest, device: Device, ctx: HQ) -> p.MemberPanel:
    """The member panel for a scanned member code / card code, or a phone number."""
    if body.phone is not None:
        limit_phone_lookups(ctx, "identify", device)
    return counted(ctx, "identify", members.identify, ctx.db, ctx.keys, device, body)


@router.post(
    "/v1/members",
    status_code=201,
    response_model=p.SignUpResponse,
    responses={
        200: {"model": p.SignUpResponse, "description": "Already a member (or a replay)."},
        **error_responses(429),
    },
)
def sign_up(body: p.SignUpRequest, device: Device, response: Response, ctx: HQ) -> p.SignUpResponse:
    """A customer joins at the till; idempotent on ``signup_id``."""
    # A sign-up with a known phone answers its member: it counts as a phone lookup.
    limit_phone_lookups(ctx, "sign_up", device)
    created, panel = counted(ctx, "sign_up", members.sign_up, ctx.db, ctx.keys, device, body)
    response.status_code = 201 if created else 200
    return p.SignUpResponse(created=created, member=panel)


@router.post(
    "/v1/members/holds",
    status_code=201,
    response_model=p.HoldData,
    responses={
        200: {"model": p.HoldData, "description": "This hold exists already (a retry)."},
        **error_responses(404, 409),
    },
)
def create_hold(body: p.HoldRequest, device: Device, response: Response, ctx: HQ) -> p.HoldData:
    """Reserves points, stored value or a coupon for the sale being rung up."""
    created, hold = counted(ctx, "hold", members.create_hold, ctx.db, ctx.keys, device, body)
    response.status_code = 201 if created else 200
    return hold


@router.get(
    "/v1/members/holds/{hold_id}",
    response_model=p.HoldData,
    responses=error_responses(404),
)
def get_hold(hold_id: UUID, device: Device, ctx: HQ) -> p.HoldData:
    """A hold of this device's store, as it is now (e.g. after a crash)."""
    return members.get_hold(ctx.db, device, hold_id)


@router.post(
    "/v1/members/holds/{hold_id}/release",
    response_model=p.HoldData,
    responses=error_responses(404, 409),
)
def release_hold(hold_id: UUID, device: Device, ctx: HQ) -> p.HoldData:
    """Gives the hold's value back to the member (idempotent)."""
    return counted(ctx, "release", members.release_hold, ctx.db, device, hold_id)
