"""Return routes for terminals (device token): find a sale to return, and HQ's return
authorisations (shaped like the member holds routes).

Any store's device may look up and authorise a return of any store's sale (cross-store
returns are the point); an authorisation is always for the asking device's own store.
"""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations.
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import Response

from server_stub import returns
from server_stub.deps import HQ, Device, counted, error_responses
from sync_client.contract import protocol as p

router = APIRouter(tags=["returns"])


@router.post(
    "/v1/returns/lookup",
    response_model=p.SaleLookupResponse,
    responses=error_responses(404),
)
def lookup_sales(body: p.SaleLookupRequest, device: Device, ctx: HQ) -> p.SaleLookupResponse:
    """Sales to return, by receipt QR (verified), receipt number or member, with every
    earlier return in every store."""
    return counted(ctx, "return_lookup", returns.lookup, ctx.db, ctx.keys, device, body)


@router.post(
    "/v1/returns/authorisations",
    status_code=201,
    response_model=p.ReturnAuthData,
    responses={
        200: {"model": p.ReturnAuthData, "description": "This authorisation exists (a retry)."},
        **error_responses(404, 409),
    },
)
def authorise_return(
    body: p.ReturnAuthRequest, device: Device, response: Response, ctx: HQ
) -> p.ReturnAuthData:
    """Reserves the quantities of a return being rung up at this device's store."""
    created, data = counted(ctx, "return_auth", returns.authorise, ctx.db, device, body)
    response.status_code = 201 if created else 200
    return data


@router.get(
    "/v1/returns/authorisations/{auth_id}",
    response_model=p.ReturnAuthData,
    responses=error_responses(404),
)
def get_return_auth(auth_id: UUID, device: Device, ctx: HQ) -> p.ReturnAuthData:
    """An authorisation of this device's store, as it is now (e.g. after a crash)."""
    return returns.get_auth(ctx.db, device, auth_id)


@router.post(
    "/v1/returns/authorisations/{auth_id}/release",
    response_model=p.ReturnAuthData,
    responses=error_responses(404, 409),
)
def release_return_auth(auth_id: UUID, device: Device, ctx: HQ) -> p.ReturnAuthData:
    """Gives the authorisation's quantities back (idempotent)."""
    return counted(ctx, "return_release", returns.release_auth, ctx.db, device, auth_id)
