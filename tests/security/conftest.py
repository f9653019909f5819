"""Fixtures for the security suite: each test attacks the system the way an audit did.

Why these fixtures exist: the attacks need both sides. HQ fixtures (``backend``,
``db_url``, ``hq``, ``chain``, ``client``) come from :mod:`tests.server.conftest`, so
every HQ attack runs on SQLite and, when ``CHAINPOS_TEST_PG_URL`` is set, on
PostgreSQL; the till fixtures (``terminal``, ``clock``, ``cashier``, ``supervisor``) come
from :mod:`tests.services.conftest`, a real terminal on a seeded SQLite file.
"""

from __future__ import annotations

from tests.server.conftest import backend, chain, client, db_url, hq
from tests.services.conftest import (
    cashier,
    clock,
    db_path,
    demo_template,
    printer,
    supervisor,
    terminal,
)

__all__ = [
    "backend",
    "cashier",
    "chain",
    "client",
    "clock",
    "db_path",
    "db_url",
    "demo_template",
    "hq",
    "printer",
    "supervisor",
    "terminal",
]
