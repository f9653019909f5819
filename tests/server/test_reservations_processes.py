"""The race for the last units with real HQ processes: two ``chainpos-hq serve`` on one
PostgreSQL database (the scale path), and one on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from server_stub import reservations
from server_stub.db import Database
from tests.server.reservation_helpers import check_race, race_for_last_units
from tests.server.support import PG_URL, Chain, fresh_database, start_hq_process

pytestmark = pytest.mark.slow


@pytest.mark.pg
@pytest.mark.skipif(PG_URL is None, reason="CHAINPOS_TEST_PG_URL is not set")
def test_two_hq_processes_never_reserve_more_than_was_available(tmp_path: Path):
    """GIVEN two HQ processes on one PostgreSQL database and 10 units of an item WHEN 64
    orders from three channels, half through each process, race 4 till sales for them
    THEN the invariants of one process hold: reserved never exceeds what was available,
    every order is reserved or refused naming its short line."""
    with fresh_database("pg", tmp_path) as url:
        db = Database(url)
        one = start_hq_process(url)
        two = start_hq_process(url)
        try:
            chain = Chain(db, one.url)
            out = race_for_last_units(db, chain, [one.url, two.url])
            check_race(db, out)
            assert len(out.reserved) >= 10 - 4
        finally:
            one.stop()
            two.stop()
            db.dispose()


def test_one_hq_process_on_sqlite_never_reserves_more_than_was_available(tmp_path: Path):
    """The same race against one ``chainpos-hq serve`` process on SQLite."""
    with fresh_database("sqlite", tmp_path) as url:
        db = Database(url)
        hq = start_hq_process(url)
        try:
            out = race_for_last_units(db, Chain(db, hq.url), [hq.url])
            check_race(db, out)
            assert reservations.sweep_expired(db) == 0
        finally:
            hq.stop()
            db.dispose()
