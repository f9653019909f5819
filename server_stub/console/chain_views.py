"""The console's pages over the chain's stock and money flows: transfers, stock counts,
online reservations, shift over/short, returns (with the sales they return and the
discrepancies of offline conflicts), the discrepancies a manager settles, and payment
reconciliation (kept runs read again without the bill).

Same rules as :mod:`.views`: every route depends on :func:`.security.require_console`
(role, CSRF, and the scope of any ``store`` it names); a page naming one record (a
transfer, a count, a return, a sale) checks that record's store against the user's scope;
actions call the HQ operations (:func:`server_stub.reservations.cancel`,
:func:`server_stub.reconcile.reconcile`, :func:`server_stub.returns.resolve_discrepancy`)
with the console user as the audited actor.
"""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations.
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from server_stub import reconcile as reconciliation
from server_stub import reservations as resv
from server_stub import transfers as tr
from server_stub.console import queries as q
from server_stub.console.i18n import translator
from server_stub.console.security import ConsoleRefusal, Principal
from server_stub.console.views import (
    Admin,
    Anyone,
    Writer,
    _audit,
    _csv_text,
    _day,
    _done,
    _error_text,
    _form_text,
    _render,
)
from server_stub.counts import count_detail
from server_stub.deps import HQ, HQContext
from server_stub.errors import ApiError
from server_stub.returns import ConsoleResolver, policy_for, resolve_discrepancy, show_return

router = APIRouter(include_in_schema=False)

TRANSFER_STATES = ("requested", "approved", "shipped", "received", "refused", "cancelled")
COUNT_STATES = ("pending", "approved", "rejected")
RESERVATION_STATES = ("reserved", "confirmed", "cancelled", "expired", "collected")
OPEN = "open"
DISCREPANCY_KINDS = (
    "unverified_staff",
    "refused_money_event",
    "double_return",
    "payment_provider_only",
    "payment_hq_only",
    "payment_amount_differs",
)


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ConsoleRefusal(404, "record_not_found", f"no such record: {text}") from None


def _store_choices(ctx: HQContext, who: Principal) -> list[q.StoreRow]:
    with ctx.db.read() as conn:
        return q.stores(conn, who.stores)


def _range(first: str, last: str, days: int = 6) -> tuple[date, date]:
    today = q.today()
    first_day = _day(first, today - timedelta(days=days))
    last_day = _day(last, today)
    return (first_day, last_day) if first_day <= last_day else (last_day, first_day)


# -- transfers ----------------------------------------------------------------------------


@router.get("/transfers", response_class=HTMLResponse)
async def transfers_page(
    request: Request, who: Anyone, ctx: HQ, state: str = OPEN, store: str = ""
) -> HTMLResponse:
    states: tuple[str, ...] | None
    if state == OPEN:
        states = tr.OPEN_STATES
    elif state in TRANSFER_STATES:
        states = (state,)
    else:
        state, states = "", None

    def load() -> dict[str, Any]:
        with ctx.db.read() as conn:
            return {
                "rows": q.transfers(conn, who.stores, states=states, store=store or None),
                "stores": q.stores(conn, who.stores),
            }

    data = await run_in_threadpool(load)
    return _render(
        request,
        "transfers.html",
        who,
        page="transfers",
        state=state,
        store=store,
        states=(OPEN, *TRANSFER_STATES),
        **data,
    )


@router.get("/transfers/{transfer_id}", response_class=HTMLResponse)
async def transfer_page(request: Request, transfer_id: str, who: Anyone, ctx: HQ) -> HTMLResponse:
    tid = _uuid(transfer_id)

    def load() -> tuple[tr.Transfer | None, dict[str, tuple[str, str]]]:
        with ctx.db.read() as conn:
            found = tr.get_transfer(conn, tid)
            names = q.item_names(conn, [ln.sku for ln in found.lines]) if found else {}
            return found, names

    transfer, names = await run_in_threadpool(load)
    if transfer is None:
        raise ConsoleRefusal(404, "record_not_found", f"no transfer {transfer_id}")
    if not (who.sees(transfer.from_store) or who.sees(transfer.to_store)):
        who.require_store(transfer.to_store)
    steps: list[tuple[str, str | None, datetime | None, str | None]] = [
        ("requested", transfer.requested_by, transfer.requested_at, transfer.note)
    ]
    if transfer.decided_at is not None:
        decision = "refused" if transfer.state == "refused" else "approved"
        steps.append((decision, transfer.decided_by, transfer.decided_at, transfer.refused_reason))
    if transfer.state == "cancelled":
        # The transfer keeps no staff or time of its own for a cancellation: its last change.
        steps.append(("cancelled", None, transfer.updated_at, None))
    if transfer.shipped_at is not None:
        steps.append(("shipped", transfer.shipped_by, transfer.shipped_at, None))
    if transfer.received_at is not None:
        steps.append(("received", transfer.received_by, transfer.received_at, None))
    return _render(
        request,
        "transfer.html",
        who,
        page="transfers",
        x=transfer,
        steps=steps,
        names=names,
    )


