"""Members at HQ: identification, sign-up, holds on points / stored value / coupons, and
the admin operations (add, show, search, adjust, codes, coupons).

No double spend: a hold takes value with one conditional UPDATE on the member's (or the
coupon's) row — ``points = points - n WHERE points >= n`` — so concurrent requests from
any number of terminals and HQ processes can never overdraw. Every later change of a hold
(capture by its sale, release, expiry, refund by a void) is a conditional UPDATE of the
hold's ``status`` from the state it must be in, so each happens at most once; the ledger's
unique ``(account, kind, ref)`` backs that up. The ledger row of every balance change
carries the balance it left (from ``RETURNING``), so per member and account the ledger's
deltas sum to the balance.

Lock order, to keep PostgreSQL free of deadlocks: hold rows (by id), coupon rows, earning
rows, member rows (by id), the feed counter last. Every writer here and in
:mod:`server_stub.ingest` follows it.

The admin CLI and the admin API call the same functions. Refusals are
:class:`server_stub.errors.ApiError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Row, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from server_stub import feed, loyalty
from server_stub import models as m
from server_stub.auth import DeviceIdentity
from server_stub.db import Database, RetryableWrite, WriteTx
from server_stub.errors import ApiError
from server_stub.member_keys import MemberKeys
from server_stub.schemas import (
    AuditEntry,
    LedgerEntry,
    MemberCodeOut,
    MemberDetail,
    MemberSummary,
)
from sync_client.contract import protocol as p
from sync_client.contract.membercode import (
    MemberCode,
    MemberCodeError,
    mask_phone,
    normalise_phone,
    sign_card_code,
    sign_member_code,
    verify_member_code,
)
from sync_client.contract.phonecrypt import PhoneCipher

log = logging.getLogger("chainpos.hq.members")

IDENTIFY_GRACE_S = 30
"""An app code is accepted this long after its expiry (clock skew between app and HQ)."""
SPEND_GRACE_S = 900
"""A scanned code lets the till spend for this long after its expiry (ringing up a cart)."""
DEFAULT_CODE_TTL_S = 300
DEFAULT_TIER = "standard"
ACCOUNTS = {"points": m.members.c.points, "stored_value": m.members.c.balance_fen}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, for the audit log: ``device:S001-T01``, ``admin:<token name>``,
    ``cli:<user>``; ``store`` for devices."""

    name: str
    store: str | None = None

    @classmethod
    def of_device(cls, device: DeviceIdentity) -> Actor:
        return cls(f"device:{device.device_id}", device.store)


# -- member numbers -----------------------------------------------------------------------


def luhn_digit(digits: str) -> str:
    """The Luhn check digit for ``digits``."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def new_member_number() -> str:
    """A random 12-digit member number: ``8``, ten random digits, a Luhn check digit.
    Random rather than sequential, so numbers neither reveal the chain's size nor can be
    walked through."""
    body = "8" + "".join(secrets.choice("0123456789") for _ in range(10))
    return body + luhn_digit(body)


# -- small shared writes ------------------------------------------------------------------


def audit_row(
    actor: Actor,
    action: str,
    member_no: str | None,
    detail: dict[str, Any],
    now: datetime,
    store: str | None = None,
) -> dict[str, Any]:
    """An ``audit_log`` row. ``detail`` must never hold a phone number in clear."""
    return {
        "at": now,
        "actor": actor.name[:80],
        "action": action,
        "member_no": member_no,
        "store_code": store if store is not None else actor.store,
        "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True),
    }


def write_audit(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(m.audit_log), list(rows))


def audit_now(db: Database, row: dict[str, Any]) -> None:
    """Writes one audit row in a transaction of its own (for refusals, which write
    nothing else)."""
    db.run_write(lambda tx: write_audit(tx.conn, [row]))


def member_change(number: str, version: int, active: bool) -> feed.Pending:
    """The feed change telling terminals a cached copy of ``number`` is stale."""
    return feed.Pending(
        "member", number, None, p.MemberData(number=number, version=version, active=active)
    )


@dataclass(frozen=True, slots=True)
class Balance:
    """A member's row after an update."""

    member_id: int
    number: str
    points: int
    balance_fen: int
    version: int
    active: bool

    def of(self, account: str) -> int:
        return self.points if account == "points" else self.balance_fen


_RETURNING = (
    m.members.c.id,
    m.members.c.number,
    m.members.c.points,
    m.members.c.balance_fen,
    m.members.c.version,
    m.members.c.active,
)


