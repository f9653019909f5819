"""Returns at the till: receipt QR -> the sale as the return screen shows it, and the
return commit, on a till database holding a realistic volume of sales.

``till_return_find``: :meth:`ReturnService.find_by_ref` for a receipt of this till
(signature verified with the till's secret, sale, lines, tenders, member and earlier
returns read from SQLite), the service half of "scanned -> on screen" (goal p99 20 ms).
``till_return_commit``: :meth:`ReturnService.commit` of a one-item return (return,
lines, refunds, stock, outbox event and receipt print job in one ``synchronous=FULL``
transaction; goal p99 15 ms). The print worker is off, so printing is not measured.
``cpu_*``: the committing thread's CPU time alone (``time.thread_time``), which a loaded
machine does not stretch the way it stretches wall time and the fsync.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from typing import Any

from pos_app.app import build_terminal
from pos_app.domain.tender import Payment
from pos_app.services.returns import ReturnChoice
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks._terminal_fixtures import demo_catalog_db, fresh_copy

CODES = ("6954321100014", "6954321100137", "2500101003569")


def run(opts: Options) -> Iterator[dict[str, Any]]:
    n_sales = 2_000 if opts.quick else 20_000
    samples = 200 if opts.quick else 1000
    scratch = opts.scratch("till-returns")
    source, _ = demo_catalog_db(scratch, 2_000, realistic_pins=False)
    path = fresh_copy(source, scratch / "returns.db")
    terminal = build_terminal(path, start_devices=False)
    try:
        assert terminal.returns is not None
        cashier = terminal.auth.sign_in("1001", "1234")
        refs = []
        started = time.perf_counter()
        for i in range(n_sales):
            draft = terminal.checkout.new_draft(cashier)
            for code in CODES[: 1 + i % 3]:
                terminal.checkout.scan(draft, code)
            payment = Payment(draft.cart.totals().total_fen)
            payment.add_cash(payment.due_fen)
            refs.append(terminal.checkout.complete(draft, payment).reference)
        seed_s = time.perf_counter() - started
        rng = random.Random(7)
        picks = [refs[rng.randrange(len(refs))] for _ in range(samples)]
        finds = []
        for ref in picks:
            t0 = time.perf_counter()
            terminal.returns.find_by_ref(ref).result(5)
            finds.append(time.perf_counter() - t0)
        yield {
            "name": "till_return_find",
            "n": len(finds),
            **percentiles_ms(finds),
            "sales": n_sales,
            "seed_s": round(seed_s, 1),
            "goal_p99_ms": 20,
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
        commits: list[float] = []
        cpu: list[float] = []
        for ref in rng.sample(refs, samples):
            found = terminal.returns.find_by_ref(ref).result(5)
            draft = terminal.returns.new_draft(cashier, found)
            draft.choices[1] = ReturnChoice(1000, "changed_mind")
            t0, c0 = time.perf_counter(), time.thread_time()
            terminal.returns.commit(draft)
            commits.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        yield {
            "name": "till_return_commit",
            "n": len(commits),
            **percentiles_ms(commits),
            **{f"cpu_{k}": v for k, v in percentiles_ms(cpu).items()},
            "sales": n_sales,
            "goal_p99_ms": 15,
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        terminal.close()
