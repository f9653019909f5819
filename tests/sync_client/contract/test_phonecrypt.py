"""The phone cipher HQ and the till share: sealed numbers open only with the same keys
for the same owner, and the search hash is keyed."""

from __future__ import annotations

import hashlib

import pytest

from sync_client.contract.phonecrypt import PhoneCipher, PhoneDecryptError, PhoneKeyPair

PHONE = "13812341234"


def _cipher(secret: bytes = b"s" * 32, tag: str = "t1:") -> PhoneCipher:
    return PhoneCipher(PhoneKeyPair.derive(secret, scope="terminal", tag=tag))


def test_a_sealed_number_opens_for_its_owner_and_shows_no_digits() -> None:
    cipher = _cipher()
    sealed = cipher.encrypt(PHONE, "owner-1")
    assert sealed.startswith("t1:") and PHONE not in sealed
    assert cipher.decrypt(sealed, "owner-1") == PHONE
    assert cipher.encrypt(PHONE, "owner-1") != sealed  # a fresh nonce every time


@pytest.mark.parametrize(
    ("other", "owner", "tag"),
    [(b"x" * 32, "owner-1", "t1:"), (b"s" * 32, "owner-2", "t1:"), (b"s" * 32, "owner-1", "g1:")],
)
def test_other_keys_another_owner_or_format_do_not_open_it(
    other: bytes, owner: str, tag: str
) -> None:
    sealed = _cipher().encrypt(PHONE, "owner-1")
    with pytest.raises(PhoneDecryptError) as err:
        _cipher(other, tag).decrypt(sealed, owner)
    assert err.value.code == "phone_undecryptable"


def test_the_search_hash_depends_on_the_key_not_only_the_number() -> None:
    first, second = _cipher(), _cipher(b"y" * 32)
    assert first.hash(PHONE) == first.hash(PHONE)
    assert first.hash(PHONE) != second.hash(PHONE)
    assert first.hash(PHONE) != hashlib.sha256(PHONE.encode()).hexdigest()


def test_a_terminals_derived_keys_are_stable_and_independent() -> None:
    """Numbers sealed before an upgrade still open: the derivation is fixed by its info."""
    keys = PhoneKeyPair.derive(b"s" * 32, scope="terminal", tag="t1:")
    again = PhoneKeyPair.derive(b"s" * 32, scope="terminal", tag="t1:")
    assert keys == again and keys.phone_enc != keys.phone_hash
    assert len(keys.phone_enc) == 32
