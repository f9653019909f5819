"""Scale-label layouts are a store setting HQ pushes: HQ refuses one that cannot work,
the till reads scans with the store's layouts, and a bad value forced into a till keeps
the last good layouts."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from pos_app.app import build_terminal
from pos_app.localdb.engine import open_database, read_session, write_session
from pos_app.localdb.store import set_setting
from server_stub import operations
from server_stub.errors import ApiError
from tests.services.conftest import RecordingPrinter
from tests.support import FakeClock

WEIGHT_FIRST = json.dumps(
    [{"name": "weight-first", "pattern": "FFIIIIIWWWWWPPPPPC", "prefixes": "21"}]
)


def test_hq_refuses_layouts_that_cannot_work_and_publishes_good_ones(hq):
    """GIVEN HQ WHEN an operator sets a layout without a check digit, then a good one
    THEN the first is refused as bad_setting and never reaches the feed; the second does."""
    bad = json.dumps([{"name": "x", "pattern": "FFIIIIIWWWWWPPPPPP", "prefixes": "21"}])
    with pytest.raises(ApiError) as refused:
        operations.set_config(hq.db, "S001", "scale.layouts", bad)
    assert refused.value.code == "bad_setting"
    with hq.db.read() as conn:
        keys = conn.execute(text("SELECT key FROM feed WHERE kind = 'config'")).scalars().all()
    assert not any("scale.layouts" in k for k in keys)
    assert operations.set_config(hq.db, "S001", "scale.layouts", WEIGHT_FIRST).value == (
        WEIGHT_FIRST
    )


def test_the_till_reads_with_the_store_layouts_and_keeps_the_last_good_ones(db_path):
    """GIVEN a till whose store set weight-first 18-digit labels
    WHEN it starts THEN its catalogue reads labels with that layout; WHEN a bad value is
    then forced into its database THEN it still starts with the weight-first layout, and
    the bad value is kept as a problem for HQ."""
    clock, printer = FakeClock(), RecordingPrinter()
    engine = open_database(db_path)
    with write_session(engine) as s:
        set_setting(s, "scale.layouts", WEIGHT_FIRST)
        s.commit()
    engine.dispose()
    till = build_terminal(db_path, clock=clock, printer=printer, start_devices=False)
    try:
        assert [layout.name for layout in till.catalog.layouts] == ["weight-first"]
    finally:
        till.close()
    engine = open_database(db_path)
    with write_session(engine) as s:
        set_setting(s, "scale.layouts", '[{"name": "x", "pattern": "F", "prefixes": "2"}]')
        s.commit()
    engine.dispose()
    till = build_terminal(db_path, clock=clock, printer=printer, start_devices=False)
    try:
        assert [layout.name for layout in till.catalog.layouts] == ["weight-first"]
        with read_session(till.engine) as s:
            problems = (
                s.execute(text("SELECT key FROM quarantine WHERE kind = 'setting'")).scalars().all()
            )
    finally:
        till.close()
    assert problems == ["scale.layouts"]
