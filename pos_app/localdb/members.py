"""Member rows of the terminal database: holds, the member of a sale, the cache, sign-ups.

Callers own the transaction, as in :mod:`pos_app.localdb.sales`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from pos_app.domain.member import Coupon, Member, MemberSource
from pos_app.localdb.models import (
    MemberCache,
    MemberHold,
    MemberSignup,
    MemberTopup,
    OutboxEvent,
)
from pos_app.localdb.sales import OutboxRecord
from pos_app.localdb.types import from_utc_text, to_utc_text

OPEN_HOLD_STATES = ("requesting", "held")
"""Holds that may still be spent by the sale being rung up (or given back)."""


def capture_holds(db: sqlite3.Connection, hold_ids: Sequence[str], sale_id: str) -> int:
    """Marks the holds a committing sale spends as captured by it; returns how many were
    still held. Runs in the sale's own transaction, so a hold is captured exactly when
    the sale (and its event listing the hold) is durable."""
    if not hold_ids:
        return 0
    n = 0
    for hold_id in hold_ids:
        cur = db.execute(
            "UPDATE member_hold SET state = 'captured', sale_id = ? "
            "WHERE hold_id = ? AND state = 'held'",
            (sale_id, hold_id),
        )
        n += cur.rowcount
    return n


# -- cache ------------------------------------------------------------------------------


def _coupons_json(coupons: Sequence[Coupon]) -> str:
    return json.dumps(
        [
            {
                "coupon_id": c.coupon_id,
                "name": c.name,
                "value_fen": c.value_fen,
                "min_spend_fen": c.min_spend_fen,
                "valid_from": to_utc_text(c.valid_from),
                "valid_until": to_utc_text(c.valid_until),
            }
            for c in coupons
        ],
        ensure_ascii=False,
    )


def _coupons(raw: str) -> tuple[Coupon, ...]:
    try:
        data = json.loads(raw)
        return tuple(
            Coupon(
                str(c["coupon_id"]),
                str(c["name"]),
                int(c["value_fen"]),
                int(c["min_spend_fen"]),
                from_utc_text(c["valid_from"]),
                from_utc_text(c["valid_until"]),
            )
            for c in data
        )
    except (ValueError, KeyError, TypeError):
        return ()


def _cached(row: MemberCache) -> Member:
    return Member(
        number=row.number,
        name=row.name,
        phone_masked=row.phone_masked,
        tier=row.tier,
        points=row.points,
        balance_fen=row.balance_fen,
        coupons=_coupons(row.coupons),
        version=row.version,
        source=MemberSource.CACHE,
        identified_by="cache",
        seen_at=row.seen_at,
    )


def cache_member(session: Session, member: Member, phone_key: str | None = None) -> None:
    """Remembers a member HQ just answered for (``member.number`` set). ``phone_key``:
    the keyed hash of the phone number they were identified by, if any; a row keeps the
    one it had when none is given. A phone key names one member only."""
    assert member.number is not None, "only members HQ answered for are cached"
    if phone_key is not None:
        session.execute(
            update(MemberCache)
            .where(MemberCache.phone_key == phone_key, MemberCache.number != member.number)
            .values(phone_key=None)
        )
    session.execute(
        text(
            "INSERT INTO member_cache (number, name, phone_masked, tier, points, balance_fen, "
            "coupons, version, seen_at, phone_key) VALUES (:number, :name, :phone_masked, "
            ":tier, :points, :balance_fen, :coupons, :version, :seen_at, :phone_key) "
            "ON CONFLICT(number) DO UPDATE SET name = excluded.name, "
            "phone_masked = excluded.phone_masked, tier = excluded.tier, "
            "points = excluded.points, balance_fen = excluded.balance_fen, "
            "coupons = excluded.coupons, version = excluded.version, "
            "seen_at = excluded.seen_at, "
            "phone_key = COALESCE(excluded.phone_key, member_cache.phone_key)"
        ),
        {
            "number": member.number,
            "name": member.name,
            "phone_masked": member.phone_masked,
            "tier": member.tier,
            "points": member.points,
            "balance_fen": member.balance_fen,
            "coupons": _coupons_json(member.coupons),
            "version": member.version,
            "seen_at": to_utc_text(member.seen_at),
            "phone_key": phone_key,
        },
    )


def cached_member(session: Session, number: str) -> Member | None:
    """The member as last seen here (source ``cache``), or None."""
    row = session.get(MemberCache, number)
    return None if row is None else _cached(row)


def cached_by_phone_key(session: Session, phone_key: str) -> Member | None:
    row = session.scalars(
        select(MemberCache).where(MemberCache.phone_key == phone_key).limit(1)
    ).first()
    return None if row is None else _cached(row)


def prune_cache(session: Session, seen_before: datetime, keep: int) -> int:
    """Forgets members not seen since ``seen_before``, then all but the ``keep`` most
    recently seen; returns how many rows went."""
    gone = session.execute(
        text("DELETE FROM member_cache WHERE seen_at < :t"), {"t": to_utc_text(seen_before)}
    ).rowcount  # type: ignore[attr-defined]
    gone += session.execute(
        text(
            "DELETE FROM member_cache WHERE number IN (SELECT number FROM member_cache "
            "ORDER BY seen_at DESC LIMIT -1 OFFSET :keep)"
        ),
        {"keep": keep},
    ).rowcount  # type: ignore[attr-defined]
    return int(gone)


# -- sign-ups ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingSignup:
    """A sign-up still to send; ``phone_enc`` as stored (the service decrypts it)."""

    signup_id: str
    phone_enc: str
    phone_masked: str
    name: str
    consent_version: str
    signed_up_at: datetime
    staff: str
    attempts: int


def add_signup(session: Session, signup: PendingSignup) -> None:
    session.add(
        MemberSignup(
            signup_id=signup.signup_id,
            phone_enc=signup.phone_enc,
            phone_masked=signup.phone_masked,
            name=signup.name,
            consent_version=signup.consent_version,
            signed_up_at=signup.signed_up_at,
            staff=signup.staff,
            state="pending",
            attempts=0,
        )
    )


def pending_signups(session: Session, limit: int = 50) -> list[PendingSignup]:
    """Sign-ups waiting for HQ, oldest first."""
    rows = session.scalars(
        select(MemberSignup)
        .where(MemberSignup.state == "pending")
        .order_by(MemberSignup.signed_up_at)
        .limit(limit)
    ).all()
    return [
        PendingSignup(
            r.signup_id,
            r.phone_enc or "",
            r.phone_masked,
            r.name,
            r.consent_version,
            r.signed_up_at,
            r.staff,
            r.attempts,
        )
        for r in rows
        if r.phone_enc
    ]


def signup_sent(session: Session, signup_id: str, number: str) -> None:
    """HQ has the sign-up: remember the member it resolved to and erase the phone."""
    session.execute(
        update(MemberSignup)
        .where(MemberSignup.signup_id == signup_id)
        .values(
            state="sent",
            member_number=number,
            phone_enc=None,
            attempts=MemberSignup.attempts + 1,
            last_error=None,
        )
    )


def signup_attempt_failed(session: Session, signup_id: str, error: str, *, refused: bool) -> None:
    """A try that did not reach HQ (stays ``pending``), or HQ's refusal (``refused``,
    the phone erased: it will never be sent)."""
    values: dict[str, object] = {"attempts": MemberSignup.attempts + 1, "last_error": error}
    if refused:
        values.update(state="refused", phone_enc=None)
    session.execute(
        update(MemberSignup)
        .where(MemberSignup.signup_id == signup_id, MemberSignup.state == "pending")
        .values(**values)
    )


# -- holds ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HoldRow:
    hold_id: str
    draft_id: str
    member_number: str
    kind: str
    amount: int | None
    coupon_id: str | None
    value_fen: int | None
    state: str
    sale_id: str | None
    created_at: datetime
    expires_at: datetime | None
    attempts: int
    last_error: str | None


def _hold(row: MemberHold) -> HoldRow:
    return HoldRow(
        row.hold_id,
        row.draft_id,
        row.member_number,
        row.kind,
        row.amount,
        row.coupon_id,
        row.value_fen,
        row.state,
        row.sale_id,
        row.created_at,
        row.expires_at,
        row.attempts,
        row.last_error,
    )


def add_hold(
    session: Session,
    *,
    hold_id: str,
    draft_id: str,
    member_number: str,
    kind: str,
    amount: int | None,
    coupon_id: str | None,
    created_at: datetime,
) -> None:
    """Records a hold about to be asked for (``requesting``), before HQ is asked."""
    session.add(
        MemberHold(
            hold_id=hold_id,
            draft_id=draft_id,
            member_number=member_number,
            kind=kind,
            amount=amount,
            coupon_id=coupon_id,
            state="requesting",
            created_at=created_at,
            attempts=0,
        )
    )


def get_hold(session: Session, hold_id: str) -> HoldRow | None:
    row = session.get(MemberHold, hold_id)
    return None if row is None else _hold(row)


def hold_made(
    session: Session, hold_id: str, amount: int, value_fen: int, expires_at: datetime
) -> bool:
    """HQ made the hold: ``requesting`` -> ``held``. False when it is no longer
    requesting (given back meanwhile)."""
    result = session.execute(
        update(MemberHold)
        .where(MemberHold.hold_id == hold_id, MemberHold.state == "requesting")
        .values(
            state="held",
            amount=amount,
            value_fen=value_fen,
            expires_at=expires_at,
            attempts=MemberHold.attempts + 1,
            last_error=None,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def set_hold_state(
    session: Session,
    hold_id: str,
    state: str,
    *,
    error: str | None = None,
    only_from: Sequence[str] | None = None,
) -> bool:
    """Moves a hold to ``state`` (from any state, or only from ``only_from``), counting an
    attempt and recording ``error``; False when it was not in such a state."""
    stmt = update(MemberHold).where(MemberHold.hold_id == hold_id)
    if only_from is not None:
        stmt = stmt.where(MemberHold.state.in_(only_from))
    result = session.execute(
        stmt.values(state=state, attempts=MemberHold.attempts + 1, last_error=error)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def start_releasing(session: Session, hold_ids: Sequence[str]) -> list[str]:
    """Marks open holds (requesting or held) ``releasing``; returns those that were open
    or already releasing (the ones to tell HQ about)."""
    if not hold_ids:
        return []
    session.execute(
        update(MemberHold)
        .where(MemberHold.hold_id.in_(hold_ids), MemberHold.state.in_(OPEN_HOLD_STATES))
        .values(state="releasing")
    )
    return list(
        session.scalars(
            select(MemberHold.hold_id).where(
                MemberHold.hold_id.in_(hold_ids), MemberHold.state == "releasing"
            )
        )
    )


def open_holds_of_draft(session: Session, draft_id: str) -> list[str]:
    return list(
        session.scalars(
            select(MemberHold.hold_id).where(
                MemberHold.draft_id == draft_id, MemberHold.state.in_(OPEN_HOLD_STATES)
            )
        )
    )


def uncommitted_holds(session: Session) -> list[str]:
    """Open holds no committed sale captured (at start-up: left by an abandoned sale)."""
    return list(
        session.scalars(
            select(MemberHold.hold_id).where(
                MemberHold.state.in_(OPEN_HOLD_STATES), MemberHold.sale_id.is_(None)
            )
        )
    )


def releasing_holds(session: Session, limit: int = 100) -> list[str]:
    """Holds still to give back at HQ, oldest first."""
    return list(
        session.scalars(
            select(MemberHold.hold_id)
            .where(MemberHold.state == "releasing")
            .order_by(MemberHold.created_at)
            .limit(limit)
        )
    )


# -- top-ups ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopupRow:
    topup_id: str
    receipt_no: str
    number: str | None
    signup_id: str | None
    member_name: str
    phone_masked: str
    amount_fen: int
    tenders: str
    """JSON list of ``{kind, amount_fen, tendered_fen, reference}``."""
    cashier: str
    completed_at: datetime


def record_topup(session: Session, topup: TopupRow, event: OutboxRecord) -> None:
    """Writes the top-up and its outbox event; the caller commits both at once."""
    session.add(MemberTopup(**{f: getattr(topup, f) for f in TopupRow.__slots__}))
    session.add(
        OutboxEvent(
            event_id=event.event_id,
            type=event.type,
            occurred_at=event.occurred_at,
            payload=event.payload,
            state="pending",
            attempts=0,
        )
    )
