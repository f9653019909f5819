"""Fixtures for sync tests: a real HQ on loopback and headless terminals talking to it.

Why these fixtures exist:

* ``hq`` serves the real HQ app (``server_stub.embedded.EmbeddedHQ``, the same app and
  uvicorn options as ``chainpos-hq serve``) on a free loopback port, seeded with the demo
  chain through the admin operations, on SQLite, and again on PostgreSQL when
  ``CHAINPOS_TEST_PG_URL`` is set. One HQ per test: sync tests count what HQ holds.
* ``terminals`` enrols headless terminals (:class:`pos_app.headless.HeadlessTerminal`: the
  till's services, database and sync client, no screens) with one-time codes, exactly as a
  store would, and closes them afterwards. Their sync timings are shortened
  (:data:`FAST`) so faults heal in tenths of seconds, not tens.

Waiting is always "poll until true, with a deadline" (:func:`wait_until`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pos_app.headless import HeadlessTerminal
from pos_app.localdb.seed import load_demo_json
from pos_app.services.enrollment import EnrollTicket
from server_stub import operations
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from server_stub.live import LiveSettings
from server_stub.settings import Settings
from sync_client import SyncConfig
from tests.server.support import PG_URL, fresh_database, wait_until
from tests.support import sell_without_shifts

__all__ = ["FAST", "wait_until"]

FAST = SyncConfig(
    backoff_base_s=0.05,
    backoff_cap_s=0.5,
    idle_push_check_s=0.5,
    connect_timeout_s=3.0,
    request_timeout_s=5.0,
    clock_samples=2,
    clock_every_s=30.0,
)
"""Short waits: a healed fault is noticed within half a second."""

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=[
            pytest.mark.pg,
            pytest.mark.skipif(PG_URL is None, reason="CHAINPOS_TEST_PG_URL is not set"),
        ],
    ),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def start_hq(db_url: str, *, heartbeat_s: float = 0.5, port: int = 0) -> EmbeddedHQ:
    settings = Settings(db_url=db_url, port=port, live=LiveSettings(heartbeat_s=heartbeat_s))
    return EmbeddedHQ(settings).start()


@pytest.fixture
def hq_url_db(backend: str, tmp_path: Path) -> Iterator[str]:
    with fresh_database(backend, tmp_path, migrated=True) as url:
        yield url


@pytest.fixture
def hq(hq_url_db: str) -> Iterator[EmbeddedHQ]:
    server = start_hq(hq_url_db)
    seed_chain(server.db, load_demo_json())
    sell_without_shifts(server.db)
    yield server
    server.stop()


Enrol = Callable[..., HeadlessTerminal]


@pytest.fixture
def terminals(hq: EmbeddedHQ, tmp_path: Path) -> Iterator[Enrol]:
    """``terminals(store, url=None, start=True)`` enrols a new headless terminal."""
    made: list[HeadlessTerminal] = []

    def enrol(
        store: str, *, url: str | None = None, start: bool = True, config: SyncConfig = FAST
    ) -> HeadlessTerminal:
        code = operations.create_enroll_code(hq.db, store).code
        data_dir = tmp_path / f"{store}-{len(made) + 1}"
        t = HeadlessTerminal.enroll(
            data_dir,
            EnrollTicket(url or hq.url, store, code),
            f"till {len(made) + 1}",
            sync_config=config,
        )
        made.append(t)
        return t.start() if start else t

    yield enrol
    for t in made:
        t.close()


def pg_enabled() -> bool:
    return bool(os.environ.get("CHAINPOS_TEST_PG_URL"))
