"""Staff PINs: scrypt hashes that verify only the right PIN, and the lockout rule.

Hashes use scrypt cost n=2**4 so the property tests stay fast; the format and the
verification path are the same as with the production cost.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pos_app.domain.pin import LockoutPolicy, PinFormatError, hash_pin, validate_pin, verify_pin

FAST_N = 2**4
pins = st.text(alphabet="0123456789", min_size=4, max_size=8)


@settings(max_examples=50)
@given(pins, pins)
def test_a_hash_verifies_its_pin_and_no_other(pin: str, other: str) -> None:
    stored = hash_pin(pin, n=FAST_N)
    assert verify_pin(pin, stored)
    assert verify_pin(other, stored) == (other == pin)


def test_hash_format_records_its_parameters_and_a_fresh_salt() -> None:
    first = hash_pin("1234", n=FAST_N)
    second = hash_pin("1234", n=FAST_N)
    scheme, n, r, p, salt, digest = first.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(FAST_N), "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 32
    assert first != second  # same PIN, different salt: equal PINs do not show in the table
    assert "1234" not in first


def test_a_hash_made_with_the_production_cost_still_verifies() -> None:
    stored = hash_pin("135790")
    assert stored.split("$")[1] == str(2**14)
    assert verify_pin("135790", stored)
    assert not verify_pin("135791", stored)


@pytest.mark.parametrize("pin", ["", "123", "123456789", "12a4", "12 34", "１２３４", "-123"])
def test_pins_are_four_to_eight_ascii_digits(pin: str) -> None:
    with pytest.raises(PinFormatError):
        validate_pin(pin)
    with pytest.raises(PinFormatError):
        hash_pin(pin, n=FAST_N)


def test_a_non_digit_attempt_is_simply_wrong() -> None:
    stored = hash_pin("1234", n=FAST_N)
    assert not verify_pin("12a4", stored)
    assert not verify_pin("１２３４", stored)


@pytest.mark.parametrize(
    "stored", ["", "plain1234", "bcrypt$16$8$1$AAAA$AAAA", "scrypt$x$8$1$AAAA$AAAA", "scrypt$16$8"]
)
def test_a_malformed_stored_hash_is_reported_not_accepted(stored: str) -> None:
    with pytest.raises(PinFormatError):
        verify_pin("1234", stored)


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
