"""The console's routes. Every route depends on :func:`.security.require_console` (the
sign-in page excepted); writes call the HQ operations and audit them with the console
user as the actor; reads go through :mod:`.queries`."""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations.
import asyncio
import contextlib
import io
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from server_stub import members, operations
from server_stub.audit import audit_now, audit_row
from server_stub.console import passwords, users
from server_stub.console import queries as q
from server_stub.console.i18n import DEFAULT_LANGUAGE, LANGUAGES, translator
from server_stub.console.security import (
    ADMIN,
    AUDIT_READERS,
    COOKIE,
    LANG_COOKIE,
    WRITERS,
    ConsoleRefusal,
    Principal,
    language,
    require_console,
    sign_cookie,
    unsign_cookie,
)
from server_stub.deps import HQ, HQContext
from server_stub.errors import ApiError
from server_stub.schemas import StaffIn
from sync_client.contract.money import MoneyParseError, format_yuan, parse_yuan

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
LOGIN_COOKIE = "chainpos_console_login"

router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))

Anyone = Annotated[Principal, Depends(require_console())]
Writer = Annotated[Principal, Depends(require_console(*WRITERS))]
Admin = Annotated[Principal, Depends(require_console(*ADMIN))]
AuditReader = Annotated[Principal, Depends(require_console(*AUDIT_READERS))]


# -- rendering ----------------------------------------------------------------------------


def _yuan(fen: int | None) -> str:
    return "—" if fen is None else format_yuan(fen)


def _local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "—" if value is None else value.astimezone(q.LOCAL_TZ).strftime(fmt)


def _qty(milli: int, unit: str = "piece") -> str:
    if unit == "piece" and milli % 1000 == 0:
        return str(milli // 1000)
    return f"{milli / 1000:.3f}"


templates.env.filters.update(yuan=_yuan, local=_local, qty=_qty)


def _render(
    request: Request,
    name: str,
    who: Principal | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    lang = who.lang if who else language(request)
    context.setdefault("error", None)
    context.setdefault("message", request.query_params.get("done"))
    response = templates.TemplateResponse(
        request,
        name,
        {"who": who, "t": translator(lang), "lang": lang, "languages": LANGUAGES, **context},
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _error_text(who: Principal | None, request: Request, exc: ApiError | ConsoleRefusal) -> str:
    t = translator(who.lang if who else language(request))
    code = exc.code
    text = t(f"error.{code}")
    return code if text == f"error.{code}" else text


def _done(path: str, key: str) -> RedirectResponse:
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"/console{path}{sep}done={key}", status_code=303)


def _audit(
    ctx: HQContext, who: Principal, action: str, detail: dict[str, Any], store: str | None = None
) -> None:
    audit_now(ctx.db, audit_row(who.actor, action, None, detail, datetime.now(UTC), store))


def _qr_svg(data: str) -> Markup:
    img = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buf = io.BytesIO()
    img.save(buf)
    text = buf.getvalue().decode("utf-8")
    return Markup(text[text.index("<svg") :])  # qrcode made it; no input markup in it


async def refusal_page(request: Request, exc: Exception) -> Response:
    """Renders a :class:`ConsoleRefusal`: not signed in goes to the sign-in page (htmx:
    by ``HX-Redirect``), anything else is a page saying why, with its status."""
    assert isinstance(exc, ConsoleRefusal)
    if exc.status == 401:
        target = "/console/login"
        if request.method == "GET" and request.url.path != "/console/":
            target += f"?next={request.url.path}"
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    return _render(
        request, "refused.html", None, status=exc.status, error=_error_text(None, request, exc)
    )


def _form_text(form: Any, name: str, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


# -- sign in, sign out, language ------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str = "/console/dashboard") -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = _render(request, "login.html", None, login_token=token, next=_safe_next(next))
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/console",
        secure=request.url.scheme == "https",
    )
    return response


def _safe_next(target: str) -> str:
    return target if target.startswith("/console/") and "//" not in target else "/console/dashboard"


@router.post("/login")
async def login(request: Request, ctx: HQ) -> Response:
    form = await request.form()
    token = _form_text(form, "login_token")
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    next_url = _safe_next(_form_text(form, "next", "/console/dashboard"))
    if not token or not secrets.compare_digest(token, cookie):
        raise ConsoleRefusal(403, "csrf_failed", "the sign-in form is stale")
    client = request.client.host if request.client else ""
    try:
        session_id, _ = await run_in_threadpool(
            users.sign_in,
            ctx.db,
            ctx.keys,
            _form_text(form, "username"),
            str(form.get("password") or ""),
            _form_text(form, "totp") or None,
            client=client,
        )
    except ApiError as exc:
        return _render(
            request,
            "login.html",
            None,
            status=exc.status,
            error=_error_text(None, request, exc),
            login_token=token,
            next=next_url,
            username=_form_text(form, "username"),
        )
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        COOKIE,
        sign_cookie(ctx, session_id),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/console",
        max_age=int(users.MAX_AGE.total_seconds()),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


@router.post("/logout")
async def logout(request: Request, who: Anyone, ctx: HQ) -> Response:
    session_id = unsign_cookie(ctx, request.cookies.get(COOKIE))
    if session_id:
        await run_in_threadpool(users.end_session, ctx.db, session_id)
    await run_in_threadpool(_audit, ctx, who, "console.sign_out", {})
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, next: str = "/console/dashboard") -> Response:
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        lang if lang in LANGUAGES else DEFAULT_LANGUAGE,
        samesite="strict",
        path="/console",
        max_age=365 * 86400,
    )
    return response


