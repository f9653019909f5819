"""The member side of applying pushed events (used by :mod:`server_stub.ingest`).

* ``sale.completed`` with ``member``: credits the points the sale earns (once: the earning
  row's primary key is the sale id) and captures the holds it lists. A hold that expired
  or was released before the sale arrived is taken again if the balance still covers it
  ("late capture"), so the sale is paid exactly once; otherwise, and for holds that cannot
  belong to this sale, HQ records a member alert. The sale itself is always recorded: it
  happened at the till.
* ``sale.voided``: takes back the points the sale earned and refunds its captured holds.
* ``member.topped_up``: adds stored value, once per ``topup_id``, within the caps HQ
  configures: ``member.topup_max_fen`` per top-up and ``member.topup_daily_max_fen`` per
  member, store and business day (HQ's local date of ``completed_at``).

Like the rest of ingest, events are planned in memory against prefetched state (so later
events of a batch see earlier ones), then written. Every write is conditional on the state
it was planned against; if another transaction moved it meanwhile, :class:`RetryableWrite`
makes the whole batch plan again with fresh lookups. Writes follow the lock order of
:mod:`server_stub.members` (holds, coupons, earnings, members by id).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, func, select, update

from server_stub import bulk, feed, loyalty
from server_stub import models as m
from server_stub.approvals import int_setting
from server_stub.db import RetryableWrite
from server_stub.members import DEFAULT_TIER
from server_stub.members.ledger import (
    Balance,
    bump_version,
    change_balance,
    ledger_row,
    member_change,
    write_ledger,
)
from server_stub.members.signup import lock_signups
from sync_client.contract import protocol as p
from sync_client.contract.loyalty import LoyaltyRules

TOPUP_MAX_SETTING = "member.topup_max_fen"
TOPUP_DAILY_MAX_SETTING = "member.topup_daily_max_fen"


def business_day(at: datetime) -> date:
    """The business day of ``at``: HQ's local date."""
    return at.astimezone().date()


class MemberReject(Exception):
    """An event HQ refuses for a member reason (becomes a rejected EventResult)."""

    def __init__(self, reason: p.RejectReason, detail: str, retryable: bool = False) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.retryable = retryable


@dataclass(slots=True)
class _Member:
    id: int
    number: str
    tier: str
    active: bool
    points: int
    balance_fen: int


@dataclass(slots=True)
class _Hold:
    id: UUID
    member_id: int
    kind: str
    amount: int
    status: str
    store: str
    coupon_id: UUID | None
    sale_id: UUID | None


@dataclass(slots=True)
class SaleMemberInfo:
    """What a recorded sale did to a member, for its void."""

    member_id: int | None
    earning: tuple[str, int] | None  # (status, points)
    holds: list[UUID] = field(default_factory=list)  # captured by this sale


@dataclass(frozen=True, slots=True)
class _BalanceOp:
    member_id: int
    account: str
    delta: int
    kind: str
    ref: str
    conditional: bool


@dataclass(slots=True)
class MemberOps:
    """Everything one event does to members, planned before it is written."""

    holds: list[tuple[UUID, str, str, UUID | None]] = field(default_factory=list)
    coupons: list[tuple[UUID, str, str, UUID | None, UUID | None]] = field(default_factory=list)
    earnings: list[tuple[UUID, str, str]] = field(default_factory=list)
    balances: list[_BalanceOp] = field(default_factory=list)
    touch: set[int] = field(default_factory=set)
    topup: UUID | None = None
    topup_day: tuple[int, date, int] | None = None  # (member id, business day, amount_fen)

    def __bool__(self) -> bool:
        return bool(self.holds or self.coupons or self.earnings or self.balances or self.touch) or (
            self.topup is not None
        )


