"""SyncService: the terminal's sync thread starts and stops when the till says so."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pos_app.localdb.engine import open_database
from pos_app.services.clock import HqClock
from pos_app.services.ports import SystemClock
from pos_app.services.sync import SyncService
from sync_client import Credentials, CredentialStore, SyncConfig, SyncRunner

UNREACHABLE_HQ = "http://127.0.0.1:9"  # loopback "discard" port: nothing listens there


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    engine = open_database(db_path)
    yield engine
    engine.dispose()


def _service(engine: Engine, tmp_path: Path, runner: SyncRunner | None = None) -> SyncService:
    creds = Credentials(UNREACHABLE_HQ, "S001", "S001-T01", "cpd_test", b"s" * 32)
    return SyncService(
        engine,
        creds,
        CredentialStore(tmp_path, use_keyring=False),
        HqClock(SystemClock()),
        # The pusher sleeps a minute between looks at an empty outbox: a stop that waited
        # for that would show.
        config=SyncConfig(idle_push_check_s=60.0, backoff_base_s=5.0),
        runner=runner,
    )


def _wait_offline(service: SyncService) -> None:
    deadline = time.monotonic() + 10
    while service.status.state != "offline":
        assert time.monotonic() < deadline, "the sync client did not start"
        time.sleep(0.01)


def test_stop_right_after_a_sale_notified_the_pusher_is_prompt(
    engine: Engine, tmp_path: Path
) -> None:
    """GIVEN a till whose sync is running (HQ unreachable, the pusher idle)
    WHEN a sale notifies the pusher at the very moment the till shuts down
    THEN stop returns at once with the client cleaned up, instead of the pusher swallowing
    the cancellation and the shutdown waiting out its timeout."""
    runner = SyncRunner("test-sync")
    runner.start()
    service = _service(engine, tmp_path, runner)
    try:
        service.start()
        _wait_offline(service)
        # Hold the sync thread for a moment so that the notification and the cancellation
        # reach its loop together, as they do when a sale and a shutdown coincide.
        runner.call_soon(time.sleep, 0.2)
        service.notify_outbox()
        t0 = time.monotonic()
        service.stop(timeout=5.0)
        elapsed = time.monotonic() - t0
        assert service.client.finished.is_set()
        assert service.status.state == "stopped"
        assert elapsed < 2.0, f"stop took {elapsed:.1f}s"
    finally:
        runner.stop()


def test_stop_right_after_start_is_prompt(engine: Engine, tmp_path: Path) -> None:
    """GIVEN a till's sync on its own thread
    WHEN it is stopped right after it was started, again and again
    THEN every stop returns promptly with the client cleaned up and the thread gone."""
    for _ in range(5):
        service = _service(engine, tmp_path)
        t0 = time.monotonic()
        service.start()
        service.stop(timeout=5.0)
        elapsed = time.monotonic() - t0
        assert service.client.finished.is_set()
        assert not service.runner.running
        assert elapsed < 2.0, f"start and stop took {elapsed:.1f}s"
