"""Screen fixtures for the security suite: the UI tests' ``window`` over a demo till
whose store voids carts above ¥20.00 only with a supervisor (``void.approval_above_fen``
2000), so a two-drink cart is over the threshold and a one-drink cart under it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pos_app.localdb.engine import open_database, write_session
from pos_app.localdb.seed import load_demo
from pos_app.localdb.store import set_setting
from tests.support import fast_hash
from tests.ui.conftest import scan_clock, terminal, window  # noqa: F401  (fixtures)


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    db = tmp_path / "terminal.db"
    engine = open_database(db)
    load_demo(engine, store_code="S001", terminal_id="S001-T01", pin_hasher=fast_hash)
    with write_session(engine) as session:
        set_setting(session, "shift.required", False)
        set_setting(session, "void.approval_above_fen", 2000)
        session.commit()
    engine.dispose()
    return db
