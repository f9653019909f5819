"""``chainpos config label_printer``: the cup label printer set from the command line is
the one the terminal builds at its next start."""

from __future__ import annotations

from pathlib import Path

from pos_app.cli import main
from pos_app.localdb.engine import open_database
from pos_app.services.device_settings import DeviceSettingsService
from tests.support import FakeClock


def _label_printer(db: str):
    engine = open_database(db)
    try:
        return DeviceSettingsService(engine, FakeClock()).label_printer()
    finally:
        engine.dispose()


def test_label_printer_is_set_changed_refused_and_removed(tmp_path: Path, capsys):
    db = str(tmp_path / "terminal.db")
    assert _label_printer(db) is None
    assert main(["config", "--db", db, "label_printer", "network:192.168.1.60"]) == 0
    settings = _label_printer(db)
    assert settings is not None
    assert (settings.backend, settings.host, settings.port) == ("network", "192.168.1.60", 9100)
    assert settings.paper_mm == 58 and settings.describe() == "network 192.168.1.60:9100"
    assert main(["config", "--db", db, "label_printer", "file:/dev/usb/lp1"]) == 0
    settings = _label_printer(db)
    assert settings is not None and (settings.backend, settings.path) == ("file", "/dev/usb/lp1")
    assert main(["config", "--db", db, "label_printer", "network:host:port"]) == 2
    assert "label_printer takes one of: none, virtual" in capsys.readouterr().err
    assert main(["config", "--db", db, "label_printer", "none"]) == 0
    assert _label_printer(db) is None
