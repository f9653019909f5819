"""Credentials: device and admin bearer tokens, enrolment codes, staff PIN hashes.

Bearer tokens are 256-bit random strings; HQ stores only their SHA-256 (a slow hash adds
nothing for secrets that cannot be guessed). Staff PINs are short, so they get scrypt in
the format terminals verify offline (:mod:`sync_client.contract.pin`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from server_stub import models as m
from server_stub.errors import ApiError, unauthorised

DEVICE_TOKEN_PREFIX = "cpd_"
ADMIN_TOKEN_PREFIX = "cpa_"
# No 0/O, 1/I/L or U: enrolment codes are read aloud and typed on a touchscreen.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """An authenticated terminal."""

    device_id: str
    store: str


@dataclass(frozen=True, slots=True)
class AdminIdentity:
    """An authenticated HQ admin token (role hq_admin)."""

    name: str


def new_token(prefix: str) -> str:
    """A fresh bearer token."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 hex of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_enroll_code() -> str:
    """A one-time code like ``K7QP-3MWX`` (about 40 bits)."""
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def enroll_code_hash(code: str) -> str:
    """Hash of the code with case, spaces and dashes ignored."""
    norm = "".join(ch for ch in code.upper() if ch not in " -")
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()


def authenticate_device(conn: Connection, token: str | None) -> DeviceIdentity:
    """The device a bearer token belongs to.

    Raises:
        ApiError: 401 if the token is missing, unknown or revoked; 403 for an admin token.
    """
    if not token:
        raise unauthorised("unauthorised", "an Authorization: Bearer <device token> is required")
    row = conn.execute(
        select(m.devices.c.id, m.devices.c.store_code, m.devices.c.revoked_at).where(
            m.devices.c.token_hash == token_hash(token)
        )
    ).first()
    if row is None:
        if token.startswith(ADMIN_TOKEN_PREFIX):
            raise ApiError(403, "forbidden", "this call needs a device token, not an admin token")
        raise unauthorised("invalid_token", "unknown token")
    if row.revoked_at is not None:
        raise unauthorised("token_revoked", f"device {row.id} was revoked")
    return DeviceIdentity(row.id, row.store_code)


def authenticate_admin(conn: Connection, token: str | None, now: datetime) -> AdminIdentity:
    """The admin a bearer token belongs to.

    Raises:
        ApiError: 401 if missing, unknown, expired or revoked; 403 for a device token.
    """
    if not token:
        raise unauthorised("unauthorised", "an Authorization: Bearer <admin token> is required")
    row = conn.execute(
        select(
            m.admin_tokens.c.name, m.admin_tokens.c.expires_at, m.admin_tokens.c.revoked_at
        ).where(m.admin_tokens.c.token_hash == token_hash(token))
    ).first()
    if row is None:
        if token.startswith(DEVICE_TOKEN_PREFIX):
            raise ApiError(403, "forbidden", "this call needs the hq_admin role")
        raise unauthorised("invalid_token", "unknown token")
    if row.revoked_at is not None:
        raise unauthorised("token_revoked", f"admin token {row.name!r} was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise unauthorised("token_expired", f"admin token {row.name!r} expired")
    return AdminIdentity(row.name)
