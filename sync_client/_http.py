"""HQ's HTTP API as the terminal uses it (httpx).

Every transport failure, HQ fault (5xx) or unreadable answer becomes
:class:`HQUnavailable`: the caller retries later, which is safe because every call here is
idempotent. A refusal (4xx) becomes :class:`HQRefused` with HQ's machine code.
"""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit
from uuid import UUID

import httpx
from pydantic import BaseModel, ValidationError

from sync_client._errors import (
    DeviceRevoked,
    EnrollmentError,
    HQRefused,
    HQUnavailable,
    ResyncNeeded,
)
from sync_client._feed import LenientPage, validate_answer
from sync_client.contract import protocol as p

M = TypeVar("M", bound=BaseModel)

USER_AGENT = f"chainpos-terminal/{p.PROTOCOL_VERSION}"
PROTOCOL_HEADER = p.PROTOCOL_HEADER
"""Every request names the protocol version the till speaks; HQ answers in it."""
INTERACTIVE_TIMEOUT_S = 3.0
"""How long a call a cashier waits on (identify, sign-up, holds) may take, in seconds."""
REVOKED_ERRORS = frozenset({"token_revoked", "invalid_token", "unauthorised"})

Verify = bool | str | ssl.SSLContext
"""TLS verification: True (system CAs), a CA bundle path, or a context. Never False in
production; HQ serves TLS and the client verifies it."""


def _refusal(r: httpx.Response) -> HQRefused:
    """HQ's 4xx answer as an error: ``code`` (``error`` from an HQ of protocol 1),
    ``params`` and ``detail``; whatever else the body holds is ignored."""
    params: dict[str, Any] = {}
    try:
        body = r.json()
        code = body.get("code", body.get(p.LEGACY_ERROR_KEY))
        code = str(code) if code is not None else "http_error"
        detail = body.get("detail", "")
        detail = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)
        if isinstance(body.get("params"), dict):
            params = {str(k): v for k, v in body["params"].items()}
    except (ValueError, AttributeError):
        code, detail = "http_error", r.text[:200]
    if r.status_code == 401 and code in REVOKED_ERRORS:
        return DeviceRevoked(r.status_code, code, detail, params)
    return HQRefused(r.status_code, code, detail, params)


def _refuses_protocol(exc: HQRefused) -> bool:
    """Whether a 422 says the body's ``protocol`` is one HQ does not speak (an older HQ)."""
    return exc.code == "invalid_request" and '"protocol"' in exc.detail


def _parse(model: type[M], r: httpx.Response) -> M:
    """HQ's answer as ``model``; fields a newer HQ added are ignored."""
    try:
        return validate_answer(model, r.content)
    except ValidationError as exc:
        raise HQUnavailable(
            f"HQ answered {r.request.url.path} with a body that is not a {model.__name__}: "
            f"{exc.error_count()} error(s), first: {exc.errors()[0]['msg']}"
        ) from None
    except ValueError:
        path = r.request.url.path
        raise HQUnavailable(f"HQ answered {path} with a body that is not JSON") from None


