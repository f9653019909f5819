"""Item 2: one bad setting can no longer stop the tills of a store from starting. HQ
checks every value against the settings schema; the till checks again on start and keeps
the last good value."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from pos_app.app import build_terminal
from pos_app.domain.cart import Rounding
from pos_app.localdb.engine import open_database, read_session, write_session
from pos_app.localdb.store import get_setting, set_setting
from server_stub import operations
from server_stub.cli import main
from server_stub.errors import ApiError
from tests.services.conftest import RecordingPrinter
from tests.support import FakeClock


def test_config_set_rounding_bogus_is_refused_at_hq(hq, capsys):
    """GIVEN HQ (SQLite, and PostgreSQL when configured)
    WHEN an operator runs ``config set --store S001 rounding bogus``, or sets a key no till
    reads, or a number out of bounds
    THEN each is refused with its code, and nothing reaches the feed."""
    code = main(
        ["config", "set", "rounding", "bogus", "--store", "S001", "--db", hq.settings.db_url]
    )
    _, err = capsys.readouterr()
    assert code == 1 and "rounding" in err
    with pytest.raises(ApiError) as unknown:
        operations.set_config(hq.db, "S001", "rounding_mode", "jiao")
    assert (unknown.value.status, unknown.value.code) == (422, "unknown_setting")
    with pytest.raises(ApiError) as out_of_bounds:
        operations.set_config(hq.db, None, "discount_limit_bp", 20_000)
    assert out_of_bounds.value.code == "bad_setting"
    with hq.db.read() as conn:
        keys = conn.execute(text("SELECT key FROM feed WHERE kind = 'config'")).scalars().all()
    assert not any("rounding" in k or "discount_limit_bp" in k for k in keys)
    assert operations.set_config(hq.db, "S001", "rounding", "jiao").value == "jiao"


def test_a_bad_value_forced_into_the_till_db_keeps_the_last_good_one(db_path):
    """GIVEN a till that started with rounding ``jiao``
    WHEN ``bogus`` is forced into its database (and a discount limit that is not JSON)
    THEN the till still starts, with rounding ``jiao`` and the default discount limit;
    the bad values are repaired, logged and kept as problems for HQ, once."""
    clock, printer = FakeClock(), RecordingPrinter()
    engine = open_database(db_path)
    with write_session(engine) as s:
        set_setting(s, "rounding", "jiao")
        s.commit()
    engine.dispose()
    started = build_terminal(db_path, clock=clock, printer=printer, start_devices=False)
    started.close()  # the good value is now the last good one
    engine = open_database(db_path)
    with write_session(engine) as s:
        set_setting(s, "rounding", "bogus")
        s.execute(
            text("INSERT OR REPLACE INTO setting (key, value) VALUES ('discount_limit_bp', 'x%')")
        )
        s.commit()
    engine.dispose()
    for _ in range(2):
        till = build_terminal(db_path, clock=clock, printer=printer, start_devices=False)
        try:
            assert till.checkout.settings.rounding is Rounding.JIAO
            assert till.checkout.settings.discount_limit_bp == 1000
            with read_session(till.engine) as s:
                assert get_setting(s, "rounding") == "jiao"
                problems = s.execute(
                    text("SELECT key, body FROM quarantine WHERE kind = 'setting' ORDER BY key")
                ).all()
        finally:
            till.close()
    assert [tuple(r) for r in problems] == [("discount_limit_bp", "x%"), ("rounding", '"bogus"')]
