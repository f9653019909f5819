"""``chainpos sim`` and ``chainpos demo`` as an operator runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pos_app.cli import main
from server_stub import models as m
from server_stub import operations
from server_stub.db import Database

pytestmark = pytest.mark.slow  # runs the simulator and the demo with a real HQ


def test_sim_enrols_sells_and_drains_every_outbox(hq, tmp_path: Path, capsys):
    """GIVEN HQ with the demo chain and an admin token
    WHEN `chainpos sim --terminals 4 --sales-per-minute 240 --duration 3` runs
    THEN four terminals enrol over HTTP, sell, report progress as JSON lines, and end with
    empty outboxes; HQ holds exactly the sales the simulator reports."""
    token = operations.create_admin_token(hq.db, "sim")
    code = main(
        [
            "sim",
            "--hq",
            hq.url,
            "--admin-token",
            token,
            "--terminals",
            "4",
            "--sales-per-minute",
            "240",
            "--duration",
            "3",
            "--report-every",
            "1",
            "--data-dir",
            str(tmp_path / "sim"),
        ]
    )
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    final = lines[-1]
    assert code == 0, lines
    assert final["final"] is True
    assert final["terminals"] == 4
    assert final["sales"] > 0 and final["failed"] == 0
    assert final["outbox_pending"] == 0
    with hq.db.read() as conn:
        assert (
            conn.execute(select(func.count()).select_from(m.sales)).scalar_one() == final["sales"]
        )
        devices = conn.execute(select(func.count()).select_from(m.devices)).scalar_one()
    assert devices == 4


def test_sim_without_a_token_explains_what_it_needs(capsys, monkeypatch):
    monkeypatch.delenv("CHAINPOS_ADMIN_TOKEN", raising=False)
    assert main(["sim", "--hq", "http://127.0.0.1:9"]) == 2
    assert "admin token" in capsys.readouterr().err


def test_demo_starts_hq_and_two_enrolled_terminals(tmp_path: Path):
    """GIVEN an empty demo folder
    WHEN `chainpos demo --exit-when-ready` runs (twice: first start and a restart)
    THEN HQ is created with the chain, terminals S001-T01 and S002-T01 enrol once, both
    windows reach ready, and the guide names the staff and an HQ price command."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    cmd = [
        sys.executable,
        "-m",
        "pos_app",
        "demo",
        "--data-dir",
        str(tmp_path / "demo"),
        "--exit-when-ready",
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "S001: enrolled as S001-T01" in out
    assert "S002: enrolled as S002-T01" in out
    assert "HQ is running at http://127.0.0.1:" in out
    assert "1001 / 1234 / cashier" in out
    assert "price set FT001 18" in out
    assert "ready " in out
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert again.returncode == 0, again.stderr
    assert "enrolled as" not in again.stdout
    db = Database(f"sqlite:///{tmp_path / 'demo' / 'hq.sqlite3'}")
    try:
        with db.read() as conn:
            ids = sorted(conn.execute(select(m.devices.c.id)).scalars())
    finally:
        db.dispose()
    assert ids == ["S001-T01", "S002-T01"]


def test_ctrl_c_stops_the_demo_cleanly(tmp_path: Path):
    """GIVEN the chain demo running (HQ, the payment simulator, two tills)
    WHEN Ctrl+C reaches it (SIGINT) THEN it closes the tills, stops HQ and the simulator
    and exits 0 without a traceback, and the guide printed the folder the data is in."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "pos_app", "demo", "--data-dir", str(tmp_path / "demo")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("ready "):
                break
        assert any(line.startswith("ready ") for line in seen), "".join(seen)
        assert f"Demo data (HQ and both tills; --fresh starts again): {tmp_path / 'demo'}\n" in seen
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "SIGINT: stopping" in err
    assert "Demo stopped" in rest