class MemberPlanner:
    """Prefetches, plans and writes the member effects of one push attempt."""

    def __init__(self, conn: Connection, store: str, now: datetime) -> None:
        self.conn = conn
        self.store = store
        self.now = now
        self.by_number: dict[str, _Member] = {}
        self.by_id: dict[int, _Member] = {}
        self.signups: dict[UUID, int] = {}
        self.holds: dict[UUID, _Hold] = {}
        self.coupons: dict[UUID, str] = {}
        self.topups: set[UUID] = set()
        # Per (member id, business day): the top-ups of this store so far (from HQ, then
        # with this batch's added as they are planned).
        self.topup_days: dict[tuple[int, date], int] = {}
        self.alerts = 0
        self._rules: LoyaltyRules | None = None
        self.ledger_written = 0

    @property
    def rules(self) -> LoyaltyRules:
        if self._rules is None:
            self._rules = loyalty.rules_for(self.conn, self.store)
        return self._rules

    # -- lookups ----------------------------------------------------------------------

    def prefetch(self, payloads: Sequence[Any], sales: dict[UUID, Any]) -> None:
        """Loads what the batch's member events refer to; fills ``sales[id].member`` for
        the recorded sales being voided."""
        numbers: set[str] = set()
        signup_ids: set[UUID] = set()
        hold_ids: set[UUID] = set()
        topup_ids: set[UUID] = set()
        void_ids: set[UUID] = set()
        for pl in payloads:
            if isinstance(pl, p.SaleCompleted) and pl.member is not None:
                if pl.member.number:
                    numbers.add(pl.member.number)
                if pl.member.signup_id:
                    signup_ids.add(pl.member.signup_id)
                hold_ids.update(pl.member.holds)
            elif isinstance(pl, p.MemberToppedUp):
                topup_ids.add(pl.topup_id)
                if pl.number:
                    numbers.add(pl.number)
                if pl.signup_id:
                    signup_ids.add(pl.signup_id)
            elif isinstance(pl, p.SaleVoided) and pl.sale_id in sales:
                void_ids.add(pl.sale_id)
        if not (numbers or signup_ids or hold_ids or topup_ids or void_ids):
            return
        conn = self.conn
        member_ids: set[int] = set()
        if signup_ids:
            lock_signups(conn, signup_ids)  # a sign-up committing now: wait, then see it
            for r in conn.execute(
                select(m.member_signups.c.signup_id, m.member_signups.c.member_id).where(
                    bulk.among(conn, m.member_signups.c.signup_id, signup_ids)
                )
            ):
                self.signups[r.signup_id] = int(r.member_id)
                member_ids.add(int(r.member_id))
        earnings: dict[UUID, Any] = {}
        if void_ids:
            for r in conn.execute(
                select(m.member_earnings).where(
                    bulk.among(conn, m.member_earnings.c.sale_id, void_ids)
                )
            ):
                earnings[r.sale_id] = r
                if r.member_id is not None:
                    member_ids.add(int(r.member_id))
        h = m.member_holds
        hold_rows: list[Any] = []
        if hold_ids:
            hold_rows += conn.execute(select(h).where(bulk.among(conn, h.c.id, hold_ids))).all()
        if void_ids:
            hold_rows += conn.execute(
                select(h).where(bulk.among(conn, h.c.sale_id, void_ids), h.c.status == "captured")
            ).all()
        captured: dict[UUID, list[UUID]] = {}
        for r in hold_rows:
            self.holds[r.id] = _Hold(
                r.id,
                int(r.member_id),
                r.kind,
                int(r.amount),
                r.status,
                r.store_code,
                r.coupon_id,
                r.sale_id,
            )
            member_ids.add(int(r.member_id))
            if r.status == "captured" and r.sale_id in void_ids:
                captured.setdefault(r.sale_id, [])
                if r.id not in captured[r.sale_id]:
                    captured[r.sale_id].append(r.id)
        coupon_ids = {x.coupon_id for x in self.holds.values() if x.coupon_id is not None}
        if coupon_ids:
            c = m.member_coupons
            for r in conn.execute(
                select(c.c.id, c.c.status).where(bulk.among(conn, c.c.id, coupon_ids))
            ):
                self.coupons[r.id] = r.status
        mb = m.members
        cols = (mb.c.id, mb.c.number, mb.c.tier, mb.c.active, mb.c.points, mb.c.balance_fen)
        rows: list[Any] = []
        if numbers:
            rows += conn.execute(select(*cols).where(bulk.among(conn, mb.c.number, numbers))).all()
        if member_ids:
            rows += conn.execute(select(*cols).where(bulk.among(conn, mb.c.id, member_ids))).all()
        for r in rows:
            member = _Member(
                int(r.id), r.number, r.tier, bool(r.active), int(r.points), int(r.balance_fen)
            )
            self.by_id[member.id] = member
            self.by_number[member.number] = member
        if topup_ids:
            self.topups = set(
                conn.execute(
                    select(m.member_topups.c.topup_id).where(
                        bulk.among(conn, m.member_topups.c.topup_id, topup_ids)
                    )
                ).scalars()
            )
        for sale_id in void_ids:
            e = earnings.get(sale_id)
            holds = captured.get(sale_id, [])
            if e is None and not holds:
                continue
            sales[sale_id].member = SaleMemberInfo(
                int(e.member_id) if e is not None and e.member_id is not None else None,
                (e.status, int(e.points)) if e is not None else None,
                holds,
            )

    # -- planning ---------------------------------------------------------------------

    def _alert(
        self,
        rows: list[tuple[Any, dict[str, Any]]],
        number: str | None,
        kind: str,
        ref: str,
        detail: str,
    ) -> None:
        rows.append(
            (
                m.member_alerts,
                {
                    "member_no": number,
                    "kind": kind,
                    "ref": ref,
                    "detail": detail[:300],
                    "created_at": self.now,
                    "resolved_at": None,
                },
            )
        )

    def plan_sale(
        self,
        pl: p.SaleCompleted,
        categories: dict[str, str],
        ops: MemberOps,
        rows: list[tuple[Any, dict[str, Any]]],
    ) -> tuple[SaleMemberInfo | None, str | None]:
        """Plans a sale's earning and captures; returns what the sale did (for a later
        void) and the member number to record on the sale."""
        sm = pl.member
        if sm is None:
            return None, None
        sale_ref = str(pl.sale_id)
        member: _Member | None = None
        pending = False
        if sm.number is not None:
            member = self.by_number.get(sm.number)
            if member is None:
                self._alert(
                    rows,
                    sm.number,
                    "unknown_member",
                    sale_ref,
                    f"sale {pl.sale_id} names member {sm.number}, whom HQ does not have",
                )
        else:
            mid = self.signups.get(sm.signup_id) if sm.signup_id else None
            member = self.by_id.get(mid) if mid is not None else None
            pending = member is None
        earning = self.rules.earning(
            member.tier if member else DEFAULT_TIER,
            [(line.sku, categories.get(line.sku, ""), line.amount_fen) for line in pl.lines],
            pl.total_fen,
            [(t.kind, t.amount_fen) for t in pl.tenders],
        )
        base, points = earning.base_fen, earning.points
        if member is not None and member.active and points > 0:
            status = "credited"
            ops.balances.append(_BalanceOp(member.id, "points", points, "earn", sale_ref, False))
        elif pending and points > 0:
            status = "pending"
        else:
            status, points = "none", 0
        rows.append(
            (
                m.member_earnings,
                {
                    "sale_id": pl.sale_id,
                    "member_id": member.id if member else None,
                    "signup_id": sm.signup_id,
                    "base_fen": base,
                    "points": points,
                    "status": status,
                    "created_at": self.now,
                    "settled_at": self.now if status == "credited" else None,
                },
            )
        )
        info = SaleMemberInfo(member.id if member else None, (status, points))
        number = member.number if member else sm.number
        for hold_id in sm.holds:
            if self._plan_capture(pl, hold_id, member, ops, rows):
                info.holds.append(hold_id)
        return info, number

    def _plan_capture(
        self,
        pl: p.SaleCompleted,
        hold_id: UUID,
        member: _Member | None,
        ops: MemberOps,
        rows: list[tuple[Any, dict[str, Any]]],
    ) -> bool:
        number = member.number if member else None
        ref = str(hold_id)
        hold = self.holds.get(hold_id)
        sale = pl.sale_id
        if hold is None:
            self._alert(
                rows,
                number,
                "hold_unknown",
                ref,
                f"sale {sale} names hold {hold_id}, unknown at HQ",
            )
            return False
        if member is None or hold.member_id != member.id:
            self._alert(
                rows,
                number,
                "hold_wrong_member",
                ref,
                f"sale {sale}: hold {hold_id} is another member's",
            )
            return False
        if hold.store != pl.store:
            self._alert(
                rows,
                number,
                "hold_wrong_store",
                ref,
                f"sale {sale}: hold {hold_id} was made by store {hold.store}",
            )
            return False
        if hold.status == "held":
            ops.holds.append((hold_id, "held", "captured", sale))
            if hold.coupon_id is not None:
                ops.coupons.append((hold.coupon_id, "held", "used", sale, hold_id))
            return True
        if hold.status in ("captured", "refunded"):
            self._alert(
                rows,
                number,
                "hold_already_captured",
                ref,
                f"sale {sale}: hold {hold_id} was already spent by sale {hold.sale_id}",
            )
            return False
        # Released or expired before its sale arrived: take the value again if it is there.
        if hold.kind == "coupon":
            assert hold.coupon_id is not None
            if self.coupons.get(hold.coupon_id) == "available":
                ops.holds.append((hold_id, hold.status, "captured", sale))
                ops.coupons.append((hold.coupon_id, "available", "used", sale, hold_id))
                ops.touch.add(member.id)
                return True
        else:
            have = member.points if hold.kind == "points" else member.balance_fen
            if have >= hold.amount:
                ops.holds.append((hold_id, hold.status, "captured", sale))
                ops.balances.append(
                    _BalanceOp(member.id, hold.kind, -hold.amount, "late_capture", ref, True)
                )
                return True
        self._alert(
            rows,
            number,
            "hold_lost",
            ref,
            f"sale {sale}: hold {hold_id} ({hold.kind} {hold.amount}) was {hold.status} before "
            "the sale arrived and the member's account no longer covers it",
        )
        return False

    def plan_void(self, sale_id: UUID, info: SaleMemberInfo | None, ops: MemberOps) -> None:
        """Takes back a voided sale's earned points and refunds its captured holds."""
        if info is None:
            return
        ref = str(sale_id)
        if info.earning is not None:
            status, points = info.earning
            if status == "credited" and info.member_id is not None:
                ops.earnings.append((sale_id, "credited", "reversed"))
                ops.balances.append(
                    _BalanceOp(info.member_id, "points", -points, "earn_reversal", ref, False)
                )
            elif status == "pending":
                ops.earnings.append((sale_id, "pending", "reversed"))
        for hold_id in info.holds:
            hold = self.holds[hold_id]
            ops.holds.append((hold_id, "captured", "refunded", None))
            if hold.coupon_id is not None:
                ops.coupons.append((hold.coupon_id, "used", "available", None, None))
                ops.touch.add(hold.member_id)
            else:
                ops.balances.append(
                    _BalanceOp(
                        hold.member_id, hold.kind, hold.amount, "refund", str(hold_id), False
                    )
                )

    def plan_topup(
        self,
        ev: p.Event,
        pl: p.MemberToppedUp,
        ops: MemberOps,
        rows: list[tuple[Any, dict[str, Any]]],
    ) -> None:
        if pl.topup_id in self.topups:
            raise MemberReject("topup_exists", f"top-up {pl.topup_id} is already recorded")
        if pl.number is not None:
            member = self.by_number.get(pl.number)
            if member is None:
                raise MemberReject("unknown_member", f"no member {pl.number}")
        else:
            mid = self.signups.get(pl.signup_id) if pl.signup_id else None
            member = self.by_id.get(mid) if mid is not None else None
            if member is None:
                raise MemberReject(
                    "unknown_member",
                    f"sign-up {pl.signup_id} has not reached HQ yet; push the top-up again later",
                    retryable=True,
                )
        cap = int_setting(self.conn, self.store, TOPUP_MAX_SETTING)
        if pl.amount_fen > cap:
            raise MemberReject(
                "not_authorised",
                f"a top-up adds at most {cap} fen at store {self.store}, not {pl.amount_fen}",
            )
        day = business_day(pl.completed_at)
        daily_cap = int_setting(self.conn, self.store, TOPUP_DAILY_MAX_SETTING)
        so_far = self._topped_up(member.id, day)
        if so_far + pl.amount_fen > daily_cap:
            raise MemberReject(
                "not_authorised",
                f"member {member.number} was topped up {so_far} fen at store {self.store} on "
                f"{day.isoformat()}; {pl.amount_fen} more passes the day's cap of {daily_cap}",
            )
        rows.append(
            (
                m.member_topups,
                {
                    "topup_id": pl.topup_id,
                    "event_id": ev.id,
                    "member_id": member.id,
                    "store_code": pl.store,
                    "terminal": pl.terminal,
                    "cashier": pl.cashier,
                    "receipt_no": pl.receipt_no,
                    "amount_fen": pl.amount_fen,
                    "tenders_json": json.dumps([t.model_dump(mode="json") for t in pl.tenders]),
                    "completed_at": pl.completed_at,
                    "received_at": self.now,
                },
            )
        )
        ops.balances.append(
            _BalanceOp(member.id, "stored_value", pl.amount_fen, "topup", str(pl.topup_id), False)
        )
        ops.topup = pl.topup_id
        ops.topup_day = (member.id, day, pl.amount_fen)

    def _topped_up(self, member_id: int, day: date) -> int:
        """Stored value added to ``member_id`` at this store on business day ``day``."""
        key = (member_id, day)
        found = self.topup_days.get(key)
        if found is None:
            start = datetime.combine(day, time.min).astimezone()
            end = datetime.combine(day + timedelta(days=1), time.min).astimezone()
            t = m.member_topups
            found = int(
                self.conn.execute(
                    select(func.coalesce(func.sum(t.c.amount_fen), 0)).where(
                        t.c.member_id == member_id,
                        t.c.store_code == self.store,
                        t.c.completed_at >= start,
                        t.c.completed_at < end,
                    )
                ).scalar_one()
            )
            self.topup_days[key] = found
        return found

    def remember(self, ops: MemberOps, alerts: int) -> None:
        """Applies a planned event to the in-memory state later events are planned on."""
        self.alerts += alerts
        for hold_id, _old, new, sale in ops.holds:
            hold = self.holds[hold_id]
            hold.status = new
            if sale is not None:
                hold.sale_id = sale
        for coupon_id, _old, new, _sale, _hold in ops.coupons:
            self.coupons[coupon_id] = new
        for op in ops.balances:
            member = self.by_id[op.member_id]
            if op.account == "points":
                member.points += op.delta
            else:
                member.balance_fen += op.delta
        if ops.topup is not None:
            self.topups.add(ops.topup)
        if ops.topup_day is not None:
            member_id, day, amount = ops.topup_day
            key = (member_id, day)
            self.topup_days[key] = self._topped_up(member_id, day) + amount

    # -- writing ----------------------------------------------------------------------

    def write(self, planned: Iterable[MemberOps]) -> dict[int, Balance]:
        """Writes the planned effects in lock order; returns each touched member's row.

        Raises:
            RetryableWrite: a row was not in the state it was planned against.
        """
        planned = list(planned)
        conn, now = self.conn, self.now
        hold_moves = sorted((x for ops in planned for x in ops.holds), key=lambda x: x[0])
        for hold_id, old, new, sale in hold_moves:
            values: dict[str, Any] = {"status": new, "settled_at": now}
            if sale is not None:
                values["sale_id"] = sale
            done = conn.execute(
                update(m.member_holds)
                .where(m.member_holds.c.id == hold_id, m.member_holds.c.status == old)
                .values(values)
            ).rowcount
            if done != 1:
                raise RetryableWrite(f"hold {hold_id} changed while applying a sale")
        coupon_moves = sorted((x for ops in planned for x in ops.coupons), key=lambda x: x[0])
        for coupon_id, old, new, sale, hold in coupon_moves:
            done = conn.execute(
                update(m.member_coupons)
                .where(m.member_coupons.c.id == coupon_id, m.member_coupons.c.status == old)
                .values(status=new, sale_id=sale, hold_id=hold, updated_at=now)
            ).rowcount
            if done != 1:
                raise RetryableWrite(f"coupon {coupon_id} changed while applying a sale")
        earning_moves = sorted((x for ops in planned for x in ops.earnings), key=lambda x: x[0])
        for sale_id, old, new in earning_moves:
            done = conn.execute(
                update(m.member_earnings)
                .where(m.member_earnings.c.sale_id == sale_id, m.member_earnings.c.status == old)
                .values(status=new, settled_at=now)
            ).rowcount
            if done != 1:
                raise RetryableWrite(f"earning of sale {sale_id} changed while voiding")
        touched: dict[int, Balance] = {}
        ledger = []
        balance_ops = sorted(
            (op for ops in planned for op in ops.balances), key=lambda op: op.member_id
        )
        for op in balance_ops:
            b = change_balance(
                conn, op.member_id, op.account, op.delta, now, floor=0 if op.conditional else None
            )
            if b is None:
                raise RetryableWrite(f"member {op.member_id} changed while applying a sale")
            touched[op.member_id] = b
            ledger.append(ledger_row(b, op.account, op.delta, op.kind, op.ref, now, self.store))
        for member_id in sorted({x for ops in planned for x in ops.touch} - set(touched)):
            touched[member_id] = bump_version(conn, member_id, now)
        write_ledger(conn, ledger)
        self.ledger_written += len(ledger)
        return touched


def feed_changes(touched: dict[int, Balance]) -> list[feed.Pending]:
    """One member change per touched member, in member id order."""
    return [member_change(b.number, b.version, b.active) for _, b in sorted(touched.items())]