@router.get("/")
def home(who: Anyone) -> Response:
    return RedirectResponse("/console/dashboard", status_code=303)


# -- dashboard ----------------------------------------------------------------------------


def _dashboard_data(ctx: HQContext, who: Principal) -> dict[str, Any]:
    with ctx.db.read() as conn:
        sales = q.sales_today(conn, who.stores, q.today())
        terminals = q.terminal_keys(conn, who.stores)
        changes = q.recent_price_changes(conn)
        head = q.head(conn)
        alert_count, alerts = q.open_alerts(conn, who.stores, limit=20)
    online = {c.device.device_id for c in ctx.hub.connections}
    cursors = dict(ctx.metrics.cursors)
    rows: list[dict[str, Any]] = []
    for term in terminals:
        cursor = cursors.get(term.device_id)
        version = None
        if cursor is not None:
            for ch in changes:
                if ch.seq > cursor:
                    break
                if ch.store is None or ch.store == term.store:
                    version = ch.version
        rows.append(
            {
                "t": term,
                "online": term.device_id in online,
                "cursor": cursor,
                "lag": None if cursor is None else max(0, head - cursor),
                "price_version": version,
            }
        )
    # Terminals needing a look first: offline, then the most behind.
    rows.sort(key=lambda r: (bool(r["online"]), -int(r["lag"] if r["lag"] is not None else 10**12)))
    shown = rows[:200]
    with ctx.db.read() as conn:
        full = q.terminals_by_id(conn, [r["t"].device_id for r in shown])
    shown = [{**r, "t": full[r["t"].device_id]} for r in shown if r["t"].device_id in full]
    return {
        "sales": sales,
        "total_fen": sum(s.total_fen for s in sales),
        "total_sales": sum(s.sales for s in sales),
        "terminal_rows": shown,
        "terminal_count": len(rows),
        "online_count": sum(1 for r in rows if r["online"]),
        "head": head,
        "alerts": alerts,
        "alert_count": alert_count,
        "updated": datetime.now(UTC),
    }


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, who: Anyone, ctx: HQ) -> HTMLResponse:
    data = await run_in_threadpool(_dashboard_data, ctx, who)
    return _render(request, "dashboard.html", who, page="dashboard", **data)


@router.get("/dashboard/live", response_class=HTMLResponse)
async def dashboard_live(request: Request, who: Anyone, ctx: HQ) -> HTMLResponse:
    data = await run_in_threadpool(_dashboard_data, ctx, who)
    return _render(request, "_dashboard_live.html", who, **data)


STREAM_POLL_S = 0.5
STREAM_LIFETIME_S = 300.0


