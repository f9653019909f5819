"""A headless terminal in its own process, for tests that SIGKILL it.

``python -m tests.sync._terminal_worker DATA_DIR SEED``: opens the enrolled terminal in
DATA_DIR, starts its sync, and sells random baskets as fast as it can, printing
``committed <sale id>`` after each commit returns (so the test knows which sales are
durable) until it is killed.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from pos_app.headless import HeadlessTerminal
from tests.sync.conftest import FAST


def main() -> None:
    data_dir, seed = Path(sys.argv[1]), int(sys.argv[2])
    t = HeadlessTerminal.open(data_dir, sync_config=FAST).start()
    rng = random.Random(seed)
    skus = t.sellable_skus()
    print("ready", flush=True)
    while True:
        sale = t.random_sale(rng, skus)
        print(f"committed {sale.id}", flush=True)


if __name__ == "__main__":
    main()
