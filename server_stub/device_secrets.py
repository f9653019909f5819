"""Devices' receipt secrets at HQ, sealed under a key from HQ's keys file.

A till signs its receipt codes with a 32-byte secret HQ gave it at enrolment; HQ keeps a
copy to verify those codes. The copy is stored sealed (AES-256-GCM, the device id as
associated data, tagged ``d1:``) under :attr:`MemberKeys.device_secret_key`, so HQ's
database alone does not reveal it. Whatever needs a device's secret reads it through
:func:`receipt_secret`; :func:`seal_plaintext_secrets` seals rows written before.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, select, update

from server_stub import models as m
from server_stub.db import Database, WriteTx
from server_stub.member_keys import MemberKeys

log = logging.getLogger("chainpos.hq.keys")

TAG = "d1:"
_NONCE = 12


class SecretUnreadable(Exception):
    """A stored secret was not sealed with these keys for this device."""


def seal(keys: MemberKeys, device_id: str, secret: bytes) -> str:
    """The stored form of ``secret``, bound to ``device_id``."""
    nonce = secrets.token_bytes(_NONCE)
    sealed = AESGCM(keys.device_secret_key).encrypt(nonce, secret, device_id.encode())
    return TAG + base64.b64encode(nonce + sealed).decode("ascii")


def open_sealed(keys: MemberKeys, device_id: str, stored: str) -> bytes:
    """The secret sealed in ``stored`` for ``device_id``.

    Raises:
        SecretUnreadable: plaintext, other keys or another device.
    """
    if not stored.startswith(TAG):
        raise SecretUnreadable(f"the receipt secret of {device_id} is not sealed")
    try:
        raw = base64.b64decode(stored[len(TAG) :], validate=True)
        return AESGCM(keys.device_secret_key).decrypt(
            raw[:_NONCE], raw[_NONCE:], device_id.encode()
        )
    except (InvalidTag, ValueError, binascii.Error):
        raise SecretUnreadable(
            f"the receipt secret of {device_id} does not open with these keys"
        ) from None


def receipt_secret(conn: Connection, keys: MemberKeys, device_id: str) -> bytes | None:
    """The receipt secret of ``device_id`` (None: no such device).

    Raises:
        SecretUnreadable: see :func:`open_sealed`.
    """
    stored = conn.execute(
        select(m.devices.c.receipt_secret).where(m.devices.c.id == device_id)
    ).scalar()
    return None if stored is None else open_sealed(keys, device_id, stored)


def seal_plaintext_secrets(db: Database, keys: MemberKeys) -> int:
    """Seals every receipt secret still stored in plaintext (base64, from before
    sealing); returns how many. Safe to run again and from several processes."""

    def run(tx: WriteTx) -> int:
        d = m.devices
        rows = tx.conn.execute(
            select(d.c.id, d.c.receipt_secret).where(d.c.receipt_secret.not_like(TAG + "%"))
        ).all()
        for r in rows:
            plain = base64.b64decode(r.receipt_secret)
            tx.conn.execute(
                update(d)
                .where(d.c.id == r.id, d.c.receipt_secret == r.receipt_secret)
                .values(receipt_secret=seal(keys, r.id, plain))
            )
        return len(rows)

    done = db.run_write(run)
    if done:
        log.info("sealed %d plaintext device receipt secrets", done)
    return done
