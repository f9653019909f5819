"""Child process of the print-queue crash test: a terminal that sells and dies.

Usage::

    python _print_worker.py DB_PATH

Builds the terminal without starting its devices (so the print worker cannot take the
receipt), completes one cash sale through ``CheckoutService.complete``, prints
``SOLD <sale_id> <receipt_no>`` once the commit returned, and waits on stdin for the
SIGKILL the parent sends. Run with the repository root on ``PYTHONPATH``.
"""

from __future__ import annotations

import sys

from pos_app.app import build_terminal
from pos_app.domain.tender import Payment


def main() -> None:
    terminal = build_terminal(sys.argv[1], start_devices=False)
    cashier = terminal.auth.sign_in("1001", "1234")
    draft = terminal.checkout.new_draft(cashier)
    for code in ("6954321100014", "6954321100137"):
        terminal.checkout.scan(draft, code)
    payment = Payment(draft.cart.totals().total_fen)
    payment.add_cash(5000)
    sale = terminal.checkout.complete(draft, payment)
    print(f"SOLD {sale.id} {sale.receipt_no}", flush=True)
    sys.stdin.readline()
    raise SystemExit("the parent was supposed to kill this process")


if __name__ == "__main__":
    main()
