"""The HQ console: server-rendered pages for HQ, regional and store managers and auditors,
served by HQ itself at ``/console`` (Jinja2 templates, htmx for partial updates, a
Server-Sent Events stream for the live dashboard; no front-end build).

* :mod:`.views` — the routes (one :class:`fastapi.APIRouter`), with those of
  :mod:`.chain_views` (transfers, counts, reservations, shift over/short, returns,
  payment reconciliation, discrepancies) and :mod:`.menu_views` (menu versions, sold-out
  marks, publishing a menu) included;
* :mod:`.security` — :func:`~.security.require_console`, the one dependency that checks
  session, role, CSRF and store scope on every request;
* :mod:`.users` — console users, sign-in (scrypt, optional TOTP, lockout) and sessions;
* :mod:`.queries` — the pages' read queries;
* :mod:`.i18n` — zh_CN and en texts.

Every action calls the same operations as the admin API and CLI
(:mod:`server_stub.operations`, :mod:`server_stub.members`) and is audited with the
console user as the actor.
"""

from __future__ import annotations

from server_stub.console import chain_views, menu_views
from server_stub.console.security import ConsoleRefusal
from server_stub.console.views import STATIC_DIR, refusal_page, router

router.include_router(chain_views.router)
router.include_router(menu_views.router)

__all__ = ["STATIC_DIR", "ConsoleRefusal", "refusal_page", "router"]
