"""Bad input of every kind gets a precise 4xx, is logged, and changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from tests.server.conftest import Chain, Device, RunningHQ
from tests.server.helpers import state

MIB = 1 << 20


@pytest.fixture(scope="module")
def actors(chain: Chain) -> tuple[Device, str, str]:
    store = chain.store()
    chain.item(sku="BAD-INPUT-SKU")
    return chain.device(store), chain.admin_token(), store


def _big_chunks(total: int) -> Iterator[bytes]:
    chunk = b'{"events": [' + b" " * 65536
    sent = 0
    while sent < total:
        yield chunk
        sent += len(chunk)


CASES = [
    # (id, method, path, who, kwargs, status, error)
    (
        "malformed-json",
        "POST",
        "/v1/sync/push",
        "device",
        {"content": b'{"events": [', "headers": {"Content-Type": "application/json"}},
        400,
        "malformed_json",
    ),
    ("not-an-object", "POST", "/v1/sync/push", "device", {"json": [1, 2]}, 422, "invalid_request"),
    (
        "events-not-a-list",
        "POST",
        "/v1/sync/push",
        "device",
        {"json": {"events": "x"}},
        422,
        "invalid_request",
    ),
    (
        "events-not-objects",
        "POST",
        "/v1/sync/push",
        "device",
        {"json": {"events": [1, "a"]}},
        422,
        "invalid_request",
    ),
    (
        "unknown-field",
        "POST",
        "/v1/sync/push",
        "device",
        {"json": {"events": [], "x": 1}},
        422,
        "invalid_request",
    ),
    (
        "wrong-protocol",
        "POST",
        "/v1/sync/push",
        "device",
        {"json": {"protocol": 3, "events": []}},
        422,
        "invalid_request",
    ),
    (
        "batch-too-long",
        "POST",
        "/v1/sync/push",
        "device",
        {"json": {"events": [{}] * 501}},
        422,
        "invalid_request",
    ),
    ("empty-body", "POST", "/v1/sync/push", "device", {}, 422, "invalid_request"),
    (
        "text-plain",
        "POST",
        "/v1/sync/push",
        "device",
        {"content": b'{"events": []}', "headers": {"Content-Type": "text/plain"}},
        422,
        "invalid_request",
    ),
    (
        "body-too-large",
        "POST",
        "/v1/sync/push",
        "device",
        {
            "content": b"{" + b" " * (2 * MIB) + b"}",
            "headers": {"Content-Type": "application/json"},
        },
        413,
        "body_too_large",
    ),
    (
        "chunked-too-large",
        "POST",
        "/v1/sync/push",
        "device",
        {"content": "chunked", "headers": {"Content-Type": "application/json"}},
        413,
        "body_too_large",
    ),
    ("negative-cursor", "GET", "/v1/sync/pull?after=-1", "device", {}, 422, "invalid_request"),
    ("cursor-not-a-number", "GET", "/v1/sync/pull?after=abc", "device", {}, 422, "invalid_request"),
    ("limit-too-big", "GET", "/v1/sync/pull?limit=100000", "device", {}, 422, "invalid_request"),
    ("bad-stock-mode", "GET", "/v1/sync/pull?stock=some", "device", {}, 422, "invalid_request"),
    ("bad-sku-in-path", "GET", "/v1/stock/a%20b", "device", {}, 422, "invalid_request"),
    ("no-token", "POST", "/v1/sync/push", None, {"json": {"events": []}}, 401, "unauthorised"),
    ("empty-bearer", "GET", "/v1/sync/pull", "empty", {}, 401, "unauthorised"),
    ("unknown-token", "GET", "/v1/sync/pull", "bogus", {}, 401, "invalid_token"),
    (
        "admin-on-device-route",
        "POST",
        "/v1/sync/push",
        "admin",
        {"json": {"events": []}},
        403,
        "forbidden",
    ),
    (
        "device-on-admin-route",
        "POST",
        "/v1/admin/stores",
        "device",
        {"json": {"code": "ZZ1", "name": "x"}},
        403,
        "forbidden",
    ),
    (
        "enroll-missing-fields",
        "POST",
        "/v1/devices/enroll",
        None,
        {"json": {"store": "S001"}},
        422,
        "invalid_request",
    ),
    (
        "enroll-bad-store-code",
        "POST",
        "/v1/devices/enroll",
        None,
        {"json": {"store": "s 1", "code": "ABCD-EFGH", "device_name": "x"}},
        422,
        "invalid_request",
    ),
    (
        "admin-malformed-json",
        "POST",
        "/v1/admin/prices",
        "admin",
        {"content": b"{sku:", "headers": {"Content-Type": "application/json"}},
        400,
        "malformed_json",
    ),
    (
        "admin-negative-price",
        "POST",
        "/v1/admin/prices",
        "admin",
        {"json": {"sku": "BAD-INPUT-SKU", "price_fen": -1}},
        422,
        "invalid_request",
    ),
    (
        "admin-naive-time",
        "POST",
        "/v1/admin/prices",
        "admin",
        {"json": {"sku": "BAD-INPUT-SKU", "price_fen": 100, "effective_at": "2031-01-01T00:00:00"}},
        422,
        "invalid_request",
    ),
    (
        "admin-unknown-sku",
        "POST",
        "/v1/admin/prices",
        "admin",
        {"json": {"sku": "NO-SUCH", "price_fen": 100}},
        404,
        "unknown_sku",
    ),
    (
        "admin-past-price",
        "POST",
        "/v1/admin/prices",
        "admin",
        {
            "json": {
                "sku": "BAD-INPUT-SKU",
                "price_fen": 100,
                "effective_at": "2001-01-01T00:00:00Z",
            }
        },
        422,
        "effective_in_past",
    ),
    (
        "admin-staff-bad-pin",
        "POST",
        "/v1/admin/staff",
        "admin",
        {"json": {"number": "77", "store": None, "name": "x", "role": "hq_admin", "pin": "12ab"}},
        422,
        "invalid_request",
    ),
    (
        "admin-cashier-without-store",
        "POST",
        "/v1/admin/staff",
        "admin",
        {"json": {"number": "77", "name": "x", "role": "cashier", "pin": "1234"}},
        422,
        "store_required",
    ),
    (
        "csv-not-utf8",
        "POST",
        "/v1/admin/catalog/import",
        "admin",
        {
            "content": "sku,name_zh,unit\nA,好,piece\n".encode("gb18030"),
            "headers": {"Content-Type": "text/csv"},
        },
        400,
        "bad_encoding",
    ),
    (
        "admin-nul-in-text",
        "POST",
        "/v1/admin/stores",
        "admin",
        {"json": {"code": "NUL1", "name": "a\u0000b"}},
        422,
        "invalid_request",
    ),
    ("unknown-route", "GET", "/v1/nothing-here", None, {}, 404, "not_found"),
    ("wrong-method", "DELETE", "/v1/sync/push", "device", {}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(
    ("method", "path", "who", "kwargs", "status", "error"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_bad_request_is_refused_precisely_logged_and_harmless(
    hq: RunningHQ, actors, caplog, method, path, who, kwargs, status, error
):
    device, admin_token, _store = actors
    headers = dict(kwargs.get("headers", {}))
    auth = {
        "device": f"Bearer {device.token}",
        "admin": f"Bearer {admin_token}",
        "empty": "Bearer",
        "bogus": "Bearer cpd_x",
    }.get(who)
    if auth:
        headers["Authorization"] = auth
    kw = {k: v for k, v in kwargs.items() if k != "headers"}
    if kw.get("content") == "chunked":
        kw["content"] = _big_chunks(3 * MIB)
    before = state(hq.db)
    caplog.clear()
    with caplog.at_level(logging.WARNING), httpx.Client(base_url=hq.url, timeout=30) as c:
        r = c.request(method, path, headers=headers, **kw)
    assert r.status_code == status, r.text
    assert r.json()["code"] == error
    assert state(hq.db) == before
    logged = [rec.getMessage() for rec in caplog.records if rec.name.startswith("chainpos.hq")]
    assert any(f"{status}" in msg and error in msg for msg in logged), logged


def test_one_unknown_event_type_does_not_change_anything(hq: RunningHQ, actors, chain: Chain):
    device, _, store = actors
    event = chain.event({"type": "points.redeemed", "store": store, "points": 500})
    before = state(hq.db)
    with httpx.Client(base_url=hq.url) as c:
        r = c.post("/v1/sync/push", json={"events": [event]}, headers=device.headers)
    assert r.status_code == 200
    assert r.json()["results"][0]["code"] == "unknown_type"
    assert state(hq.db) == before
