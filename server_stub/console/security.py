"""Who is asking, and may they: the console's one dependency, :func:`require_console`.

Every console route depends on it. It reads the signed session cookie, loads the session
(expired or unknown: not signed in), checks the user's role against the route's roles,
checks the CSRF token of every POST (form field ``csrf`` or the ``X-CSRF-Token`` header
htmx sends), and checks the scope of every store the request names — in the query, the
path or the form, directly (``store``, ``stores``, ``region``) or through a terminal or
staff member it names — against the stores the user may see. Hiding a link is never the
check: a crafted request meets the same refusals.
"""

# No ``from __future__ import annotations``: FastAPI must resolve the dependency annotations.
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Table, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from server_stub import models as m
from server_stub.audit import Actor
from server_stub.console import users
from server_stub.console.i18n import DEFAULT_LANGUAGE, LANGUAGES
from server_stub.deps import HQContext, hq_context

COOKIE = "chainpos_console"
LANG_COOKIE = "chainpos_console_lang"

ANY_ROLE = users.ROLES
WRITERS = ("hq_admin", "regional_manager", "store_manager")
ADMIN = ("hq_admin",)
AUDIT_READERS = ("hq_admin", "auditor")


class ConsoleRefusal(Exception):
    """A console request refused; rendered as a page (or, not signed in, a redirect to
    the sign-in page)."""

    def __init__(self, status: int, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user of this request and what they may see.

    ``stores``: the store codes in scope, or None for every store (HQ admin, auditor).
    """

    session: users.Session
    stores: frozenset[str] | None
    lang: str

    @property
    def user(self) -> users.ConsoleUser:
        return self.session.user

    @property
    def role(self) -> str:
        return self.session.user.role

    @property
    def csrf(self) -> str:
        return self.session.csrf_token

    @property
    def actor(self) -> Actor:
        return Actor(f"console:{self.user.username}", self.user.store)

    @property
    def can_write(self) -> bool:
        return self.role in WRITERS

    def sees(self, store: str | None) -> bool:
        return self.stores is None or (store is not None and store in self.stores)

    def require_store(self, store: str) -> None:
        if not self.sees(store):
            raise ConsoleRefusal(
                403, "out_of_scope", f"{self.user.username} may not act for {store}"
            )

    def require_region(self, region: str) -> None:
        if self.role == "hq_admin":
            return
        if self.role != "regional_manager" or region != self.user.region:
            raise ConsoleRefusal(403, "out_of_scope", f"region {region} is out of scope")


def cookie_key(ctx: HQContext) -> bytes:
    """The key that signs session cookies, derived from HQ's member keys file (so every
    HQ process of a chain accepts the same cookies)."""
    return hmac.new(
        ctx.keys.phone_hash, b"chainpos console session cookie", hashlib.sha256
    ).digest()


def sign_cookie(ctx: HQContext, session_id: str) -> str:
    sig = hmac.new(cookie_key(ctx), session_id.encode("ascii"), hashlib.sha256).hexdigest()
    return f"{session_id}.{sig}"


def unsign_cookie(ctx: HQContext, value: str | None) -> str | None:
    """The session id in a cookie value, or None when the signature does not match."""
    if not value or "." not in value:
        return None
    session_id, _, sig = value.rpartition(".")
    if not session_id.isascii():
        return None
    want = hmac.new(cookie_key(ctx), session_id.encode("ascii"), hashlib.sha256).hexdigest()
    return session_id if hmac.compare_digest(want, sig) else None


def language(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, DEFAULT_LANGUAGE)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def _scope(ctx: HQContext, user: users.ConsoleUser) -> frozenset[str] | None:
    if user.role in ("hq_admin", "auditor"):
        return None
    if user.role == "store_manager":
        return frozenset([user.store] if user.store else [])
    with ctx.db.read() as conn:
        rows = conn.execute(select(m.stores.c.code).where(m.stores.c.region == user.region))
        return frozenset(rows.scalars())


def _store_of(ctx: HQContext, table: Table, key: str) -> str | None:
    """The store of the terminal or staff member ``key`` of ``table`` (None: unknown, or
    chain-wide staff)."""
    key_col = table.c.id if table is m.devices else table.c.number
    with ctx.db.read() as conn:
        store: str | None = conn.execute(select(table.c.store_code).where(key_col == key)).scalar()
        return store


def require_console(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """The dependency of a console route open to ``roles`` (default: every role)."""
    allowed = roles or ANY_ROLE

    async def dependency(request: Request) -> Principal:
        ctx = hq_context(request)
        session_id = unsign_cookie(ctx, request.cookies.get(COOKIE))
        sess = await run_in_threadpool(users.session, ctx.db, session_id) if session_id else None
        if sess is None:
            raise ConsoleRefusal(401, "not_signed_in", "sign in first")
        who = Principal(sess, await run_in_threadpool(_scope, ctx, sess.user), language(request))
        if who.role not in allowed:
            raise ConsoleRefusal(403, "forbidden", f"the {who.role} role may not do this")
        names: list[tuple[str, str]] = list(request.query_params.multi_items())
        names += [(k, str(v)) for k, v in request.path_params.items()]
        if request.method not in ("GET", "HEAD"):
            form = await request.form()
            token = request.headers.get("x-csrf-token") or str(form.get("csrf") or "")
            if not token or not hmac.compare_digest(token, who.csrf):
                raise ConsoleRefusal(403, "csrf_failed", "the form is stale; reload the page")
            origin = request.headers.get("origin")
            if origin and origin.split("://", 1)[-1] != request.headers.get("host"):
                raise ConsoleRefusal(403, "csrf_failed", "the request came from another site")
            names += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        for name, value in names:
            if not value:
                continue
            if name in ("store", "stores"):
                who.require_store(value)
            elif name == "region":
                who.require_region(value)
            elif name == "device_id":
                store = await run_in_threadpool(_store_of, ctx, m.devices, value)
                if store is not None:
                    who.require_store(store)
            elif name == "staff_number":
                store = await run_in_threadpool(_store_of, ctx, m.staff, value)
                if store is not None or who.stores is not None:
                    # Chain-wide staff (no store) are only for users who see every store.
                    who.require_store(store or "*")
        return who

    return dependency
