"""Fixtures for the sync client's own tests (no HQ: changes and answers are built here).

Why they exist:

* ``replica`` is a :class:`sync_client.LocalReplica` on a database FILE copied from one
  seeded once per session with the demo chain (store S001): migrating and seeding for
  every test would dominate the run time, and the transaction and durability rules under
  test only exist for files in WAL mode.
* ``NOW`` is a fixed moment after the demo prices took effect, so price-in-force
  questions have one answer whatever the date the suite runs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pos_app.localdb.engine import open_database
from pos_app.localdb.seed import load_demo
from sync_client import LocalReplica
from sync_client.contract.pin import hash_pin

NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
STORE = "S001"


@pytest.fixture(scope="session")
def replica_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replica-template") / "demo.db"
    engine = open_database(path)
    load_demo(
        engine,
        store_code=STORE,
        terminal_id="S001-T01",
        pin_hasher=lambda pin: hash_pin(pin, n=2**4),
    )
    engine.dispose()  # checkpoints the WAL into the main file, so one file is the database
    return path


@pytest.fixture
def replica(replica_template: Path, tmp_path: Path) -> Iterator[LocalReplica]:
    path = tmp_path / "terminal.db"
    shutil.copyfile(replica_template, path)
    engine = open_database(path)
    yield LocalReplica(engine, STORE)
    engine.dispose()
