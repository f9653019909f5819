"""Fixtures for the local database tests.

Why they exist:

* Every test gets its own database FILE under ``tmp_path`` (not ``:memory:``): WAL mode,
  ``BEGIN IMMEDIATE`` locking between connections and crash recovery only exist for
  files, and those are what these tests check.
* ``demo_engine`` copies a database migrated and seeded once per session with the demo
  milk-tea chain, because migrating and seeding for every test would dominate the run
  time. PIN hashes use scrypt n=2**4 (the production cost is irrelevant here).
* ``replica`` is a :class:`~pos_app.localdb.replica.LocalReplica` (what the sync client
  writes through) on such a copy, for this store.
* ``NOW`` is a fixed moment after the demo prices took effect, so price-in-force
  questions have one answer whatever the date the suite runs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pos_app.localdb.engine import make_engine, open_database, write_session
from pos_app.localdb.replica import LocalReplica
from pos_app.localdb.seed import load_demo
from pos_app.localdb.store import set_setting
from sync_client.contract.pin import hash_pin

NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
STORE = "S001"
TERMINAL = "S001-T01"


def fast_hash(pin: str) -> str:
    return hash_pin(pin, n=2**4)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("localdb-template") / "demo.db"
    engine = open_database(path)
    load_demo(engine, store_code=STORE, terminal_id=TERMINAL, pin_hasher=fast_hash)
    with write_session(engine) as session:
        # Selling outside a shift: the shift tests (test_shifts.py) turn it back on.
        set_setting(session, "shift.required", False)
        session.commit()
    engine.dispose()  # checkpoints the WAL into the main file, so one file is the database
    return path


@pytest.fixture
def demo_path(demo_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "terminal.db"
    shutil.copyfile(demo_template, path)
    return path


@pytest.fixture
def demo_engine(demo_path: Path) -> Iterator[Engine]:
    engine = make_engine(demo_path)
    yield engine
    engine.dispose()


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(tmp_path / "empty.db")
    yield engine
    engine.dispose()


@pytest.fixture
def replica(demo_path: Path) -> Iterator[LocalReplica]:
    engine = open_database(demo_path)
    yield LocalReplica(engine, STORE)
    engine.dispose()
