"""Settings, staff, audit log and counters."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from pos_app.localdb.models import AuditEntry, Setting, Staff, Store
from pos_app.localdb.types import to_utc_text


def get_setting(session: Session, key: str, default: Any = None) -> Any:
    row = session.get(Setting, key)
    return default if row is None else json.loads(row.value)


def setting_db(db: sqlite3.Connection, key: str, default: Any = None) -> Any:
    """:func:`get_setting` on a ``sqlite3`` connection (inside the caller's transaction)."""
    row = db.execute("SELECT value FROM setting WHERE key = ?", (key,)).fetchone()
    return default if row is None else json.loads(row[0])


def set_setting(session: Session, key: str, value: Any) -> None:
    session.merge(Setting(key=key, value=json.dumps(value, ensure_ascii=False)))


def all_settings(session: Session) -> dict[str, Any]:
    return {s.key: json.loads(s.value) for s in session.scalars(select(Setting))}


@dataclass(frozen=True, slots=True)
class StoreInfo:
    code: str
    name_zh: str
    name_en: str
    address_zh: str
    address_en: str
    phone: str


def get_store(session: Session, code: str) -> StoreInfo | None:
    row = session.get(Store, code)
    if row is None:
        return None
    return StoreInfo(row.code, row.name_zh, row.name_en, row.address_zh, row.address_en, row.phone)


def upsert_store(session: Session, info: StoreInfo) -> None:
    session.merge(Store(**{f: getattr(info, f) for f in StoreInfo.__slots__}))


def get_staff(session: Session, number: str) -> Staff | None:
    return session.get(Staff, number)


def upsert_staff(
    session: Session,
    *,
    number: str,
    name: str,
    role: str,
    store_code: str | None,
    pin_hash: str,
    active: bool = True,
) -> None:
    row = session.get(Staff, number)
    if row is None:
        session.add(
            Staff(
                number=number,
                name=name,
                role=role,
                store_code=store_code,
                pin_hash=pin_hash,
                active=active,
                failed_attempts=0,
            )
        )
    else:
        row.name, row.role, row.store_code, row.pin_hash, row.active = (
            name,
            role,
            store_code,
            pin_hash,
            active,
        )


def audit_db(
    db: sqlite3.Connection, at: datetime, staff: str | None, action: str, **detail: Any
) -> None:
    """:func:`audit` on a ``sqlite3`` connection (inside the caller's transaction)."""
    db.execute(
        "INSERT INTO audit_log (at, staff, action, detail) VALUES (?, ?, ?, ?)",
        (to_utc_text(at), staff, action, json.dumps(detail, ensure_ascii=False, default=str)),
    )


def audit(session: Session, at: datetime, staff: str | None, action: str, **detail: Any) -> None:
    session.add(
        AuditEntry(
            at=at,
            staff=staff,
            action=action,
            detail=json.dumps(detail, ensure_ascii=False, default=str),
        )
    )


_BUMP_COUNTER = (
    "INSERT INTO counter (name, value) VALUES (:n, 1) "
    "ON CONFLICT(name) DO UPDATE SET value = value + 1"
)
_COUNTER = "SELECT value FROM counter WHERE name = :n"


def next_counter(session: Session, name: str) -> int:
    """Increments and returns a named counter inside the caller's transaction."""
    session.execute(text(_BUMP_COUNTER), {"n": name})
    return int(session.execute(text(_COUNTER), {"n": name}).scalar_one())


def next_counter_db(db: sqlite3.Connection, name: str) -> int:
    """:func:`next_counter` on a ``sqlite3`` connection (inside the caller's transaction)."""
    db.execute(_BUMP_COUNTER, {"n": name})
    return int(db.execute(_COUNTER, {"n": name}).fetchone()[0])