class HQClient:
    """An authenticated connection to HQ for one device. Async; one per event loop.

    ``timeout`` bounds the sync's own calls (push, pull, snapshot); ``interactive_timeout``
    the member calls a cashier waits on, which give up sooner so the till can fall back
    to what works offline.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        interactive_timeout: float = INTERACTIVE_TIMEOUT_S,
        verify: Verify = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.push_protocol: p.ProtocolVersion = p.PROTOCOL_VERSION
        """The version pushes are sent in: the newest both sides speak, as far as known
        (every pull answer names HQ's)."""
        self._interactive = httpx.Timeout(interactive_timeout)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": USER_AGENT,
                PROTOCOL_HEADER: str(p.PROTOCOL_VERSION),
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            verify=verify,
            transport=transport,
            trust_env=False,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            r = await self._client.request(method, path, **kw)
        except httpx.HTTPError as exc:  # transport errors, timeouts, broken framing
            raise HQUnavailable(f"{type(exc).__name__}: {exc}") from None
        if r.status_code >= 500:
            raise HQUnavailable(f"HQ fault {r.status_code} on {path}")
        if r.status_code == 410:
            try:
                body = validate_answer(p.ResyncRequired, r.content)
            except (ValidationError, ValueError):
                raise HQUnavailable("HQ asked for a resync with an unreadable body") from None
            raise ResyncNeeded(body.detail, body.snapshot)
        if r.status_code >= 400:
            raise _refusal(r)
        return r

    async def time_sample(
        self, wall: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> tuple[float, float]:
        """One clock exchange: (HQ minus the ``wall`` clock, round trip), in seconds."""
        sent_wall = wall()
        sent = time.perf_counter()
        r = await self._request("GET", "/v1/time")
        rtt = time.perf_counter() - sent
        server = _parse(p.TimeResponse, r).server_time
        midpoint = sent_wall.timestamp() + rtt / 2
        return server.timestamp() - midpoint, rtt

    async def push(self, events: list[dict[str, Any]]) -> p.PushResponse:
        """Sends a batch in the newest protocol HQ speaks: an older HQ refuses a newer
        ``protocol`` in the body (422) before looking at any event, so the same batch goes
        again in version 1, and later pushes stay at 1 until a pull answer says more."""
        body = p.PushRequest(protocol=self.push_protocol, events=events)
        try:
            r = await self._request("POST", "/v1/sync/push", json=body.model_dump(mode="json"))
        except HQRefused as exc:
            if self.push_protocol == 1 or not _refuses_protocol(exc):
                raise
            self.push_protocol = 1
            return await self.push(events)
        return _parse(p.PushResponse, r)

    async def pull(self, after: int, limit: int = 1000, stock: str = "own") -> LenientPage:
        """A page of changes with each change still unread (see :mod:`sync_client._feed`):
        one change this till cannot read must not make the whole page unreadable."""
        r = await self._request(
            "GET", "/v1/sync/pull", params={"after": after, "limit": limit, "stock": stock}
        )
        page = _parse(LenientPage, r)
        self.push_protocol = p.answer_protocol(page.protocol)
        return page

    async def report_problems(self, problems: list[p.SyncProblem]) -> p.ProblemsAccepted:
        """``POST /v1/sync/problems``: changes this till quarantined, settings it refused."""
        body = p.ProblemReport(problems=problems)
        r = await self._request("POST", "/v1/sync/problems", json=body.model_dump(mode="json"))
        return _parse(p.ProblemsAccepted, r)

    async def snapshot(self, path: str = "/v1/sync/snapshot") -> p.Snapshot:
        if not path.startswith("/v1/"):
            path = "/v1/sync/snapshot"
        r = await self._request("GET", path)
        return _parse(p.Snapshot, r)

    async def stock_page(self, after: str, limit: int = p.MAX_STOCK_PAGE) -> p.StockPage:
        """``GET /v1/sync/snapshot/stock``: a page of every store's levels after ``after``."""
        r = await self._request("GET", p.STOCK_PAGES_PATH, params={"after": after, "limit": limit})
        return _parse(p.StockPage, r)

    async def stock(self, sku: str) -> p.StockLookup:
        r = await self._request("GET", f"/v1/stock/{quote(sku, safe='')}")
        return _parse(p.StockLookup, r)

    async def pickup_ready(self, reservation_id: UUID) -> p.PickupData:
        """``POST /v1/pickups/{reservation_id}/ready``: the order is packed and waiting."""
        return await self._member_call(p.PickupData, "POST", f"/v1/pickups/{reservation_id}/ready")

    async def stock_proposals(self, store: str) -> p.ProposalList:
        """HQ's transfer proposals for ``store`` (stores above their maximum to it)."""
        r = await self._request("GET", "/v1/stock/proposals", params={"store": store})
        return _parse(p.ProposalList, r)

    # -- members (a cashier is waiting: the short timeout) ---------------------------------

    async def _member_call(
        self, model: type[M], method: str, path: str, body: BaseModel | None = None
    ) -> M:
        json_body = None if body is None else body.model_dump(mode="json", exclude_none=True)
        r = await self._request(method, path, json=json_body, timeout=self._interactive)
        return _parse(model, r)

    async def identify(self, req: p.IdentifyRequest) -> p.MemberPanel:
        """``POST /v1/members/identify``: the member of a scanned code or a phone number."""
        return await self._member_call(p.MemberPanel, "POST", "/v1/members/identify", req)

    async def sign_up(self, req: p.SignUpRequest) -> p.SignUpResponse:
        """``POST /v1/members`` (201 new member, 200 a replay or a phone already known)."""
        return await self._member_call(p.SignUpResponse, "POST", "/v1/members", req)

    async def hold(self, req: p.HoldRequest) -> p.HoldData:
        """``POST /v1/members/holds`` (201 new, 200 the same ``hold_id`` again)."""
        return await self._member_call(p.HoldData, "POST", "/v1/members/holds", req)

    async def get_hold(self, hold_id: UUID) -> p.HoldData:
        """``GET /v1/members/holds/{hold_id}``: what became of a hold."""
        return await self._member_call(p.HoldData, "GET", f"/v1/members/holds/{hold_id}")

    async def release_hold(self, hold_id: UUID) -> p.HoldData:
        """``POST /v1/members/holds/{hold_id}/release`` (409 ``hold_captured`` when a sale
        spent it; 404 ``unknown_hold`` when HQ never made it)."""
        return await self._member_call(p.HoldData, "POST", f"/v1/members/holds/{hold_id}/release")

    # -- shifts (a manager is waiting: the short timeout) ----------------------------------

    async def close_day(self, store: str, req: p.DayCloseRequest) -> p.DayReport:
        """``POST /v1/stores/{store}/day-close``: the Z report (201 new, 200 the day was
        closed already; 409 ``shifts_open`` while a till's shift is open; 403
        ``not_store_manager``)."""
        return await self._member_call(p.DayReport, "POST", f"/v1/stores/{store}/day-close", req)

    # -- returns (a cashier is waiting: the short timeout) ---------------------------------

    async def lookup_sales(self, req: p.SaleLookupRequest) -> p.SaleLookupResponse:
        """``POST /v1/returns/lookup``: sales to return, with every earlier return (400
        ``bad_receipt`` for a forged or altered receipt code)."""
        return await self._member_call(p.SaleLookupResponse, "POST", "/v1/returns/lookup", req)

    async def authorise_return(self, req: p.ReturnAuthRequest) -> p.ReturnAuthData:
        """``POST /v1/returns/authorisations`` (201 new, 200 the same ``auth_id`` again; 409
        ``not_returnable`` when a line has not that much left to return)."""
        return await self._member_call(p.ReturnAuthData, "POST", "/v1/returns/authorisations", req)

    async def get_return_auth(self, auth_id: UUID) -> p.ReturnAuthData:
        """``GET /v1/returns/authorisations/{auth_id}``: what became of an authorisation."""
        return await self._member_call(
            p.ReturnAuthData, "GET", f"/v1/returns/authorisations/{auth_id}"
        )

    async def release_return_auth(self, auth_id: UUID) -> p.ReturnAuthData:
        """``POST /v1/returns/authorisations/{auth_id}/release`` (409 ``auth_captured`` when
        a return captured it; 404 ``unknown_auth`` when HQ never made it)."""
        return await self._member_call(
            p.ReturnAuthData, "POST", f"/v1/returns/authorisations/{auth_id}/release"
        )


INSECURE_HQ_ENV = "CHAINPOS_ALLOW_INSECURE_HQ"
"""Set to ``1`` in a lab to let a terminal enrol with HQ over plain ``http://``."""


def insecure_hq_allowed() -> bool:
    """Whether the lab flag :data:`INSECURE_HQ_ENV` is set."""
    return os.environ.get(INSECURE_HQ_ENV, "").strip() == "1"


def _is_loopback(host: str) -> bool:
    host = host.lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_hq_address(base_url: str, *, allow_insecure: bool = False) -> None:
    """Refuses an HQ address a terminal must not trust with its credentials.

    ``https://`` always passes; ``http://`` only to this machine (loopback: the demo and
    tests), or anywhere when ``allow_insecure`` (the lab flag). A rogue enrolment QR
    pointing at ``http://`` elsewhere would otherwise hand the device token, PIN hashes
    and every sale to whoever answers.

    Raises:
        EnrollmentError: ``bad_address`` (not http/https, or no host) or
            ``insecure_address`` (plain HTTP to another machine).
    """
    try:
        parts = urlsplit(base_url.strip())
        host = parts.hostname or ""
    except ValueError as exc:
        raise EnrollmentError("bad_address", str(exc)) from None
    if parts.scheme not in ("http", "https") or not host:
        raise EnrollmentError("bad_address", "HQ's address starts with https:// (or http://)")
    if parts.scheme == "http" and not allow_insecure and not _is_loopback(host):
        raise EnrollmentError(
            "insecure_address",
            f"{parts.scheme}://{parts.netloc} is not encrypted; HQ is reached over https://",
        )


def enroll(
    base_url: str,
    store: str,
    code: str,
    device_name: str,
    *,
    verify: Verify = True,
    timeout: float = 15.0,
    transport: httpx.BaseTransport | None = None,
    allow_insecure: bool | None = None,
) -> p.EnrollResponse:
    """Exchanges a one-time code for the device's identity (blocking; not on the GUI thread).

    ``allow_insecure``: accept a plain ``http://`` HQ on another machine (see
    :func:`check_hq_address`); None: only when the lab flag :data:`INSECURE_HQ_ENV` is set.

    Raises:
        EnrollmentError: HQ refused (``error`` is its code, e.g. ``enroll_code_used``), could
            not be reached (``unreachable``), answered something unreadable, or its address
            is refused (``bad_address``, ``insecure_address``) before anything is sent.
    """
    if allow_insecure is None:
        allow_insecure = insecure_hq_allowed()
    check_hq_address(base_url, allow_insecure=allow_insecure)
    try:
        body = p.EnrollRequest(store=store, code=code, device_name=device_name)
    except ValidationError as exc:
        raise EnrollmentError("invalid_request", exc.errors()[0]["msg"]) from None
    try:
        with httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            verify=verify,
            trust_env=False,
            transport=transport,
            headers={"User-Agent": USER_AGENT},
        ) as client:
            r = client.post("/v1/devices/enroll", json=body.model_dump(mode="json"))
    except httpx.HTTPError as exc:
        raise EnrollmentError("unreachable", f"{type(exc).__name__}: {exc}") from None
    except (ValueError, ssl.SSLError) as exc:
        raise EnrollmentError("bad_address", str(exc)) from None
    if r.status_code >= 400:
        refusal = _refusal(r)
        raise EnrollmentError(refusal.code, refusal.detail)
    try:
        return validate_answer(p.EnrollResponse, r.content)
    except (ValidationError, ValueError):
        raise EnrollmentError("bad_answer", "HQ's answer is not an enrolment") from None