@router.get("/dashboard/events")
async def dashboard_events(request: Request, who: Anyone, ctx: HQ) -> StreamingResponse:
    """Server-Sent Events: ``sales`` whenever the change feed moves (every sale moves it
    through its stock changes). Woken by this process's commits, and polls the feed head
    every ``STREAM_POLL_S`` for other processes' commits. Ends after
    ``STREAM_LIFETIME_S``; the browser reconnects, and the session is checked again."""

    def read_head() -> int:
        with ctx.db.read() as conn:
            return q.head(conn)

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def on_signal(_channel: str, _payload: str) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

        ctx.db.add_listener(on_signal)
        try:
            last = await run_in_threadpool(read_head)
            yield f"retry: 1000\nevent: hello\ndata: {last}\n\n"
            end = loop.time() + STREAM_LIFETIME_S
            quiet = 0.0
            while loop.time() < end and not await request.is_disconnected():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), STREAM_POLL_S)
                wake.clear()
                current = await run_in_threadpool(read_head)
                if current != last:
                    last, quiet = current, 0.0
                    yield f"event: sales\ndata: {current}\n\n"
                else:
                    quiet += STREAM_POLL_S
                    if quiet >= 15:
                        quiet = 0.0
                        yield ": keep-alive\n\n"
        finally:
            ctx.db.remove_listener(on_signal)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# -- prices -------------------------------------------------------------------------------


def _holders(ctx: HQContext, who: Principal, row: q.PriceRow) -> dict[str, Any]:
    scope = who.stores if row.store is None else frozenset([row.store])
    with ctx.db.read() as conn:
        terminals = q.terminals(conn, scope)
    cursors = dict(ctx.metrics.cursors)
    online = {c.device.device_id for c in ctx.hub.connections}
    have: list[dict[str, Any]] = []
    lack: list[dict[str, Any]] = []
    for term in terminals:
        cursor = cursors.get(term.device_id, -1)
        entry = {"t": term, "online": term.device_id in online, "cursor": cursor}
        (have if row.seq is not None and cursor >= row.seq else lack).append(entry)
    return {"have": have, "lack": lack}


def _prices_page(
    request: Request, ctx: HQContext, who: Principal, status: int = 200, **extra: Any
) -> HTMLResponse:
    sku = request.query_params.get("sku") or None
    now = datetime.now(UTC)
    with ctx.db.read() as conn:
        versions = q.price_versions(conn, who.stores, sku=sku, limit=100)
        stores = q.stores(conn, who.stores)
        regions = (
            q.regions(conn)
            if who.role == "hq_admin"
            else ([who.user.region] if who.role == "regional_manager" and who.user.region else [])
        )
    holders = {v.version: _holders(ctx, who, v) for v in versions[:20] if v.cancelled_by is None}
    return _render(
        request,
        "prices.html",
        who,
        status=status,
        page="prices",
        versions=versions,
        holders=holders,
        stores=stores,
        regions=regions,
        now=now,
        sku=sku or "",
        **extra,
    )


@router.get("/prices", response_class=HTMLResponse)
async def prices(request: Request, who: Anyone, ctx: HQ) -> HTMLResponse:
    return await run_in_threadpool(_prices_page, request, ctx, who)


@router.get("/prices/{version}/holders", response_class=HTMLResponse)
async def price_holders(request: Request, version: int, who: Anyone, ctx: HQ) -> HTMLResponse:
    def load() -> q.PriceRow | None:
        with ctx.db.read() as conn:
            return q.price_version(conn, version)

    row = await run_in_threadpool(load)
    if row is None or (row.store is not None and not who.sees(row.store)):
        raise ConsoleRefusal(404, "unknown_price", f"no price version {version}")
    data = await run_in_threadpool(_holders, ctx, who, row)
    return _render(request, "_holders.html", who, v=row, h=data)


