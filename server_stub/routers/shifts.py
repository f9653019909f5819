"""Shift routes for terminals (device token): the store's day close (日结)."""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations.
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import Response

from server_stub import shifts
from server_stub.deps import HQ, Device, error_responses, same_store
from sync_client.contract import protocol as p

router = APIRouter(tags=["shifts"])


@router.post(
    "/v1/stores/{store}/day-close",
    status_code=201,
    response_model=p.DayReport,
    responses={
        200: {"model": p.DayReport, "description": "The day was closed already: its report."},
        **error_responses(409),
    },
)
def close_day(
    store: str, body: p.DayCloseRequest, device: Device, response: Response, ctx: HQ
) -> p.DayReport:
    """Closes the store's business day once every shift HQ knows of is closed, and
    answers the Z report (409 ``shifts_open`` naming the terminals otherwise; 403
    ``not_store_manager`` unless ``staff`` manages this store)."""
    same_store(device, store)
    created, report = shifts.close_day(ctx.db, store, body, datetime.now(UTC))
    response.status_code = 201 if created else 200
    return report
