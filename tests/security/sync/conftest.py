"""Fixtures for the attacks that need a real HQ with enrolled tills (a poisoned feed, a
bad setting pushed to a store): the sync suite's ``hq`` (demo chain on loopback, on SQLite
and on PostgreSQL when ``CHAINPOS_TEST_PG_URL`` is set) and ``terminals`` (enrolled
headless tills), reused rather than copied."""

from __future__ import annotations

from tests.sync.conftest import backend, hq, hq_url_db, terminals

__all__ = ["backend", "hq", "hq_url_db", "terminals"]