def _parse_local_time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(422, "invalid_value", f"not a date and time: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=q.LOCAL_TZ)
    return value.astimezone(UTC)


@router.post("/prices", response_class=HTMLResponse)
async def set_price(request: Request, who: Writer, ctx: HQ) -> Response:
    form = await request.form()
    scope = _form_text(form, "scope", "store")
    try:
        sku = _form_text(form, "sku")
        price_fen = parse_yuan(_form_text(form, "price"))
        effective = _parse_local_time(_form_text(form, "effective_at"))
        target: list[str] | None
        if scope == "chain":
            if who.role != "hq_admin":
                raise ConsoleRefusal(403, "forbidden", "only HQ admins set chain-wide prices")
            target = None
        elif scope == "region":
            region = _form_text(form, "region")
            who.require_region(region)
            target = await run_in_threadpool(operations.region_stores, ctx.db, region)
        else:
            store = _form_text(form, "store")
            who.require_store(store)
            target = [store]
        await run_in_threadpool(
            lambda: operations.set_price(ctx.db, sku, price_fen, effective, target, actor=who.actor)
        )
    except (ApiError, MoneyParseError) as exc:
        error = (
            _error_text(who, request, exc)
            if isinstance(exc, ApiError)
            else translator(who.lang)("error.bad_amount")
        )
        return await run_in_threadpool(
            lambda: _prices_page(request, ctx, who, status=422, error=error)
        )
    return _done("/prices", "price_set")


@router.post("/prices/{version}/cancel")
async def cancel_price(request: Request, version: int, who: Writer, ctx: HQ) -> Response:
    def load() -> q.PriceRow | None:
        with ctx.db.read() as conn:
            return q.price_version(conn, version)

    row = await run_in_threadpool(load)
    if row is None:
        raise ConsoleRefusal(404, "unknown_price", f"no price version {version}")
    if row.store is None and who.role != "hq_admin":
        raise ConsoleRefusal(403, "forbidden", "only HQ admins cancel chain-wide prices")
    if row.store is not None:
        who.require_store(row.store)
    try:
        await run_in_threadpool(lambda: operations.cancel_price(ctx.db, version, actor=who.actor))
    except ApiError as exc:
        msg, status = _error_text(who, request, exc), exc.status
        return await run_in_threadpool(
            lambda: _prices_page(request, ctx, who, status=status, error=msg)
        )
    return _done("/prices", "price_cancelled")


# -- catalogue ----------------------------------------------------------------------------


@router.get("/catalog", response_class=HTMLResponse)
async def catalog(request: Request, who: Anyone, ctx: HQ, search: str = "") -> HTMLResponse:
    def load() -> dict[str, Any]:
        with ctx.db.read() as conn:
            return {
                "items": q.items(conn, datetime.now(UTC), search=search.strip(), limit=200),
                "categories": q.categories(conn),
            }

    data = await run_in_threadpool(load)
    return _render(request, "catalog.html", who, page="catalog", search=search, **data)


async def _csv_text(form: Any, field: str = "file") -> str:
    """The text of the uploaded file ``field`` (UTF-8, else GB18030), its temporary file
    closed; or the pasted ``csv`` field."""
    upload = form.get(field)
    if upload is not None and not isinstance(upload, str):
        try:
            raw = await upload.read()
        finally:
            await upload.close()
        if raw:
            try:
                return str(raw.decode("utf-8-sig"))
            except UnicodeDecodeError:
                return str(raw.decode("gb18030", errors="replace"))
    return _form_text(form, "csv")


@router.post("/catalog/preview", response_class=HTMLResponse)
async def catalog_preview(request: Request, who: Admin, ctx: HQ) -> HTMLResponse:
    form = await request.form()
    text = await _csv_text(form)
    try:
        incoming = operations.parse_catalog_csv(text)
    except operations.CatalogError as exc:
        return _render(
            request,
            "_catalog_preview.html",
            who,
            status=422,
            problems=exc.problems,
            lines=[],
            csv=text,
        )

    def load() -> list[q.ImportLine]:
        with ctx.db.read() as conn:
            return q.catalog_preview(conn, incoming, datetime.now(UTC))

    lines = await run_in_threadpool(load)
    return _render(request, "_catalog_preview.html", who, problems=[], lines=lines, csv=text)


@router.post("/catalog/import")
async def catalog_import(request: Request, who: Admin, ctx: HQ) -> Response:
    form = await request.form()
    text = _form_text(form, "csv")
    try:
        incoming = operations.parse_catalog_csv(text)
        await run_in_threadpool(
            lambda: operations.import_catalog(ctx.db, incoming, actor=who.actor)
        )
    except operations.CatalogError as exc:
        return _render(
            request,
            "_catalog_preview.html",
            who,
            status=422,
            problems=exc.problems,
            lines=[],
            csv=text,
        )
    response = Response(status_code=204)
    response.headers["HX-Redirect"] = "/console/catalog?done=catalog_imported"
    return response


# -- stock --------------------------------------------------------------------------------


@router.get("/stock", response_class=HTMLResponse)
async def stock(
    request: Request, who: Anyone, ctx: HQ, store: str = "", sku: str = ""
) -> HTMLResponse:
    def load() -> dict[str, Any]:
        with ctx.db.read() as conn:
            count, alerts = q.open_alerts(conn, who.stores, limit=100)
            return {
                "levels": q.stock_levels(conn, who.stores, store=store or None, sku=sku or None),
                "alerts": alerts,
                "alert_count": count,
                "stores": q.stores(conn, who.stores),
            }

    data = await run_in_threadpool(load)
    return _render(request, "stock.html", who, page="stock", store=store, sku=sku, **data)


# -- members ------------------------------------------------------------------------------


@router.get("/members", response_class=HTMLResponse)
async def members_page(request: Request, who: Anyone, ctx: HQ, find: str = "") -> HTMLResponse:
    found: list[Any] = []
    error = None
    text = find.strip()
    if text:
        kind = (
            "phone"
            if text.isdigit() and len(text) == 11
            else ("number" if text.isdigit() else "name")
        )
        try:
            found = await run_in_threadpool(
                lambda: members.search_members(ctx.db, ctx.keys, who.actor, **{kind: text})  # type: ignore[arg-type]
            )
        except ApiError as exc:
            error = _error_text(who, request, exc)
    return _render(
        request,
        "members.html",
        who,
        page="members",
        find=find,
        found=found,
        error=error,
        searched=bool(text),
    )


@router.get("/members/{number}", response_class=HTMLResponse)
async def member_page(request: Request, number: str, who: Anyone, ctx: HQ) -> HTMLResponse:
    try:
        detail = await run_in_threadpool(members.show_member, ctx.db, ctx.keys, who.actor, number)
    except ApiError as exc:
        raise ConsoleRefusal(exc.status, exc.code, exc.detail) from None
    return _render(request, "member.html", who, page="members", m=detail)


@router.post("/members/{number}/reveal", response_class=HTMLResponse)
async def member_reveal(request: Request, number: str, who: Writer, ctx: HQ) -> HTMLResponse:
    detail = await run_in_threadpool(
        lambda: members.show_member(ctx.db, ctx.keys, who.actor, number, reveal=True)
    )
    return HTMLResponse(f'<span id="phone" class="revealed">{detail.phone}</span>')


@router.post("/members/{number}/adjust")
async def member_adjust(request: Request, number: str, who: Writer, ctx: HQ) -> Response:
    form = await request.form()
    try:
        reason = _form_text(form, "reason")
        if not reason:
            raise ApiError(422, "reason_required", "say why")
        points = int(_form_text(form, "points") or "0")
        balance = _form_text(form, "balance")
        balance_fen = (
            parse_yuan(balance.lstrip("-")) * (-1 if balance.startswith("-") else 1)
            if balance
            else 0
        )
        await run_in_threadpool(
            lambda: members.adjust_member(
                ctx.db,
                ctx.keys,
                who.actor,
                number,
                reason=reason,
                points=points,
                balance_fen=balance_fen,
            )
        )
    except (ApiError, ValueError) as exc:
        error = (
            _error_text(who, request, exc)
            if isinstance(exc, ApiError)
            else translator(who.lang)("error.bad_amount")
        )
        detail = await run_in_threadpool(
            lambda: members.show_member(ctx.db, ctx.keys, who.actor, number, audit=False)
        )
        return _render(
            request, "member.html", who, status=422, page="members", m=detail, error=error
        )
    return _done(f"/members/{number}", "member_adjusted")


@router.post("/members/{number}/coupon")
async def member_coupon(request: Request, number: str, who: Writer, ctx: HQ) -> Response:
    form = await request.form()
    try:
        value_fen = parse_yuan(_form_text(form, "value"))
        min_spend = parse_yuan(_form_text(form, "min_spend") or "0")
        days = int(_form_text(form, "days") or "30")
        await run_in_threadpool(
            lambda: members.issue_coupon(
                ctx.db,
                who.actor,
                number,
                name=_form_text(form, "name") or "coupon",
                value_fen=value_fen,
                min_spend_fen=min_spend,
                valid_until=datetime.now(UTC) + timedelta(days=days),
            )
        )
    except (ApiError, ValueError) as exc:
        error = (
            _error_text(who, request, exc)
            if isinstance(exc, ApiError)
            else translator(who.lang)("error.bad_amount")
        )
        detail = await run_in_threadpool(
            lambda: members.show_member(ctx.db, ctx.keys, who.actor, number, audit=False)
        )
        return _render(
            request, "member.html", who, status=422, page="members", m=detail, error=error
        )
    return _done(f"/members/{number}", "coupon_issued")


# -- people and devices -------------------------------------------------------------------


@router.get("/staff", response_class=HTMLResponse)
async def staff_page(request: Request, who: Anyone, ctx: HQ, store: str = "") -> HTMLResponse:
    return await run_in_threadpool(lambda: _staff_page(request, ctx, who, store))


def _staff_page(
    request: Request,
    ctx: HQContext,
    who: Principal,
    store: str,
    status: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    from server_stub import queries as hq_queries

    with ctx.db.read() as conn:
        staff = [
            s
            for s in hq_queries.list_staff(conn, store or None)
            if who.stores is None or s.store in who.stores
        ]
        stores = q.stores(conn, who.stores)
    return _render(
        request,
        "staff.html",
        who,
        status=status,
        page="staff",
        staff=staff,
        stores=stores,
        store=store,
        error=error,
    )


@router.post("/staff")
async def staff_add(request: Request, who: Writer, ctx: HQ) -> Response:
    form = await request.form()
    store = _form_text(form, "store")
    try:
        role = _form_text(form, "role")
        if role == "hq_admin":
            raise ApiError(403, "forbidden", "HQ admin staff are added by the CLI")
        body = StaffIn(
            number=_form_text(form, "number"),
            store=store or None,
            name=_form_text(form, "name"),
            role=role,  # type: ignore[arg-type]
            pin=_form_text(form, "pin"),
        )
        await run_in_threadpool(lambda: operations.add_staff(ctx.db, body, actor=who.actor))
    except ApiError as exc:
        msg = _error_text(who, request, exc)
        return await run_in_threadpool(lambda: _staff_page(request, ctx, who, "", 422, msg))
    except ValueError:
        return await run_in_threadpool(
            lambda: _staff_page(
                request, ctx, who, "", 422, translator(who.lang)("error.invalid_value")
            )
        )
    return _done("/staff", "staff_added")


@router.post("/staff/{staff_number}/pin")
async def staff_pin(request: Request, staff_number: str, who: Writer, ctx: HQ) -> Response:
    form = await request.form()
    try:
        await run_in_threadpool(
            lambda: operations.update_staff(
                ctx.db, staff_number, pin=_form_text(form, "pin"), actor=who.actor
            )
        )
    except ApiError as exc:
        msg = _error_text(who, request, exc)
        return await run_in_threadpool(lambda: _staff_page(request, ctx, who, "", 422, msg))
    return _done("/staff", "pin_reset")


@router.post("/staff/{staff_number}/disable")
async def staff_disable(request: Request, staff_number: str, who: Writer, ctx: HQ) -> Response:
    await run_in_threadpool(
        lambda: operations.update_staff(ctx.db, staff_number, active=False, actor=who.actor)
    )
    return _done("/staff", "staff_disabled")


@router.get("/devices", response_class=HTMLResponse)
async def devices_page(request: Request, who: Anyone, ctx: HQ) -> HTMLResponse:
    return await run_in_threadpool(lambda: _devices_page(request, ctx, who))


def _devices_page(
    request: Request, ctx: HQContext, who: Principal, status: int = 200, **extra: Any
) -> HTMLResponse:
    with ctx.db.read() as conn:
        terminals = q.terminals(conn, who.stores, include_revoked=True)
        stores = q.stores(conn, who.stores)
    return _render(
        request,
        "devices.html",
        who,
        status=status,
        page="devices",
        terminals=terminals,
        stores=stores,
        **extra,
    )


@router.post("/devices/enroll", response_class=HTMLResponse)
async def device_enroll(request: Request, who: Writer, ctx: HQ) -> HTMLResponse:
    form = await request.form()
    store = _form_text(form, "store")
    who.require_store(store)
    try:
        code = await run_in_threadpool(
            lambda: operations.create_enroll_code(
                ctx.db, store, 24, ctx.settings.hq_url, actor=who.actor
            )
        )
    except ApiError as exc:
        msg = _error_text(who, request, exc)
        return await run_in_threadpool(lambda: _devices_page(request, ctx, who, 422, error=msg))
    return await run_in_threadpool(
        lambda: _devices_page(request, ctx, who, enrol=code, qr=_qr_svg(code.qr_payload))
    )


@router.post("/devices/{device_id}/revoke")
async def device_revoke(request: Request, device_id: str, who: Writer, ctx: HQ) -> Response:
    try:
        await run_in_threadpool(
            lambda: operations.revoke_device(ctx.db, device_id, actor=who.actor)
        )
    except ApiError as exc:
        raise ConsoleRefusal(exc.status, exc.code, exc.detail) from None
    return _done("/devices", "device_revoked")


# -- console users (HQ admins only) -----------------------------------------------------------


def _users_page(
    request: Request, ctx: HQContext, who: Principal, status: int = 200, **extra: Any
) -> HTMLResponse:
    with ctx.db.read() as conn:
        stores = q.stores(conn, None)
        regions = q.regions(conn)
    return _render(
        request,
        "users.html",
        who,
        status=status,
        page="users",
        users=users.list_users(ctx.db),
        stores=stores,
        regions=regions,
        roles=users.ROLES,
        **extra,
    )


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, who: Admin, ctx: HQ) -> HTMLResponse:
    return await run_in_threadpool(lambda: _users_page(request, ctx, who))


@router.post("/users")
async def user_add(request: Request, who: Admin, ctx: HQ) -> Response:
    form = await request.form()
    try:
        await run_in_threadpool(
            lambda: users.add_user(
                ctx.db,
                who.actor,
                username=_form_text(form, "username"),
                display_name=_form_text(form, "display_name"),
                password=str(form.get("password") or ""),
                role=_form_text(form, "role"),
                region=_form_text(form, "user_region") or None,
                store=_form_text(form, "user_store") or None,
            )
        )
    except ApiError as exc:
        msg = _error_text(who, request, exc)
        return await run_in_threadpool(lambda: _users_page(request, ctx, who, 422, error=msg))
    return _done("/users", "user_added")


@router.post("/users/{username}/disable")
async def user_disable(request: Request, username: str, who: Admin, ctx: HQ) -> Response:
    await run_in_threadpool(users.set_active, ctx.db, who.actor, username, False)
    return _done("/users", "user_disabled")


@router.post("/users/{username}/password")
async def user_password(request: Request, username: str, who: Admin, ctx: HQ) -> Response:
    form = await request.form()
    try:
        await run_in_threadpool(
            users.set_password, ctx.db, who.actor, username, str(form.get("password") or "")
        )
    except ApiError as exc:
        msg = _error_text(who, request, exc)
        return await run_in_threadpool(lambda: _users_page(request, ctx, who, 422, error=msg))
    return _done("/users", "password_set")


@router.post("/users/{username}/totp", response_class=HTMLResponse)
async def user_totp(request: Request, username: str, who: Admin, ctx: HQ) -> HTMLResponse:
    secret = await run_in_threadpool(users.enrol_totp, ctx.db, ctx.keys, who.actor, username)
    uri = passwords.otpauth_uri(secret, username)
    return await run_in_threadpool(
        lambda: _users_page(
            request, ctx, who, totp_user=username, totp_secret=secret, qr=_qr_svg(uri)
        )
    )


# -- reports ------------------------------------------------------------------------------


def _day(text: str, default: date) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        return default


@router.get("/reports", response_class=HTMLResponse)
async def reports(
    request: Request, who: Anyone, ctx: HQ, first: str = "", last: str = "", store: str = ""
) -> HTMLResponse:
    today = q.today()
    first_day = _day(first, today - timedelta(days=6))
    last_day = _day(last, today)
    scope = frozenset([store]) if store else who.stores

    def load() -> dict[str, Any]:
        from server_stub import queries as hq_queries

        with ctx.db.read() as conn:
            stale = hq_queries.stale_report(conn, q.day_start(first_day), store or None)
            return {
                "by_day": q.sales_by_store_day(conn, scope, first_day, last_day),
                "tenders": q.tenders_by_kind(conn, scope, first_day, last_day),
                "by_item": q.sales_by_item(conn, scope, first_day, last_day),
                "stale": [s for s in stale.stores if who.sees(s.store)],
                "stores": q.stores(conn, who.stores),
            }

    data = await run_in_threadpool(load)
    return _render(
        request,
        "reports.html",
        who,
        page="reports",
        first=first_day,
        last=last_day,
        store=store,
        **data,
    )


@router.get("/audit", response_class=HTMLResponse)
async def audit_log(
    request: Request,
    who: AuditReader,
    ctx: HQ,
    actor: str = "",
    action: str = "",
    before: int | None = None,
) -> HTMLResponse:
    def load() -> list[q.AuditRow]:
        with ctx.db.read() as conn:
            return q.audit_page(conn, None, actor=actor, action=action, before_id=before)

    rows = await run_in_threadpool(load)
    return _render(
        request, "audit.html", who, page="audit", rows=rows, actor=actor, action=action, per_page=50
    )
