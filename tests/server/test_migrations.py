"""The Alembic migrations build exactly the schema ``server_stub.models`` describes."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from server_stub import feed
from server_stub import models as m
from server_stub.db import Database, migrate
from tests.server.conftest import fresh_database


def test_migrated_schema_matches_the_models(backend: str, tmp_path: Path):
    with fresh_database(backend, tmp_path) as url:
        db = Database(url)
        try:
            with db.engine.connect() as conn:
                ctx = MigrationContext.configure(conn, opts={"compare_type": True})
                assert compare_metadata(ctx, m.metadata) == []
            with db.read() as conn:
                assert feed.state(conn) == feed.FeedState(last_seq=0, pruned_through=0)
        finally:
            db.dispose()


def test_two_processes_starting_together_both_migrate_cleanly(backend: str, tmp_path: Path):
    """GIVEN a brand-new database WHEN two HQ processes start at once THEN both finish
    migrating without error and the schema exists once."""
    with fresh_database(backend, tmp_path, migrated=False) as url:
        errors: list[BaseException] = []
        dbs = [Database(url), Database(url)]
        go = threading.Barrier(2)

        def run(db: Database) -> None:
            try:
                go.wait()
                migrate(db)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(db,)) for db in dbs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        try:
            assert errors == []
            with dbs[0].read() as conn:
                assert conn.execute(select(m.feed_state.c.id)).scalars().all() == [1]
        finally:
            for db in dbs:
                db.dispose()
