"""Route-level tests with Starlette's TestClient (no network): health, metrics, errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_stub.app import create_app
from server_stub.db import Database, migrate
from server_stub.settings import Settings
from tests.server.conftest import Chain, TestClient, wait_until


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Chain]]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('unit')) / 'hq.sqlite3'}"
    db = Database(url)
    migrate(db)
    with TestClient(create_app(Settings(db_url=url), db)) as client:
        chain = Chain(db, "")
        yield client, chain
    db.dispose()


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in metrics"
    return float(found.group(1))


def test_healthz_reports_backend_and_feed_head(app_client):
    client, chain = app_client
    chain.store()
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["backend"] == "sqlite" and r.json()["feed_seq"] >= 1


def test_metrics_count_pushes_pulls_refusals_and_lag(app_client):
    client, chain = app_client
    store = chain.store()
    sku = chain.item()
    dev = chain.device(store, client)
    before = client.get("/metrics")
    assert before.headers["content-type"].startswith("text/plain; version=0.0.4")
    applied0 = metric(before.text, 'chainpos_push_events_total{result="applied"}')
    rejected0 = metric(before.text, 'chainpos_push_events_total{result="rejected"}')
    alerts0 = metric(before.text, "chainpos_stock_alerts_total")

    sale = chain.sale(dev, [(sku, 1000)])
    bad = chain.event({"type": "nope"})
    assert (
        client.post("/v1/sync/push", json={"events": [sale, bad]}, headers=dev.headers).json()[
            "applied"
        ]
        == 1
    )
    page = client.get("/v1/sync/pull", params={"after": 0, "limit": 2}, headers=dev.headers)
    assert client.get("/v1/sync/pull", headers={"Authorization": "Bearer x"}).status_code == 401

    text = client.get("/metrics").text
    assert metric(text, 'chainpos_push_events_total{result="applied"}') == applied0 + 1
    assert metric(text, 'chainpos_push_events_total{result="rejected"}') == rejected0 + 1
    assert metric(text, "chainpos_stock_alerts_total") == alerts0 + 1  # sold from zero
    assert metric(text, "chainpos_pull_changes_total") >= 2
    assert metric(text, 'chainpos_http_refusals_total{status="401"}') >= 1
    head = metric(text, "chainpos_feed_seq")
    assert head == client.get("/healthz").json()["feed_seq"]
    lag = metric(text, f'chainpos_terminal_lag{{device="{dev.device_id}"}}')
    assert lag == head - page.json()["next_after"]
    assert metric(text, "chainpos_push_events_per_second") > 0


def test_live_connections_are_counted(app_client):
    client, chain = app_client
    dev = chain.device(chain.store(), client)
    head = client.get("/healthz").json()["feed_seq"]
    with client.websocket_connect("/v1/sync/live", headers=dev.headers) as ws:
        ws.send_text(json.dumps({"type": "hello", "after": head}))
        welcome = json.loads(ws.receive_text())
        assert welcome["type"] == "welcome" and welcome["head"] >= head
        assert metric(client.get("/metrics").text, "chainpos_live_connections") == 1
    wait_until(
        lambda: metric(client.get("/metrics").text, "chainpos_live_connections") == 0,
        what="the closed connection to be forgotten",
    )


def test_unknown_paths_and_methods_answer_in_the_error_shape(app_client):
    client, _ = app_client
    r = client.get("/nope")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = client.put("/v1/sync/pull")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
