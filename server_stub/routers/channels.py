"""Routes for online channels (channel token): reserve stock at a store for an order,
confirm it when paid, cancel it, read it. And the pick-up route for the store's tills
(device token): an order packed and waiting (待自提).

A channel reserves only at the stores of its token's scope (403 ``store_out_of_scope``)
and never sees another channel's orders (404, as if they did not exist).
"""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations.
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from server_stub import reservations
from server_stub.deps import HQ, Channel, Device, error_responses
from server_stub.errors import answer_protocol
from sync_client.contract import protocol as p

router = APIRouter(tags=["channels"])

OrderPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]


@router.post(
    "/v1/channel/reservations",
    status_code=201,
    response_model=p.ReservationData,
    responses={
        200: {"model": p.ReservationData, "description": "This order exists (a retry)."},
        409: {
            "model": p.ReservationRefused | p.ReservationRefusedV1,
            "description": "Not enough available stock (every short line named; nothing "
            "held), or the order id was used for another order (`order_id_reused`).",
        },
        **error_responses(),
    },
)
def reserve(
    body: p.ReservationRequest,
    channel: Channel,
    request: Request,
    response: Response,
    ctx: HQ,
) -> p.ReservationData | JSONResponse:
    """Holds the order's lines at ``body.store`` until ``ttl_s`` from now, all or none."""
    try:
        created, data = reservations.reserve(ctx.db, channel, body)
    except reservations.ShortStock as short:
        return JSONResponse(short.body(answer_protocol(request)), 409)
    response.status_code = 201 if created else 200
    return data


@router.get(
    "/v1/channel/reservations/{order_id}",
    response_model=p.ReservationData,
    responses=error_responses(404),
)
def get_reservation(order_id: OrderPath, channel: Channel, ctx: HQ) -> p.ReservationData:
    """The channel's order as HQ has it now."""
    return reservations.get(ctx.db, channel, order_id)


@router.post(
    "/v1/channel/reservations/{order_id}/confirm",
    response_model=p.ReservationData,
    responses=error_responses(404, 409),
)
def confirm_reservation(order_id: OrderPath, channel: Channel, ctx: HQ) -> p.ReservationData:
    """The order is paid: its stock stays held; a pick-up order gets its pick-up code."""
    return reservations.confirm(ctx.db, channel, order_id)


@router.post(
    "/v1/channel/reservations/{order_id}/cancel",
    response_model=p.ReservationData,
    responses=error_responses(404, 409),
)
def cancel_reservation(order_id: OrderPath, channel: Channel, ctx: HQ) -> p.ReservationData:
    """The order is off: its held stock goes back to the store."""
    return reservations.cancel(ctx.db, channel, order_id)


@router.post(
    "/v1/pickups/{reservation_id}/ready",
    response_model=p.PickupData,
    responses=error_responses(404, 409),
)
def pickup_ready(reservation_id: UUID, device: Device, ctx: HQ) -> p.PickupData:
    """A till of the pick-up store: the order is packed and waiting for its customer."""
    return reservations.mark_ready(ctx.db, device, reservation_id)
