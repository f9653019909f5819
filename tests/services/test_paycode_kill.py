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
from typing import Any

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


def _demo_till(tmp_path: Path, paysim: PaysimProcess) -> tuple[Path, dict[str, str]]:
    db = tmp_path / "terminal.db"
    engine = open_database(db)
    load_demo(engine, store_code="S001", terminal_id="S001-T01", pin_hasher=fast_hash)
    engine.dispose()
    return db, configure_store(db, "S001", paysim)


def test_closing_the_till_during_a_password_wait_reverses_the_charge(
    tmp_path: Path, memory_keyring: MemoryKeyring, paysim: PaysimProcess
):
    """GIVEN a charge waiting for the customer's password on the payment worker, as the
    payment screen runs it
    WHEN the till is closed
    THEN the wait is cancelled and the charge reversed before the till is gone: the
    customer cannot pay for a sale the closed till will never finish."""
    db, merchants = _demo_till(tmp_path, paysim)
    till = build_terminal(db, start_devices=False, payment_poll_s=0.05)
    closed = False
    try:
        assert till.payments is not None and till.payment_worker is not None
        outcome = till.payments.charge(
            PASSWORD_FOREVER[:-8] + "45670001", 1200, draft_id="d-1", cashier="1001"
        )
        assert outcome.state == "user_paying"
        waiting = till.payment_worker.submit(
            till.payments.wait_for_customer, outcome.order_no, threading.Event()
        )
        while paysim.orders(outcome.order_no, merchants["wechat_pay"])[0]["query_calls"] < 1:
            assert not waiting.done()
            threading.Event().wait(0.05)
        till.close()
        closed = True
    finally:
        if not closed:
            till.close()
    assert waiting.result(timeout=0).state == "reversed"
    assert _intents(db) == [(outcome.order_no, "reversed")]
    [held] = paysim.orders(outcome.order_no, merchants["wechat_pay"])
    assert (held["state"], held["reverse_calls"]) == ("reversed", 1)


class _StuckReverse:
    """Wraps a gateway; its reverse blocks until ``release`` is set (a provider that does
    not answer)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def reverse(self, order_no: str, kind: str, **kw: Any) -> Any:
        self.release.wait(30)
        return self._inner.reverse(order_no, kind, **kw)


def test_closing_the_till_waits_for_a_reverse_only_so_long(
    tmp_path: Path, memory_keyring: MemoryKeyring, paysim: PaysimProcess
):
    """GIVEN a password wait whose reverse gets no answer
    WHEN the till is closed
    THEN closing gives up after its bound (the till does not hang) with the intent still
    open, for the next start to settle; a reverse answered later still closes it."""
    from pos_app.localdb.store import all_settings
    from pos_app.services.gateways import gateway_from_settings, keyring_secrets

    db, merchants = _demo_till(tmp_path, paysim)
    engine = open_database(db)
    with read_session(engine) as session:
        settings = all_settings(session)
    engine.dispose()
    stuck = _StuckReverse(gateway_from_settings(settings, "S001", keyring_secrets))
    till = build_terminal(
        db,
        start_devices=False,
        payment_poll_s=0.05,
        payment_gateway=stuck,  # type: ignore[arg-type]
    )
    till.payment_shutdown_s = 0.3
    try:
        assert till.payments is not None and till.payment_worker is not None
        outcome = till.payments.charge(
            PASSWORD_FOREVER[:-8] + "45680001", 700, draft_id="d-2", cashier="1001"
        )
        waiting = till.payment_worker.submit(
            till.payments.wait_for_customer, outcome.order_no, threading.Event()
        )
        while paysim.orders(outcome.order_no, merchants["wechat_pay"])[0]["query_calls"] < 1:
            threading.Event().wait(0.05)
        till.close()  # returns although the reverse is still blocked
        assert not waiting.done()
        assert _intents(db) == [(outcome.order_no, "user_paying")]
    finally:
        stuck.release.set()
    try:
        assert waiting.result(timeout=30).state == "reversed"
    finally:
        stuck.close()
    assert _intents(db) == [(outcome.order_no, "reversed")]
    [held] = paysim.orders(outcome.order_no, merchants["wechat_pay"])
    assert (held["state"], held["reverse_calls"]) == ("reversed", 1)
