"""Pay round trip against the gateway simulator (a separate process on loopback), through
the real adapters: ``PaymentService.charge`` from the call to the outcome -- the intent
committed (WAL, synchronous=FULL), the signed request, the simulator's verification and
signed answer, the answer's verification, the intent's state committed.

``paycode.pay``: codes that pay at once, per wallet (n=200; ``--quick`` 30).
``paycode.password``: codes that ask for the password (USERPAYING, then paid on the second
query): the charge plus the two queries, with the poll interval at 0 so the simulated
password wait is excluded (n=50; ``--quick`` 10). One request at a time.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import keyring

from pos_app.app import build_terminal
from pos_app.localdb.engine import open_database
from pos_app.localdb.seed import load_demo
from tests.benchmarks._stats import Options, percentiles_ms
from tests.paysim import MemoryKeyring, configure_store, start_paysim
from tests.support import fast_hash

PREFIX = {"wechat_pay": ("13", 18), "alipay": ("28", 18), "unionpay": ("62", 19)}


def _code(rng: random.Random, wallet: str, tail: str) -> str:
    head, length = PREFIX[wallet]
    middle = "".join(rng.choice("0123456789") for _ in range(length - len(head) - 4))
    return head + middle + tail


def run(opts: Options) -> Iterator[dict[str, Any]]:
    n_pay, n_password = (30, 10) if opts.quick else (200, 50)
    rng = random.Random(7)
    work = opts.scratch("paycode")
    before = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    sim = start_paysim(work / "paysim")
    try:
        db = work / "terminal.db"
        engine = open_database(db)
        load_demo(engine, store_code="S001", terminal_id="S001-T01", pin_hasher=fast_hash)
        engine.dispose()
        configure_store(db, "S001", sim, timeout_ms=15000)
        terminal = build_terminal(db, start_devices=False, payment_poll_s=0.0)
        payments = terminal.payments
        assert payments is not None and payments.available
        try:
            for wallet in PREFIX:
                # Warm-up: the first request of each adapter opens its connection.
                payments.charge(_code(rng, wallet, "9999"), 100, draft_id="w", cashier="1001")
                samples = []
                for _ in range(n_pay):
                    code = _code(rng, wallet, str(rng.randint(5000, 9998)))
                    t0 = time.perf_counter()
                    outcome = payments.charge(code, 1500, draft_id="b", cashier="1001")
                    samples.append(time.perf_counter() - t0)
                    assert outcome.paid, outcome
                yield {
                    "bench": "paycode.pay",
                    "wallet": wallet,
                    "n": n_pay,
                    **percentiles_ms(samples),
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                }
            for wallet in PREFIX:
                samples = []
                for _ in range(n_password):
                    code = _code(rng, wallet, "0000")
                    t0 = time.perf_counter()
                    outcome = payments.charge(code, 1500, draft_id="b", cashier="1001")
                    assert outcome.state == "user_paying", outcome
                    outcome = payments.wait_for_customer(
                        outcome.order_no, threading.Event(), wait=lambda _s: None
                    )
                    samples.append(time.perf_counter() - t0)
                    assert outcome.paid, outcome
                yield {
                    "bench": "paycode.password",
                    "wallet": wallet,
                    "n": n_password,
                    "queries_per_charge": 2,
                    **percentiles_ms(samples),
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                }
        finally:
            terminal.close()
    finally:
        sim.stop()
        keyring.set_keyring(before)
