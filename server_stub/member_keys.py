"""HQ's member keys: phone encryption, the phone search hash, member code signing.

Three independent 256-bit keys, kept outside the database so that a copy of the database
alone reveals no phone number and cannot forge a member code:

* ``phone_enc``: AES-256-GCM key for phone numbers at rest, and ``phone_hash``: HMAC-SHA256
  key for their searchable hash; :class:`sync_client.contract.phonecrypt.PhoneCipher` uses
  them (the member number is the associated data; sealed values are tagged ``g1:``).
* ``member_code``: HMAC-SHA256 keys for member codes (:mod:`sync_client.contract.membercode`),
  newest first; older keys still verify codes issued before a change.

A fourth key, for devices' receipt secrets at rest (:mod:`server_stub.device_secrets`), is
derived from ``phone_enc`` by HKDF-SHA256 with its own purpose label
(:attr:`MemberKeys.device_secret_key`), so keys files made before it keep working.

A keys file is JSON ``{"version": 1, "phone_enc": b64, "phone_hash": b64, "member_code":
[b64, ...]}``, made by ``chainpos-hq keys generate``. Where HQ finds it:
:func:`resolve_keys`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from sqlalchemy import make_url

from sync_client.contract.phonecrypt import KEY_BYTES, derive_key

log = logging.getLogger("chainpos.hq.keys")

KEYS_ENV = "CHAINPOS_HQ_KEYS"
ENV_ENV = "CHAINPOS_HQ_ENV"


class KeysError(Exception):
    """Member keys are missing or unreadable; the message says what to do."""


@dataclass(frozen=True)
class MemberKeys:
    """The three keys (see the module docstring)."""

    phone_enc: bytes
    phone_hash: bytes
    member_code: tuple[bytes, ...]
    phone_tag: ClassVar[str] = "g1:"

    def __post_init__(self) -> None:
        keys = (self.phone_enc, self.phone_hash, *self.member_code)
        if not self.member_code or any(len(k) != KEY_BYTES for k in keys):
            raise KeysError(f"every member key is {KEY_BYTES} bytes")
        if len({self.phone_enc, self.phone_hash, self.member_code[0]}) != 3:
            raise KeysError("the phone, phone-hash and member-code keys must differ")

    @property
    def device_secret_key(self) -> bytes:
        """The AES-256-GCM key that seals devices' receipt secrets: HKDF of ``phone_enc``
        with info ``chainpos/hq/device-secret/v1`` (independent of the phone keys)."""
        return derive_key(self.phone_enc, "chainpos/hq/device-secret/v1")

    @classmethod
    def generate(cls) -> MemberKeys:
        """Three fresh random keys."""
        return cls(
            secrets.token_bytes(KEY_BYTES),
            secrets.token_bytes(KEY_BYTES),
            (secrets.token_bytes(KEY_BYTES),),
        )

    def to_json(self) -> str:
        b64 = base64.b64encode
        return json.dumps(
            {
                "version": 1,
                "phone_enc": b64(self.phone_enc).decode(),
                "phone_hash": b64(self.phone_hash).decode(),
                "member_code": [b64(k).decode() for k in self.member_code],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> MemberKeys:
        try:
            raw = json.loads(text)
            codes = raw["member_code"]
            if isinstance(codes, str):
                codes = [codes]
            return cls(
                _b64(raw["phone_enc"]),
                _b64(raw["phone_hash"]),
                tuple(_b64(k) for k in codes),
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise KeysError(f"not a ChainPOS keys file: {exc}") from None

    @classmethod
    def load(cls, path: Path) -> MemberKeys:
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeysError(f"cannot read the keys file {path}: {exc.strerror}") from None

    def save(self, path: Path) -> None:
        """Writes the keys file, readable by its owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.to_json() + "\n")


def _b64(value: object) -> bytes:
    if not isinstance(value, str):
        raise TypeError("keys are base64 text")
    return base64.b64decode(value, validate=True)


def resolve_keys(db_url: str, keys_file: str | Path | None = None) -> MemberKeys:
    """The keys HQ uses with the database ``db_url``.

    In order: ``keys_file`` (``--keys``), else ``$CHAINPOS_HQ_KEYS``. Without either, a
    SQLite HQ (a demo, a small chain) keeps its keys in ``<database file>.keys`` beside
    the database, made on first use; PostgreSQL, or ``CHAINPOS_HQ_ENV=production``,
    refuses to start without a keys file, since keys made up on the spot would differ
    between HQ processes and be lost with the machine.

    Raises:
        KeysError: no keys for this deployment, or an unreadable file.
    """
    chosen = keys_file or os.environ.get(KEYS_ENV)
    if chosen:
        return MemberKeys.load(Path(chosen))
    url = make_url(db_url)
    production = os.environ.get(ENV_ENV, "").strip().lower() == "production"
    if url.get_backend_name() != "sqlite" or production or not url.database:
        raise KeysError(
            "member keys are not configured: create them once with `chainpos-hq keys "
            "generate --out /etc/chainpos/hq-keys.json`, keep a copy off this machine, and "
            f"give every HQ process `--keys FILE` or ${KEYS_ENV}=FILE"
        )
    path = Path(url.database + ".keys")
    if not path.exists():
        try:
            MemberKeys.generate().save(path)
            log.warning(
                "generated member keys in %s; back this file up apart from the database "
                "(without it, phone numbers cannot be read back)",
                path,
            )
        except FileExistsError:
            pass  # another process made it first
    return MemberKeys.load(path)
