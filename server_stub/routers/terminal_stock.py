"""Stock routes for terminals (device token): transfer proposals for the device's store
and the transfers it is part of. Steps of transfers, counts and goods received travel as
pushed events (:mod:`server_stub.ingest`); the stock look-up stays in
:mod:`.terminals`."""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations.
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from server_stub import stock_alerts, transfers
from server_stub.auth import DeviceIdentity
from server_stub.deps import HQ, CodeQuery, Reader, error_responses, same_store
from server_stub.errors import ApiError
from sync_client.contract import protocol as p

router = APIRouter(tags=["terminals"])


@router.get("/v1/stock/proposals", response_model=p.ProposalList, responses=error_responses())
def proposals(who: Reader, ctx: HQ, store: CodeQuery = None) -> p.ProposalList:
    """Transfers that would bring ``store`` (a device: its own; default) up from below its
    minimum, from stores above their maximum, nearest first."""
    if isinstance(who, DeviceIdentity):
        same_store(who, store)
        store = who.store
    if store is None:
        raise ApiError(422, "store_required", "name the store")
    with ctx.db.read() as conn:
        return p.ProposalList(proposals=stock_alerts.proposals(conn, store))


@router.get("/v1/transfers", response_model=list[p.TransferData], responses=error_responses())
def list_transfers(
    who: Reader,
    ctx: HQ,
    store: CodeQuery = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
) -> list[p.TransferData]:
    """Transfers from or to the store (a device: its own), newest first."""
    if isinstance(who, DeviceIdentity):
        same_store(who, store)
        store = who.store
    states = transfers.OPEN_STATES if open_only else None
    with ctx.db.read() as conn:
        return [t.data() for t in transfers.list_transfers(conn, store=store, states=states)]


@router.get(
    "/v1/transfers/{transfer_id}", response_model=p.TransferData, responses=error_responses(404)
)
def get_transfer(transfer_id: UUID, who: Reader, ctx: HQ) -> p.TransferData:
    """One transfer; a device sees only those of its own store."""
    with ctx.db.read() as conn:
        found = transfers.get_transfer(conn, transfer_id)
    if found is None or (
        isinstance(who, DeviceIdentity) and who.store not in (found.from_store, found.to_store)
    ):
        raise ApiError(404, "unknown_transfer", f"no transfer {transfer_id} for this store")
    return found.data()
