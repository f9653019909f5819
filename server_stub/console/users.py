"""Console users, sign-in and sessions: the writes behind the console's sign-in page,
its admin page and ``chainpos-hq console-user``.

Each function runs in its own write transaction and audits what it did with the acting
person (a console user, or the CLI user) as the actor. Refusals are
:class:`server_stub.errors.ApiError`.

Sign-in: a wrong password or TOTP code counts a failure; :data:`MAX_FAILURES` in a row lock
the account for :data:`LOCKOUT`. Sessions: a random id in a signed cookie, its SHA-256 in
``console_sessions``; a session ends after :data:`IDLE_TIMEOUT` without a request or
:data:`MAX_AGE` after sign-in, whichever comes first, or when the user signs out.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from server_stub import models as m
from server_stub.audit import Actor, audit_now, audit_row, write_audit
from server_stub.console import passwords
from server_stub.db import Database, WriteTx
from server_stub.errors import ApiError
from server_stub.member_keys import MemberKeys
from sync_client.contract.phonecrypt import PhoneCipher

ROLES = ("hq_admin", "regional_manager", "store_manager", "auditor")
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
IDLE_TIMEOUT = timedelta(minutes=30)
MAX_AGE = timedelta(hours=12)
# last_seen_at is written at most this often, so reading pages costs no write each time.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """A console user as the pages show it (never the hashes or the TOTP secret)."""

    username: str
    display_name: str
    role: str
    region: str | None
    store: str | None
    active: bool
    totp: bool
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: who, and the CSRF token every form of theirs must carry."""

    id_hash: str
    user: ConsoleUser
    csrf_token: str
    expires_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _user(row: Any) -> ConsoleUser:
    return ConsoleUser(
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        region=row.region,
        store=row.store_code,
        active=bool(row.active),
        totp=row.totp_enc is not None,
        locked_until=row.locked_until,
    )


def _totp_cipher(keys: MemberKeys) -> PhoneCipher:
    return PhoneCipher(keys)


def _seal_totp(keys: MemberKeys, username: str, secret: str) -> str:
    # The phone cipher seals ASCII text bound to an owner; the owner here is the user.
    return _totp_cipher(keys).encrypt(secret, f"console:{username}")


def _open_totp(keys: MemberKeys, username: str, sealed: str) -> str:
    return _totp_cipher(keys).decrypt(sealed, f"console:{username}")


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


# -- users ----------------------------------------------------------------------------------


