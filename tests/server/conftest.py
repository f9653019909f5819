"""Fixtures for HQ tests: real databases, real uvicorn, real clients.

Why these fixtures exist:

* ``backend`` runs every integration test twice, on SQLite and on PostgreSQL. The
  PostgreSQL half runs when ``CHAINPOS_TEST_PG_URL`` names a server (for example
  ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and is skipped, visibly, when not.
* ``db_url`` gives each test module a database of its own: a SQLite file in a temporary
  directory, or a freshly created PostgreSQL database that is dropped afterwards, so that
  parallel runs on one server never collide and the LISTEN/NOTIFY channels are private.
* ``hq`` runs the real app on uvicorn in a background thread on a free loopback port,
  with the same settings ``chainpos-hq serve`` uses (frame limit, lifespan, live hub,
  member keys of its own). Tests talk to it over real HTTP and WebSocket connections.
* ``chain`` sets up what a test needs through the same operations the admin CLI uses:
  stores with unique codes (tests share a module's database), items, staff, enrolled
  devices; and builds terminal events.
* :func:`start_hq_process` (in :mod:`tests.server.support`, shared with the benchmarks)
  runs ``chainpos-hq serve`` as a subprocess, for tests that kill it or run two of them
  on one PostgreSQL database.

Waiting is always "poll until true, with a deadline" (:func:`wait_until`), never a sleep
sized to the machine's speed.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from server_stub import server as server_options
from server_stub.app import create_app
from server_stub.db import Database
from server_stub.live import LiveSettings
from server_stub.member_keys import MemberKeys
from server_stub.settings import Settings
from tests.server.support import (
    PG_URL,
    REPO,
    Chain,
    Device,
    HQProcess,
    fresh_database,
    fresh_pg_database,
    start_hq_process,
    wait_until,
)

with warnings.catch_warnings():
    # Starlette 1.x asks for the "httpx2" fork and warns at import when it finds plain
    # httpx; the test client works the same with httpx, which the project depends on.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

__all__ = [
    "PG_URL",
    "REPO",
    "Chain",
    "Device",
    "HQProcess",
    "TestClient",
    "fresh_database",
    "fresh_pg_database",
    "start_hq_process",
    "wait_until",
]


# -- databases ----------------------------------------------------------------------------


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "pg",
        id="pg",
        marks=[
            pytest.mark.pg,
            pytest.mark.skipif(PG_URL is None, reason="CHAINPOS_TEST_PG_URL is not set"),
        ],
    ),
]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def db_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(backend, tmp_path_factory.mktemp("hqdb")) as url:
        yield url


# -- servers ------------------------------------------------------------------------------


@dataclass
class RunningHQ:
    """An HQ app served by uvicorn on a loopback port."""

    url: str
    db: Database
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread
    app: Any

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/v1/sync/live"

    @property
    def keys(self) -> MemberKeys:
        keys = self.settings.member_keys
        assert keys is not None
        return keys

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        assert not self.thread.is_alive(), "uvicorn did not stop"


def start_hq_thread(
    db_url: str,
    *,
    live: LiveSettings | None = None,
    ssl: tuple[Path, Path] | None = None,
    ws_ping: tuple[float, float] | None = None,
    **options: Any,
) -> RunningHQ:
    """Serves a new app on ``db_url`` in a background thread; returns once it accepts.
    ``ws_ping``: uvicorn's WebSocket keep-alive ping interval and timeout (default 20 s,
    20 s). ``options`` are further :class:`Settings` fields."""
    options.setdefault("member_keys", MemberKeys.generate())
    settings = Settings(
        db_url=db_url,
        port=0,
        live=live or LiveSettings(heartbeat_s=5.0),
        hq_url="http://127.0.0.1",
        tls_cert=ssl[0] if ssl else None,
        tls_key=ssl[1] if ssl else None,
        **options,
    )
    db = Database(db_url)
    app = create_app(settings, db)
    sock = server_options.bind(settings)
    port = sock.getsockname()[1]
    config = server_options.uvicorn_config(app, settings, "warning")
    config.timeout_graceful_shutdown = 2
    if ws_ping is not None:
        config.ws_ping_interval, config.ws_ping_timeout = ws_ping
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn start")
    assert server.started, "uvicorn failed to start"
    scheme = "https" if ssl else "http"
    return RunningHQ(f"{scheme}://127.0.0.1:{port}", db, settings, server, thread, app)


@pytest.fixture(scope="module")
def hq(db_url: str) -> Iterator[RunningHQ]:
    running = start_hq_thread(db_url)
    yield running
    running.stop()
    running.db.dispose()


@pytest.fixture(scope="module")
def chain(hq: RunningHQ) -> Chain:
    return Chain(hq.db, hq.url)


@pytest.fixture
def client(hq: RunningHQ) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hq.url, timeout=30) as c:
        yield c
