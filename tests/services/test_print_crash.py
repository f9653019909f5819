"""A terminal killed between a sale's commit and its receipt prints it at the next start.

The child (``_print_worker.py``) is a real terminal built by ``build_terminal``; it
completes a sale and is killed with SIGKILL before anything reaches the printer. The
parent then starts a terminal on the same file, as the next morning would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from hardware import VirtualPrinter, decode
from pos_app.app import build_terminal
from pos_app.localdb.engine import make_engine
from pos_app.services.device_settings import PrinterSettings
from tests.support import FakeClock

WORKER = Path(__file__).with_name("_print_worker.py")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,  # SIGKILLs a worker process mid-print
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL"),
]


def test_a_receipt_committed_before_a_crash_prints_at_the_next_start(
    db_path: Path, clock: FakeClock, tmp_path: Path
) -> None:
    """GIVEN a terminal printing to a network printer
    WHEN it is killed (SIGKILL) right after a cash sale committed, before printing
    THEN the receipt's job is pending in the database; AND WHEN the terminal starts again
    THEN the job counts as not printed at once and prints, complete, exactly once, without
    opening the cash drawer by itself."""
    printer = VirtualPrinter()
    host, port = printer.serve_tcp()
    setup = build_terminal(db_path, clock=clock, start_devices=False)
    manager = setup.auth.sign_in("1004", "86420")
    setup.device_settings.save_printer(
        PrinterSettings.from_profile("xprinter-80", backend="network", host=host, port=port),
        manager,
    )
    setup.close()

    stderr = (tmp_path / "child.err").open("w")
    child = subprocess.Popen(
        [sys.executable, str(WORKER), str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line and line[0] == "SOLD", (tmp_path / "child.err").read_text()
        sale_id, receipt_no = line[1], line[2]
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
        stderr.close()
    assert child.returncode == -signal.SIGKILL

    engine = make_engine(db_path)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, sale_id, state FROM print_job")).all()
    engine.dispose()
    assert rows == [("receipt", sale_id, "pending")]
    assert printer.jobs == []

    terminal = build_terminal(db_path, clock=clock, start_devices=False)
    try:
        terminal.printing.start()
        assert terminal.printing.state.unprinted == 1
        assert terminal.printing.state.jobs[0].receipt_no == receipt_no
        assert printer.wait_for_jobs(1, 10)
        assert terminal.printing.wait_for(lambda s: s.unprinted == 0, 10)
    finally:
        terminal.close()
        printer.stop()
    (job,) = printer.jobs
    receipt = decode(job, "gbk", chinese_at_power_on=True)
    assert receipt_no in receipt.text and "芋泥波波" in receipt.text
    assert len(receipt.cuts) == 1
    assert receipt.drawer_kicks == []  # nobody is at the till waiting for change
    assert "重印" not in receipt.text
