"""The till's sign-in lockout rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pos_app.domain.pin import LockoutPolicy

NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


def test_five_wrong_pins_in_a_row_lock_for_five_minutes() -> None:
    policy = LockoutPolicy()
    count, until = 0, None
    for expected in (1, 2, 3, 4):
        count, until = policy.after_failure(count, NOW)
        assert (count, until) == (expected, None)
    count, until = policy.after_failure(count, NOW)
    assert until == NOW + timedelta(minutes=5)
    assert count == 0  # after the lock, the count starts afresh


def test_a_custom_policy_locks_at_its_own_limit() -> None:
    policy = LockoutPolicy(max_attempts=3, lock_for=timedelta(minutes=15))
    assert policy.after_failure(1, NOW) == (2, None)
    assert policy.after_failure(2, NOW) == (0, NOW + timedelta(minutes=15))
