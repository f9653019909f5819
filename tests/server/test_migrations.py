"""The Alembic migrations build exactly the schema ``server_stub.models`` describes."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, insert, select

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


def test_upgrade_from_the_first_release_keeps_its_sales(backend: str, tmp_path: Path):
    """GIVEN a database of the first release (revision 0001) holding a sale WHEN HQ is
    upgraded THEN the member tables appear and the sale is still there, with no member."""
    with fresh_database(backend, tmp_path, migrated=False) as url:
        db = Database(url)
        try:
            cfg = Config()
            cfg.set_main_option("script_location", str(Path(m.__file__).parent / "migrations"))
            # The sales table as revision 0001 made it.
            sales_v1 = Table(
                "sales", MetaData(), *(c._copy() for c in m.sales.c if c.name != "member_no")
            )
            now = datetime.now(UTC)
            sale_id = uuid.uuid4()
            with db.engine.connect() as conn, conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "0001")
                conn.execute(
                    insert(m.stores).values(code="S1", name="s", active=True, created_at=now)
                )
                conn.execute(
                    insert(sales_v1).values(
                        sale_id=sale_id,
                        event_id=uuid.uuid4(),
                        store_code="S1",
                        terminal="S1-T01",
                        cashier="1001",
                        receipt_no="R1",
                        started_at=now,
                        completed_at=now,
                        subtotal_fen=100,
                        discount_fen=0,
                        rounding_fen=0,
                        total_fen=100,
                        change_fen=0,
                        received_at=now,
                    )
                )
            migrate(db)
            with db.read() as conn:
                row = conn.execute(select(m.sales).where(m.sales.c.sale_id == sale_id)).one()
                assert row.member_no is None and row.total_fen == 100
                assert conn.execute(select(m.members.c.id)).all() == []
        finally:
            db.dispose()
