"""Holds: points, stored value or a coupon reserved at HQ for a sale being rung up.

No double spend: a hold takes value with one conditional UPDATE on the member's (or the
coupon's) row — ``points = points - n WHERE points >= n`` — so concurrent requests from
any number of terminals and HQ processes can never overdraw. Every later change of a hold
(capture by its sale, release, expiry, refund by a void) is a conditional UPDATE of the
hold's ``status`` from the state it must be in, so each happens at most once.

Expiry is lazy (a member's expired holds are given back when the member is next
identified or holds again) and swept (:func:`sweep_expired`, which HQ runs every
``hold_sweep_s``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from server_stub import feed, loyalty
from server_stub import models as m
from server_stub.audit import Actor, audit_now, audit_row, write_audit
from server_stub.auth import DeviceIdentity
from server_stub.db import Database, RetryableWrite, WriteTx
from server_stub.errors import ApiError
from server_stub.member_keys import MemberKeys
from server_stub.members._common import (
    SPEND_GRACE_S,
    _code_refusal,
    _member_by,
    _now,
    _verify,
)
from server_stub.members.ledger import (
    Balance,
    bump_version,
    change_balance,
    ledger_row,
    member_change,
    write_ledger,
)
from sync_client.contract import protocol as p
from sync_client.contract.membercode import (
    MemberCode,
    MemberCodeError,
)

log = logging.getLogger("chainpos.hq.members")


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
                    # Points other sales hold right now (at this or another store) are
                    # not spendable until they are captured or given back: say how many.
                    held = conn.execute(
                        select(func.coalesce(func.sum(m.member_holds.c.amount), 0)).where(
                            m.member_holds.c.member_id == mid,
                            m.member_holds.c.kind == "points",
                            m.member_holds.c.status == "held",
                        )
                    ).scalar_one()
                    raise ApiError(
                        409,
                        "insufficient_points",
                        f"not enough points: {have} available, {amount} asked "
                        f"({held} held by sales in progress)",
                        available=int(have),
                        held=int(held),
                        asked=amount,
                    )
                raise ApiError(
                    409,
                    "insufficient_balance",
                    f"not enough stored value: {have / 100:.2f} yuan available, "
                    f"{amount / 100:.2f} asked",
                    available_fen=int(have),
                    asked_fen=amount,
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
