"""The console's menu page: the published menu versions (the chain's and the stores'),
today's sold-out marks (估清) of the user's stores, and, for HQ admins, publishing a new
version from a JSON file with a preview first.

Publishing calls :func:`server_stub.menu.publish_menu` — the operation behind
``chainpos-hq menu import`` — with the console user as the audited actor; the preview runs
the same checks (:func:`server_stub.menu.check_menu`) and writes nothing.
"""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations.
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from server_stub import menu
from server_stub.console import queries as q
from server_stub.console.i18n import translator
from server_stub.console.security import Principal
from server_stub.console.views import (
    Admin,
    Anyone,
    _error_text,
    _form_text,
    _parse_local_time,
    _render,
)
from server_stub.deps import HQ, HQContext
from server_stub.errors import ApiError
from sync_client.contract import protocol as p

router = APIRouter(include_in_schema=False)

MAX_MENU_BYTES = 1_000_000


@router.get("/menu", response_class=HTMLResponse)
async def menu_page(request: Request, who: Anyone, ctx: HQ, store: str = "") -> HTMLResponse:
    now = datetime.now(UTC)

    def load() -> dict[str, Any]:
        with ctx.db.read() as conn:
            return {
                "versions": q.menu_versions(conn, who.stores, now),
                "sold_out": q.sold_out_today(conn, who.stores, q.today(), store=store or None),
                "stores": q.stores(conn, who.stores),
            }

    data = await run_in_threadpool(load)
    return _render(request, "menu.html", who, page="menu", store=store, today=q.today(), **data)


def _problem_text(who: Principal, problem: menu.MenuProblem) -> str:
    t = translator(who.lang)
    key = f"menu.problem.{problem.code}"
    text = t(key, **problem.params)
    return problem.text if text == key else text


async def _menu_document(form: Any) -> str:
    """The uploaded JSON file's text (UTF-8), or the ``body`` field a confirmation
    carries back."""
    upload = form.get("file")
    if upload is not None and not isinstance(upload, str):
        try:
            raw = await upload.read(MAX_MENU_BYTES + 1)
        finally:
            await upload.close()
        if raw:
            return str(raw[: MAX_MENU_BYTES + 1].decode("utf-8-sig", errors="replace"))
    return _form_text(form, "body")


def _preview(
    request: Request,
    who: Principal,
    *,
    status: int = 200,
    problems: list[str] | None = None,
    draft: Any = None,
    body: str = "",
    store: str = "",
    effective_at: str = "",
) -> HTMLResponse:
    return _render(
        request,
        "_menu_preview.html",
        who,
        status=status,
        problems=problems or [],
        draft=draft,
        body=body,
        store=store,
        effective_at=effective_at,
    )


@dataclass(frozen=True, slots=True)
class _Upload:
    """A menu that would publish: the document, its scope and time, what it parses to,
    and the form's values to carry to the confirmation."""

    body: dict[str, Any]
    store: str | None
    effective: datetime | None
    draft: p.MenuData
    keep: dict[str, str]


async def _checked(request: Request, who: Principal, ctx: HQContext) -> _Upload | HTMLResponse:
    """The upload when the menu would publish, else the preview listing why not."""
    form = await request.form()
    text = await _menu_document(form)
    store = _form_text(form, "store")
    when_text = _form_text(form, "effective_at")
    t = translator(who.lang)
    keep = {"body": text, "store": store, "effective_at": when_text}
    if len(text.encode("utf-8")) > MAX_MENU_BYTES:
        return _preview(request, who, status=422, problems=[t("menu.too_big")], **keep)
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _preview(request, who, status=422, problems=[t("menu.not_json")], **keep)
    try:
        effective = _parse_local_time(when_text)
    except ApiError as exc:
        msg = _error_text(who, request, exc)
        return _preview(request, who, status=422, problems=[msg], **keep)
    now = datetime.now(UTC)
    if effective is not None and effective < now - timedelta(seconds=60):
        # publish_menu refuses it too; said here so the preview does not promise it.
        problems = [t("error.effective_in_past")]
        return _preview(request, who, status=422, problems=problems, **keep)
    at = effective or now

    def check() -> tuple[p.MenuData | None, list[menu.MenuProblem], bool]:
        with ctx.db.read() as conn:
            draft, found = menu.check_menu(conn, body, store or None, at)
            known = not store or bool(q.stores(conn, frozenset([store])))
        return draft, found, known

    draft, found, known = await run_in_threadpool(check)
    problems = [_problem_text(who, x) for x in found]
    if not known:
        problems.insert(0, t("error.unknown_store"))
    if problems or draft is None:
        return _preview(request, who, status=422, problems=problems, **keep)
    return _Upload(body, store or None, effective, draft, keep)


@router.post("/menu/preview", response_class=HTMLResponse)
async def menu_preview(request: Request, who: Admin, ctx: HQ) -> HTMLResponse:
    """What the uploaded menu would publish (its tabs, tiles and option groups), or every
    reason it would be refused; nothing is written."""
    up = await _checked(request, who, ctx)
    if isinstance(up, HTMLResponse):
        return up
    names = await run_in_threadpool(_names, ctx, [tile.sku for tile in up.draft.tiles])
    return _render(
        request,
        "_menu_preview.html",
        who,
        problems=[],
        draft=up.draft,
        names=names,
        body=up.keep["body"],
        store=up.keep["store"],
        effective_at=up.keep["effective_at"],
    )


def _names(ctx: HQContext, skus: list[str]) -> dict[str, tuple[str, str]]:
    with ctx.db.read() as conn:
        return q.item_names(conn, skus)


@router.post("/menu/publish")
async def menu_publish(request: Request, who: Admin, ctx: HQ) -> Response:
    """Publishes the previewed menu through the same operation as ``chainpos-hq menu
    import``, audited as the console user."""
    up = await _checked(request, who, ctx)
    if isinstance(up, HTMLResponse):
        return up
    try:
        published = await run_in_threadpool(
            lambda: menu.publish_menu(
                ctx.db, up.body, store=up.store, effective_at=up.effective, actor=who.actor
            )
        )
    except ApiError as exc:
        msg = _error_text(who, request, exc)
        return _preview(request, who, status=exc.status, problems=[msg], **up.keep)
    response = Response(status_code=204)
    response.headers["HX-Redirect"] = f"/console/menu?done=menu_published#v{published.version}"
    return response
