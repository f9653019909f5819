"""Member routes for HQ staff (admin token): add, search, show, adjust, codes, coupons,
the hold sweep and the audit log. The admin CLI calls the same functions of
:mod:`server_stub.members`; every action is audited as ``admin:<token name>``."""

# No ``from __future__ import annotations``: FastAPI must resolve the route annotations,
# some of which are module aliases.
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from server_stub import members
from server_stub.auth import AdminIdentity
from server_stub.deps import HQ, Admin, error_responses, require_admin
from server_stub.schemas import (
    AuditEntry,
    CouponIn,
    MemberAddIn,
    MemberAdjustIn,
    MemberCodeIn,
    MemberCodeOut,
    MemberDetail,
    MemberSearchIn,
    MemberSummary,
    SweepOut,
)
from sync_client.contract import protocol as p

MemberPath = Annotated[str, Path(min_length=6, max_length=20, pattern=r"^[0-9]+$")]

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


def actor(who: AdminIdentity) -> members.Actor:
    return members.Actor.of_admin(who)


@router.post(
    "/members", status_code=201, response_model=MemberDetail, responses=error_responses(409)
)
def add_member(body: MemberAddIn, who: Admin, ctx: HQ) -> MemberDetail:
    return members.add_member(
        ctx.db,
        ctx.keys,
        actor(who),
        name=body.name,
        phone=body.phone,
        tier=body.tier,
        consent_version=body.consent_version,
    )


@router.post("/members/search", response_model=list[MemberSummary], responses=error_responses())
def search_members(body: MemberSearchIn, who: Admin, ctx: HQ) -> list[MemberSummary]:
    return members.search_members(
        ctx.db,
        ctx.keys,
        actor(who),
        phone=body.phone,
        name=body.name,
        number=body.number,
        limit=body.limit,
    )


@router.get("/members/{number}", response_model=MemberDetail, responses=error_responses(404))
def show_member(number: MemberPath, who: Admin, ctx: HQ, reveal: bool = False) -> MemberDetail:
    """A member; ``reveal=true`` shows the full phone number (audited)."""
    return members.show_member(ctx.db, ctx.keys, actor(who), number, reveal=reveal)


@router.post(
    "/members/{number}/adjust", response_model=MemberDetail, responses=error_responses(404, 409)
)
def adjust_member(number: MemberPath, body: MemberAdjustIn, who: Admin, ctx: HQ) -> MemberDetail:
    return members.adjust_member(
        ctx.db,
        ctx.keys,
        actor(who),
        number,
        reason=body.reason,
        points=body.points,
        balance_fen=body.balance_fen,
        tier=body.tier,
        active=body.active,
        name=body.name,
    )


@router.post("/members/{number}/code", response_model=MemberCodeOut, responses=error_responses(404))
def member_code(number: MemberPath, body: MemberCodeIn, who: Admin, ctx: HQ) -> MemberCodeOut:
    return members.member_code(
        ctx.db,
        ctx.keys,
        actor(who),
        number,
        ttl_s=body.ttl_s,
        card=body.card,
        new_card=body.new_card,
    )


@router.post(
    "/members/{number}/coupons",
    status_code=201,
    response_model=p.CouponData,
    responses=error_responses(404),
)
def issue_coupon(number: MemberPath, body: CouponIn, who: Admin, ctx: HQ) -> p.CouponData:
    return members.issue_coupon(
        ctx.db,
        actor(who),
        number,
        name=body.name,
        value_fen=body.value_fen,
        min_spend_fen=body.min_spend_fen,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
    )


@router.post("/holds/sweep", response_model=SweepOut, responses=error_responses())
def sweep(_who: Admin, ctx: HQ) -> SweepOut:
    """Gives back every expired hold now (HQ also does it every ``hold_sweep_s``)."""
    n = members.sweep_expired(ctx.db)
    ctx.metrics.swept(n)
    return SweepOut(released=n)


@router.get("/audit", response_model=list[AuditEntry], responses=error_responses())
def audit(
    ctx: HQ,
    member: Annotated[str | None, Query(min_length=6, max_length=20, pattern=r"^[0-9]+$")] = None,
    action: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntry]:
    """The newest audit log entries (sensitive member actions)."""
    return members.audit_entries(ctx.db, member=member, action=action, limit=limit)
