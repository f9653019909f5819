"""``chainpos-hq`` stock commands: store location, safety stock, alerts, proposals,
transfers and counts, through the same functions as the admin API."""

from __future__ import annotations

from pathlib import Path

import pytest

from server_stub import cli


def _run(db: str, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert cli.main([*argv, "--db", db]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_store_location_safety_stock_alerts_and_proposals_from_the_shell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """GIVEN two stores with coordinates and an item WHEN HQ staff set a chain-wide
    minimum of 10 and maximum of 40, and the stores hold 5 and 60 THEN the short store
    has an open low alert, the proposal moves 20 from the other (14 km away), and the
    alert can be closed by hand."""
    db = f"sqlite:///{tmp_path / 'hq.sqlite3'}"
    csv = tmp_path / "items.csv"
    csv.write_text("sku,name_zh,unit,price\nW1,矿泉水,piece,2\n", encoding="utf-8")
    _run(db, capsys, "store", "add", "S002", "城西店", "--lat", "31.20", "--lon", "121.40")
    _run(db, capsys, "store", "add", "S003", "城东店", "--region", "华东")
    out = _run(db, capsys, "store", "set", "S003", "--lat", "31.20", "--lon", "121.55")
    assert "31.20000,121.55000" in out
    _run(db, capsys, "catalog", "import", str(csv))
    out = _run(db, capsys, "stock", "safety", "set", "W1", "--min", "10", "--max", "40")
    assert "W1 chain-wide: min 10, max 40" in out
    _run(db, capsys, "stock", "receive", "--store", "S002", "W1", "5", "--reason", "opening")
    _run(db, capsys, "stock", "receive", "--store", "S003", "W1", "60", "--reason", "opening")
    out = _run(db, capsys, "stock", "alerts")
    assert "S002\tW1\tlow\ton hand 5\tmin 10\tqty 5\topen" in out
    out = _run(db, capsys, "stock", "proposals", "--store", "S002")
    assert out.startswith("W1\tS003 -> S002\t20\t") and "14.3 km" in out
    assert "resolved" in _run(db, capsys, "stock", "resolve-alert", "1")
    assert _run(db, capsys, "stock", "alerts") == "no stock alerts\n"
    assert _run(db, capsys, "transfers", "list") == "no transfers\n"
    assert cli.main(["transfers", "show", "nonsense", "--db", db]) == 1
