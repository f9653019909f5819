"""A till in its own process that charges a payment code and waits for the customer's
password, for the SIGKILL test (tests/services/test_paycode_kill.py).

Usage: python -m tests.services._paycode_worker DB KEYRING_FILE CODE
Prints ``waiting <order_no>`` once the gateway said USERPAYING, then waits.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import keyring

from pos_app.app import build_terminal
from tests.paysim import MemoryKeyring


def main() -> None:
    db, keyring_file, code = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    keyring.set_keyring(MemoryKeyring(keyring_file))
    terminal = build_terminal(db, start_devices=False)
    assert terminal.payments is not None and terminal.payments.available
    outcome = terminal.payments.charge(code, 1500, draft_id="draft-1", cashier="1001")
    print(f"{outcome.state} {outcome.order_no}", flush=True)
    terminal.payments.wait_for_customer(outcome.order_no, threading.Event())


if __name__ == "__main__":
    main()