def _balance(row: Any) -> Balance:
    return Balance(
        int(row.id),
        row.number,
        int(row.points),
        int(row.balance_fen),
        int(row.version),
        bool(row.active),
    )


def change_balance(
    conn: Connection,
    member_id: int,
    account: str,
    delta: int,
    now: datetime,
    *,
    floor: int | None = None,
) -> Balance | None:
    """Adds ``delta`` to one account and bumps the version, in one statement. With
    ``floor``, only if the account stays at or above it (None returned otherwise): the
    conditional update that makes overdrawing impossible."""
    col = ACCOUNTS[account]
    stmt = (
        update(m.members)
        .where(m.members.c.id == member_id)
        .values({col: col + delta, "version": m.members.c.version + 1, "updated_at": now})
        .returning(*_RETURNING)
    )
    if floor is not None:
        stmt = stmt.where(col + delta >= floor)
    row = conn.execute(stmt).first()
    return _balance(row) if row is not None else None


def bump_version(conn: Connection, member_id: int, now: datetime) -> Balance:
    """Marks a member changed (coupons, tier, name, status) without a balance change."""
    row = conn.execute(
        update(m.members)
        .where(m.members.c.id == member_id)
        .values(version=m.members.c.version + 1, updated_at=now)
        .returning(*_RETURNING)
    ).one()
    return _balance(row)


