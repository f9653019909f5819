"""A till killed (SIGKILL) while the customer's wallet asks for the password: the next
start asks the gateway about the open intent and settles it, once.

The till runs in a subprocess against the gateway simulator (a process too), with the
merchant secrets in a file-backed test keyring both processes read.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from sqlalchemy import text

from pos_app.app import build_terminal
from pos_app.localdb.engine import open_database, read_session
from pos_app.localdb.seed import load_demo
from tests.paysim import REPO, UP_PASSWORD, MemoryKeyring, PaysimProcess, configure_store
from tests.support import fast_hash

pytestmark = pytest.mark.slow  # kills a till process; the simulator runs as a process

PASSWORD_FOREVER = "134567890121230001"


@pytest.fixture
def file_keyring(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "keyring.json"
    before = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring(path))
    yield path
    keyring.set_keyring(before)


def _intents(db: Path) -> list[tuple[str, str]]:
    engine = open_database(db)
    try:
        with read_session(engine) as session:
            rows = session.execute(text("SELECT order_no, state FROM payment_intent"))
            return [(r[0], r[1]) for r in rows]
    finally:
        engine.dispose()


def test_sigkill_while_the_customer_types_the_password_is_settled_once_at_restart(
    tmp_path: Path, file_keyring: Path, paysim: PaysimProcess
):
    """GIVEN a till whose charge waits for the customer's password (USERPAYING)
    WHEN the till process is killed with SIGKILL and started again
    THEN the start asks the gateway, reverses the order (nobody is waiting for it) and
    closes the intent; a second start finds nothing open and calls the gateway for
    nothing."""
    db = tmp_path / "terminal.db"
    engine = open_database(db)
    load_demo(engine, store_code="S001", terminal_id="S001-T01", pin_hasher=fast_hash)
    engine.dispose()
    merchants = configure_store(db, "S001", paysim)
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.services._paycode_worker",
            str(db),
            str(file_keyring),
            PASSWORD_FOREVER,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line and line[0] == "user_paying", proc.stderr.read() if proc.stderr else line
        order_no = line[1]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    assert _intents(db) == [(order_no, "user_paying")]
    [held] = paysim.orders(order_no, merchants["wechat_pay"])
    assert (held["state"], held["reverse_calls"]) == ("user_paying", 0)

    terminal = build_terminal(db, start_devices=False)
    try:
        terminal.start_sync()
        settled = terminal.settle_payments()
        assert settled is not None
        [outcome] = settled.result(timeout=30)
        assert (outcome.order_no, outcome.state) == (order_no, "reversed")
        assert terminal.settle_payments() is settled  # once per start
    finally:
        terminal.close()
    assert _intents(db) == [(order_no, "reversed")]
    [held] = paysim.orders(order_no, merchants["wechat_pay"])
    assert (held["state"], held["reverse_calls"], held["refunds"]) == ("reversed", 1, {})

    again = build_terminal(db, start_devices=False)
    try:
        again.start_sync()
        second = again.settle_payments()
        assert second is not None and second.result(timeout=30) == []
    finally:
        again.close()
    [held] = paysim.orders(order_no, merchants["wechat_pay"])
    assert held["reverse_calls"] == 1


def test_a_unionpay_charge_asked_about_after_a_restart_names_the_time_it_was_sent_with(
    tmp_path: Path, memory_keyring: MemoryKeyring, paysim: PaysimProcess
):
    """GIVEN a UnionPay charge waiting for the customer's password when the till stops
    WHEN the till starts again (new adapters, nothing remembered in memory) and keeps asking
    THEN its queries name the consume's own txnTime, kept with the intent, so UnionPay
    finds the order: it is paid, once."""
    db = tmp_path / "terminal.db"
    engine = open_database(db)
    load_demo(engine, store_code="S001", terminal_id="S001-T01", pin_hasher=fast_hash)
    engine.dispose()
    merchants = configure_store(db, "S001", paysim)
    first = build_terminal(db, start_devices=False)
    try:
        assert first.payments is not None
        outcome = first.payments.charge(UP_PASSWORD, 1500, draft_id="d-1", cashier="1001")
    finally:
        first.close()
    assert outcome.state == "user_paying"

    again = build_terminal(db, start_devices=False)
    try:
        assert again.payments is not None
        settled = again.payments.wait_for_customer(
            outcome.order_no, threading.Event(), wait=lambda _s: None
        )
    finally:
        again.close()
    assert (settled.state, settled.amount_fen) == ("paid", 1500)
    assert _intents(db) == [(outcome.order_no, "paid")]
    [held] = paysim.orders(outcome.order_no, merchants["unionpay"])
    assert (held["state"], held["pay_calls"], held["reverse_calls"]) == ("paid", 1, 0)
