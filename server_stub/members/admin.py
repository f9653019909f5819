"""What HQ staff do with members (the admin CLI and the admin API call the same
functions): add, show, search, adjust, member and card codes, coupons. Every action is
audited."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from server_stub import feed
from server_stub import models as m
from server_stub.audit import Actor, audit_now, audit_row, write_audit
from server_stub.db import Database, WriteTx
from server_stub.errors import ApiError
from server_stub.member_keys import MemberKeys
from server_stub.members._common import (
    DEFAULT_TIER,
    _member_by,
    _now,
    usable_coupons,
)
from server_stub.members.holds import _hold_data
from server_stub.members.ledger import (
    bump_version,
    change_balance,
    ledger_row,
    member_change,
    write_ledger,
)
from server_stub.members.signup import _insert_member
from server_stub.schemas import (
    LedgerEntry,
    MemberCodeOut,
    MemberDetail,
    MemberSummary,
)
from sync_client.contract import protocol as p
from sync_client.contract.membercode import (
    mask_phone,
    normalise_phone,
    sign_card_code,
    sign_member_code,
)
from sync_client.contract.phonecrypt import PhoneCipher

log = logging.getLogger("chainpos.hq.members")


DEFAULT_CODE_TTL_S = 300


def add_member(
    db: Database,
    keys: MemberKeys,
    actor: Actor,
    *,
    name: str,
    phone: str,
    consent_version: str,
    tier: str = DEFAULT_TIER,
    now: datetime | None = None,
) -> MemberDetail:
    """HQ staff enrol a member (who agreed to ``consent_version`` of the privacy notice).

    Raises:
        ApiError: 422 ``bad_phone``; 409 ``phone_registered``.
    """
    now = now or _now()
    try:
        normalised = normalise_phone(phone)
    except ValueError as exc:
        raise ApiError(422, "bad_phone", str(exc)) from None
    cipher = PhoneCipher(keys)

    def run(tx: WriteTx) -> str:
        conn = tx.conn
        if _member_by(conn, m.members.c.phone_hash == cipher.hash(normalised)) is not None:
            raise ApiError(409, "phone_registered", "this phone number is already a member")
        row = _insert_member(conn, cipher, normalised, name, tier, consent_version, now, actor, now)
        detail = {"consent_version": consent_version, "tier": tier}
        write_audit(conn, [audit_row(actor, "member.add", row.number, detail, now)])
        return str(row.number)

    number = db.run_write(run)
    return show_member(db, keys, actor, number, audit=False)


def _require_member(conn: Connection, number: str) -> Any:
    row = _member_by(conn, m.members.c.number == number)
    if row is None:
        raise ApiError(404, "unknown_member", f"no member {number}")
    return row


def show_member(
    db: Database,
    keys: MemberKeys,
    actor: Actor,
    number: str,
    *,
    reveal: bool = False,
    audit: bool = True,
) -> MemberDetail:
    """Everything HQ knows about a member: masked phone (the full number with
    ``reveal``, audited), balances, coupons, open and recent holds, recent ledger."""
    cipher = PhoneCipher(keys)
    now = _now()
    with db.read() as conn:
        row = _require_member(conn, number)
        mid = int(row.id)
        phone = cipher.decrypt(row.phone_enc, row.number)
        ledger = conn.execute(
            select(m.member_ledger)
            .where(m.member_ledger.c.member_id == mid)
            .order_by(m.member_ledger.c.id.desc())
            .limit(20)
        ).all()
        sums = dict(
            conn.execute(
                select(
                    m.member_ledger.c.account, func.coalesce(func.sum(m.member_ledger.c.delta), 0)
                )
                .where(m.member_ledger.c.member_id == mid)
                .group_by(m.member_ledger.c.account)
            ).all()
        )
        holds = conn.execute(
            select(m.member_holds)
            .where(m.member_holds.c.member_id == mid)
            .order_by(m.member_holds.c.created_at.desc())
            .limit(20)
        ).all()
        coupons = usable_coupons(conn, mid, now)
    detail = MemberDetail(
        number=row.number,
        name=row.name,
        phone=phone if reveal else mask_phone(phone),
        tier=row.tier,
        points=int(row.points),
        balance_fen=int(row.balance_fen),
        active=bool(row.active),
        version=int(row.version),
        card_version=int(row.card_version),
        consent_version=row.consent_version,
        consent_at=row.consent_at,
        created_at=row.created_at,
        created_store=row.created_store,
        ledger_points=int(sums.get("points", 0)),
        ledger_balance_fen=int(sums.get("stored_value", 0)),
        coupons=coupons,
        holds=[_hold_data(h, row) for h in holds],
        ledger=[
            LedgerEntry(
                account=e.account,
                delta=int(e.delta),
                balance_after=int(e.balance_after),
                kind=e.kind,
                ref=e.ref,
                store=e.store_code,
                note=e.note,
                at=e.created_at,
            )
            for e in ledger
        ],
    )
    if audit:
        audit_now(db, audit_row(actor, "member.show", row.number, {"reveal": reveal}, now))
    return detail


def search_members(
    db: Database,
    keys: MemberKeys,
    actor: Actor,
    *,
    phone: str | None = None,
    name: str | None = None,
    number: str | None = None,
    limit: int = 20,
) -> list[MemberSummary]:
    """Members by phone (exact, through the keyed hash), name (prefix) or number
    (exact). Audited."""
    cipher = PhoneCipher(keys)
    if phone is not None:
        try:
            cond = m.members.c.phone_hash == cipher.hash(normalise_phone(phone))
        except ValueError as exc:
            raise ApiError(422, "bad_phone", str(exc)) from None
        by = "phone"
    elif number is not None:
        cond, by = m.members.c.number == number, "number"
    elif name is not None:
        cond = m.members.c.name.startswith(name, autoescape=True)
        by = "name"
    else:
        raise ApiError(422, "search_empty", "search by phone, name or number")
    with db.read() as conn:
        rows = conn.execute(
            select(m.members).where(cond).order_by(m.members.c.name, m.members.c.id).limit(limit)
        ).all()
    out = [
        MemberSummary(
            number=r.number,
            name=r.name,
            phone_masked=mask_phone(cipher.decrypt(r.phone_enc, r.number)),
            tier=r.tier,
            points=int(r.points),
            balance_fen=int(r.balance_fen),
            active=bool(r.active),
        )
        for r in rows
    ]
    audit_now(db, audit_row(actor, "member.search", None, {"by": by, "found": len(out)}, _now()))
    return out


def find_by_phone(conn: Connection, cipher: PhoneCipher, phone: str) -> Any:
    """The member row with this (normalised) phone number, or None: one index lookup."""
    return _member_by(conn, m.members.c.phone_hash == cipher.hash(phone))


def adjust_member(
    db: Database,
    keys: MemberKeys,
    actor: Actor,
    number: str,
    *,
    reason: str,
    points: int = 0,
    balance_fen: int = 0,
    tier: str | None = None,
    active: bool | None = None,
    name: str | None = None,
    now: datetime | None = None,
) -> MemberDetail:
    """A correction by HQ staff: signed points / stored-value deltas (never below zero),
    tier, name, open or closed. Recorded in the ledger and the audit log.

    Raises:
        ApiError: 404 ``unknown_member``; 409 ``insufficient_points`` /
            ``insufficient_balance``; 422 ``nothing_to_change``.
    """
    now = now or _now()
    if not (points or balance_fen) and tier is None and active is None and name is None:
        raise ApiError(422, "nothing_to_change", "give points, balance, tier, name or status")
    ref = f"adjust:{uuid.uuid4()}"

    def run(tx: WriteTx) -> None:
        conn = tx.conn
        row = _require_member(conn, number)
        mid = int(row.id)
        values: dict[str, Any] = {}
        if tier is not None:
            values["tier"] = tier
        if active is not None:
            values["active"] = active
        if name is not None:
            values["name"] = name
        if values:
            conn.execute(
                update(m.members).where(m.members.c.id == mid).values(values, updated_at=now)
            )
        last = bump_version(conn, mid, now)
        ledger = []
        for account, delta in (("points", points), ("stored_value", balance_fen)):
            if not delta:
                continue
            b = change_balance(conn, mid, account, delta, now, floor=0 if delta < 0 else None)
            if b is None:
                code = "insufficient_points" if account == "points" else "insufficient_balance"
                raise ApiError(409, code, f"{account} would fall below zero")
            ledger.append(ledger_row(b, account, delta, "adjust", ref, now, note=reason[:200]))
            last = b
        write_ledger(conn, ledger)
        detail = {
            "reason": reason,
            "points": points,
            "balance_fen": balance_fen,
            "tier": tier,
            "active": active,
            "name_changed": name is not None,
        }
        write_audit(conn, [audit_row(actor, "member.adjust", number, detail, now)])
        feed.append(tx, [member_change(last.number, last.version, last.active)], now)

    db.run_write(run)
    return show_member(db, keys, actor, number, audit=False)


def member_code(
    db: Database,
    keys: MemberKeys,
    actor: Actor,
    number: str,
    *,
    ttl_s: int = DEFAULT_CODE_TTL_S,
    card: bool = False,
    new_card: bool = False,
    now: datetime | None = None,
) -> MemberCodeOut:
    """A signed member app code (valid ``ttl_s``), or the member's card code; with
    ``new_card`` a new card generation, which cancels every older card."""
    now = now or _now()

    def run(tx: WriteTx) -> MemberCodeOut:
        conn = tx.conn
        row = _require_member(conn, number)
        card_version = int(row.card_version)
        if new_card:
            card_version += 1
            conn.execute(
                update(m.members)
                .where(m.members.c.id == row.id)
                .values(card_version=card_version, updated_at=now)
            )
            b = bump_version(conn, int(row.id), now)
            feed.append(tx, [member_change(b.number, b.version, b.active)], now)
        if card or new_card:
            out = MemberCodeOut(
                number=number,
                kind="card",
                code=sign_card_code(number, card_version, keys.member_code[0]),
                expires_at=None,
                card_version=card_version,
            )
        else:
            expires = int(now.timestamp()) + ttl_s
            out = MemberCodeOut(
                number=number,
                kind="app",
                code=sign_member_code(number, expires, keys.member_code[0]),
                expires_at=datetime.fromtimestamp(expires, UTC),
                card_version=card_version,
            )
        detail = {"kind": out.kind, "new_card": new_card, "ttl_s": ttl_s if not card else None}
        write_audit(conn, [audit_row(actor, "member.code", number, detail, now)])
        return out

    return db.run_write(run)


def issue_coupon(
    db: Database,
    actor: Actor,
    number: str,
    *,
    name: str,
    value_fen: int,
    min_spend_fen: int = 0,
    valid_from: datetime | None = None,
    valid_until: datetime,
    now: datetime | None = None,
) -> p.CouponData:
    """Gives a member a coupon.

    Raises:
        ApiError: 404 ``unknown_member``; 422 ``bad_validity``.
    """
    now = now or _now()
    start = valid_from or now
    if valid_until <= start or valid_until <= now:
        raise ApiError(422, "bad_validity", "valid_until must be after valid_from and now")
    coupon_id = uuid.uuid4()

    def run(tx: WriteTx) -> p.CouponData:
        conn = tx.conn
        row = _require_member(conn, number)
        conn.execute(
            insert(m.member_coupons).values(
                id=coupon_id,
                member_id=row.id,
                name=name,
                value_fen=value_fen,
                min_spend_fen=min_spend_fen,
                valid_from=start,
                valid_until=valid_until,
                status="available",
                hold_id=None,
                sale_id=None,
                created_at=now,
                updated_at=now,
            )
        )
        b = bump_version(conn, int(row.id), now)
        detail = {"coupon_id": str(coupon_id), "name": name, "value_fen": value_fen}
        write_audit(conn, [audit_row(actor, "member.coupon", number, detail, now)])
        feed.append(tx, [member_change(b.number, b.version, b.active)], now)
        return p.CouponData(
            coupon_id=coupon_id,
            name=name,
            value_fen=value_fen,
            min_spend_fen=min_spend_fen,
            valid_from=start,
            valid_until=valid_until,
        )

    return db.run_write(run)
