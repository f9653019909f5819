"""Signed member codes (``sync_client.contract.membercode``): what a member app shows and a plastic
card carries. A forged, altered or expired code must never identify anyone: it would let a
stranger spend a member's points."""

from __future__ import annotations

import pytest
import qrcode
from hypothesis import given
from hypothesis import strategies as st

from sync_client.contract.membercode import (
    MemberCodeError,
    looks_like_member_code,
    member_number_of,
    sign_card_code,
    sign_member_code,
    verify_member_code,
)

numbers = st.text(alphabet="0123456789", min_size=6, max_size=20)
keys = st.binary(min_size=32, max_size=32)
NOW = 1_750_000_000
QR_ALNUM = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


@given(numbers, keys, st.integers(min_value=NOW, max_value=NOW + 86_400))
def test_an_app_code_verifies_until_it_expires(number: str, key: bytes, expires: int) -> None:
    code = sign_member_code(number, expires, key)
    assert set(code) <= QR_ALNUM and len(code) <= 80
    assert looks_like_member_code(code)
    got = verify_member_code(code, [key], now=expires)
    assert (got.kind, got.number, got.expires, got.card) == ("app", number, expires, None)
    with pytest.raises(MemberCodeError) as late:
        verify_member_code(code, [key], now=expires + 1)
    assert late.value.reason == "expired"
    assert verify_member_code(code, [key], now=expires + 30, grace_s=30).number == number


@given(numbers, keys, st.data())
def test_any_changed_character_is_refused(number: str, key: bytes, data: st.DataObject) -> None:
    code = sign_member_code(number, NOW + 60, key)
    i = data.draw(st.integers(min_value=0, max_value=len(code) - 1))
    replacement = data.draw(st.sampled_from(sorted(QR_ALNUM - {code[i]})))
    altered = code[:i] + replacement + code[i + 1 :]
    with pytest.raises(MemberCodeError) as refused:
        verify_member_code(altered, [key], now=NOW)
    assert refused.value.reason in ("malformed", "forged")


@given(numbers, keys, keys)
def test_a_code_signed_with_another_key_is_forged(number: str, key: bytes, other: bytes) -> None:
    code = sign_member_code(number, NOW + 60, other)
    if key != other:
        with pytest.raises(MemberCodeError) as refused:
            verify_member_code(code, [key], now=NOW)
        assert refused.value.reason == "forged"
    # After a key change HQ still accepts codes made with the previous key.
    assert verify_member_code(code, [key, other], now=NOW).number == number


def test_card_codes_never_expire_and_carry_the_card_generation() -> None:
    key = b"k" * 32
    code = sign_card_code("812345678901", 3, key)
    assert code.startswith("CPC1.812345678901.3.")
    got = verify_member_code(code, [key], now=NOW * 10)
    assert (got.kind, got.card, got.expires) == ("card", 3, None)
    # An app code and a card code with the same number and value are different MACs.
    app = sign_member_code("812345678901", 3, key)
    assert app.split(".")[3] != code.split(".")[3]
    with pytest.raises(MemberCodeError):
        verify_member_code("CPC1" + app[4:], [key], now=0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "6901234567892",
        "CPM1.812345678901.1750000060",
        "CPM1.12345.1750000060.AAAAAAAAAAAAAAAAAAAAAAAAAA",
        "CPM1.812345678901.01750000060.AAAAAAAAAAAAAAAAAAAAAAAAAA",
        "CPM2.812345678901.1750000060.AAAAAAAAAAAAAAAAAAAAAAAAAA",
        "CPM1.812345678901.1750000060.AAAAAAAAAAAAAAAAAAAAAAAAA1",
        "CPM1.812345678901.1750000060." + "A" * 100,
    ],
)
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(MemberCodeError) as refused:
        verify_member_code(text, [b"k" * 32], now=NOW)
    assert refused.value.reason == "malformed"
    assert member_number_of(text) is None


@given(numbers, keys, st.integers(min_value=1, max_value=10**11))
def test_the_till_reads_the_number_of_any_well_formed_code(
    number: str, key: bytes, value: int
) -> None:
    """The till cannot verify a code (only HQ holds the key): it reads the number of an
    expired or forged code as well, which is why it never lets such a member spend."""
    assert member_number_of(f" {sign_member_code(number, value, key).lower()}\n") == number
    assert member_number_of(sign_card_code(number, value, key)) == number


def test_scanner_case_and_whitespace_are_forgiven() -> None:
    key = b"k" * 32
    code = sign_member_code("812345678901", NOW + 60, key)
    assert verify_member_code(f"  {code.lower()}\r\n", [key], now=NOW).number == "812345678901"
    assert looks_like_member_code(" cpc1.8123")
    assert not looks_like_member_code("6901234567892")


def test_a_code_fits_a_small_qr() -> None:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(sign_member_code("812345678901", NOW + 60, b"k" * 32))
    qr.make(fit=True)
    assert qr.version <= 4
