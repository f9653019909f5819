"""Sign-up at the till: a customer becomes a member, once per ``signup_id``; points of
sales that named the sign-up before HQ knew it are credited then."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from server_stub import feed
from server_stub import models as m
from server_stub.audit import Actor, audit_row, write_audit
from server_stub.auth import DeviceIdentity
from server_stub.db import Database, RetryableWrite, WriteTx
from server_stub.errors import ApiError
from server_stub.member_keys import MemberKeys
from server_stub.members._common import (
    DEFAULT_TIER,
    SPEND_GRACE_S,
    _member_by,
    _now,
    _panel,
)
from server_stub.members._numbers import new_member_number
from server_stub.members.ledger import (
    Balance,
    change_balance,
    ledger_row,
    member_change,
    write_ledger,
)
from sync_client.contract import protocol as p
from sync_client.contract.membercode import (
    normalise_phone,
)
from sync_client.contract.phonecrypt import PhoneCipher


def _insert_member(
    conn: Connection,
    cipher: PhoneCipher,
    phone: str,
    name: str,
    tier: str,
    consent_version: str,
    consent_at: datetime,
    actor: Actor,
    now: datetime,
) -> Any:
    """Creates a member with a fresh number; raises RetryableWrite if the phone number
    was registered concurrently."""
    phone_hash = cipher.hash(phone)
    for _ in range(10):
        number = new_member_number()
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(m.members).values(
                        number=number,
                        name=name,
                        phone_enc=cipher.encrypt(phone, number),
                        phone_hash=phone_hash,
                        tier=tier,
                        points=0,
                        balance_fen=0,
                        active=True,
                        card_version=1,
                        version=1,
                        consent_version=consent_version,
                        consent_at=consent_at,
                        created_store=actor.store,
                        created_by=actor.name[:80],
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            if _member_by(conn, m.members.c.phone_hash == phone_hash) is not None:
                raise RetryableWrite("phone registered concurrently") from None
            continue  # a number already taken: draw another
        row = _member_by(conn, m.members.c.number == number)
        assert row is not None
        return row
    raise RetryableWrite("no free member number found")


_SIGNUP_LOCKS = 7402872
"""The advisory-lock class of sign-ups (the first key of ``pg_advisory_xact_lock(int, int)``)."""


def lock_signups(conn: Connection, signup_ids: Iterable[uuid.UUID]) -> None:
    """Serialises, until this transaction ends, with every other transaction touching one
    of ``signup_ids``: the sign-up itself, and the sales and top-ups naming it.

    Without it, on PostgreSQL, a sale ingested while its member's sign-up commits reads the
    sign-up as missing and records its points as pending after the sign-up has credited
    the pending ones: the points were never credited. Taken before either reads
    ``member_signups``, the one that waits then sees what the other committed. SQLite
    runs one writer at a time already."""
    if conn.dialect.name != "postgresql":
        return
    for key in sorted({int.from_bytes(s.bytes[:4], "big", signed=True) for s in signup_ids}):
        conn.execute(text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": _SIGNUP_LOCKS, "k": key})


def credit_pending(
    conn: Connection, signup_id: uuid.UUID, member: Any, now: datetime
) -> list[Balance]:
    """Credits the points of sales that named ``signup_id`` before HQ knew it."""
    e = m.member_earnings
    rows = conn.execute(
        select(e).where(e.c.signup_id == signup_id, e.c.status == "pending").order_by(e.c.sale_id)
    ).all()
    out: list[Balance] = []
    ledger = []
    credited = []
    for r in rows:
        done = conn.execute(
            update(e)
            .where(e.c.sale_id == r.sale_id, e.c.status == "pending")
            .values(status="credited", member_id=member.id, settled_at=now)
        ).rowcount
        if done == 1:
            credited.append(r)
    for r in credited:
        conn.execute(
            update(m.sales).where(m.sales.c.sale_id == r.sale_id).values(member_no=member.number)
        )
    for r in credited:
        if r.points:
            b = change_balance(conn, int(member.id), "points", int(r.points), now)
            assert b is not None
            ledger.append(ledger_row(b, "points", int(r.points), "earn", str(r.sale_id), now))
            out.append(b)
    write_ledger(conn, ledger)
    return out


def sign_up(
    db: Database,
    keys: MemberKeys,
    device: DeviceIdentity,
    request: p.SignUpRequest,
    now: datetime | None = None,
) -> tuple[bool, p.MemberPanel]:
    """Creates a member from a till's sign-up, once per ``signup_id``; a phone number that
    is already a member gives that member (``created`` False).

    Raises:
        ApiError: 422 ``consent_required``, ``bad_phone``.
    """
    now = now or _now()
    if not request.consent:
        raise ApiError(
            422, "consent_required", "the customer must agree to the privacy notice to join"
        )
    try:
        phone = normalise_phone(request.phone)
    except ValueError as exc:
        raise ApiError(422, "bad_phone", str(exc)) from None
    actor = Actor.of_device(device)
    cipher = PhoneCipher(keys)
    name = request.name.strip() or request.name

    def run(tx: WriteTx) -> tuple[bool, p.MemberPanel]:
        conn = tx.conn
        lock_signups(conn, [request.signup_id])
        link = conn.execute(
            select(m.member_signups.c.member_id).where(
                m.member_signups.c.signup_id == request.signup_id
            )
        ).scalar()
        if link is not None:
            row = _member_by(conn, m.members.c.id == link)
            assert row is not None
            detail = {"signup_id": str(request.signup_id), "replay": True}
            write_audit(conn, [audit_row(actor, "member.sign_up", row.number, detail, now)])
            return False, _panel(conn, cipher, row, "signup", None, now)
        row = _member_by(conn, m.members.c.phone_hash == cipher.hash(phone))
        created = row is None
        if row is None:
            row = _insert_member(
                conn,
                cipher,
                phone,
                name,
                DEFAULT_TIER,
                request.consent_version,
                request.signed_up_at,
                actor,
                now,
            )
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(m.member_signups).values(
                        signup_id=request.signup_id,
                        member_id=row.id,
                        store_code=device.store,
                        device_id=device.device_id,
                        created_at=now,
                    )
                )
        except IntegrityError:
            raise RetryableWrite("sign-up replayed concurrently") from None
        credited = credit_pending(conn, request.signup_id, row, now)
        detail = {
            "signup_id": str(request.signup_id),
            "created": created,
            "consent_version": request.consent_version,
        }
        write_audit(conn, [audit_row(actor, "member.sign_up", row.number, detail, now)])
        if credited:
            b = credited[-1]
            feed.append(tx, [member_change(b.number, b.version, b.active)], now)
            row = _member_by(conn, m.members.c.id == row.id)
        spend = now + timedelta(seconds=SPEND_GRACE_S) if created else None
        return created, _panel(conn, cipher, row, "signup", spend, now)

    return db.run_write(run)
