"""What the member modules share: the spend grace, the default tier, reading a member
row, the member panel a till shows, and checking a scanned member code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, Row, select

from server_stub import models as m
from server_stub.errors import ApiError
from server_stub.member_keys import MemberKeys
from sync_client.contract import protocol as p
from sync_client.contract.membercode import (
    MemberCode,
    MemberCodeError,
    mask_phone,
    verify_member_code,
)
from sync_client.contract.phonecrypt import PhoneCipher

SPEND_GRACE_S = 900
"""A scanned code lets the till spend for this long after its expiry (ringing up a cart)."""
DEFAULT_TIER = "standard"


def _now() -> datetime:
    return datetime.now(UTC)


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


def _code_refusal(exc: MemberCodeError) -> ApiError:
    if exc.reason == "expired":
        return ApiError(422, "member_code_expired", str(exc))
    return ApiError(422, "member_code_invalid", str(exc))


def _verify(keys: MemberKeys, text: str, now: datetime, grace_s: int) -> MemberCode:
    return verify_member_code(text, keys.member_code, int(now.timestamp()), grace_s=grace_s)
