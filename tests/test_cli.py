"""The ``chainpos`` command line, run as a store manager would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pos_app.cli import main
from pos_app.localdb.engine import open_database, read_session
from pos_app.localdb.store import get_setting


def test_config_lists_sets_and_refuses_bad_values(tmp_path: Path, capsys):
    db = str(tmp_path / "t.db")
    assert main(["config", "--db", db, "rounding", "jiao"]) == 0
    assert main(["config", "--db", db, "discount_limit_bp", "1500"]) == 0
    assert main(["config", "--db", db, "rounding", "cents"]) == 2
    assert main(["config", "--db", db, "discount_limit_bp", "lots"]) == 2
    assert main(["config", "--db", db, "colour", "red"]) == 2
    assert main(["config", "--db", db]) == 0
    out = capsys.readouterr()
    assert "rounding = jiao" in out.out
    assert "discount_limit_bp = 1500" in out.out
    assert "rounding takes one of: none, jiao, yuan" in out.err
    engine = open_database(db)
    with read_session(engine) as session:
        assert get_setting(session, "rounding") == "jiao"
        assert get_setting(session, "discount_limit_bp") == 1500
    engine.dispose()


@pytest.mark.slow  # starts the demo with its HQ
def test_demo_starts_to_ready_and_run_refuses_an_unset_terminal(tmp_path: Path):
    """GIVEN no database WHEN `chainpos demo --exit-when-ready` runs THEN it creates the
    demo store, reaches the checkout-ready point and exits 0; `chainpos run` on an empty
    database explains that the terminal is not enrolled."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "pos_app",
            "demo",
            "--standalone",
            "--db",
            str(tmp_path / "demo.db"),
            "--exit-when-ready",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    assert "1001 / 1234 / cashier" in demo.stdout
    assert "ready " in demo.stdout
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pos_app",
            "run",
            "--db",
            str(tmp_path / "empty.db"),
            "--exit-when-ready",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2
    assert "not enrolled with HQ yet" in run.stderr
