"""Who may read HQ's operator pages: ``/docs``, ``/redoc``, ``/openapi.json``, ``/metrics``.

They help in development and demos but tell an outsider every route and the chain's
traffic, so :attr:`server_stub.settings.Settings.ops_pages` chooses:

* ``on``: public (the default, for development, the demo and the embedded HQ);
* ``token``: only with ``Authorization: Bearer <admin token>`` (401/403 otherwise);
* ``off``: 404, as if they did not exist.

Production runs ``off`` or ``token``. The check is an ASGI middleware in front of the
app, so no route needs to know.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from server_stub import auth
from server_stub.db import Database
from server_stub.errors import ApiError, answer_protocol, error_body
from sync_client.contract.protocol import error_answer

OpsPages = Literal["on", "token", "off"]
MODES: tuple[str, ...] = get_args(OpsPages)
PATHS = ("/docs", "/redoc", "/openapi.json", "/metrics")


def is_ops_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PATHS)


class GuardOpsPages:
    """ASGI middleware applying the ``ops_pages`` mode to :data:`PATHS`."""

    def __init__(self, app: ASGIApp, mode: OpsPages, db: Database) -> None:
        self.app = app
        self.mode = mode
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.mode == "on" or scope["type"] != "http" or not is_ops_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.mode == "off":
            version = answer_protocol(HTTPConnection(scope))
            refusal = JSONResponse(error_answer("not_found", "Not Found", protocol=version), 404)
            await refusal(scope, receive, send)
            return
        token = _bearer(scope)
        try:
            await asyncio.to_thread(self._check_admin, token)
        except ApiError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            refusal = JSONResponse(_answer(scope, exc), exc.status, headers)
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check_admin(self, token: str | None) -> None:
        with self.db.read() as conn:
            auth.authenticate_admin(conn, token, datetime.now(UTC))


def _answer(scope: Scope, exc: ApiError) -> dict[str, Any]:
    return error_body(HTTPConnection(scope), exc)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def install(app: FastAPI, mode: OpsPages, db: Database) -> None:
    """Puts the guard in front of ``app`` (a no-op for ``on``)."""
    if mode not in MODES:
        raise ValueError(f"ops_pages must be one of {', '.join(MODES)}, not {mode!r}")
    if mode != "on":
        app.add_middleware(GuardOpsPages, mode=mode, db=db)
