"""Members in the domain: what the till may do for a member, depending on where its
picture of them comes from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pos_app.domain.member import Member, MemberSource


def test_spending_needs_a_fresh_identification_by_code_from_hq() -> None:
    now = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
    member = Member(
        number="812345678903",
        name="王芳",
        phone_masked="138****1234",
        tier="gold",
        points=1280,
        balance_fen=5000,
        coupons=(),
        version=1,
        source=MemberSource.HQ,
        identified_by="code",
        seen_at=now,
        spend_until=now + timedelta(minutes=15),
    )
    assert member.can_spend(now) and member.spend_refusal(now) is None
    later = now + timedelta(minutes=15)
    assert not member.can_spend(later) and member.spend_refusal(later) == "code_stale"
    by_phone = Member(**{**_fields(member), "spend_until": None})
    assert by_phone.spend_refusal(now) == "needs_code"
    offline = Member(**{**_fields(member), "source": MemberSource.CACHE})
    assert not offline.can_spend(now) and offline.spend_refusal(now) == "offline"


def _fields(member: Member) -> dict[str, object]:
    return {f: getattr(member, f) for f in Member.__slots__}