def ledger_row(
    b: Balance,
    account: str,
    delta: int,
    kind: str,
    ref: str,
    now: datetime,
    store: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """A ledger row for a change ``change_balance`` just made (``b`` is its result)."""
    return {
        "member_id": b.member_id,
        "account": account,
        "delta": delta,
        "balance_after": b.of(account),
        "kind": kind,
        "ref": ref,
        "store_code": store,
        "note": note,
        "created_at": now,
    }


def write_ledger(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(m.member_ledger), list(rows))


# -- reading ------------------------------------------------------------------------------


def _member_by(conn: Connection, *where: Any) -> Row[Any] | None:
    return conn.execute(select(m.members).where(*where)).first()


def usable_coupons(conn: Connection, member_id: int, now: datetime) -> list[p.CouponData]:
    c = m.member_coupons
    rows = conn.execute(
        select(c)
        .where(
            c.c.member_id == member_id,
            c.c.status == "available",
            c.c.valid_from <= now,
            c.c.valid_until > now,
        )
        .order_by(c.c.valid_until, c.c.id)
        .limit(50)
    )
    return [
        p.CouponData(
            coupon_id=r.id,
            name=r.name,
            value_fen=r.value_fen,
            min_spend_fen=r.min_spend_fen,
            valid_from=r.valid_from,
            valid_until=r.valid_until,
        )
        for r in rows
    ]


def _panel(
    conn: Connection,
    cipher: PhoneCipher,
    row: Any,
    identified_by: Literal["code", "card", "phone", "signup"],
    spend_until: datetime | None,
    now: datetime,
) -> p.MemberPanel:
    return p.MemberPanel(
        number=row.number,
        name=row.name,
        phone_masked=mask_phone(cipher.decrypt(row.phone_enc, row.number)),
        tier=row.tier,
        points=int(row.points),
        balance_fen=int(row.balance_fen),
        coupons=usable_coupons(conn, int(row.id), now),
        active=bool(row.active),
        version=int(row.version),
        identified_by=identified_by,
        spend_until=spend_until,
    )


# -- expiry and release -------------------------------------------------------------------


def release_holds(
    conn: Connection, rows: Iterable[Any], status: str, now: datetime
) -> tuple[list[Any], dict[int, Balance]]:
    """Gives back the value of holds that are still ``held``, marking them ``status``
    (``released`` or ``expired``). Holds settled meanwhile by someone else are skipped.

    Returns the holds released here and each touched member's row afterwards."""
    released = []
    for row in sorted(rows, key=lambda r: r.id):
        done = conn.execute(
            update(m.member_holds)
            .where(m.member_holds.c.id == row.id, m.member_holds.c.status == "held")
            .values(status=status, settled_at=now)
        ).rowcount
        if done == 1:
            released.append(row)
    for row in released:
        if row.kind == "coupon":
            conn.execute(
                update(m.member_coupons)
                .where(
                    m.member_coupons.c.hold_id == row.id,
                    m.member_coupons.c.status == "held",
                )
                .values(status="available", hold_id=None, updated_at=now)
            )
    touched: dict[int, Balance] = {}
    ledger = []
    for row in sorted(released, key=lambda r: (r.member_id, r.id)):
        if row.kind == "coupon":
            touched[row.member_id] = bump_version(conn, row.member_id, now)
            continue
        b = change_balance(conn, row.member_id, row.kind, int(row.amount), now)
        assert b is not None
        touched[row.member_id] = b
        note = "expired" if status == "expired" else None
        ledger.append(
            ledger_row(
                b, row.kind, int(row.amount), "release", str(row.id), now, row.store_code, note
            )
        )
    write_ledger(conn, ledger)
    return released, touched


def _expire_for_member(conn: Connection, member_id: int, now: datetime) -> dict[int, Balance]:
    """Lazy expiry: gives back this member's holds past their time."""
    h = m.member_holds
    rows = conn.execute(
        select(h).where(h.c.member_id == member_id, h.c.status == "held", h.c.expires_at <= now)
    ).all()
    if not rows:
        return {}
    return release_holds(conn, rows, "expired", now)[1]


def sweep_expired(db: Database, now: datetime | None = None, batch: int = 500) -> int:
    """Gives back every hold past its expiry; returns how many. Safe to run from several
    HQ processes at once (each hold is released by exactly one of them)."""
    total = 0
    while True:
        when = now or _now()

        def run(tx: WriteTx, when: datetime = when) -> int:
            h = m.member_holds
            rows = tx.conn.execute(
                select(h)
                .where(h.c.status == "held", h.c.expires_at <= when)
                .order_by(h.c.expires_at, h.c.id)
                .limit(batch)
            ).all()
            released, touched = release_holds(tx.conn, rows, "expired", when)
            if released:
                log.info("released %d expired holds", len(released))
            feed.append(
                tx, [member_change(b.number, b.version, b.active) for b in touched.values()], when
            )
            return len(rows)

        seen = db.run_write(run)
        total += seen
        if seen < batch:
            return total


# -- identification -----------------------------------------------------------------------


def _code_refusal(exc: MemberCodeError) -> ApiError:
    if exc.reason == "expired":
        return ApiError(422, "member_code_expired", str(exc))
    return ApiError(422, "member_code_invalid", str(exc))


def _verify(keys: MemberKeys, text: str, now: datetime, grace_s: int) -> MemberCode:
    return verify_member_code(text, keys.member_code, int(now.timestamp()), grace_s=grace_s)


def identify(
    db: Database,
    keys: MemberKeys,
    device: DeviceIdentity,
    request: p.IdentifyRequest,
    now: datetime | None = None,
) -> p.MemberPanel:
    """The member panel for a scanned code or a typed phone number; audited either way.

    Raises:
        ApiError: 422 ``member_code_invalid`` / ``member_code_expired`` / ``card_replaced``
            / ``bad_phone``, 404 ``unknown_member``, 403 ``member_inactive``.
    """
    now = now or _now()
    actor = Actor.of_device(device)
    cipher = PhoneCipher(keys)
    code: MemberCode | None = None
    phone_hash: str | None = None
    if request.code is not None:
        try:
            code = _verify(keys, request.code, now, IDENTIFY_GRACE_S)
        except MemberCodeError as exc:
            audit_now(
                db, audit_row(actor, "member.identify_refused", None, {"reason": exc.reason}, now)
            )
            raise _code_refusal(exc) from None
    else:
        assert request.phone is not None
        try:
            phone_hash = cipher.hash(normalise_phone(request.phone))
        except ValueError as exc:
            raise ApiError(422, "bad_phone", str(exc)) from None

    def run(tx: WriteTx) -> p.MemberPanel | ApiError:
        conn = tx.conn
        if code is not None:
            row = _member_by(conn, m.members.c.number == code.number)
            by: Literal["code", "card", "phone"] = "card" if code.kind == "card" else "code"
        else:
            row = _member_by(conn, m.members.c.phone_hash == phone_hash)
            by = "phone"
        number = row.number if row is not None else None
        refusal: ApiError | None = None
        if row is None:
            refusal = ApiError(404, "unknown_member", "no member with this code or phone number")
        elif code is not None and code.kind == "card" and code.card != row.card_version:
            refusal = ApiError(
                422,
                "card_replaced",
                "this card was replaced by a newer one; use the new card or the member app",
            )
        elif not row.active:
            refusal = ApiError(403, "member_inactive", f"membership {row.number} is closed")
        detail: dict[str, Any] = {"by": by}
        if refusal is not None:
            detail["refused"] = refusal.error
            write_audit(conn, [audit_row(actor, "member.identify", number, detail, now)])
            return refusal
        assert row is not None
        touched = _expire_for_member(conn, int(row.id), now)
        if touched:
            row = _member_by(conn, m.members.c.id == row.id)
            assert row is not None
        if code is not None and code.expires is not None:
            spend_until: datetime | None = datetime.fromtimestamp(code.expires, UTC) + timedelta(
                seconds=SPEND_GRACE_S
            )
        elif code is not None or loyalty.rules_for(conn, device.store).spend_without_code:
            spend_until = now + timedelta(seconds=SPEND_GRACE_S)
        else:
            spend_until = None
        write_audit(conn, [audit_row(actor, "member.identify", number, detail, now)])
        feed.append(
            tx, [member_change(b.number, b.version, b.active) for b in touched.values()], now
        )
        return _panel(conn, cipher, row, by, spend_until, now)

    out = db.run_write(run)
    if isinstance(out, ApiError):
        raise out
    return out


class LookupLimiter:
    """At most ``per_minute`` phone lookups per device per minute in this process, so a
    till (or someone holding its token) cannot walk through the chain's phone numbers.
    Scanned codes are not limited."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._seen: dict[str, list[float]] = {}

    def allow(self, device_id: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._seen.get(device_id, []) if t > now - 60.0]
            if len(recent) >= self.per_minute:
                self._seen[device_id] = recent
                return False
            recent.append(now)
            self._seen[device_id] = recent
            return True


# -- sign-up ------------------------------------------------------------------------------


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


# -- holds --------------------------------------------------------------------------------


def _request_hash(store: str, request: p.HoldRequest) -> str:
    canonical = json.dumps(
        {
            "store": store,
            "member": request.member,
            "kind": request.kind,
            "amount": request.amount,
            "coupon": str(request.coupon_id) if request.coupon_id else None,
        },
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _hold_data(row: Any, member: Any) -> p.HoldData:
    return p.HoldData(
        hold_id=row.id,
        member=member.number,
        kind=row.kind,
        amount=int(row.amount),
        value_fen=int(row.value_fen),
        coupon_id=row.coupon_id,
        status=row.status,
        store=row.store_code,
        created_at=row.created_at,
        expires_at=row.expires_at,
        settled_at=row.settled_at,
        sale_id=row.sale_id,
        points=int(member.points),
        balance_fen=int(member.balance_fen),
    )


def _hold_row(conn: Connection, hold_id: uuid.UUID) -> Any:
    return conn.execute(select(m.member_holds).where(m.member_holds.c.id == hold_id)).first()


def _coupon_problem(coupon: Any, now: datetime) -> str:
    if coupon.status == "used":
        return "this coupon was already used"
    if coupon.status == "held":
        return "this coupon is reserved for another sale in progress"
    if coupon.valid_from > now:
        return f"this coupon is valid from {coupon.valid_from.isoformat()}"
    return f"this coupon expired at {coupon.valid_until.isoformat()}"


def create_hold(
    db: Database,
    keys: MemberKeys,
    device: DeviceIdentity,
    request: p.HoldRequest,
    now: datetime | None = None,
) -> tuple[bool, p.HoldData]:
    """Reserves points, stored value or a coupon for a sale being rung up; once per
    ``hold_id`` (a repeat answers the existing hold, ``created`` False).

    Raises:
        ApiError: 404 ``unknown_member`` / ``unknown_coupon``; 403 ``member_inactive`` /
            ``member_code_required``; 409 ``insufficient_points`` / ``insufficient_balance``
            / ``coupon_unavailable`` / ``hold_conflict``; 422 ``member_code_invalid`` /
            ``member_code_expired`` / ``member_code_mismatch`` / ``card_replaced`` /
            ``amount_too_small``.
    """
    now = now or _now()
    actor = Actor.of_device(device)
    req_hash = _request_hash(device.store, request)
    proof: MemberCode | None = None
    if request.proof is not None:
        try:
            proof = _verify(keys, request.proof, now, SPEND_GRACE_S)
        except MemberCodeError as exc:
            audit_now(
                db,
                audit_row(
                    actor, "member.hold_refused", request.member, {"reason": exc.reason}, now
                ),
            )
            raise _code_refusal(exc) from None
        if proof.number != request.member:
            audit_now(
                db,
                audit_row(
                    actor, "member.hold_refused", request.member, {"reason": "mismatch"}, now
                ),
            )
            raise ApiError(
                422, "member_code_mismatch", "the scanned code belongs to another member"
            )

    def repeat(conn: Connection) -> tuple[bool, p.HoldData] | None:
        """The answer for a retry: the hold this ``hold_id`` made, if any."""
        existing = _hold_row(conn, request.hold_id)
        if existing is None:
            return None
        if existing.request_hash != req_hash:
            raise ApiError(
                409, "hold_conflict", f"hold {request.hold_id} exists for a different request"
            )
        member = _member_by(conn, m.members.c.id == existing.member_id)
        return False, _hold_data(existing, member)

    def run(tx: WriteTx) -> tuple[bool, p.HoldData]:
        conn = tx.conn
        again = repeat(conn)
        if again is not None:
            return again
        member = _member_by(conn, m.members.c.number == request.member)
        if member is None:
            raise ApiError(404, "unknown_member", f"no member {request.member}")
        if not member.active:
            raise ApiError(403, "member_inactive", f"membership {member.number} is closed")
        rules = loyalty.rules_for(conn, device.store)
        if proof is None and not rules.spend_without_code:
            raise ApiError(
                403,
                "member_code_required",
                "scan the member's code or card to spend points, balance or coupons",
            )
        if proof is not None and proof.kind == "card" and proof.card != member.card_version:
            raise ApiError(422, "card_replaced", "this card was replaced by a newer one")
        touched = _expire_for_member(conn, int(member.id), now)
        ttl = request.ttl_s or rules.hold_ttl_s
        mid = int(member.id)
        ledger: list[dict[str, Any]] = []
        if request.kind == "coupon":
            c = m.member_coupons
            done = conn.execute(
                update(c)
                .where(
                    c.c.id == request.coupon_id,
                    c.c.member_id == mid,
                    c.c.status == "available",
                    c.c.valid_from <= now,
                    c.c.valid_until > now,
                )
                .values(status="held", hold_id=request.hold_id, updated_at=now)
            ).rowcount
            if done != 1:
                # A retry of this very request may have taken the coupon meanwhile.
                again = repeat(conn)
                if again is not None:
                    return again
                coupon = conn.execute(select(c).where(c.c.id == request.coupon_id)).first()
                if coupon is None or coupon.member_id != mid:
                    raise ApiError(404, "unknown_coupon", "this member has no such coupon")
                raise ApiError(409, "coupon_unavailable", _coupon_problem(coupon, now))
            value_fen = int(
                conn.execute(select(c.c.value_fen).where(c.c.id == request.coupon_id)).scalar_one()
            )
            amount = 1
            after = bump_version(conn, mid, now)
        else:
            assert request.amount is not None
            amount = request.amount
            if request.kind == "points":
                value_fen = rules.value_fen(amount)
                if value_fen == 0:
                    raise ApiError(
                        422,
                        "amount_too_small",
                        f"{amount} points are worth less than one fen "
                        f"({rules.redeem_points_per_yuan} points make a yuan)",
                    )
            else:
                value_fen = amount
            b = change_balance(conn, mid, request.kind, -amount, now, floor=0)
            if b is None:
                # A retry of this very request, running at the same time on another
                # connection, may have taken the value: then this is that hold.
                again = repeat(conn)
                if again is not None:
                    return again
                current = _member_by(conn, m.members.c.id == mid)
                assert current is not None
                have = current.points if request.kind == "points" else current.balance_fen
                if request.kind == "points":
                    raise ApiError(
                        409,
                        "insufficient_points",
                        f"not enough points: {have} available, {amount} asked",
                    )
                raise ApiError(
                    409,
                    "insufficient_balance",
                    f"not enough stored value: {have / 100:.2f} yuan available, "
                    f"{amount / 100:.2f} asked",
                )
            after = b
            kind = "redeem" if request.kind == "points" else "pay"
            ledger.append(
                ledger_row(b, request.kind, -amount, kind, str(request.hold_id), now, device.store)
            )
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(m.member_holds).values(
                        id=request.hold_id,
                        member_id=mid,
                        kind=request.kind,
                        amount=amount,
                        value_fen=value_fen,
                        coupon_id=request.coupon_id,
                        store_code=device.store,
                        device_id=device.device_id,
                        request_hash=req_hash,
                        status="held",
                        created_at=now,
                        expires_at=now + timedelta(seconds=ttl),
                        settled_at=None,
                        sale_id=None,
                    )
                )
        except IntegrityError:
            # The same hold id committed by a concurrent request: undo this one's debit
            # (the whole transaction) and answer with that one.
            raise RetryableWrite("hold created concurrently") from None
        write_ledger(conn, ledger)
        detail = {"hold_id": str(request.hold_id), "kind": request.kind, "amount": amount}
        if request.coupon_id is not None:
            detail["coupon_id"] = str(request.coupon_id)
        write_audit(conn, [audit_row(actor, "member.hold", member.number, detail, now)])
        touched[mid] = after
        feed.append(
            tx, [member_change(t.number, t.version, t.active) for t in touched.values()], now
        )
        row = _hold_row(conn, request.hold_id)
        return True, _hold_data(row, after)

    return db.run_write(run)


def _own_hold(conn: Connection, device: DeviceIdentity, hold_id: uuid.UUID) -> Any:
    row = _hold_row(conn, hold_id)
    if row is None:
        raise ApiError(404, "unknown_hold", f"no hold {hold_id}")
    if row.store_code != device.store:
        raise ApiError(
            403, "wrong_store", f"device {device.device_id} acts only for store {device.store}"
        )
    return row


def get_hold(db: Database, device: DeviceIdentity, hold_id: uuid.UUID) -> p.HoldData:
    """A hold of the device's store, as it is now."""
    with db.read() as conn:
        row = _own_hold(conn, device, hold_id)
        member = _member_by(conn, m.members.c.id == row.member_id)
        return _hold_data(row, member)


def release_hold(
    db: Database, device: DeviceIdentity, hold_id: uuid.UUID, now: datetime | None = None
) -> p.HoldData:
    """Gives a hold's value back (the sale was abandoned or paid otherwise). Releasing a
    hold that is already released or expired answers it unchanged.

    Raises:
        ApiError: 404 ``unknown_hold``, 403 ``wrong_store``, 409 ``hold_captured``.
    """
    now = now or _now()
    actor = Actor.of_device(device)

    def run(tx: WriteTx) -> p.HoldData:
        conn = tx.conn
        row = _own_hold(conn, device, hold_id)
        if row.status in ("captured", "refunded"):
            raise ApiError(
                409,
                "hold_captured",
                f"hold {hold_id} was spent by sale {row.sale_id}; void that sale to give it back",
            )
        if row.status == "held":
            released, touched = release_holds(conn, [row], "released", now)
            if not released:
                raise RetryableWrite(f"hold {hold_id} settled concurrently")
            detail = {"hold_id": str(hold_id)}
            number = next(iter(touched.values())).number
            write_audit(conn, [audit_row(actor, "member.release", number, detail, now)])
            feed.append(
                tx, [member_change(b.number, b.version, b.active) for b in touched.values()], now
            )
            row = _hold_row(conn, hold_id)
        member = _member_by(conn, m.members.c.id == row.member_id)
        return _hold_data(row, member)

    return db.run_write(run)


# -- admin --------------------------------------------------------------------------------


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


def audit_entries(
    db: Database, *, member: str | None = None, action: str | None = None, limit: int = 100
) -> list[AuditEntry]:
    """The newest audit entries, optionally of one member or one action."""
    a = m.audit_log
    conds = []
    if member is not None:
        conds.append(a.c.member_no == member)
    if action is not None:
        conds.append(a.c.action == action)
    with db.read() as conn:
        rows = conn.execute(
            select(a).where(and_(True, *conds)).order_by(a.c.id.desc()).limit(limit)
        ).all()
    return [
        AuditEntry(
            at=r.at,
            actor=r.actor,
            action=r.action,
            member=r.member_no,
            store=r.store_code,
            detail=json.loads(r.detail),
        )
        for r in rows
    ]


def ledger_mismatches(conn: Connection) -> list[tuple[str, str, int, int]]:
    """Members whose balances differ from their ledger's sums: ``(number, account,
    balance, ledger sum)``. Empty when the books are right (a test and an ops check)."""
    out: list[tuple[str, str, int, int]] = []
    lg = m.member_ledger
    for account, col in ACCOUNTS.items():
        sums = (
            select(lg.c.member_id, func.sum(lg.c.delta).label("total"))
            .where(lg.c.account == account)
            .group_by(lg.c.member_id)
            .subquery()
        )
        rows = conn.execute(
            select(m.members.c.number, col, func.coalesce(sums.c.total, 0))
            .select_from(m.members.outerjoin(sums, sums.c.member_id == m.members.c.id))
            .where(col != func.coalesce(sums.c.total, 0))
        ).all()
        out.extend((r[0], account, int(r[1]), int(r[2])) for r in rows)
    return out
