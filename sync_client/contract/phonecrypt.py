"""Member phone numbers at rest: AES-256-GCM sealing and a keyed search hash.

HQ and every terminal keep members' phone numbers encrypted, so a copy of a database
alone reveals none, and find a member by phone through a keyed hash (an unkeyed hash of
an 11-digit number is reversed by trying all of them). The pattern is the same on both
sides; only where the keys come from differs (HQ: a keys file; a terminal: derived from
a random local key it keeps with its device credentials and never sends to HQ,
:meth:`PhoneKeyPair.derive`).

A sealed value is ``<tag>`` + base64(nonce + ciphertext + GCM tag) with a random 96-bit
nonce; the associated data is what the number belongs to (HQ: the member number; a
terminal: the sign-up id), so a value moved to another row does not decrypt. The prefix
tag names the keys (``g1:`` HQ's keys file, ``t2:`` a terminal's local key; ``t1:`` the
keys terminals once derived from their receipt secret, which HQ also holds: such values
are only opened to be sealed again under the local key).

Standard library plus ``cryptography``: the only contract module that needs it, so the
till's domain never imports it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sync_client.contract.errors import ChainPosError

KEY_BYTES = 32
_NONCE_BYTES = 12


class PhoneDecryptError(ChainPosError, ValueError):
    """A stored phone number was not sealed with these keys for this owner."""

    def __init__(self, message: str) -> None:
        super().__init__("phone_undecryptable", message)


def derive_key(secret: bytes, info: str) -> bytes:
    """A 256-bit key for one purpose (``info``) from ``secret``, by HKDF-SHA256."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info.encode())
    return hkdf.derive(secret)


class PhoneKeys(Protocol):
    """The two keys a :class:`PhoneCipher` needs, and the tag of what they seal."""

    @property
    def phone_enc(self) -> bytes: ...

    @property
    def phone_hash(self) -> bytes: ...

    @property
    def phone_tag(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PhoneKeyPair:
    """Phone keys held directly (see :meth:`derive`)."""

    phone_enc: bytes
    phone_hash: bytes
    phone_tag: str

    @classmethod
    def derive(cls, secret: bytes, *, scope: str, tag: str) -> PhoneKeyPair:
        """Two independent keys from one secret by HKDF-SHA256, with info
        ``chainpos/<scope>/member-phone-{enc,hash}/v1``."""

        def one(purpose: str) -> bytes:
            return derive_key(secret, f"chainpos/{scope}/member-phone-{purpose}/v1")

        return cls(one("enc"), one("hash"), tag)


class PhoneCipher:
    """Seals, opens and hashes normalised phone numbers (see the module docstring)."""

    def __init__(self, keys: PhoneKeys) -> None:
        self._aead = AESGCM(keys.phone_enc)
        self._hash_key = keys.phone_hash
        self._tag = keys.phone_tag

    def hash(self, phone: str) -> str:
        """Hex HMAC-SHA256 of the normalised number: what a member is searched by."""
        return hmac.new(self._hash_key, phone.encode("ascii"), hashlib.sha256).hexdigest()

    def encrypt(self, phone: str, owner: str) -> str:
        """The sealed form of ``phone``, bound to ``owner``."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, phone.encode("ascii"), owner.encode("ascii"))
        return self._tag + base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, stored: str, owner: str) -> str:
        """The phone number sealed in ``stored`` for ``owner``.

        Raises:
            PhoneDecryptError: another format, other keys or another owner.
        """
        if not stored.startswith(self._tag):
            raise PhoneDecryptError("unknown phone encryption format")
        try:
            raw = base64.b64decode(stored[len(self._tag) :], validate=True)
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], owner.encode())
            return plain.decode("ascii")
        except (InvalidTag, ValueError, binascii.Error):
            raise PhoneDecryptError(
                f"the phone number of {owner} does not decrypt with these keys"
            ) from None
