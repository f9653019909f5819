"""Members for HQ tests: made through HQ's own operations, spent through its HTTP API,
checked by reading its database."""

from __future__ import annotations

import itertools
import os
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from server_stub import members
from server_stub import models as m
from server_stub.db import Database
from server_stub.member_keys import MemberKeys
from sync_client.contract.membercode import sign_card_code, sign_member_code
from tests.server.support import Device

_phones = itertools.count(1)
ADMIN = members.Actor("cli:test")


def new_phone() -> str:
    """A mobile number no other test uses (per process)."""
    return f"139{os.getpid() % 10000:04d}{next(_phones):04d}"


def add_member(
    db: Database,
    keys: MemberKeys,
    *,
    points: int = 0,
    balance_fen: int = 0,
    tier: str = "standard",
    name: str = "王芳",
    phone: str | None = None,
) -> tuple[str, str]:
    """A member with the given balances (booked as adjustments); (number, phone)."""
    phone = phone or new_phone()
    detail = members.add_member(
        db, keys, ADMIN, name=name, phone=phone, tier=tier, consent_version="test-1"
    )
    if points or balance_fen:
        members.adjust_member(
            db, keys, ADMIN, detail.number, reason="opening", points=points, balance_fen=balance_fen
        )
    return detail.number, phone


def app_code(keys: MemberKeys, number: str, ttl_s: int = 300) -> str:
    return sign_member_code(number, int(time.time()) + ttl_s, keys.member_code[0])


def card_code(keys: MemberKeys, number: str, card: int = 1) -> str:
    return sign_card_code(number, card, keys.member_code[0])


def hold(
    client: httpx.Client,
    device: Device,
    number: str,
    kind: str,
    amount: int | None = None,
    *,
    proof: str | None = None,
    coupon_id: str | None = None,
    hold_id: uuid.UUID | None = None,
    ttl_s: int | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {
        "hold_id": str(hold_id or uuid.uuid4()),
        "member": number,
        "kind": kind,
        "proof": proof,
    }
    if amount is not None:
        body["amount"] = amount
    if coupon_id is not None:
        body["coupon_id"] = coupon_id
    if ttl_s is not None:
        body["ttl_s"] = ttl_s
    return client.post("/v1/members/holds", json=body, headers=device.headers)


def with_member(
    event: dict[str, Any],
    number: str | None = None,
    *,
    signup_id: uuid.UUID | None = None,
    holds: list[str] | tuple[str, ...] = (),
    tenders: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Names a member (and the holds to capture) on a ``sale.completed`` event; with
    ``tenders``, replaces its tenders (their amounts must add up to the total)."""
    payload = event["payload"]
    member: dict[str, Any] = {"holds": list(holds)}
    if number is not None:
        member["number"] = number
    if signup_id is not None:
        member["signup_id"] = str(signup_id)
    payload["member"] = member
    if tenders is not None:
        payload["tenders"] = tenders
    return event


def split_tenders(total: int, **spent: int) -> list[dict[str, Any]]:
    """Tenders paying ``total``: the given member tenders (``points=500``,
    ``stored_value=300``) and cash for the rest."""
    out = [{"kind": kind, "amount_fen": fen} for kind, fen in spent.items() if fen]
    cash = total - sum(spent.values())
    if cash:
        out.append({"kind": "cash", "amount_fen": cash, "tendered_fen": cash})
    return out


def balances(db: Database, number: str) -> tuple[int, int]:
    """(points, stored value fen) of a member at HQ."""
    with db.read() as conn:
        row = conn.execute(
            select(m.members.c.points, m.members.c.balance_fen).where(m.members.c.number == number)
        ).one()
    return int(row.points), int(row.balance_fen)


def ledger_mismatches(db: Database) -> list[tuple[str, str, int, int]]:
    with db.read() as conn:
        return members.ledger_mismatches(conn)


def hold_status(db: Database, hold_id: str) -> str:
    with db.read() as conn:
        return str(
            conn.execute(
                select(m.member_holds.c.status).where(m.member_holds.c.id == uuid.UUID(hold_id))
            ).scalar_one()
        )


def ledger_for(db: Database, ref: str) -> list[tuple[str, int]]:
    """(kind, delta) of every ledger row about ``ref`` (a hold, sale or top-up id)."""
    with db.read() as conn:
        rows = conn.execute(
            select(m.member_ledger.c.kind, m.member_ledger.c.delta)
            .where(m.member_ledger.c.ref == ref)
            .order_by(m.member_ledger.c.id)
        ).all()
    return [(r.kind, int(r.delta)) for r in rows]


def alerts(db: Database, ref: str) -> list[str]:
    with db.read() as conn:
        return list(
            conn.execute(
                select(m.member_alerts.c.kind).where(m.member_alerts.c.ref == ref)
            ).scalars()
        )


def audit_actions(db: Database, number: str | None = None) -> list[str]:
    with db.read() as conn:
        q = select(m.audit_log.c.action).order_by(m.audit_log.c.id)
        if number is not None:
            q = q.where(m.audit_log.c.member_no == number)
        return list(conn.execute(q).scalars())


def count(db: Database, table: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
