"""Rolling upgrades, HQ first: HQ answers every till in the protocol version it declares.

A version-1 till (``X-ChainPOS-Protocol: 1``, ``"protocol": 1`` in its pushes, or no header
at all) finds the machine code of a refusal under ``error`` and reads push and resync
answers strictly, with the version-1 models below (copied from the version-1 contract and
frozen here): HQ must answer it in exactly that shape. A version-2 till reads ``code`` and
``params`` (see also ``tests/sync_client/test_older_hq.py`` for a till newer than its HQ).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel, ConfigDict

from server_stub import operations
from sync_client import HQClient, HQRefused
from sync_client.contract import protocol as p
from tests.server.conftest import Chain, RunningHQ
from tests.server.live_client import LiveTerminal
from tests.server.member_helpers import add_member, app_code, hold
from tests.server.support import Device


class _V1(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventResultV1(_V1):
    index: int
    id: uuid.UUID | None
    status: Literal["applied", "duplicate", "rejected"]
    reason: str | None = None
    detail: str | None = None
    retryable: bool = False


class PushResponseV1(_V1):
    protocol: int
    results: list[EventResultV1]
    applied: int
    duplicate: int
    rejected: int
    head: int = 0


class ResyncRequiredV1(_V1):
    error: Literal["resync"]
    detail: str
    oldest_after: int
    head: int
    snapshot: str


def headers(device: Device, version: int | None) -> dict[str, str]:
    """A till's headers: its token, and the version it speaks unless it predates that."""
    out = {"Authorization": f"Bearer {device.token}"}
    if version is not None:
        out[p.PROTOCOL_HEADER] = str(version)
    return out


def odd_event(chain: Chain, device: Device) -> dict:
    """An event of a type HQ does not know: rejected alone, ``unknown_type``."""
    return chain.event({"type": "member.joined", "store": device.store})


def test_a_version_1_till_gets_push_results_in_the_version_1_shape(
    chain: Chain, client: httpx.Client
):
    dev = chain.device(chain.store())
    sale, odd = chain.sale(dev, [(chain.item(), 1000)]), odd_event(chain, dev)
    r = client.post(
        "/v1/sync/push", json={"protocol": 1, "events": [sale, odd]}, headers=headers(dev, 1)
    )
    assert r.status_code == 200, r.text
    answer = PushResponseV1.model_validate_json(r.content)
    assert answer.protocol == 1
    assert [(x.status, x.reason) for x in answer.results] == [
        ("applied", None),
        ("rejected", "unknown_type"),
    ]
    # The body's version decides, whatever the header says (a till that fell back to 1
    # for an older HQ still sends its own version in the header).
    again = client.post(
        "/v1/sync/push", json={"protocol": 1, "events": [sale, odd]}, headers=headers(dev, 2)
    )
    assert [
        (x.status, x.reason) for x in PushResponseV1.model_validate_json(again.content).results
    ] == [
        ("duplicate", None),
        ("rejected", "unknown_type"),
    ]


def test_a_version_2_till_gets_codes_and_params_in_push_results(chain: Chain, client: httpx.Client):
    dev = chain.device(chain.store())
    sale, odd = chain.sale(dev, [(chain.item(), 1000)]), odd_event(chain, dev)
    r = client.post(
        "/v1/sync/push", json={"protocol": 2, "events": [sale, odd]}, headers=headers(dev, 2)
    )
    assert r.status_code == 200, r.text
    answer = p.PushResponse.model_validate_json(r.content)
    assert answer.protocol == 2
    assert [(x.status, x.code, x.params) for x in answer.results] == [
        ("applied", None, {}),
        ("rejected", "unknown_type", {}),
    ]
    assert "reason" not in r.json()["results"][1]


@pytest.mark.parametrize(("version", "legacy"), [(None, True), (1, True), (2, False)])
def test_a_refusal_names_its_code_the_way_the_till_reads_it(
    chain: Chain, client: httpx.Client, version: int | None, legacy: bool
):
    store, other = chain.store(), chain.store()
    dev = chain.device(store)
    refusals = [
        # An ApiError from a route, a request that does not parse, a body over the limit.
        client.get("/v1/sync/pull", params={"store": other}, headers=headers(dev, version)),
        client.post("/v1/sync/push", json={"events": "no"}, headers=headers(dev, version)),
        client.post(
            "/v1/sync/push",
            content=b"x" * (2 * 1024 * 1024 + 1),
            headers={**headers(dev, version), "Content-Type": "application/json"},
        ),
    ]
    assert [(r.status_code, r.json()["code"]) for r in refusals] == [
        (403, "wrong_store"),
        (422, "invalid_request"),
        (413, "body_too_large"),
    ]
    for r in refusals:
        body = r.json()
        if legacy:
            assert body["error"] == body["code"], body
        else:
            assert set(body) == {"code", "params", "detail"}, body
            p.ErrorBody.model_validate(body)


def test_a_version_2_till_gets_the_values_behind_a_refusal(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    dev = chain.device(chain.store())
    number, _ = add_member(hq.db, hq.keys, points=10)
    r = hold(client, dev, number, "points", 50, proof=app_code(hq.keys, number))
    assert r.status_code == 409
    assert r.json() == {
        "code": "insufficient_points",
        "params": {"available": 10, "held": 0, "asked": 50},
        "detail": "not enough points: 10 available, 50 asked (0 held by sales in progress)",
    }

    async def ask() -> HQRefused:
        c = HQClient(hq.url, dev.token)
        try:
            req = p.HoldRequest(
                hold_id=uuid.uuid4(),
                member=number,
                kind="points",
                amount=50,
                proof=app_code(hq.keys, number),
            )
            with pytest.raises(HQRefused) as refused:
                await c.hold(req)
            return refused.value
        finally:
            await c.aclose()

    refusal = asyncio.run(ask())
    assert (refusal.status, refusal.code) == (409, "insufficient_points")
    assert (refusal.params["available"], refusal.params["asked"]) == (10, 50)


@pytest.mark.parametrize("version", [1, 2])
def test_the_live_channel_welcomes_a_hello_of_either_version(
    hq: RunningHQ, chain: Chain, version: int
):
    dev = chain.device(chain.store())

    async def welcome() -> dict:
        hello = {"type": "hello", "protocol": version, "after": 0, "stock": "own"}
        async with LiveTerminal(hq.ws_url, dev.token, 0, hello=hello) as t:
            await t.wait_for(lambda t: t.welcome is not None or t.close_code is not None)
            assert t.welcome is not None, (t.close_code, t.close_reason)
            return t.welcome

    assert asyncio.run(welcome())["protocol"] == p.PROTOCOL_VERSION


def test_resync_answers_in_the_shape_each_version_reads(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    # Last in this module: it prunes the module's feed.
    dev = chain.device(chain.store())
    chain.item()
    operations.prune_feed(hq.db, timedelta(seconds=-1))
    old = client.get("/v1/sync/pull", params={"after": 0}, headers=headers(dev, 1))
    new = client.get("/v1/sync/pull", params={"after": 0}, headers=headers(dev, 2))
    assert (old.status_code, new.status_code) == (410, 410)
    v1 = ResyncRequiredV1.model_validate_json(old.content)
    v2 = p.ResyncRequired.model_validate_json(new.content)
    assert "error" not in new.json()
    assert (v1.error, v2.code) == ("resync", "resync")
    assert v1.snapshot == v2.snapshot == "/v1/sync/snapshot"