# -- stock counts -------------------------------------------------------------------------


@router.get("/counts", response_class=HTMLResponse)
async def counts_page(
    request: Request, who: Anyone, ctx: HQ, state: str = "", store: str = ""
) -> HTMLResponse:
    state = state if state in COUNT_STATES else ""

    def load() -> dict[str, Any]:
        with ctx.db.read() as conn:
            return {
                "rows": q.counts(conn, who.stores, state=state or None, store=store or None),
                "stores": q.stores(conn, who.stores),
            }

    data = await run_in_threadpool(load)
    return _render(
        request,
        "counts.html",
        who,
        page="counts",
        state=state,
        store=store,
        states=COUNT_STATES,
        **data,
    )


@router.get("/counts/{count_id}", response_class=HTMLResponse)
async def count_page(request: Request, count_id: str, who: Anyone, ctx: HQ) -> HTMLResponse:
    cid = _uuid(count_id)

    def load() -> dict[str, Any] | None:
        with ctx.db.read() as conn:
            found = count_detail(conn, cid)
            if found is None:
                return None
            skus = [ln.sku for ln in found.lines]
            return {
                "c": found,
                "names": q.item_names(conn, skus),
                "now_levels": q.levels_now(conn, found.store, skus)
                if found.state == "pending"
                else {},
            }

    data = await run_in_threadpool(load)
    if data is None:
        raise ConsoleRefusal(404, "record_not_found", f"no count {count_id}")
    who.require_store(data["c"].store)
    return _render(request, "count.html", who, page="counts", **data)


# -- reservations -------------------------------------------------------------------------


