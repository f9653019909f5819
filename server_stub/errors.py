"""HTTP errors: one JSON shape (:class:`sync_client.contract.protocol.ErrorBody`) for every 4xx.

Every refusal is logged at WARNING with the path and the machine code, so an operator can
see bad input without a debugger; none of them changes any data. A client that declares
protocol 1 (or none) gets the code under its version-1 name ``error`` too
(:func:`sync_client.contract.protocol.error_answer`).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync_client.contract import protocol as p
from sync_client.contract.errors import ChainPosError

log = logging.getLogger("chainpos.hq.http")


class ApiError(ChainPosError):
    """A refusal with an HTTP status, a stable ``code``, an explanation and ``params``
    (the values the client's text needs: what was asked, what is left, where, when)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(code, f"{status} {code}: {detail}", **params)
        self.status = status
        self.detail = detail
        self.headers = headers

    @classmethod
    def of(cls, status: int, exc: ChainPosError) -> ApiError:
        """``exc`` (a rule the request broke) as a refusal with its code and params; a
        param named like an argument here (``detail``...) gives way to the argument."""
        taken = ("status", "code", "detail", "headers")
        params = {k: v for k, v in exc.params.items() if k not in taken}
        return cls(status, exc.code, exc.message, **params)


def unauthorised(code: str, detail: str) -> ApiError:
    """A 401 with the ``WWW-Authenticate`` header clients expect."""
    return ApiError(401, code, detail, headers={"WWW-Authenticate": 'Bearer realm="chainpos-hq"'})


ERROR_MODEL = p.ErrorBody | p.ErrorBodyV1
"""An error answer as documented: ``ErrorBodyV1`` to clients of protocol 1 (or of none)."""
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ERROR_MODEL, "description": "Malformed JSON or an unsupported request."},
    401: {"model": ERROR_MODEL, "description": "Missing, unknown, expired or revoked token."},
    403: {"model": ERROR_MODEL, "description": "The token may not do this (role or store)."},
    413: {"model": ERROR_MODEL, "description": "Body larger than the limit."},
    422: {"model": ERROR_MODEL, "description": "The JSON does not have the documented shape."},
}
"""The refusals every route may answer, for the OpenAPI document."""


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


def answer_protocol(conn: HTTPConnection) -> int:
    """The version to answer a request (or WebSocket handshake) in: the one its
    ``X-ChainPOS-Protocol`` header declares (see :func:`p.answer_protocol`)."""
    raw = conn.headers.get(p.PROTOCOL_HEADER)
    try:
        declared = None if raw is None else int(raw.strip())
    except ValueError:
        declared = None
    return p.answer_protocol(declared)


def error_body(conn: HTTPConnection, exc: ApiError) -> dict[str, Any]:
    """``exc`` as the JSON of an :class:`ErrorBody` for the client of ``conn``."""
    params = exc.as_wire()["params"]
    return p.error_answer(exc.code, exc.detail, params, protocol=answer_protocol(conn))


def _body(conn: HTTPConnection, code: str, detail: Any) -> dict[str, Any]:
    return p.error_answer(code, detail, protocol=answer_protocol(conn))


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    # Keep what helps the sender; drop echoed input and exception objects in ``ctx``.
    out = []
    for err in errors:
        out.append(
            {
                "loc": [str(x) for x in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


def install(app: FastAPI) -> None:
    """Registers the handlers that turn every refusal into an :class:`ErrorBody`."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        log.warning(
            "%s %s from %s: %d %s (%s)",
            request.method,
            request.url.path,
            _client(request),
            exc.status,
            exc.code,
            exc.detail,
        )
        return JSONResponse(error_body(request, exc), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean_errors(exc.errors())
        if any(e["type"] == "json_invalid" for e in errors):
            status, code = 400, "malformed_json"
        else:
            status, code = 422, "invalid_request"
        log.warning(
            "%s %s from %s: %d %s %s",
            request.method,
            request.url.path,
            _client(request),
            status,
            code,
            errors[:3],
        )
        return JSONResponse(_body(request, code, errors), status)

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the schema allowed (a NUL character in text on
        # PostgreSQL, a number beyond its column): the request is at fault, nothing was
        # written (the transaction rolled back).
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else "value not storable"
        log.warning(
            "%s %s from %s: 422 invalid_value (%s)",
            request.method,
            request.url.path,
            _client(request),
            first,
        )
        return JSONResponse(
            _body(request, "invalid_value", f"a value cannot be stored: {first}"), 422
        )

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: Exception) -> JSONResponse:
        # A time so close to year 1 or 9999 that converting it to UTC leaves the
        # calendar: the request is at fault, nothing was written.
        log.warning(
            "%s %s from %s: 422 invalid_value (%s)",
            request.method,
            request.url.path,
            _client(request),
            exc,
        )
        return JSONResponse(_body(request, "invalid_value", f"a value is out of range: {exc}"), 422)

    @app.exception_handler(StatementError)
    async def _statement(request: Request, exc: StatementError) -> JSONResponse:
        # SQLAlchemy wraps what a column type raised while binding a value.
        if isinstance(exc.orig, OverflowError):
            return await _overflow(request, exc.orig)
        raise exc

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {
            400: "bad_request",
            404: "not_found",
            405: "method_not_allowed",
            413: "body_too_large",
        }
        code = codes.get(exc.status_code, "http_error")
        log.warning(
            "%s %s from %s: %d %s",
            request.method,
            request.url.path,
            _client(request),
            exc.status_code,
            code,
        )
        return JSONResponse(
            _body(request, code, str(exc.detail)),
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )


class BodyLimit:
    """ASGI middleware: refuses HTTP bodies over ``max_bytes`` with 413, whether the size
    is announced in ``Content-Length`` or only discovered while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await self._refuse(scope, send, 400, "bad_request", "bad Content-Length")
                    return
        if length is not None and length > self.max_bytes:
            await self._refuse(scope, send, 413, "body_too_large", self._detail())
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, send, 413, "body_too_large", self._detail())

    def _detail(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"

    async def _refuse(self, scope: Scope, send: Send, status: int, code: str, detail: str) -> None:
        log.warning("%s %s: %d %s", scope.get("method"), scope.get("path"), status, code)
        version = answer_protocol(HTTPConnection(scope))
        response = JSONResponse(p.error_answer(code, detail, protocol=version), status)
        await response(scope, _no_body, send)


class _TooLarge(StarletteHTTPException):
    # An HTTPException so that FastAPI's body reader re-raises it unchanged and the
    # handler above answers 413 in the usual JSON shape.
    def __init__(self) -> None:
        super().__init__(413, "request body too large")


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
