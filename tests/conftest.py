"""Marks shared by every test package.

``slow`` (deselect with ``-m "not slow"``; ``installer/run test --fast`` does) marks tests
that start a real HQ (uvicorn in a thread or an HQ process), run the fault proxy, kill
processes with SIGKILL, fuzz HQ's API or play long scenarios. A test that takes one of
the fixtures below starts a real HQ, so it is marked here once rather than test by test;
the others carry ``pytest.mark.slow`` in their module.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# Property tests check values, never time: hypothesis's per-example deadline (200 ms) and
# its too-slow health check turn a loaded machine into failures, so neither applies here.
settings.register_profile("chainpos", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("chainpos")

REAL_HQ_FIXTURES = frozenset({"hq", "tls_hq", "paysim"})
"""Fixtures (tests/server, tests/sync, tests/ui) that serve a real HQ, or the payment
gateway simulator, on a loopback port."""


@pytest.fixture
def memory_keyring():  # type: ignore[no-untyped-def]
    """A keyring in memory for this test (merchant secrets); see :mod:`tests.paysim`."""
    from tests.paysim import memory_keyring_for_test

    yield from memory_keyring_for_test()


@pytest.fixture(scope="module")
def paysim(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The payment gateway simulator as a process, one per test module."""
    from tests.paysim import start_paysim

    sim = start_paysim(tmp_path_factory.mktemp("paysim"))
    yield sim
    sim.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_HQ_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