def add_user(
    db: Database,
    actor: Actor,
    *,
    username: str,
    display_name: str,
    password: str,
    role: str,
    region: str | None = None,
    store: str | None = None,
    log2_n: int = passwords.DEFAULT_LOG2_N,
) -> ConsoleUser:
    """Creates a console user.

    Raises:
        ApiError: 422 ``bad_role`` / ``scope_required`` / ``weak_password``; 404
            ``unknown_store``; 409 ``console_user_exists``.
    """
    if role not in ROLES:
        raise ApiError(422, "bad_role", f"role is one of {', '.join(ROLES)}")
    if role == "store_manager" and not store:
        raise ApiError(422, "scope_required", "a store manager needs a store")
    if role == "regional_manager" and not region:
        raise ApiError(422, "scope_required", "a regional manager needs a region")
    if (
        not username
        or len(username) > 64
        or not username.replace("_", "").replace(".", "").isalnum()
    ):
        raise ApiError(422, "invalid_value", "a username is letters, digits, '.' and '_'")
    problem = passwords.password_problem(password)
    if problem:
        raise ApiError(422, "weak_password", problem)
    pw_hash = passwords.hash_password(password, log2_n=log2_n)
    store = store if role == "store_manager" else None
    region = region if role == "regional_manager" else None

    def run(tx: WriteTx) -> ConsoleUser:
        now = _now()
        conn = tx.conn
        if store is not None:
            found = conn.execute(select(m.stores.c.code).where(m.stores.c.code == store)).first()
            if found is None:
                raise ApiError(404, "unknown_store", f"no store {store}")
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(m.console_users).values(
                        username=username,
                        display_name=display_name,
                        password_hash=pw_hash,
                        role=role,
                        region=region,
                        store_code=store,
                        totp_enc=None,
                        active=True,
                        failed_attempts=0,
                        locked_until=None,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise ApiError(409, "console_user_exists", f"user {username} exists") from None
        detail = {"username": username, "role": role, "region": region, "store": store}
        write_audit(conn, [audit_row(actor, "console.user_add", None, detail, now, store)])
        return _require_user(conn, username)

    return db.run_write(run)


def _require_user(conn: Any, username: str) -> ConsoleUser:
    row = conn.execute(
        select(m.console_users).where(m.console_users.c.username == username)
    ).first()
    if row is None:
        raise ApiError(404, "unknown_console_user", f"no console user {username}")
    return _user(row)


def get_user(db: Database, username: str) -> ConsoleUser:
    with db.read() as conn:
        return _require_user(conn, username)


def list_users(db: Database) -> list[ConsoleUser]:
    with db.read() as conn:
        rows = conn.execute(select(m.console_users).order_by(m.console_users.c.username))
        return [_user(r) for r in rows]


def _change(
    db: Database, actor: Actor, username: str, action: str, values: dict[str, Any]
) -> ConsoleUser:
    def run(tx: WriteTx) -> ConsoleUser:
        now = _now()
        conn = tx.conn
        _require_user(conn, username)
        conn.execute(
            update(m.console_users)
            .where(m.console_users.c.username == username)
            .values({**values, "updated_at": now})
        )
        if values.get("active") is False or "password_hash" in values:
            # Disabling or a new password ends every session of the user.
            conn.execute(
                delete(m.console_sessions).where(m.console_sessions.c.username == username)
            )
        write_audit(conn, [audit_row(actor, action, None, {"username": username}, now)])
        return _require_user(conn, username)

    return db.run_write(run)


def set_password(
    db: Database,
    actor: Actor,
    username: str,
    password: str,
    *,
    log2_n: int = passwords.DEFAULT_LOG2_N,
) -> ConsoleUser:
    """A new password; unlocks the account and ends its sessions."""
    problem = passwords.password_problem(password)
    if problem:
        raise ApiError(422, "weak_password", problem)
    pw_hash = passwords.hash_password(password, log2_n=log2_n)
    values = {"password_hash": pw_hash, "failed_attempts": 0, "locked_until": None}
    return _change(db, actor, username, "console.user_password", values)


def set_active(db: Database, actor: Actor, username: str, active: bool) -> ConsoleUser:
    """Disables (ending its sessions) or re-enables a console user."""
    action = "console.user_enable" if active else "console.user_disable"
    return _change(db, actor, username, action, {"active": active})


def enrol_totp(db: Database, keys: MemberKeys, actor: Actor, username: str) -> str:
    """Gives the user a new TOTP secret (returned once, to show as a QR); from now on
    signing in needs its code."""
    secret = passwords.new_totp_secret()
    _change(
        db, actor, username, "console.user_totp", {"totp_enc": _seal_totp(keys, username, secret)}
    )
    return secret


# -- signing in -----------------------------------------------------------------------------


def sign_in(
    db: Database,
    keys: MemberKeys,
    username: str,
    password: str,
    totp: str | None,
    *,
    client: str = "",
    now: datetime | None = None,
) -> tuple[str, Session]:
    """Checks the credentials and opens a session: returns the session id (for the
    cookie) and the session.

    Raises:
        ApiError: 401 ``sign_in_failed`` (unknown user, wrong password, missing or wrong
            TOTP code, disabled user: one answer, so nobody learns which); 423
            ``console_locked`` while locked out.
    """
    now = now or _now()
    with db.read() as conn:
        row = conn.execute(
            select(m.console_users).where(m.console_users.c.username == username)
        ).first()
    who = Actor(f"console:{username}"[:80], row.store_code if row is not None else None)
    if row is None:
        # Spend the same time as a real check, so a missing user is not told apart.
        passwords.verify_password(password, passwords.hash_password("x", log2_n=10))
        audit_now(
            db,
            audit_row(
                who, "console.sign_in_failed", None, {"why": "unknown_user", "client": client}, now
            ),
        )
        raise ApiError(401, "sign_in_failed", "wrong username, password or code")
    if row.locked_until is not None and row.locked_until > now:
        audit_now(
            db,
            audit_row(
                who, "console.sign_in_failed", None, {"why": "locked", "client": client}, now
            ),
        )
        raise ApiError(423, "console_locked", f"locked until {row.locked_until.isoformat()}")
    ok = passwords.verify_password(password, row.password_hash) and bool(row.active)
    why = "password" if not ok else ""
    if ok and row.totp_enc is not None:
        ok = totp is not None and passwords.verify_totp(
            _open_totp(keys, username, row.totp_enc), totp, now.timestamp()
        )
        why = "totp" if not ok else ""
    if not ok:
        locked = _count_failure(db, username, now)
        _failed(db, who, {"why": why, "client": client, "locked": locked}, now)
        raise ApiError(401, "sign_in_failed", "wrong username, password or code")
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    id_hash = session_hash(session_id)
    expires = now + MAX_AGE

    def run(tx: WriteTx) -> None:
        tx.conn.execute(
            update(m.console_users)
            .where(m.console_users.c.username == username)
            .values(failed_attempts=0, locked_until=None)
        )
        tx.conn.execute(
            insert(m.console_sessions).values(
                id_hash=id_hash,
                username=username,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=expires,
            )
        )
        write_audit(tx.conn, [audit_row(who, "console.sign_in", None, {"client": client}, now)])

    db.run_write(run)
    return session_id, Session(id_hash, _user(row), csrf, expires)


@functools.cache
def _dummy_hash() -> str:
    return passwords.hash_password(secrets.token_urlsafe(16))


def _failed(db: Database, who: Actor, detail: dict[str, Any], now: datetime) -> None:
    audit_now(db, audit_row(who, "console.sign_in_failed", None, detail, now))


def _count_failure(db: Database, username: str, now: datetime) -> bool:
    """Counts a failed attempt; returns whether it locked the account."""

    def run(tx: WriteTx) -> bool:
        u = m.console_users
        failures = tx.conn.execute(
            update(u)
            .where(u.c.username == username)
            .values(failed_attempts=u.c.failed_attempts + 1)
            .returning(u.c.failed_attempts)
        ).scalar_one()
        if failures >= MAX_FAILURES:
            tx.conn.execute(
                update(u)
                .where(u.c.username == username)
                .values(failed_attempts=0, locked_until=now + LOCKOUT)
            )
            return True
        return False

    return db.run_write(run)


def session(db: Database, session_id: str, now: datetime | None = None) -> Session | None:
    """The live session with this id, or None (unknown, expired, idle too long, or its
    user disabled). Notes the request as the session's last activity."""
    now = now or _now()
    id_hash = session_hash(session_id)
    s, u = m.console_sessions, m.console_users
    with db.read() as conn:
        row = conn.execute(
            select(s, u)
            .select_from(s.join(u, s.c.username == u.c.username))
            .where(s.c.id_hash == id_hash)
        ).first()
    if row is None:
        return None
    if row.expires_at <= now or row.last_seen_at + IDLE_TIMEOUT <= now or not row.active:
        end_session(db, session_id)
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        db.run_write(
            lambda tx: tx.conn.execute(
                update(s).where(s.c.id_hash == id_hash).values(last_seen_at=now)
            )
        )
    return Session(id_hash, _user(row), row.csrf_token, row.expires_at)


def end_session(db: Database, session_id: str) -> None:
    """Signs a session out (deletes it); nothing happens for an unknown id."""
    id_hash = session_hash(session_id)
    db.run_write(
        lambda tx: tx.conn.execute(
            delete(m.console_sessions).where(m.console_sessions.c.id_hash == id_hash)
        )
    )
