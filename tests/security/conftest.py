"""Fixtures for the security suite: each test attacks the product the way the audit did.

Why they exist: the suite reuses the fixtures of the suites it borrows from rather than
building its own copies. ``terminal`` / ``cashier`` / ``supervisor`` (the real
composition root on the seeded demo database) come from the service tests; ``hq`` and
``terminals`` (a real HQ on loopback, on SQLite and on PostgreSQL when
``CHAINPOS_TEST_PG_URL`` is set, and enrolled headless tills) from the sync tests; the
UI tests' ``window`` drives real widgets with pytest-qt.
"""

from __future__ import annotations

from tests.services.conftest import (  # noqa: F401  (fixtures)
    cashier,
    clock,
    db_path,
    demo_template,
    printer,
    supervisor,
    terminal,
)
from tests.sync.conftest import backend, hq, hq_url_db, terminals  # noqa: F401  (fixtures)
