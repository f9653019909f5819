"""UUIDv7 event ids and the signed sale reference printed in the receipt QR code.

A forged or altered receipt code must never verify: a return at another store is
authorised from it.
"""

from __future__ import annotations

import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pos_app.domain.ids import SaleRef, SaleRefError, parse_sale_ref, uuid7, verify_sale_ref

MAX_MS = 2**48 - 1
unix_ms = st.integers(min_value=0, max_value=MAX_MS)
tails = st.binary(min_size=10, max_size=10)
codes = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=12)
secrets_ = st.binary(min_size=16, max_size=64)
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@given(unix_ms, tails)
def test_uuid7_has_version_7_rfc_variant_and_the_time(ms: int, tail: bytes) -> None:
    value = uuid7(ms, tail)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == ms


@given(unix_ms, unix_ms, tails, tails)
def test_uuid7_made_later_sorts_later(ms1: int, ms2: int, t1: bytes, t2: bytes) -> None:
    a, b = uuid7(ms1, t1), uuid7(ms2, t2)
    if ms1 < ms2:
        assert a < b and str(a) < str(b)
    elif ms1 > ms2:
        assert a > b and str(a) > str(b)


def test_uuid7_without_arguments_is_unique_and_carries_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    ids = [uuid7() for _ in range(1000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 1000
    assert all(i.version == 7 and before <= i.int >> 80 <= after for i in ids)


def test_uuid7_rejects_a_wrong_random_length() -> None:
    with pytest.raises(ValueError):
        uuid7(0, b"short")


def _ref(data: st.DataObject) -> SaleRef:
    return SaleRef(
        uuid.UUID(bytes=data.draw(st.binary(min_size=16, max_size=16))),
        data.draw(codes),
        data.draw(codes),
    )


@given(st.data(), secrets_)
def test_a_signed_reference_verifies_back_to_the_same_sale(
    data: st.DataObject, secret: bytes
) -> None:
    ref = _ref(data)
    text = ref.sign(secret)
    assert verify_sale_ref(text, secret) == ref
    assert text == text.upper()  # QR alphanumeric mode fits more on a small code
    assert parse_sale_ref(text)[0] == ref


@given(st.data(), secrets_)
def test_altering_any_character_fails_verification(data: st.DataObject, secret: bytes) -> None:
    ref = _ref(data)
    text = ref.sign(secret)
    position = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    replacement = data.draw(
        st.sampled_from(B32 + ".-019abz ").filter(lambda c: c != text[position])
    )
    forged = text[:position] + replacement + text[position + 1 :]
    with pytest.raises(SaleRefError):
        verify_sale_ref(forged, secret)


def test_every_single_character_change_of_one_code_fails() -> None:
    """GIVEN one real receipt code
    WHEN each character in turn is replaced by each other base32 character
    THEN not one of the altered codes verifies (including in the last character, whose
    low bits base32 does not use)."""
    secret = b"terminal-secret-0123456789abcdef"
    text = SaleRef(uuid7(1_700_000_000_000, bytes(10)), "S001", "S001-T01").sign(secret)
    accepted = []
    for position, char in enumerate(text):
        for replacement in B32 + ".-":
            if replacement == char:
                continue
            forged = text[:position] + replacement + text[position + 1 :]
            try:
                verify_sale_ref(forged, secret)
            except SaleRefError:
                continue
            accepted.append(forged)
    assert accepted == []


@given(st.data(), secrets_, secrets_)
def test_another_terminals_secret_does_not_verify(
    data: st.DataObject, secret: bytes, other: bytes
) -> None:
    if secret == other:
        return
    text = _ref(data).sign(secret)
    with pytest.raises(SaleRefError):
        verify_sale_ref(text, other)


@pytest.mark.parametrize(
    "text",
    ["", "hello", "CPS1.AAAA", "CPS2.A.B.C.D", "CPS1.!!!!.S001.T01.AAAA", "CPS1..S001.T01.AAAA"],
)
def test_garbage_is_not_a_receipt_code(text: str) -> None:
    with pytest.raises(SaleRefError):
        verify_sale_ref(text, b"secret")


@pytest.mark.parametrize(("store", "terminal"), [("s001", "T01"), ("S001", ""), ("S 01", "T1")])
def test_codes_must_be_upper_case_letters_digits_or_dash(store: str, terminal: str) -> None:
    with pytest.raises(SaleRefError):
        SaleRef(uuid7(), store, terminal)
