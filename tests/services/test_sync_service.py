"""SyncService: the terminal's sync thread starts and stops when the till says so."""

from __future__ import annotations

import threading
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


def _offline_event(service: SyncService) -> threading.Event:
    """Set once the client reports itself running and offline (subscribe before start)."""
    offline = threading.Event()
    service.subscribe(on_status=lambda s: offline.set() if s.state == "offline" else None)
    return offline


def test_stop_right_after_a_sale_notified_the_pusher_is_prompt(
    engine: Engine, tmp_path: Path
) -> None:
    """GIVEN a till whose sync is running (HQ unreachable, the pusher idle)
    WHEN a sale notifies the pusher at the very moment the till shuts down
    THEN the client finishes within stop's wait, instead of the pusher swallowing the
    cancellation and the client running on (stop then gives up with it unfinished)."""
    runner = SyncRunner("test-sync")
    runner.start()
    service = _service(engine, tmp_path, runner)
    offline = _offline_event(service)
    try:
        service.start()
        assert offline.wait(10), "the sync client did not start"
        # Hold the sync thread while stop() hands it the cancellation and a sale's
        # notification follows right behind, so that both reach its loop together.
        gate = threading.Event()
        runner.call_soon(gate.wait, 10)

        def sale_then_release(_f: object) -> None:
            service.runner.call_soon(service.client.notify_outbox)
            gate.set()

        assert service._task is not None
        # Runs when stop() cancels the task, after the cancellation was handed to the loop.
        service._task.add_done_callback(sale_then_release)
        service.stop(timeout=5.0)
        assert service.client.finished.is_set()
        assert service.status.state == "stopped"
    finally:
        runner.stop()


def test_stop_right_after_start_is_prompt(engine: Engine, tmp_path: Path) -> None:
    """GIVEN a till's sync on its own thread
    WHEN it is stopped right after it was started, again and again
    THEN every stop sees the client cleaned up and the thread gone within its wait."""
    for _ in range(5):
        service = _service(engine, tmp_path)
        service.start()
        service.stop(timeout=5.0)
        assert service.client.finished.is_set()
        assert not service.runner.running
