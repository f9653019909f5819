"""Item 8: HQ's database alone reveals neither a device's receipt secret nor a till's
queued sign-up phone numbers."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from pos_app.domain.ids import SaleRef, verify_sale_ref
from pos_app.localdb import members as repo
from pos_app.localdb.engine import open_database, read_session, write_session
from pos_app.services.members import (
    legacy_phone_cipher,
    rekey_member_phones,
    terminal_phone_cipher,
)
from server_stub import device_secrets, operations
from server_stub import models as m
from server_stub.db import Database
from server_stub.member_keys import MemberKeys
from sync_client import Credentials, CredentialStore
from sync_client.contract.phonecrypt import PhoneDecryptError
from tests.server.support import Chain

PHONE = "13812345678"


def stored_secret(db: Database, device_id: str) -> str:
    with db.read() as conn:
        return str(
            conn.execute(
                select(m.devices.c.receipt_secret).where(m.devices.c.id == device_id)
            ).scalar_one()
        )


def test_device_secrets_are_sealed_and_receipts_still_verify(hq, chain: Chain, client):
    """GIVEN an enrolled till WHEN one reads HQ's devices table THEN the receipt secret
    is not there in any plain form, HQ's one reader opens it with the keys file, and a
    receipt code the till signs verifies against it."""
    store = chain.store()
    dev = chain.device(store, client)
    raw = base64.b64decode(dev.receipt_secret)
    stored = stored_secret(hq.db, dev.device_id)
    assert stored.startswith("d1:")
    assert dev.receipt_secret not in stored and raw.hex() not in stored
    with hq.db.read() as conn:
        assert device_secrets.receipt_secret(conn, hq.keys, dev.device_id) == raw
        with pytest.raises(device_secrets.SecretUnreadable):
            device_secrets.receipt_secret(conn, MemberKeys.generate(), dev.device_id)
    code = SaleRef(uuid.uuid4(), store, dev.device_id).sign(raw)
    with hq.db.read() as conn:
        hq_copy = device_secrets.receipt_secret(conn, hq.keys, dev.device_id)
    assert hq_copy is not None and verify_sale_ref(code, hq_copy).terminal_id == dev.device_id


def test_a_sealed_secret_moved_to_another_device_does_not_open(hq, chain: Chain, client):
    store = chain.store()
    a, b = chain.device(store, client), chain.device(store, client)
    with hq.db.write() as tx:
        tx.conn.execute(
            update(m.devices)
            .where(m.devices.c.id == b.device_id)
            .values(receipt_secret=stored_secret(hq.db, a.device_id))
        )
    with hq.db.read() as conn, pytest.raises(device_secrets.SecretUnreadable):
        device_secrets.receipt_secret(conn, hq.keys, b.device_id)


def test_plaintext_secrets_of_older_rows_are_sealed_and_stay_readable(hq, chain, client):
    """GIVEN a device row from before sealing (plain base64) WHEN HQ seals with its
    keys THEN the row is sealed and opens to the same secret."""
    store = chain.store()
    dev = chain.device(store, client)
    with hq.db.write() as tx:
        tx.conn.execute(
            update(m.devices)
            .where(m.devices.c.id == dev.device_id)
            .values(receipt_secret=dev.receipt_secret)
        )
    assert device_secrets.seal_plaintext_secrets(hq.db, hq.keys) >= 1
    assert stored_secret(hq.db, dev.device_id).startswith("d1:")
    with hq.db.read() as conn:
        opened = device_secrets.receipt_secret(conn, hq.keys, dev.device_id)
    assert opened == base64.b64decode(dev.receipt_secret)


def _queue_signup(engine, cipher, signup_id: str) -> None:
    with write_session(engine) as s:
        repo.add_signup(
            s,
            repo.PendingSignup(
                signup_id=signup_id,
                phone_enc=cipher.encrypt(PHONE, signup_id),
                phone_masked="138****5678",
                name="王芳",
                consent_version="2025-01",
                signed_up_at=datetime.now(UTC),
                staff="1001",
                attempts=0,
            ),
        )
        s.commit()


def _queued(engine) -> list[repo.PendingSignup]:
    with read_session(engine) as s:
        return repo.pending_signups(s)


def test_a_queued_sign_up_opens_with_the_tills_files_but_not_with_hqs_database(
    tmp_path: Path,
):
    """GIVEN a till with a queued sign-up WHEN someone holds all HQ knows of the till
    (its receipt secret, as HQ's database and keys file give it) THEN the phone does not
    decrypt; with the till's own files (its credentials with the local key) it does."""
    secret = b"r" * 32
    store = CredentialStore(tmp_path, use_keyring=False)
    store.save(Credentials("https://hq", "S001", "S001-T01", "tok", secret))
    key = store.local_key()
    assert CredentialStore(tmp_path, use_keyring=False).local_key() == key  # kept
    assert (tmp_path / "device-credentials.json").stat().st_mode & 0o077 == 0
    engine = open_database(tmp_path / "pos.sqlite3")
    sid = str(uuid.uuid4())
    _queue_signup(engine, terminal_phone_cipher(key), sid)
    row = _queued(engine)[0]
    assert PHONE not in row.phone_enc
    with pytest.raises(PhoneDecryptError):  # what HQ could derive
        legacy_phone_cipher(secret).decrypt(row.phone_enc, sid)
    with pytest.raises(PhoneDecryptError):
        terminal_phone_cipher(secret).decrypt(row.phone_enc, sid)
    till_key = CredentialStore(tmp_path, use_keyring=False).local_key()
    assert terminal_phone_cipher(till_key).decrypt(row.phone_enc, sid) == PHONE
    engine.dispose()


def test_sign_ups_queued_under_the_old_keys_are_sealed_again_and_none_is_lost(
    tmp_path: Path,
):
    """GIVEN sign-ups queued under the receipt-secret keys (before the local key)
    WHEN the member service first starts with the local key THEN each is sealed again
    under it, HQ's derivation no longer opens them, and nothing is lost."""
    secret, key = b"r" * 32, b"k" * 32
    engine = open_database(tmp_path / "pos.sqlite3")
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for sid in ids:
        _queue_signup(engine, legacy_phone_cipher(secret), sid)
    local, legacy = terminal_phone_cipher(key), legacy_phone_cipher(secret)
    assert rekey_member_phones(engine, local, legacy) == 3
    assert rekey_member_phones(engine, local, legacy) == 0
    rows = _queued(engine)
    assert sorted(r.signup_id for r in rows) == sorted(ids)
    for r in rows:
        assert r.phone_enc.startswith("t2:")
        assert local.decrypt(r.phone_enc, r.signup_id) == PHONE
        with pytest.raises(PhoneDecryptError):
            legacy.decrypt(r.phone_enc, r.signup_id)
    engine.dispose()


def test_enrolment_through_the_api_never_stores_the_secret_in_plain(hq, chain, client):
    store = chain.store()
    code = operations.create_enroll_code(hq.db, store).code
    r = httpx.post(
        f"{hq.url}/v1/devices/enroll",
        json={"store": store, "code": code, "device_name": "收银台"},
        timeout=30,
    )
    answer = r.json()
    assert answer["receipt_secret"] not in stored_secret(hq.db, answer["device_id"])