def _reservations_page(
    request: Request,
    ctx: HQContext,
    who: Principal,
    status: str,
    store: str,
    code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    status = status if status in RESERVATION_STATES else ""
    with ctx.db.read() as conn:
        rows = q.reservations(conn, who.stores, status=status or None, store=store or None)
        conflicts = q.reservation_conflicts(conn, who.stores)
        stores = q.stores(conn, who.stores)
    return _render(
        request,
        "reservations.html",
        who,
        status=code,
        page="reservations",
        rows=rows,
        conflicts=conflicts,
        stores=stores,
        state=status,
        store=store,
        states=RESERVATION_STATES,
        **extra,
    )


@router.get("/reservations", response_class=HTMLResponse)
async def reservations_page(
    request: Request, who: Anyone, ctx: HQ, status: str = "", store: str = ""
) -> HTMLResponse:
    return await run_in_threadpool(_reservations_page, request, ctx, who, status, store)


@router.post("/reservations/{reservation_id}/cancel")
async def reservation_cancel(
    request: Request, reservation_id: str, who: Writer, ctx: HQ
) -> Response:
    rid = _uuid(reservation_id)

    def load() -> q.ReservationRow | None:
        with ctx.db.read() as conn:
            return q.reservation(conn, rid)

    row = await run_in_threadpool(load)
    if row is None:
        raise ConsoleRefusal(404, "record_not_found", f"no reservation {reservation_id}")
    who.require_store(row.store)
    channel = resv.ChannelIdentity(row.channel, frozenset([row.store]))
    try:
        await run_in_threadpool(lambda: resv.cancel(ctx.db, channel, row.order_id, actor=who.actor))
    except ApiError as exc:
        msg = _error_text(who, request, exc)
        return await run_in_threadpool(
            lambda: _reservations_page(request, ctx, who, "", "", 409, error=msg)
        )
    return _done("/reservations", "reservation_cancelled")


# -- shift over/short ---------------------------------------------------------------------


@router.get("/shifts", response_class=HTMLResponse)
async def shifts_page(
    request: Request,
    who: Anyone,
    ctx: HQ,
    by: str = "store",
    first: str = "",
    last: str = "",
    store: str = "",
) -> HTMLResponse:
    from server_stub import shifts as hq_shifts

    by = by if by in ("store", "cashier") else "store"
    first_day, last_day = _range(first, last)
    scope = frozenset([store]) if store else who.stores

    def load() -> dict[str, Any]:
        with ctx.db.read() as conn:
            empty = scope is not None and not scope
            return {
                "totals": []
                if empty
                else hq_shifts.over_short(
                    conn, by, first_day, last_day, None if scope is None else sorted(scope)
                ),
                "rows": q.closed_shifts(conn, scope, first_day, last_day),
                "stores": q.stores(conn, who.stores),
            }

    data = await run_in_threadpool(load)
    return _render(
        request,
        "shifts.html",
        who,
        page="shifts",
        by=by,
        first=first_day,
        last=last_day,
        store=store,
        **data,
    )


# -- returns, their sales, offline conflicts ----------------------------------------------


@router.get("/returns", response_class=HTMLResponse)
async def returns_page(
    request: Request, who: Anyone, ctx: HQ, first: str = "", last: str = "", store: str = ""
) -> HTMLResponse:
    first_day, last_day = _range(first, last)

    def load() -> dict[str, Any]:
        with ctx.db.read() as conn:
            return {
                "rows": q.returns(conn, who.stores, first_day, last_day, store=store or None),
                "discrepancies": q.discrepancies(conn, who.stores, payments=False),
                "stores": q.stores(conn, who.stores),
            }

    data = await run_in_threadpool(load)
    return _render(
        request,
        "returns.html",
        who,
        page="returns",
        first=first_day,
        last=last_day,
        store=store,
        **data,
    )


@router.get("/returns/{return_id}", response_class=HTMLResponse)
async def return_page(request: Request, return_id: str, who: Anyone, ctx: HQ) -> HTMLResponse:
    rid = _uuid(return_id)
    detail = await run_in_threadpool(show_return, ctx.db, rid)
    if detail is None:
        raise ConsoleRefusal(404, "record_not_found", f"no return {return_id}")
    who.require_store(detail.summary.store)

    def load() -> tuple[str | None, dict[str, str]]:
        with ctx.db.read() as conn:
            policy = policy_for(conn, detail.summary.store)
            sale = (
                q.sale_detail(conn, detail.summary.sale_id)
                if detail.summary.sale_id is not None
                else None
            )
        reasons = {r.code: r.zh if who.lang == "zh_CN" else r.en for r in policy.reasons}
        return (sale.store if sale else None), reasons

    sale_store, reasons = await run_in_threadpool(load)
    return _render(
        request,
        "return.html",
        who,
        page="returns",
        r=detail,
        sale_store=sale_store,
        reasons=reasons,
    )


@router.get("/sales/{sale_id}", response_class=HTMLResponse)
async def sale_page(request: Request, sale_id: str, who: Anyone, ctx: HQ) -> HTMLResponse:
    sid = _uuid(sale_id)

    def load() -> q.SaleDetail | None:
        with ctx.db.read() as conn:
            return q.sale_detail(conn, sid)

    sale = await run_in_threadpool(load)
    if sale is None:
        raise ConsoleRefusal(404, "record_not_found", f"no sale {sale_id}")
    who.require_store(sale.store)
    return _render(request, "sale.html", who, page="returns", s=sale)


# -- discrepancies ------------------------------------------------------------------------


def _discrepancies_page(
    request: Request,
    ctx: HQContext,
    who: Principal,
    kind: str,
    state: str,
    store: str,
    code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    kind = kind if kind in DISCREPANCY_KINDS else ""
    state = state if state in (OPEN, "all") else OPEN
    with ctx.db.read() as conn:
        rows = q.discrepancies(
            conn,
            who.stores,
            payments=None,
            open_only=state == OPEN,
            kind=kind or None,
            store=store or None,
        )
        stores = q.stores(conn, who.stores)
    return _render(
        request,
        "discrepancies.html",
        who,
        status=code,
        page="discrepancies",
        rows=rows,
        stores=stores,
        kind=kind,
        kinds=DISCREPANCY_KINDS,
        state=state,
        store=store,
        **extra,
    )


@router.get("/discrepancies", response_class=HTMLResponse)
async def discrepancies_page(
    request: Request, who: Anyone, ctx: HQ, kind: str = "", state: str = OPEN, store: str = ""
) -> HTMLResponse:
    return await run_in_threadpool(_discrepancies_page, request, ctx, who, kind, state, store)


@router.post("/discrepancies/{discrepancy_id}/resolve", response_class=HTMLResponse)
async def discrepancy_resolve(
    request: Request, discrepancy_id: int, who: Writer, ctx: HQ
) -> Response:
    """Settles a discrepancy with the console user's note, through the same operation as
    ``chainpos-hq discrepancies resolve`` (scope checked there, audited as the user)."""
    form = await request.form()
    note = _form_text(form, "note")
    kind = _form_text(form, "kind")
    kind = kind if kind in DISCREPANCY_KINDS else ""
    state = "all" if _form_text(form, "state") == "all" else OPEN
    resolver = ConsoleResolver(who.actor, who.stores)
    try:
        await run_in_threadpool(resolve_discrepancy, ctx.db, discrepancy_id, resolver, note)
    except ApiError as exc:
        msg, status = _error_text(who, request, exc), exc.status
        return await run_in_threadpool(
            lambda: _discrepancies_page(request, ctx, who, kind, state, "", status, error=msg)
        )
    return _done(f"/discrepancies?kind={kind}&state={state}", "discrepancy_resolved")


# -- payment reconciliation ---------------------------------------------------------------


def _reconcile_page(
    request: Request, ctx: HQContext, who: Principal, code: int = 200, **extra: Any
) -> HTMLResponse:
    extra.setdefault("day", q.today() - timedelta(days=1))
    extra.setdefault("provider", "wechat")
    kept: reconciliation.Run | None = None
    with ctx.db.read() as conn:
        alerts = q.discrepancies(conn, who.stores, payments=True)
        history = reconciliation.runs(conn, limit=30)
        if extra.pop("show_kept", False):
            kept = reconciliation.latest_run(conn, extra["provider"], extra["day"])
    kept_lines = (
        [ln for ln in kept.lines if who.stores is None or ln.store in who.stores]
        if kept is not None
        else []
    )
    return _render(
        request,
        "reconcile.html",
        who,
        status=code,
        page="reconcile",
        alerts=alerts,
        providers=tuple(reconciliation.PROVIDERS),
        report=extra.pop("report", None),
        kept=kept,
        kept_lines=kept_lines,
        history=history,
        **extra,
    )


@router.get("/reconcile", response_class=HTMLResponse)
async def reconcile_page(
    request: Request, who: Anyone, ctx: HQ, provider: str = "", day: str = ""
) -> HTMLResponse:
    """The reconciliation form (HQ admins), the kept runs, and with ``provider`` and
    ``day`` the last kept run of that bill, read again without uploading it (a user of
    some stores sees its lines of those stores)."""
    if provider in reconciliation.PROVIDERS and day:
        when = _day(day, q.today() - timedelta(days=1))
        return await run_in_threadpool(
            lambda: _reconcile_page(request, ctx, who, day=when, provider=provider, show_kept=True)
        )
    return await run_in_threadpool(_reconcile_page, request, ctx, who)


@router.post("/reconcile", response_class=HTMLResponse)
async def reconcile_run(request: Request, who: Admin, ctx: HQ) -> HTMLResponse:
    """Runs the day's reconciliation of one provider's uploaded bill, as ``chainpos-hq
    reconcile`` does, and shows the buckets; the run is audited as the console user."""
    form = await request.form()
    provider = _form_text(form, "provider")
    day = _day(_form_text(form, "day"), q.today() - timedelta(days=1))
    text = await _csv_text(form, "statement")
    t = translator(who.lang)
    if provider not in reconciliation.PROVIDERS:
        return await run_in_threadpool(
            lambda: _reconcile_page(request, ctx, who, 422, day=day, error=t("error.invalid_value"))
        )
    try:
        if not text.strip():
            raise ValueError("empty statement")
        report = await run_in_threadpool(
            reconciliation.reconcile,
            ctx.db,
            provider,
            text,
            day,
            datetime.now(UTC),
            who.actor.name,
        )
    except (ValueError, KeyError):
        return await run_in_threadpool(
            lambda: _reconcile_page(
                request,
                ctx,
                who,
                422,
                day=day,
                provider=provider,
                error=t("reconcile.bad_statement"),
            )
        )
    await run_in_threadpool(
        _audit,
        ctx,
        who,
        "console.reconcile",
        {
            "provider": provider,
            "day": day.isoformat(),
            "matched": len(report.matched),
            "provider_only": len(report.provider_only),
            "hq_only": len(report.hq_only),
            "amount_differs": len(report.amount_differs),
            "alerts_raised": report.alerts_raised,
        },
    )
    return await run_in_threadpool(
        lambda: _reconcile_page(request, ctx, who, day=day, provider=provider, report=report)
    )
