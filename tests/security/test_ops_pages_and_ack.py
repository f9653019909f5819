"""Item 11: ``/docs``, ``/redoc``, ``/openapi.json`` and ``/metrics`` can be turned off or
put behind an admin token; a live ``ack`` beyond HQ's head is not believed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect

from server_stub import operations
from server_stub.app import create_app
from server_stub.db import Database
from server_stub.member_keys import MemberKeys
from server_stub.settings import Settings
from tests.server.conftest import RunningHQ, TestClient
from tests.server.support import Chain, wait_until

OPS = ["/docs", "/openapi.json", "/metrics"]


@pytest.fixture(scope="module")
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    yield db
    db.dispose()


def _client(db: Database, mode: str) -> TestClient:
    url = db.url.render_as_string(hide_password=False)
    settings = Settings(db_url=url, ops_pages=mode, member_keys=MemberKeys.generate())  # type: ignore[arg-type]
    return TestClient(create_app(settings, db))


def test_operator_pages_are_public_by_default_for_the_demo(database: Database) -> None:
    with _client(database, "on") as c:
        assert [c.get(path).status_code for path in OPS] == [200, 200, 200]


def test_operator_pages_off_answer_404_even_with_an_admin_token(database: Database) -> None:
    token = operations.create_admin_token(database, "ops-off")
    with _client(database, "off") as c:
        auth = {"Authorization": f"Bearer {token}"}
        assert [c.get(path, headers=auth).status_code for path in [*OPS, "/redoc"]] == [404] * 4
        assert c.get("/healthz").status_code == 200


def test_operator_pages_in_token_mode_need_an_admin_token(database: Database, chain: Chain) -> None:
    """GIVEN ``ops_pages=token``
    WHEN an anonymous caller, a till (device token), a forged token and an admin ask
    THEN only the admin reads the pages; the others get 401 or 403."""
    admin = operations.create_admin_token(database, "ops-token")
    device = chain.device(chain.store())
    with _client(database, "token") as c:
        for path in OPS:
            assert c.get(path).status_code == 401
            assert c.get(path, headers=device.headers).status_code == 403
            forged = {"Authorization": "Bearer cpa_forged"}
            assert c.get(path, headers=forged).status_code == 401
            r = c.get(path, headers={"Authorization": f"Bearer {admin}"})
            assert r.status_code == 200, (path, r.text)
        metrics = c.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).text
        assert "chainpos" in metrics
        assert c.get("/v1/time").status_code == 200


def test_an_unknown_ops_pages_mode_is_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="ops_pages"):
        _client(database, "public")


@pytest.mark.slow
def test_a_live_ack_beyond_hqs_head_is_ignored(hq: RunningHQ, chain: Chain) -> None:
    """GIVEN a connected terminal
    WHEN it acks a seq far beyond HQ's head, then the head itself
    THEN HQ records the head as its cursor, never the lie."""
    device = chain.device(chain.store())
    chain.item()
    metrics = hq.app.state.metrics

    async def run() -> int:
        async with connect(hq.ws_url, additional_headers=device.headers, proxy=None) as ws:
            await ws.send(json.dumps({"type": "hello", "after": 0}))
            welcome = json.loads(await asyncio.wait_for(ws.recv(), 30))
            head = int(welcome["head"])
            assert head > 0
            await ws.send(json.dumps({"type": "ack", "seq": 10**15}))
            await ws.send(json.dumps({"type": "ack", "seq": head}))
            await asyncio.to_thread(
                wait_until,
                lambda: (
                    metrics.cursors.get(device.device_id) == head
                    or metrics.cursors.get(device.device_id, 0) > head
                ),
                what="the ack",
            )
            return head

    head = asyncio.run(run())
    assert metrics.cursors[device.device_id] == head
