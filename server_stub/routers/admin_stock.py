"""Stock routes for HQ staff (admin token): safety stock, stock alerts, transfer
proposals chain-wide, transfers and stock counts. The admin CLI calls the same
functions (:mod:`server_stub.stock_alerts`, :mod:`server_stub.transfers`,
:mod:`server_stub.counts`)."""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations.
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query

from server_stub import counts, stock_alerts, transfers
from server_stub.deps import HQ, CodeQuery, error_responses, require_admin
from server_stub.errors import ApiError
from server_stub.schemas import CountOut, SafetyIn, SafetyOut
from sync_client.contract import protocol as p

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])

SkuQuery = Annotated[
    str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
AlertKind = Literal["low", "negative", "count_variance", "transfer_shortfall"]


@router.put("/stock/safety", response_model=SafetyOut, responses=error_responses(404))
def set_safety(body: SafetyIn, ctx: HQ) -> SafetyOut:
    """An item's minimum and maximum for a store, or chain-wide (``store`` null)."""
    return stock_alerts.set_safety(ctx.db, body.sku, body.store, body.min_milli, body.max_milli)


@router.get("/stock/safety", response_model=list[SafetyOut], responses=error_responses())
def list_safety(ctx: HQ, store: CodeQuery = None, sku: SkuQuery = None) -> list[SafetyOut]:
    with ctx.db.read() as conn:
        return stock_alerts.list_safety(conn, store, sku)


@router.get("/stock/alerts", response_model=list[p.StockAlertData], responses=error_responses())
def list_alerts(
    ctx: HQ,
    store: CodeQuery = None,
    kind: AlertKind | None = None,
    include_resolved: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[p.StockAlertData]:
    """Stock alerts, newest first (open ones unless ``include_resolved``)."""
    with ctx.db.read() as conn:
        return stock_alerts.list_alerts(
            conn, store=store, kind=kind, open_only=not include_resolved, limit=limit
        )


@router.post(
    "/stock/alerts/{alert_id}/resolve",
    response_model=p.StockAlertData,
    responses=error_responses(404),
)
def resolve_alert(alert_id: Annotated[int, Path(ge=1, le=2**62)], ctx: HQ) -> p.StockAlertData:
    return stock_alerts.resolve_alert(ctx.db, alert_id)


@router.get("/stock/proposals", response_model=p.ProposalList, responses=error_responses())
def proposals(ctx: HQ, store: CodeQuery = None) -> p.ProposalList:
    """Proposed transfers chain-wide (or to one store)."""
    with ctx.db.read() as conn:
        return p.ProposalList(proposals=stock_alerts.proposals(conn, store))


@router.get("/transfers", response_model=list[p.TransferData], responses=error_responses())
def list_transfers(
    ctx: HQ,
    store: CodeQuery = None,
    state: Literal["requested", "approved", "refused", "shipped", "received", "cancelled"]
    | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[p.TransferData]:
    with ctx.db.read() as conn:
        found = transfers.list_transfers(
            conn, store=store, states=None if state is None else [state], limit=limit
        )
    return [t.data() for t in found]


@router.get(
    "/transfers/{transfer_id}", response_model=p.TransferData, responses=error_responses(404)
)
def get_transfer(transfer_id: UUID, ctx: HQ) -> p.TransferData:
    with ctx.db.read() as conn:
        found = transfers.get_transfer(conn, transfer_id)
    if found is None:
        raise ApiError(404, "unknown_transfer", f"no transfer {transfer_id}")
    return found.data()


@router.get("/stock/counts", response_model=list[CountOut], responses=error_responses())
def list_counts(
    ctx: HQ,
    store: CodeQuery = None,
    state: Literal["pending", "approved", "rejected"] | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[CountOut]:
    with ctx.db.read() as conn:
        return counts.list_counts(conn, store=store, state=state, limit=limit)


@router.get("/stock/counts/{count_id}", response_model=CountOut, responses=error_responses(404))
def get_count(count_id: UUID, ctx: HQ) -> CountOut:
    """A count with its lines: the variance report."""
    with ctx.db.read() as conn:
        found = counts.count_detail(conn, count_id)
    if found is None:
        raise ApiError(404, "unknown_count", f"no stock count {count_id}")
    return found
