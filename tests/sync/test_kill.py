"""Terminals killed with SIGKILL while selling and pushing: nothing lost, nothing doubled.

The terminal runs in a subprocess (:mod:`tests.sync._terminal_worker`) that sells as fast
as it can with its sync client pushing at the same time, and prints each sale id once its
commit returned. It is killed at a random moment, several times; after each kill the test
reopens the same terminal in-process and lets it drain. Then: every sale whose commit
returned is at HQ exactly once, HQ holds no sale the terminal does not have (a sale killed
before its commit left no event), and the terminal equals HQ.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pos_app.headless import HeadlessTerminal
from tests.server.support import REPO
from tests.sync.conftest import FAST, wait_until
from tests.sync.convergence import (
    Report,
    check_sales,
    check_terminal,
    hq_head,
    terminal_sale_ids,
)

pytestmark = pytest.mark.slow  # SIGKILLs terminals mid-transaction


def _run_and_kill(data_dir: Path, seed: int, rng: random.Random) -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.sync._terminal_worker", str(data_dir), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    committed: list[str] = []
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read() if proc.stderr else line
        target = rng.randint(5, 40)
        while len(committed) < target:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("committed "):
                committed.append(line.split()[1])
        time.sleep(rng.uniform(0, 0.05))  # land inside a commit or a push, at random
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        committed += [x.split()[1] for x in rest.splitlines() if x.startswith("committed ")]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return committed


def test_sigkill_during_checkout_and_push_loses_and_doubles_nothing(hq, terminals):
    """GIVEN an enrolled terminal selling continuously while it pushes to HQ
    WHEN it is SIGKILLed at random moments, four times, and restarted each time
    THEN every sale whose commit returned reaches HQ exactly once, no event of a sale
    killed before commit exists, and the terminal converges to HQ."""
    t = terminals("S001", start=False)
    data_dir = t.data_dir
    t.close()
    rng = random.Random(20261122)
    committed: list[str] = []
    for round_ in range(4):
        committed += _run_and_kill(data_dir, round_, rng)
    report = Report(faults={"sigkill": 4})
    reopened = HeadlessTerminal.open(data_dir, sync_config=FAST).start()
    try:
        made = terminal_sale_ids(reopened)
        report.sales_made = len(made)
        # A sale is durable once its commit returns, so every printed id is in the DB.
        assert set(committed) <= made
        wait_until(lambda: reopened.outbox() == (0, 0), timeout=60, what="outbox drained")
        wait_until(lambda: reopened.terminal.sync.status.cursor >= hq_head(hq.db), what="caught up")
        check_sales(hq.db, made, report)
        check_terminal(hq.db, reopened, report)
    finally:
        reopened.close()
    print(report.line())
    assert report.clean, report
    assert report.sales_made >= len(committed) > 0
