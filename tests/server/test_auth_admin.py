"""Enrolment, tokens, store scoping, and the admin HTTP API that mirrors the CLI."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from server_stub import auth, operations
from server_stub import models as m
from sync_client.contract import protocol as p
from sync_client.contract.pin import verify_pin
from tests.server.conftest import Chain, RunningHQ
from tests.server.helpers import feed_changes, level, state


def enroll(client: httpx.Client, store: str, code: str) -> httpx.Response:
    return client.post(
        "/v1/devices/enroll", json={"store": store, "code": code, "device_name": "前台"}
    )


def test_enrolment_numbers_devices_per_store_and_codes_work_once(
    hq: RunningHQ, chain: Chain, client
):
    store = chain.store()
    code1 = operations.create_enroll_code(hq.db, store).code
    code2 = operations.create_enroll_code(hq.db, store).code
    first = enroll(client, store, code1)
    assert first.status_code == 200
    body = p.EnrollResponse.model_validate(first.json())
    assert body.device_id == f"{store}-T01"
    assert len(base64.b64decode(body.receipt_secret, validate=True)) == 32
    assert body.token.startswith("cpd_")
    # Typed in lower case with the dash dropped: the same code.
    second = enroll(client, store, code2.lower().replace("-", ""))
    assert second.json()["device_id"] == f"{store}-T02"

    reused = enroll(client, store, code1)
    assert (reused.status_code, reused.json()["code"]) == (401, "enroll_code_used")
    unknown = enroll(client, store, "ABCD-EFGH")
    assert (unknown.status_code, unknown.json()["code"]) == (401, "enroll_code_invalid")


def test_enrolment_code_is_bound_to_its_store_and_expires(hq: RunningHQ, chain: Chain, client):
    store, other = chain.store(), chain.store()
    code = operations.create_enroll_code(hq.db, store).code
    wrong = enroll(client, other, code)
    assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_store")
    assert enroll(client, store, code).status_code == 200  # the refusal did not burn it

    old = operations.create_enroll_code(hq.db, store).code
    with hq.db.write() as tx:
        tx.conn.execute(
            update(m.enroll_codes)
            .where(m.enroll_codes.c.code_hash == auth.enroll_code_hash(old))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = enroll(client, store, old)
    assert (expired.status_code, expired.json()["code"]) == (401, "enroll_code_expired")


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, "unauthorised"),
        ("Bearer cpd_not-a-real-token", "invalid_token"),
        ("Basic dXNlcjpwYXNz", "unauthorised"),
    ],
)
def test_device_calls_need_a_valid_token(hq: RunningHQ, client, header, error):
    headers = {"Authorization": header} if header else {}
    for method, path in [
        ("GET", "/v1/sync/pull"),
        ("POST", "/v1/sync/push"),
        ("GET", "/v1/stock/X"),
    ]:
        kw = {"json": {"events": []}} if method == "POST" else {}
        r = client.request(method, path, headers=headers, **kw)
        assert r.status_code == 401, (path, r.text)
        assert r.json()["code"] == error
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_revoked_device_gets_401_everywhere(hq: RunningHQ, chain: Chain, client):
    store = chain.store()
    sku = chain.item()
    dev = chain.device(store)
    assert client.get("/v1/sync/pull", params={"after": 0}, headers=dev.headers).status_code in (
        200,
        410,
    )
    operations.revoke_device(hq.db, dev.device_id)
    before = state(hq.db)
    for method, path, kw in [
        ("GET", "/v1/sync/pull", {}),
        ("GET", "/v1/sync/snapshot", {}),
        ("GET", f"/v1/stock/{sku}", {}),
        ("POST", "/v1/sync/push", {"json": {"events": [chain.sale(dev, [(sku, 1000)])]}}),
    ]:
        r = client.request(method, path, headers=dev.headers, **kw)
        assert (r.status_code, r.json()["code"]) == (401, "token_revoked"), path
    assert state(hq.db) == before


def test_admin_and_device_tokens_stay_in_their_lanes(hq: RunningHQ, chain: Chain, client):
    store = chain.store()
    dev = chain.device(store)
    admin = {"Authorization": f"Bearer {chain.admin_token()}"}
    r = client.get("/v1/admin/stores", headers=dev.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = client.get("/v1/sync/pull", headers=admin)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    assert client.get("/v1/admin/stores", headers=admin).status_code == 200
    assert client.get("/v1/admin/stores").status_code == 401


def test_expired_and_revoked_admin_tokens_are_refused(hq: RunningHQ, chain: Chain, client):
    token = operations.create_admin_token(hq.db, "short-lived", days=1)
    with hq.db.write() as tx:
        tx.conn.execute(
            update(m.admin_tokens)
            .where(m.admin_tokens.c.name == "short-lived")
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    r = client.get("/v1/admin/stores", headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, r.json()["code"]) == (401, "token_expired")
    other = chain.admin_token()
    with hq.db.read() as conn:
        name = (
            conn.execute(
                m.admin_tokens.select().where(m.admin_tokens.c.token_hash == auth.token_hash(other))
            )
            .one()
            .name
        )
    operations.revoke_admin_token(hq.db, name)
    r = client.get("/v1/admin/stores", headers={"Authorization": f"Bearer {other}"})
    assert (r.status_code, r.json()["code"]) == (401, "token_revoked")


def test_admin_api_mirrors_the_cli(hq: RunningHQ, chain: Chain, client):
    """GIVEN an HQ admin token WHEN HQ staff set up a store through HTTP THEN a terminal
    enrolled with the code it got sees the store, item, price, staff, config and stock."""
    h = {"Authorization": f"Bearer {chain.admin_token()}"}
    code = f"H{chain.store()[1:]}"

    def call(method: str, path: str, status: int = 200, **kw) -> dict:
        headers = {**h, **kw.pop("headers", {})}
        r = client.request(method, "/v1/admin" + path, headers=headers, **kw)
        assert r.status_code == status, (path, r.text)
        return r.json()

    assert call("POST", "/stores", 201, json={"code": code, "name": "静安寺店"})["code"] == code
    assert (
        call("POST", "/stores", 409, json={"code": code, "name": "again"})["code"] == "store_exists"
    )
    staff = call(
        "POST",
        "/staff",
        201,
        json={
            "number": f"9{code[1:]}",
            "store": code,
            "name": "李雷",
            "role": "supervisor",
            "pin": "4321",
        },
    )
    salt_b64, hash_b64 = staff["pin_hash"].split("$")[4:]
    assert hashlib.scrypt(
        b"4321", salt=base64.b64decode(salt_b64), n=16384, r=8, p=1, dklen=32
    ) == base64.b64decode(hash_b64)
    patched = call("PATCH", f"/staff/{staff['number']}", json={"pin": "9999"})
    assert verify_pin("9999", patched["pin_hash"]) and not verify_pin("4321", patched["pin_hash"])
    sku = f"Q{code}"
    imported = call(
        "POST",
        "/catalog/items",
        json={
            "items": [
                {
                    "sku": sku,
                    "name_zh": "芋泥波波",
                    "unit": "piece",
                    "barcodes": [f"69{code[1:]}01"],
                    "price_fen": 1500,
                }
            ]
        },
    )
    assert imported == {"created": 1, "updated": 0, "unchanged": 0, "prices": 1}
    csv_body = f"sku,name_zh,unit,price\n{sku},芋泥波波奶茶,piece,15\n".encode()
    again = call("POST", "/catalog/import", content=csv_body, headers={"Content-Type": "text/csv"})
    assert again == {"created": 0, "updated": 1, "unchanged": 0, "prices": 0}
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    versions = call(
        "POST",
        "/prices",
        201,
        json={"sku": sku, "price_fen": 1800, "effective_at": later, "stores": [code]},
    )
    assert [v["store"] for v in versions["versions"]] == [code]
    assert (
        call(
            "POST",
            "/stock/receive",
            json={"store": code, "sku": sku, "qty_milli": 12000, "reason": "PO-7"},
        )["level"]["on_hand_milli"]
        == 12000
    )
    assert (
        call(
            "POST",
            "/stock/adjust",
            json={"store": code, "sku": sku, "qty_milli": -2000, "reason": "broken"},
        )["level"]["on_hand_milli"]
        == 10000
    )
    assert (
        call(
            "POST",
            "/stock/receive",
            422,
            json={"store": code, "sku": sku, "qty_milli": -1, "reason": "x"},
        )["code"]
        == "bad_quantity"
    )
    assert (
        call("PUT", "/config", json={"store": code, "key": "receipt.footer", "value": "谢谢惠顾"})[
            "value"
        ]
        == "谢谢惠顾"
    )
    enroll_code = call("POST", "/enroll-codes", 201, json={"store": code})
    assert json.loads(enroll_code["qr_payload"])["code"] == enroll_code["code"]

    device = enroll(client, code, enroll_code["code"]).json()
    snap = client.get(
        "/v1/sync/snapshot", headers={"Authorization": f"Bearer {device['token']}"}
    ).json()
    assert [i["name_zh"] for i in snap["items"] if i["sku"] == sku] == ["芋泥波波奶茶"]
    assert [(x["store"], x["price_fen"]) for x in snap["prices"] if x["sku"] == sku] == [
        (None, 1500),
        (code, 1800),
    ]
    assert [s["number"] for s in snap["staff"] if s["store"] == code] == [staff["number"]]
    assert {"store": code, "key": "receipt.footer", "value": "谢谢惠顾"} in snap["config"]
    assert level(hq.db, code, sku) == 10_000

    devices = call("GET", "/devices", params={"store": code})
    assert [d["device_id"] for d in devices] == [device["device_id"]]
    revoked = call("POST", f"/devices/{device['device_id']}/revoke")
    assert revoked["revoked_at"] is not None
    assert (
        client.get(
            "/v1/sync/snapshot", headers={"Authorization": f"Bearer {device['token']}"}
        ).status_code
        == 401
    )
    assert call("POST", "/devices/NOPE-T01/revoke", 404)["code"] == "unknown_device"


def test_catalog_import_is_all_or_nothing(hq: RunningHQ, chain: Chain, client):
    h = {"Authorization": f"Bearer {chain.admin_token()}", "Content-Type": "text/csv"}
    taken = chain.item(barcodes=["6909999000011"])
    before = state(hq.db)
    bad = (
        "sku,name_zh,unit,barcodes,price\n"
        "NEW-1,好吃的,piece,,12.5\n"
        "NEW-2,,piece,,1\n"  # no name
        "NEW-3,称重,litre,,1\n"  # unknown unit
        "NEW-4,贵,piece,,1.234\n"  # sub-fen price
    )
    r = client.post("/v1/admin/catalog/import", content=bad.encode(), headers=h)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "line 3" in detail and "line 4" in detail and "line 5" in detail
    clash = "sku,name_zh,unit,barcodes\nNEW-5,抢条码,piece,6909999000011\n"
    r = client.post("/v1/admin/catalog/import", content=clash.encode(), headers=h)
    assert r.status_code == 422 and taken in r.json()["detail"]
    r = client.post(
        "/v1/admin/catalog/import",
        content=b"sku,name_zh,unit\n",
        headers={**h, "Content-Type": "application/json"},
    )
    assert r.status_code == 415
    assert state(hq.db) == before
    assert feed_changes(hq.db, "item", "NEW-1") == []
    # Line endings from any editor read the same; a field the csv module cannot read is
    # a clear 422, not a server fault.
    r = client.post(
        "/v1/admin/catalog/import",
        content="sku,name_zh,unit\r\nNEW-6,旧机器,piece\r\n".encode(),
        headers=h,
    )
    assert r.status_code == 200, r.text
    r = client.post("/v1/admin/catalog/import", content=b'sku,name_zh,unit\nA,"x\x00', headers=h)
    assert r.status_code == 422, r.text
