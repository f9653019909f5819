"""Child process of the SIGKILL durability tests: a terminal that sells until killed.

Usage::

    python _sale_worker.py DB_PATH loop
        Completes sales forever through ``CheckoutService.complete`` and prints
        ``SOLD <receipt_no>`` after each commit returned.

    python _sale_worker.py DB_PATH block-after N
        Completes N sales the same way, then starts one more whose transaction stops
        inside ``record_sale``: its rows are written but not committed. Prints
        ``IN_TX <sale_id> <receipt_no>`` and waits on stdin for a kill that never
        needs an answer.

The database must already hold the demo chain (the parent seeds it). Run with the
repository root on ``PYTHONPATH``.
"""

from __future__ import annotations

import sys
from typing import Any

from pos_app.app import build_terminal
from pos_app.domain.tender import Payment
from pos_app.localdb import sales as sales_repo

# What each sale scans, in turn: piece items (some repeated, so lines merge), a weighed
# scale label for SN001 (356 g) and a price-embedded label for SN002 (¥12.34).
BASKETS = (
    ("6954321100014", "6954321100014", "6954321100137"),
    ("6954321100236", "2500101003569", "6954321100304"),
    ("6954321100014", "2000102012343", "0049000042566", "6954321100458"),
)


def _sell(terminal: Any, cashier: Any, n: int) -> Any:
    draft = terminal.checkout.new_draft(cashier)
    for code in BASKETS[n % len(BASKETS)]:
        terminal.checkout.scan(draft, code)
    total = draft.cart.totals().total_fen
    payment = Payment(total)
    card = total // 3
    if card:
        payment.add_card(card, reference=f"CARD{n}")
    payment.add_cash(total - card + 500)
    return terminal.checkout.complete(draft, payment)


def main() -> None:
    db_path, mode = sys.argv[1], sys.argv[2]
    terminal = build_terminal(db_path)
    cashier = terminal.auth.sign_in("1001", "1234")
    if mode == "loop":
        n = 0
        while True:
            sale = _sell(terminal, cashier, n)
            print(f"SOLD {sale.receipt_no}", flush=True)
            n += 1
    if mode == "block-after":
        for n in range(int(sys.argv[3])):
            sale = _sell(terminal, cashier, n)
            print(f"SOLD {sale.receipt_no}", flush=True)
        original = sales_repo.record_sale

        def record_then_hang(session: Any, sale: Any, event: Any) -> int:
            original(session, sale, event)  # rows flushed inside the open transaction
            print(f"IN_TX {sale.id} {sale.receipt_no}", flush=True)
            sys.stdin.readline()
            raise SystemExit("the parent was supposed to kill this process")

        sales_repo.record_sale = record_then_hang  # type: ignore[assignment]
        _sell(terminal, cashier, 99)
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
