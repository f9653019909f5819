"""Staff PIN hashes, shared by HQ and the till: they verify only the right PIN.

Hashes use scrypt cost n=2**4 so the property tests stay fast; the format and the
verification path are the same as with the production cost.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_client.contract.pin import (
    PinFormatError,
    PinHashError,
    hash_pin,
    parse_pin_hash,
    validate_pin,
    verify_pin,
)

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
    """HQ and the till both call this: a corrupt hash raises the same coded error (the
    till reports a corrupt record instead of counting a wrong PIN); it never verifies."""
    with pytest.raises(PinHashError) as err:
        verify_pin("1234", stored)
    assert err.value.code == "bad_pin_hash"
    assert isinstance(err.value, PinFormatError)


@pytest.mark.parametrize(
    "stored",
    [
        "scrypt$16$8$1$AAAA$not base64!",
        "scrypt$15$8$1$AAAA$AAAA",
        "scrypt$16$0$1$AAAA$AAAA",
        "scrypt$16$8$1$$AAAA",
        "scrypt$-16$8$1$AAAA$AAAA",
        "scrypt$16$8$1$AAAA$AAAA$extra",
    ],
)
def test_hashes_that_only_look_right_are_malformed_too(stored: str) -> None:
    with pytest.raises(PinHashError):
        verify_pin("1234", stored)


def test_a_parsed_hash_encodes_back_to_the_same_text() -> None:
    stored = hash_pin("2468", n=FAST_N, salt=b"0123456789abcdef")
    parsed = parse_pin_hash(stored)
    assert (parsed.n, parsed.r, parsed.p, parsed.salt) == (FAST_N, 8, 1, b"0123456789abcdef")
    assert parsed.encode() == stored


def test_a_hash_from_another_scrypt_implementation_verifies() -> None:
    """The format is what StaffData documents, so HQ may be rebuilt in anything."""
    import hashlib

    salt = b"saltsaltsaltsalt"
    digest = hashlib.scrypt(b"97531", salt=salt, n=FAST_N, r=4, p=2, dklen=24)
    b64 = base64.b64encode
    stored = f"scrypt${FAST_N}$4$2${b64(salt).decode()}${b64(digest).decode()}"
    assert verify_pin("97531", stored)
    assert not verify_pin("97530", stored)
