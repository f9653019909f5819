"""Returns at HQ: finding a sale to return, return authorisations, and the return events.

HQ is the authority for anything returned in another store. The till asks for a return
authorisation (:func:`authorise`); HQ grants it in one write transaction with one
conditional UPDATE per line,

    ``held_milli = held_milli + q WHERE qty_milli - returned_milli - held_milli >= q``,

so that concurrent requests from any number of stores and HQ processes never grant more
than a line has left; a line short rolls the whole request back. The ``sale.returned``
event captures the authorisation (held -> returned); a release (:func:`release_auth`) or
the expiry (:func:`sweep_expired_auths`) gives the quantities back, each exactly once (a
conditional UPDATE of the authorisation's status).

A return that completes the return of a whole sale gives the member back the coupon the
sale used, once and in the return's transaction, while the coupon is valid and the chain's
``returns.coupon_back`` is ``full_return`` (:func:`_give_coupon_back`, the contract's
:func:`~sync_client.contract.refunds.coupon_goes_back`); a partial return keeps it used.

A return made offline at the store that sold (no authorisation) is reconciled when its
event arrives: the goods and the money moved at the till already, so it is applied even
when another store returned the same goods meanwhile, and a ``discrepancies`` row asks a
manager to look (never a silent double refund).

The refund arithmetic is the shared contract's (:mod:`sync_client.contract.refunds`):
HQ checks what the till sends with the same functions and computes the earned points to
take back itself, never driving a member's points below zero (the shortfall is recorded
on the return and in the ledger note).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from server_stub import device_secrets
from server_stub import models as m
from server_stub.approvals import check_approval
from server_stub.audit import Actor, audit_row, write_audit
from server_stub.auth import DeviceIdentity
from server_stub.db import Database, RetryableWrite, WriteTx
from server_stub.errors import ApiError
from server_stub.member_keys import MemberKeys
from server_stub.members.ledger import (
    Balance,
    bump_version,
    change_balance,
    ledger_row,
    write_ledger,
)
from sync_client.contract import protocol as p
from sync_client.contract.refunds import (
    RefundError,
    ReturnPolicy,
    coupon_goes_back,
    line_refund_fen,
    points_to_reverse,
    returned_in_full,
)
from sync_client.contract.salerefs import SaleRefError, parse_sale_ref, verify_sale_ref

log = logging.getLogger("chainpos.hq.returns")

DEFAULT_AUTH_TTL_S = 900
"""Life of an authorisation when the request does not say."""
_POLICY_PREFIX = "returns."


def _now() -> datetime:
    return datetime.now(UTC)


# -- policy ---------------------------------------------------------------------------------


def policy_for(conn: Connection, store: str | None) -> ReturnPolicy:
    """The ``returns.*`` settings in force for ``store`` (its own values over the chain's)."""
    scopes = ["*"] if store is None else ["*", store]
    rows = conn.execute(
        select(m.config.c.scope, m.config.c.key, m.config.c.value_json).where(
            m.config.c.scope.in_(scopes),
            m.config.c.key.startswith(_POLICY_PREFIX, autoescape=True),
        )
    ).all()
    values: dict[str, object] = {}
    for r in sorted(rows, key=lambda r: r.scope != "*"):
        try:
            values[str(r.key)] = json.loads(r.value_json)
        except ValueError:
            log.warning("ignoring unreadable setting %s for %s", r.key, r.scope)
    return ReturnPolicy.from_settings(values)


# -- reading a sale -------------------------------------------------------------------------


def _sale_for_return(conn: Connection, sale: Any) -> p.SaleForReturn:
    sl, st = m.sale_lines, m.sale_tenders
    lines = conn.execute(select(sl).where(sl.c.sale_id == sale.sale_id).order_by(sl.c.line_no))
    sold = [
        p.SoldLine(
            line_no=r.line_no,
            sku=r.sku,
            barcode=r.barcode,
            name=r.name,
            unit=r.unit,
            qty_milli=int(r.qty_milli),
            unit_price_fen=int(r.unit_price_fen),
            list_amount_fen=int(r.list_amount_fen),
            discount_fen=int(r.discount_fen),
            amount_fen=int(r.amount_fen),
            returned_milli=int(r.returned_milli),
            held_milli=int(r.held_milli),
            returnable_milli=max(0, int(r.qty_milli - r.returned_milli - r.held_milli)),
            refunded_fen=int(r.refunded_fen),
            options=None if r.options_json is None else json.loads(r.options_json),
        )
        for r in lines
    ]
    tenders = [
        p.Tender(
            kind=r.kind,
            amount_fen=int(r.amount_fen),
            tendered_fen=None if r.tendered_fen is None else int(r.tendered_fen),
            reference=r.reference,
            placed_at=r.placed_at,
        )
        for r in conn.execute(select(st).where(st.c.sale_id == sale.sale_id).order_by(st.c.idx))
    ]
    earlier = _earlier_returns(conn, sale.sale_id)
    earned = conn.execute(
        select(m.member_earnings.c.points).where(
            m.member_earnings.c.sale_id == sale.sale_id,
            m.member_earnings.c.status == "credited",
        )
    ).scalar()
    return p.SaleForReturn(
        sale_id=sale.sale_id,
        receipt_no=sale.receipt_no,
        store=sale.store_code,
        terminal=sale.terminal,
        cashier=sale.cashier,
        completed_at=sale.completed_at,
        lines=sold,
        subtotal_fen=int(sale.subtotal_fen),
        discount_fen=int(sale.discount_fen),
        rounding_fen=int(sale.rounding_fen),
        total_fen=int(sale.total_fen),
        tenders=tenders,
        change_fen=int(sale.change_fen),
        member=sale.member_no,
        earned_points=int(earned or 0),
        points_reversed=sum(e.points for e in earlier),
        voided=sale.voided_at is not None,
        returns=[e.data for e in earlier],
        coupon=_sale_coupon(conn, sale.sale_id),
    )


def _sale_coupon(conn: Connection, sale_id: uuid.UUID) -> p.SaleCoupon | None:
    """The member's coupon the sale used (its captured coupon hold), and whether a
    return gave it back already (the hold then stands ``refunded``)."""
    h, c = m.member_holds, m.member_coupons
    row = conn.execute(
        select(c.c.id, c.c.name, h.c.value_fen, c.c.valid_until, h.c.status)
        .select_from(h.join(c, c.c.id == h.c.coupon_id))
        .where(
            h.c.sale_id == sale_id,
            h.c.kind == "coupon",
            h.c.status.in_(("captured", "refunded")),
        )
    ).first()
    if row is None:
        return None
    return p.SaleCoupon(
        coupon_id=row.id,
        name=row.name,
        value_fen=int(row.value_fen),
        valid_until=row.valid_until,
        back=row.status == "refunded",
    )


@dataclass(frozen=True, slots=True)
class _Earlier:
    data: p.EarlierReturn
    points: int  # reversed + shortfall: what the cumulative reversal has settled


def _earlier_returns(conn: Connection, sale_id: uuid.UUID) -> list[_Earlier]:
    r, rl = m.returns, m.return_lines
    rows = conn.execute(
        select(r).where(r.c.sale_id == sale_id).order_by(r.c.returned_at, r.c.return_id)
    ).all()
    if not rows:
        return []
    qty: dict[uuid.UUID, list[p.LineQty]] = defaultdict(list)
    for ln in conn.execute(
        select(rl.c.return_id, rl.c.original_line_no, rl.c.qty_milli)
        .where(rl.c.sale_id == sale_id)
        .order_by(rl.c.return_id, rl.c.line_no)
    ):
        if ln.original_line_no is not None:
            qty[ln.return_id].append(
                p.LineQty(line_no=ln.original_line_no, qty_milli=int(ln.qty_milli))
            )
    return [
        _Earlier(
            p.EarlierReturn(
                return_id=row.return_id,
                receipt_no=row.receipt_no,
                store=row.store_code,
                terminal=row.terminal,
                returned_at=row.returned_at,
                lines=qty.get(row.return_id, []),
                refund_fen=int(row.refund_fen),
            ),
            int(row.points_reversed) + int(row.points_shortfall),
        )
        for row in rows
    ]


def lookup(
    db: Database,
    keys: MemberKeys,
    device: DeviceIdentity,
    request: p.SaleLookupRequest,
    now: datetime | None = None,
) -> p.SaleLookupResponse:
    """Finds sales to return (any store's: returns cross stores).

    Raises:
        ApiError: 422 ``bad_receipt`` (a forged, altered or unknown receipt code), 404
            ``sale_not_found``.
    """
    now = now or _now()
    s = m.sales
    with db.read() as conn:
        if request.ref is not None:
            try:
                ref = verify_sale_ref(request.ref, _ref_secret(conn, keys, request.ref))
            except SaleRefError as exc:
                raise ApiError(422, "bad_receipt", f"receipt code refused: {exc.message}") from None
            sale = conn.execute(select(s).where(s.c.sale_id == ref.sale_id)).first()
            if (
                sale is None
                or sale.store_code != ref.store_code
                or sale.terminal != ref.terminal_id
            ):
                raise ApiError(
                    404, "sale_not_found", "HQ has no such sale (yet): it may still be on its way"
                )
            return p.SaleLookupResponse(sales=[_sale_for_return(conn, sale)])
        if request.receipt_no is not None:
            q = select(s).where(
                s.c.store_code == request.store, s.c.receipt_no == request.receipt_no
            )
            rows = conn.execute(q.order_by(s.c.completed_at.desc()).limit(request.limit)).all()
            if request.business_date is not None:
                rows = [r for r in rows if _near(r.completed_at, request.business_date)]
            if not rows:
                raise ApiError(
                    404,
                    "sale_not_found",
                    f"no sale {request.receipt_no} at store {request.store}",
                )
            return p.SaleLookupResponse(sales=[_sale_for_return(conn, r) for r in rows])
        policy = policy_for(conn, device.store)
        since = now - timedelta(days=policy.window_days)
        rows = conn.execute(
            select(s)
            .where(s.c.member_no == request.member, s.c.completed_at >= since)
            .order_by(s.c.completed_at.desc())
            .limit(request.limit)
        ).all()
        return p.SaleLookupResponse(sales=[_sale_for_return(conn, r) for r in rows])


def _ref_secret(conn: Connection, keys: MemberKeys, text: str) -> bytes:
    """The receipt secret of the device named in a (not yet verified) reference."""
    ref, _ = parse_sale_ref(text)
    try:
        secret = device_secrets.receipt_secret(conn, keys, ref.terminal_id)
    except device_secrets.SecretUnreadable:
        secret = None
    if secret is None:
        raise SaleRefError("sale_ref_forged", f"no device {ref.terminal_id} issued receipts")
    return secret


def _near(completed_at: datetime, local_date: date) -> bool:
    """Whether a UTC time falls on ``local_date`` in any zone of the chain (UTC-12..+14):
    HQ does not know the store's zone, and a receipt number repeats only across days."""
    day = datetime(local_date.year, local_date.month, local_date.day, tzinfo=UTC)
    return day - timedelta(hours=14) <= completed_at < day + timedelta(days=1, hours=12)


# -- authorisations -------------------------------------------------------------------------


def _request_hash(request: p.ReturnAuthRequest) -> str:
    canonical = json.dumps(
        {
            "sale": str(request.sale_id),
            "lines": sorted((ln.line_no, ln.qty_milli) for ln in request.lines),
        },
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _auth_data(conn: Connection, row: Any) -> p.ReturnAuthData:
    al = m.return_auth_lines
    lines = [
        p.LineQty(line_no=r.line_no, qty_milli=int(r.qty_milli))
        for r in conn.execute(
            select(al.c.line_no, al.c.qty_milli)
            .where(al.c.auth_id == row.auth_id)
            .order_by(al.c.line_no)
        )
    ]
    return p.ReturnAuthData(
        auth_id=row.auth_id,
        sale_id=row.sale_id,
        store=row.store_code,
        terminal=row.terminal,
        status=row.status,
        lines=lines,
        created_at=row.created_at,
        expires_at=row.expires_at,
        settled_at=row.settled_at,
        return_id=row.return_id,
    )


def _auth_row(conn: Connection, auth_id: uuid.UUID) -> Any:
    return conn.execute(select(m.return_auths).where(m.return_auths.c.auth_id == auth_id)).first()


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _last_returned(earlier: Sequence[_Earlier], line_no: int) -> dict[str, Any]:
    """Where and when a line was last returned (``returned_store``, ``returned_terminal``,
    ``returned_at``), for a refusal's params; empty when it was not returned yet."""
    last = [e.data for e in earlier for q in e.data.lines if q.line_no == line_no]
    if not last:
        return {}
    data = last[-1]
    return {
        "returned_store": data.store,
        "returned_terminal": data.terminal,
        "returned_at": _iso(data.returned_at),
    }


def _returned_where(earlier: Sequence[_Earlier], line_no: int) -> str:
    """Where and when a line was returned before, for a refusal or a discrepancy."""
    parts = [
        f"{q.qty_milli / 1000:g} at store {e.data.store} on {_when(e.data.returned_at)}"
        for e in earlier
        for q in e.data.lines
        if q.line_no == line_no
    ]
    return "; ".join(parts[-5:]) if parts else "none returned yet (held by a return in progress)"


def authorise(
    db: Database,
    device: DeviceIdentity,
    request: p.ReturnAuthRequest,
    now: datetime | None = None,
) -> tuple[bool, p.ReturnAuthData]:
    """Reserves the quantities of a return being rung up at the device's store; once per
    ``auth_id`` (a repeat answers the existing authorisation, ``created`` False).

    Raises:
        ApiError: 404 ``sale_not_found``; 409 ``sale_voided`` / ``outside_window`` /
            ``not_returnable_item`` / ``not_returnable`` (a line short: where and when it
            was returned) / ``auth_id_reused``; 403 ``wrong_store``.
    """
    now = now or _now()
    req_hash = _request_hash(request)
    actor = Actor.of_device(device)

    def repeat(conn: Connection) -> tuple[bool, p.ReturnAuthData] | None:
        row = _auth_row(conn, request.auth_id)
        if row is None:
            return None
        if row.request_hash != req_hash or row.store_code != device.store:
            raise ApiError(
                409,
                "auth_id_reused",
                f"authorisation {request.auth_id} exists for a different request",
            )
        return False, _auth_data(conn, row)

    def run(tx: WriteTx) -> tuple[bool, p.ReturnAuthData]:
        conn = tx.conn
        again = repeat(conn)
        if again is not None:
            return again
        sale = conn.execute(select(m.sales).where(m.sales.c.sale_id == request.sale_id)).first()
        if sale is None:
            raise ApiError(404, "sale_not_found", f"HQ has no sale {request.sale_id} (yet)")
        if sale.voided_at is not None:
            raise ApiError(
                409,
                "sale_voided",
                f"sale {sale.receipt_no} was voided on {_when(sale.voided_at)}",
                receipt_no=sale.receipt_no,
                voided_at=_iso(sale.voided_at),
            )
        policy = policy_for(conn, device.store)
        if not policy.in_window(sale.completed_at, now):
            sold = sale.completed_at.date().isoformat()
            deadline = policy.deadline(sale.completed_at).date().isoformat()
            raise ApiError(
                409,
                "outside_window",
                f"sale {sale.receipt_no} of {sold}: returns closed on {deadline}",
                receipt_no=sale.receipt_no,
                sold=sold,
                deadline=deadline,
            )
        sl = m.sale_lines
        lines = {
            r.line_no: r
            for r in conn.execute(
                select(sl.c.line_no, sl.c.sku, sl.c.name, m.items.c.category)
                .select_from(sl.outerjoin(m.items, m.items.c.sku == sl.c.sku))
                .where(sl.c.sale_id == request.sale_id)
            )
        }
        for ln in request.lines:
            line = lines.get(ln.line_no)
            if line is None:
                raise ApiError(
                    409,
                    "not_returnable",
                    f"sale {sale.receipt_no} has no line {ln.line_no}",
                    receipt_no=sale.receipt_no,
                    line_no=ln.line_no,
                )
            if not policy.returnable_item(line.sku, line.category):
                raise ApiError(
                    409,
                    "not_returnable_item",
                    f"{line.name} cannot be returned",
                    sku=line.sku,
                    name=line.name,
                )
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(m.return_auths).values(
                        auth_id=request.auth_id,
                        sale_id=request.sale_id,
                        store_code=device.store,
                        device_id=device.device_id,
                        terminal=device.device_id,
                        request_hash=req_hash,
                        status="held",
                        created_at=now,
                        expires_at=now + timedelta(seconds=request.ttl_s or DEFAULT_AUTH_TTL_S),
                        settled_at=None,
                        return_id=None,
                    )
                )
        except IntegrityError:
            # The same auth_id committed by a concurrent request: answer with that one.
            raise RetryableWrite("authorisation created concurrently") from None
        for ln in sorted(request.lines, key=lambda x: x.line_no):
            done = conn.execute(
                update(sl)
                .where(
                    sl.c.sale_id == request.sale_id,
                    sl.c.line_no == ln.line_no,
                    sl.c.qty_milli - sl.c.returned_milli - sl.c.held_milli >= ln.qty_milli,
                )
                .values(held_milli=sl.c.held_milli + ln.qty_milli)
            ).rowcount
            if done != 1:
                left = conn.execute(
                    select(sl.c.qty_milli - sl.c.returned_milli - sl.c.held_milli).where(
                        sl.c.sale_id == request.sale_id, sl.c.line_no == ln.line_no
                    )
                ).scalar_one()
                earlier = _earlier_returns(conn, request.sale_id)
                where = _returned_where(earlier, ln.line_no)
                raise ApiError(
                    409,
                    "not_returnable",
                    f"line {ln.line_no} ({lines[ln.line_no].name}): {max(0, int(left)) / 1000:g} "
                    f"left to return, {ln.qty_milli / 1000:g} asked; returned before: {where}",
                    receipt_no=sale.receipt_no,
                    line_no=ln.line_no,
                    name=lines[ln.line_no].name,
                    left_milli=max(0, int(left)),
                    asked_milli=ln.qty_milli,
                    returned=where,
                    **_last_returned(earlier, ln.line_no),
                )
        conn.execute(
            insert(m.return_auth_lines),
            [
                {"auth_id": request.auth_id, "line_no": ln.line_no, "qty_milli": ln.qty_milli}
                for ln in request.lines
            ],
        )
        write_audit(
            conn,
            [
                audit_row(
                    actor,
                    "return.authorise",
                    sale.member_no,
                    {
                        "auth_id": str(request.auth_id),
                        "sale_id": str(request.sale_id),
                        "lines": [[ln.line_no, ln.qty_milli] for ln in request.lines],
                    },
                    now,
                )
            ],
        )
        row = _auth_row(conn, request.auth_id)
        return True, _auth_data(conn, row)

    return db.run_write(run)


def _own_auth(conn: Connection, device: DeviceIdentity, auth_id: uuid.UUID) -> Any:
    row = _auth_row(conn, auth_id)
    if row is None:
        raise ApiError(404, "unknown_auth", f"no return authorisation {auth_id}")
    if row.store_code != device.store:
        raise ApiError(
            403, "wrong_store", f"device {device.device_id} acts only for store {device.store}"
        )
    return row


def get_auth(db: Database, device: DeviceIdentity, auth_id: uuid.UUID) -> p.ReturnAuthData:
    """An authorisation of the device's store, as it is now."""
    with db.read() as conn:
        return _auth_data(conn, _own_auth(conn, device, auth_id))


def _give_back(conn: Connection, rows: Iterable[Any], status: str, now: datetime) -> list[Any]:
    """Marks authorisations that are still ``held`` as ``status`` and puts their quantities
    back; those settled meanwhile by someone else are skipped. Returns those given back."""
    done = []
    al, sl = m.return_auth_lines, m.sale_lines
    for row in sorted(rows, key=lambda r: r.auth_id):
        changed = conn.execute(
            update(m.return_auths)
            .where(m.return_auths.c.auth_id == row.auth_id, m.return_auths.c.status == "held")
            .values(status=status, settled_at=now)
        ).rowcount
        if changed != 1:
            continue
        for ln in conn.execute(
            select(al.c.line_no, al.c.qty_milli)
            .where(al.c.auth_id == row.auth_id)
            .order_by(al.c.line_no)
        ).all():
            conn.execute(
                update(sl)
                .where(sl.c.sale_id == row.sale_id, sl.c.line_no == ln.line_no)
                .values(held_milli=sl.c.held_milli - ln.qty_milli)
            )
        done.append(row)
    return done


def release_auth(
    db: Database, device: DeviceIdentity, auth_id: uuid.UUID, now: datetime | None = None
) -> p.ReturnAuthData:
    """Gives an authorisation's quantities back (the return was abandoned). Releasing one
    already released answers it unchanged.

    Raises:
        ApiError: 404 ``unknown_auth``, 403 ``wrong_store``, 409 ``auth_captured`` (a
            return used it) / ``auth_expired`` (its quantities went back already).
    """
    now = now or _now()

    def run(tx: WriteTx) -> p.ReturnAuthData:
        conn = tx.conn
        row = _own_auth(conn, device, auth_id)
        if row.status == "captured":
            raise ApiError(
                409,
                "auth_captured",
                f"authorisation {auth_id} was used by return {row.return_id}",
                return_id=str(row.return_id),
            )
        if row.status == "expired":
            raise ApiError(
                409,
                "auth_expired",
                f"authorisation {auth_id} expired on {_when(row.expires_at)}",
                expired_at=_iso(row.expires_at),
            )
        if row.status == "held":
            if not _give_back(conn, [row], "released", now):
                raise RetryableWrite(f"authorisation {auth_id} settled concurrently")
            write_audit(
                conn,
                [
                    audit_row(
                        Actor.of_device(device),
                        "return.release",
                        None,
                        {"auth_id": str(auth_id)},
                        now,
                    )
                ],
            )
            row = _auth_row(conn, auth_id)
        return _auth_data(conn, row)

    return db.run_write(run)


def sweep_expired_auths(db: Database, now: datetime | None = None, batch: int = 500) -> int:
    """Gives back every authorisation past its expiry; returns how many. Safe to run from
    several HQ processes at once (each is given back by exactly one of them)."""
    total = 0
    while True:
        when = now or _now()

        def run(tx: WriteTx, when: datetime = when) -> tuple[int, int]:
            a = m.return_auths
            rows = tx.conn.execute(
                select(a)
                .where(a.c.status == "held", a.c.expires_at <= when)
                .order_by(a.c.expires_at, a.c.auth_id)
                .limit(batch)
            ).all()
            return len(rows), len(_give_back(tx.conn, rows, "expired", when))

        seen, expired = db.run_write(run)
        if expired:
            log.info("gave back %d expired return authorisations", expired)
        total += expired
        if seen < batch:
            return total


# -- the return event -----------------------------------------------------------------------


class ReturnReject(Exception):
    """A ``sale.returned`` event HQ refuses (nothing of it is written)."""

    def __init__(self, reason: p.RejectReason, detail: str, retryable: bool = False) -> None:
        super().__init__(detail)
        self.reason: p.RejectReason = reason
        self.detail = detail
        self.retryable = retryable


@dataclass(slots=True)
class _LinePlan:
    line: p.ReturnLine
    auth_qty: int = 0  # what the captured authorisation held for this line
    short: bool = False


@dataclass(slots=True)
class ReturnPlan:
    """What one ``sale.returned`` event will write, checked against HQ's data."""

    event_id: uuid.UUID
    payload: p.SaleReturned
    sale: Any | None
    auth: Any | None  # the authorisation to capture (status held)
    lines: list[_LinePlan]
    member_id: int | None
    member_no: str | None
    points_due: int
    account_refunds: dict[str, int] = field(default_factory=dict)  # account -> delta
    earlier: list[_Earlier] = field(default_factory=list)
    auth_lines: dict[int, int] = field(default_factory=dict)
    policy: ReturnPolicy = field(default_factory=ReturnPolicy)
    policy_problem: str | None = None
    """Why the return breaks a policy HQ checks (an approval it needs is missing or fails
    HQ's staff check, a return without a receipt above the cap): the ingest keeps the
    return, which already happened at the counter, and flags it."""


def _approvals_problem(conn: Connection, pl: p.SaleReturned, needed: Sequence[str]) -> str | None:
    for action in needed:
        given = [a for a in pl.approvals if a.action == action]
        if not given:
            return f"{action} needs an approval"
        problem = check_approval(conn, given[0], pl.store, action)
        if problem is not None:
            return problem
    for a in pl.approvals:
        problem = check_approval(conn, a, pl.store, a.action)
        if problem is not None:
            return problem
    return None


def plan_return(
    conn: Connection,
    device: DeviceIdentity,
    event_id: uuid.UUID,
    pl: p.SaleReturned,
    now: datetime,
) -> ReturnPlan:
    """Checks a return event against HQ's data.

    A return that breaks a policy of approvals or of the no-receipt cap is not refused (the
    refund went out at the counter): the plan names the problem (``policy_problem``) for
    the ingest to keep the return and flag it, like a sale whose staff fail HQ's check.

    Raises:
        ReturnReject: ``unknown_sale`` (retryable: the sale may be on its way),
            ``already_voided``, ``not_authorised`` (another store's sale without an
            authorisation), ``unknown_sku``, ``invalid`` (the refunds do not follow the
            contract's arithmetic, lines or tenders that are not on the sale).
    """
    policy = policy_for(conn, pl.store)
    needed: list[str] = []
    problems: list[str] = []
    if pl.original is None:
        needed.append("return_without_receipt")
        if pl.refund_fen > policy.no_receipt_cap_fen:
            problems.append(
                f"a return without a receipt refunds at most {policy.no_receipt_cap_fen} fen, "
                f"not {pl.refund_fen}"
            )
    if pl.refund_fen > policy.approval_above_fen:
        needed.append("refund_over_limit")
    approval = _approvals_problem(conn, pl, needed)
    if approval is not None:
        problems.append(approval)
    policy_problem = "; ".join(problems) or None
    skus = {ln.sku for ln in pl.lines}
    known = set(
        conn.execute(select(m.items.c.sku).where(m.items.c.sku.in_(sorted(skus)))).scalars()
    )
    if skus - known:
        raise ReturnReject(
            "unknown_sku", f"not in HQ's catalogue: {', '.join(sorted(skus - known))}"
        )
    if pl.original is None:
        return ReturnPlan(
            event_id,
            pl,
            None,
            None,
            [_LinePlan(ln) for ln in pl.lines],
            None,
            pl.member,
            0,
            policy_problem=policy_problem,
        )
    sale = conn.execute(select(m.sales).where(m.sales.c.sale_id == pl.original.sale_id)).first()
    if sale is None:
        raise ReturnReject(
            "unknown_sale",
            f"sale {pl.original.sale_id} is not at HQ (yet); push the return again after it",
            retryable=True,
        )
    if sale.store_code != pl.original.store or sale.terminal != pl.original.terminal:
        raise ReturnReject("invalid", f"sale {sale.sale_id} was not made at {pl.original.store}")
    if sale.voided_at is not None:
        raise ReturnReject("already_voided", f"sale {sale.receipt_no} was voided")
    sl = m.sale_lines
    sold = {r.line_no: r for r in conn.execute(select(sl).where(sl.c.sale_id == sale.sale_id))}
    auth = None
    auth_lines: dict[int, int] = {}
    if pl.authorisation is not None:
        auth = _auth_row(conn, pl.authorisation)
        if auth is None or auth.sale_id != sale.sale_id or auth.store_code != pl.store:
            raise ReturnReject(
                "not_authorised",
                f"authorisation {pl.authorisation} is not one HQ gave {pl.store} for this sale",
            )
        if auth.status == "captured":
            raise ReturnReject(
                "invalid", f"authorisation {auth.auth_id} was used by return {auth.return_id}"
            )
        if auth.status != "held":
            # Released or expired before the event arrived: reconcile as offline.
            log.warning(
                "return %s names %s authorisation %s", pl.return_id, auth.status, auth.auth_id
            )
            auth = None
        else:
            auth_lines = {
                r.line_no: int(r.qty_milli)
                for r in conn.execute(
                    select(m.return_auth_lines).where(m.return_auth_lines.c.auth_id == auth.auth_id)
                )
            }
    elif pl.store != sale.store_code:
        raise ReturnReject(
            "not_authorised",
            f"sale {sale.receipt_no} belongs to store {sale.store_code}: returning it at "
            f"{pl.store} needs HQ's authorisation",
        )
    plans: list[_LinePlan] = []
    for ln in pl.lines:
        assert ln.original_line_no is not None
        orig = sold.get(ln.original_line_no)
        if orig is None or orig.sku != ln.sku:
            raise ReturnReject(
                "invalid", f"line {ln.line_no} names no line {ln.original_line_no} of {ln.sku}"
            )
        lp = _LinePlan(ln)
        if auth is not None:
            lp.auth_qty = auth_lines.get(ln.original_line_no, 0)
            if ln.qty_milli > lp.auth_qty:
                raise ReturnReject(
                    "invalid",
                    f"line {ln.line_no}: {ln.qty_milli} returned, {lp.auth_qty} authorised",
                )
            before = int(orig.returned_milli)
        else:
            left = int(orig.qty_milli - orig.returned_milli - orig.held_milli)
            lp.short = ln.qty_milli > left
            before = int(orig.returned_milli)
        if not lp.short:
            _check_line_refund(orig, before, ln)
        plans.append(lp)
    earlier = _earlier_returns(conn, sale.sale_id)
    _check_tenders(conn, sale.sale_id, pl, any(lp.short for lp in plans))
    member_id = None
    if sale.member_no is not None:
        member_id = conn.execute(
            select(m.members.c.id).where(m.members.c.number == sale.member_no)
        ).scalar()
    account = {k: 0 for k in ("points", "stored_value")}
    for t in pl.refunds:
        if t.kind in account:
            account[t.kind] += t.amount_fen
    if any(account.values()) and member_id is None:
        raise ReturnReject("invalid", "points or stored value refunded to no member")
    refunds: dict[str, int] = {}
    if account["stored_value"]:
        refunds["stored_value"] = account["stored_value"]
    if account["points"]:
        refunds["points"] = _points_for_fen(conn, sale.sale_id, account["points"])
    points_due = 0
    if member_id is not None:
        earned = conn.execute(
            select(m.member_earnings.c.points).where(
                m.member_earnings.c.sale_id == sale.sale_id,
                m.member_earnings.c.status == "credited",
            )
        ).scalar()
        points_due = points_to_reverse(
            int(earned or 0),
            int(sale.total_fen),
            pl.refund_fen,
            sum(e.data.refund_fen for e in earlier),
            sum(e.points for e in earlier),
        )
    return ReturnPlan(
        event_id,
        pl,
        sale,
        auth,
        plans,
        member_id,
        sale.member_no,
        points_due,
        refunds,
        earlier,
        auth_lines,
        policy,
        policy_problem,
    )


def _check_line_refund(orig: Any, before: int, ln: p.ReturnLine) -> None:
    """The line's refund follows the contract: what ``line_refund_fen`` gives (from HQ's
    count of what was returned before; a return racing another store's may have counted
    from its own, so up to the ceiling of the proportional share is accepted), and the
    line never gives back more than it cost."""
    amount, qty = int(orig.amount_fen), int(orig.qty_milli)
    try:
        expected = line_refund_fen(amount, qty, min(before, qty - ln.qty_milli), ln.qty_milli)
    except RefundError as exc:
        raise ReturnReject("invalid", f"line {ln.line_no}: {exc}") from None
    ceiling = -(-amount * ln.qty_milli // qty)
    if ln.refund_fen != expected and ln.refund_fen > ceiling:
        raise ReturnReject(
            "invalid",
            f"line {ln.line_no} refunds {ln.refund_fen} fen; the contract gives {expected}",
        )
    if int(orig.refunded_fen) + ln.refund_fen > amount:
        raise ReturnReject(
            "invalid",
            f"line {ln.line_no}: {ln.refund_fen} fen after {int(orig.refunded_fen)} exceeds the "
            f"line's {amount}",
        )


def _check_tenders(conn: Connection, sale_id: uuid.UUID, pl: p.SaleReturned, short: bool) -> None:
    """Per tender kind, no more back than that kind paid minus earlier refunds of it."""
    paid: dict[str, int] = defaultdict(int)
    for kind, amount in conn.execute(
        select(m.sale_tenders.c.kind, m.sale_tenders.c.amount_fen).where(
            m.sale_tenders.c.sale_id == sale_id
        )
    ):
        paid[kind] += int(amount)
    before: dict[str, int] = defaultdict(int)
    rr, r = m.return_refunds, m.returns
    for kind, amount in conn.execute(
        select(rr.c.kind, func.sum(rr.c.amount_fen))
        .select_from(rr.join(r, r.c.return_id == rr.c.return_id))
        .where(r.c.sale_id == sale_id)
        .group_by(rr.c.kind)
    ):
        before[kind] += int(amount)
    now_: dict[str, int] = defaultdict(int)
    for t in pl.refunds:
        now_[t.kind] += t.amount_fen
    for kind, amount in now_.items():
        if kind not in paid:
            raise ReturnReject("invalid", f"the sale was not paid by {kind}")
        if not short and amount > paid[kind] - before[kind]:
            raise ReturnReject(
                "invalid",
                f"{amount} fen back by {kind}; it paid {paid[kind]}, "
                f"{before[kind]} refunded before",
            )


def _points_for_fen(conn: Connection, sale_id: uuid.UUID, fen: int) -> int:
    """The points a refund of ``fen`` through the points tender gives back: at the rate
    the sale's points holds were taken (cumulative, so partial refunds add up)."""
    h = m.member_holds
    row = conn.execute(
        select(func.sum(h.c.amount), func.sum(h.c.value_fen)).where(
            h.c.sale_id == sale_id, h.c.kind == "points"
        )
    ).first()
    points, value = (int(row[0] or 0), int(row[1] or 0)) if row is not None else (0, 0)
    if points <= 0 or value <= 0:
        raise ReturnReject("invalid", "the sale spent no points HQ knows of")
    rr, r = m.return_refunds, m.returns
    before = int(
        conn.execute(
            select(func.coalesce(func.sum(rr.c.amount_fen), 0))
            .select_from(rr.join(r, r.c.return_id == rr.c.return_id))
            .where(r.c.sale_id == sale_id, rr.c.kind == "points")
        ).scalar_one()
    )
    total = min(value, before + fen)
    return points * total // value - points * min(value, before) // value


@dataclass(frozen=True, slots=True)
class WrittenReturn:
    touched: dict[int, Balance]
    discrepancies: int


def write_return(
    conn: Connection, device: DeviceIdentity, plan: ReturnPlan, now: datetime
) -> WrittenReturn:
    """Writes a planned return: the return and its lines and refunds, the sale lines'
    counts, the authorisation captured, the member's credits and reversal, discrepancies.

    Raises:
        RetryableWrite: the authorisation was settled since it was planned.
    """
    pl = plan.payload
    sale_id = None if plan.sale is None else plan.sale.sale_id
    touched: dict[int, Balance] = {}
    ledger: list[dict[str, Any]] = []
    discrepancies: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    actor = Actor.of_device(device)
    ref = str(pl.return_id)
    conflict = False
    if plan.auth is not None:
        done = conn.execute(
            update(m.return_auths)
            .where(m.return_auths.c.auth_id == plan.auth.auth_id, m.return_auths.c.status == "held")
            .values(status="captured", settled_at=now, return_id=pl.return_id)
        ).rowcount
        if done != 1:
            raise RetryableWrite(f"authorisation {plan.auth.auth_id} settled while capturing")
    sl = m.sale_lines
    returned_lines = {
        lp.line.original_line_no: lp for lp in plan.lines if lp.line.original_line_no is not None
    }
    if sale_id is not None:
        line_nos = sorted(set(returned_lines) | set(plan.auth_lines))
        for line_no in line_nos:
            lp = returned_lines.get(line_no)
            q = lp.line.qty_milli if lp is not None else 0
            fen = lp.line.refund_fen if lp is not None else 0
            if plan.auth is not None:
                # The authorisation's hold becomes the return; what it held beyond the
                # returned quantity goes back.
                conn.execute(
                    update(sl)
                    .where(sl.c.sale_id == sale_id, sl.c.line_no == line_no)
                    .values(
                        held_milli=sl.c.held_milli - plan.auth_lines.get(line_no, 0),
                        returned_milli=sl.c.returned_milli + q,
                        refunded_fen=sl.c.refunded_fen + fen,
                    )
                )
                continue
            assert lp is not None
            done = conn.execute(
                update(sl)
                .where(
                    sl.c.sale_id == sale_id,
                    sl.c.line_no == line_no,
                    sl.c.qty_milli - sl.c.returned_milli - sl.c.held_milli >= q,
                )
                .values(
                    returned_milli=sl.c.returned_milli + q, refunded_fen=sl.c.refunded_fen + fen
                )
            ).rowcount
            if done == 1:
                continue
            # Returned elsewhere meanwhile: the goods and the money moved at the till
            # already, so the return stands and a manager settles the difference.
            conflict = True
            conn.execute(
                update(sl)
                .where(sl.c.sale_id == sale_id, sl.c.line_no == line_no)
                .values(
                    returned_milli=sl.c.returned_milli + q, refunded_fen=sl.c.refunded_fen + fen
                )
            )
            detail = (
                f"line {line_no} ({lp.line.name}) x{q / 1000:g} returned offline at {pl.store} "
                f"on {_when(pl.returned_at)}, refund {fen} fen; already returned: "
                f"{_returned_where(plan.earlier, line_no)}"
            )
            discrepancies.append(
                {
                    "kind": "double_return",
                    "store_code": pl.store,
                    "sale_id": sale_id,
                    "line_no": line_no,
                    "ref": ref,
                    "detail": detail[:300],
                    "created_at": now,
                    "resolved_at": None,
                    "resolved_by": None,
                    "resolution": None,
                }
            )
            audits.append(
                audit_row(
                    actor,
                    "return.discrepancy",
                    plan.member_no,
                    {"return_id": ref, "sale_id": str(sale_id), "line_no": line_no, "qty_milli": q},
                    now,
                )
            )
    # The coupon before the member's balances (lock order: hold, coupon, member rows).
    coupon_back = None
    if sale_id is not None:
        coupon_back = _give_coupon_back(conn, plan, sale_id, now)
        if coupon_back is not None:
            touched[coupon_back[1]] = bump_version(conn, coupon_back[1], now)
    if pl.coupon_back is not None and (coupon_back is None or coupon_back[0] != pl.coupon_back):
        # The customer was told the coupon goes back; HQ's own count says otherwise.
        log.warning("return %s names coupon %s HQ did not give back", ref, pl.coupon_back)
        conn.execute(
            insert(m.member_alerts).values(
                member_no=plan.member_no,
                kind="coupon_not_back",
                ref=ref,
                detail=(
                    f"return {pl.receipt_no} at {pl.store} told the customer coupon "
                    f"{pl.coupon_back} goes back; HQ did not give it back (the sale is not "
                    "returned in full, the coupon expired, or returns.coupon_back is never)"
                )[:300],
                created_at=now,
                resolved_at=None,
            )
        )
    # The member: account refunds first, then the earned points taken back.
    shortfall = 0
    reversed_points = 0
    if plan.member_id is not None:
        for account, delta in sorted(plan.account_refunds.items()):
            if delta <= 0:
                continue
            b = change_balance(conn, plan.member_id, account, delta, now)
            assert b is not None
            touched[plan.member_id] = b
            ledger.append(ledger_row(b, account, delta, "return_refund", ref, now, pl.store))
        if plan.points_due > 0:
            b = change_balance(conn, plan.member_id, "points", -plan.points_due, now, floor=0)
            if b is None:
                have = int(
                    conn.execute(
                        select(m.members.c.points).where(m.members.c.id == plan.member_id)
                    ).scalar_one()
                )
                take = max(0, min(plan.points_due, have))
                b = (
                    change_balance(conn, plan.member_id, "points", -take, now, floor=0)
                    if take
                    else None
                )
                if take and b is None:
                    raise RetryableWrite(f"member {plan.member_id} changed while reversing")
                reversed_points, shortfall = take, plan.points_due - take
            else:
                reversed_points = plan.points_due
            if b is not None:
                touched[plan.member_id] = b
                note = f"shortfall {shortfall} (already spent)" if shortfall else None
                ledger.append(
                    ledger_row(
                        b, "points", -reversed_points, "return_reversal", ref, now, pl.store, note
                    )
                )
    write_ledger(conn, ledger)
    conn.execute(
        insert(m.returns).values(
            return_id=pl.return_id,
            event_id=plan.event_id,
            store_code=pl.store,
            terminal=pl.terminal,
            cashier=pl.cashier,
            receipt_no=pl.receipt_no,
            returned_at=pl.returned_at,
            received_at=now,
            sale_id=sale_id,
            auth_id=None if plan.auth is None else plan.auth.auth_id,
            refund_fen=pl.refund_fen,
            member_no=plan.member_no,
            points_reversed=reversed_points,
            points_shortfall=shortfall,
            conflict=conflict,
            approvals_json=json.dumps([a.model_dump(mode="json") for a in pl.approvals])
            if pl.approvals
            else None,
            shift_id=pl.shift_id,
            coupon_id=None if coupon_back is None else coupon_back[0],
        )
    )
    conn.execute(
        insert(m.return_lines),
        [
            {
                "return_id": pl.return_id,
                "line_no": ln.line_no,
                "sale_id": sale_id,
                "original_line_no": ln.original_line_no,
                "sku": ln.sku,
                "name": ln.name,
                "unit": ln.unit,
                "qty_milli": ln.qty_milli,
                "unit_price_fen": ln.unit_price_fen,
                "refund_fen": ln.refund_fen,
                "restock": ln.restock,
                "reason": ln.reason,
            }
            for ln in pl.lines
        ],
    )
    if pl.refunds:
        conn.execute(
            insert(m.return_refunds),
            [
                {
                    "return_id": pl.return_id,
                    "idx": i,
                    "kind": t.kind,
                    "amount_fen": t.amount_fen,
                    "reference": t.reference,
                }
                for i, t in enumerate(pl.refunds)
            ],
        )
    if discrepancies:
        conn.execute(insert(m.discrepancies), discrepancies)
        for d in discrepancies:
            log.warning("return discrepancy at %s: %s", d["store_code"], d["detail"])
    audits.append(
        audit_row(
            actor,
            "return",
            plan.member_no,
            {
                "return_id": ref,
                "sale_id": None if sale_id is None else str(sale_id),
                "refund_fen": pl.refund_fen,
                "points_reversed": reversed_points,
                "points_shortfall": shortfall,
                "approvals": [[a.action, a.staff] for a in pl.approvals],
                "coupon_back": None if coupon_back is None else str(coupon_back[0]),
            },
            now,
        )
    )
    write_audit(conn, audits)
    return WrittenReturn(touched, len(discrepancies))


def _give_coupon_back(
    conn: Connection, plan: ReturnPlan, sale_id: uuid.UUID, now: datetime
) -> tuple[uuid.UUID, int] | None:
    """Gives the sale's coupon back to its member when this return (its sale lines
    already counted) completes the return of the whole sale: ``(coupon id, member id)``,
    or None.

    The captured coupon hold is locked first, so of two returns finishing a sale at the
    same moment in different stores the second reads the first's lines once it commits
    (PostgreSQL at READ COMMITTED) and exactly one gives the coupon back. The hold goes
    ``captured -> refunded`` and the coupon ``used -> available`` by conditional updates:
    once, whatever replays or races."""
    h, c, sl = m.member_holds, m.member_coupons, m.sale_lines
    hold = conn.execute(
        select(h.c.id, h.c.member_id, h.c.coupon_id)
        .where(h.c.sale_id == sale_id, h.c.kind == "coupon", h.c.status == "captured")
        .with_for_update()
    ).first()
    if hold is None or hold.coupon_id is None:
        return None
    counts = conn.execute(
        select(sl.c.qty_milli, sl.c.returned_milli).where(sl.c.sale_id == sale_id)
    ).all()
    coupon = conn.execute(
        select(c.c.valid_until).where(
            c.c.id == hold.coupon_id, c.c.status == "used", c.c.sale_id == sale_id
        )
    ).first()
    if coupon is None or not coupon_goes_back(
        plan.policy,
        in_full=returned_in_full([(int(q), int(r)) for q, r in counts]),
        valid_until=coupon.valid_until,
        returned_at=plan.payload.returned_at,
    ):
        return None
    done = conn.execute(
        update(h)
        .where(h.c.id == hold.id, h.c.status == "captured")
        .values(status="refunded", settled_at=now)
    ).rowcount
    back = conn.execute(
        update(c)
        .where(c.c.id == hold.coupon_id, c.c.status == "used", c.c.sale_id == sale_id)
        .values(status="available", hold_id=None, sale_id=None, updated_at=now)
    ).rowcount
    if done != 1 or back != 1:
        raise RetryableWrite(f"coupon {hold.coupon_id} changed while giving it back")
    return hold.coupon_id, int(hold.member_id)


# -- HQ staff -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReturnSummary:
    return_id: uuid.UUID
    store: str
    terminal: str
    receipt_no: str
    returned_at: datetime
    sale_id: uuid.UUID | None
    refund_fen: int
    points_reversed: int
    points_shortfall: int
    conflict: bool
    coupon_back: uuid.UUID | None = None  # the sale's coupon this return gave back


def _summary(r: Any) -> ReturnSummary:
    return ReturnSummary(
        r.return_id,
        r.store_code,
        r.terminal,
        r.receipt_no,
        r.returned_at,
        r.sale_id,
        int(r.refund_fen),
        int(r.points_reversed),
        int(r.points_shortfall),
        bool(r.conflict),
        r.coupon_id,
    )


def list_returns(
    db: Database, store: str | None = None, since: datetime | None = None, limit: int = 200
) -> list[ReturnSummary]:
    """Returns, newest first."""
    r = m.returns
    q = select(r).order_by(r.c.returned_at.desc()).limit(limit)
    if store is not None:
        q = q.where(r.c.store_code == store)
    if since is not None:
        q = q.where(r.c.returned_at >= since)
    with db.read() as conn:
        return [_summary(row) for row in conn.execute(q)]


@dataclass(frozen=True, slots=True)
class ReturnDetail:
    summary: ReturnSummary
    cashier: str
    lines: list[dict[str, Any]]
    refunds: list[dict[str, Any]]
    approvals: list[dict[str, Any]]


def show_return(db: Database, return_id: uuid.UUID) -> ReturnDetail | None:
    """One return with its lines (each naming its original line) and refunds."""
    with db.read() as conn:
        row = conn.execute(select(m.returns).where(m.returns.c.return_id == return_id)).first()
        if row is None:
            return None
        lines = [
            dict(x._mapping)
            for x in conn.execute(
                select(m.return_lines)
                .where(m.return_lines.c.return_id == return_id)
                .order_by(m.return_lines.c.line_no)
            )
        ]
        refunds = [
            dict(x._mapping)
            for x in conn.execute(
                select(m.return_refunds)
                .where(m.return_refunds.c.return_id == return_id)
                .order_by(m.return_refunds.c.idx)
            )
        ]
        approvals = json.loads(row.approvals_json) if row.approvals_json else []
        return ReturnDetail(_summary(row), row.cashier, lines, refunds, approvals)


@dataclass(frozen=True, slots=True)
class Discrepancy:
    id: int
    kind: str
    store: str
    sale_id: uuid.UUID | None
    line_no: int | None
    ref: str | None
    detail: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None


def _discrepancy(r: Any) -> Discrepancy:
    return Discrepancy(
        int(r.id),
        r.kind,
        r.store_code,
        r.sale_id,
        r.line_no,
        r.ref,
        r.detail,
        r.created_at,
        r.resolved_at,
        r.resolved_by,
        r.resolution,
    )


def list_discrepancies(
    db: Database,
    store: str | None = None,
    open_only: bool = False,
    limit: int = 500,
    kind: str | None = None,
) -> list[Discrepancy]:
    """A manager's list, newest first."""
    d = m.discrepancies
    q = select(d).order_by(d.c.created_at.desc(), d.c.id.desc()).limit(limit)
    if store is not None:
        q = q.where(d.c.store_code == store)
    if open_only:
        q = q.where(d.c.resolved_at.is_(None))
    if kind is not None:
        q = q.where(d.c.kind == kind)
    with db.read() as conn:
        return [_discrepancy(r) for r in conn.execute(q)]


@dataclass(frozen=True, slots=True)
class ConsoleResolver:
    """A console user settling a discrepancy: recorded as ``actor`` itself (no staff
    number), allowed for the stores in ``stores`` (None: every store, HQ admins)."""

    actor: Actor
    stores: frozenset[str] | None


def resolve_discrepancy(
    db: Database,
    discrepancy_id: int,
    by: str | ConsoleResolver,
    note: str,
    actor: str = "cli",
    now: datetime | None = None,
) -> Discrepancy:
    """Marks a discrepancy settled, with a note: by staff ``by`` (a manager of its store or
    an HQ admin; the CLI) or by a console user (:class:`ConsoleResolver`, within their
    stores). Resolving a settled one again changes nothing.

    Raises:
        ApiError: 404 ``unknown_discrepancy`` / ``unknown_staff``, 403 ``not_manager`` /
            ``out_of_scope``, 422 ``note_required`` (an empty note).
    """
    now = now or _now()
    note = note.strip()
    if not note:
        raise ApiError(422, "note_required", "a discrepancy is resolved with a note")

    def run(tx: WriteTx) -> Discrepancy:
        conn = tx.conn
        d = m.discrepancies
        row = conn.execute(select(d).where(d.c.id == discrepancy_id)).first()
        if row is None:
            raise ApiError(404, "unknown_discrepancy", f"no discrepancy {discrepancy_id}")
        if isinstance(by, ConsoleResolver):
            # A payment alert only the provider booked names no store (""): it is for
            # those who act for every store.
            if by.stores is not None and row.store_code not in by.stores:
                raise ApiError(
                    403, "out_of_scope", f"{by.actor.name} may not act for {row.store_code}"
                )
            resolver, audit_actor, audit_store = by.actor.name, by.actor, row.store_code
        else:
            who = conn.execute(
                select(m.staff.c.role, m.staff.c.store_code, m.staff.c.active).where(
                    m.staff.c.number == by
                )
            ).first()
            if who is None or not who.active:
                raise ApiError(404, "unknown_staff", f"no active staff {by}")
            if who.role not in ("manager", "hq_admin") or (
                who.store_code is not None and who.store_code != row.store_code
            ):
                raise ApiError(
                    403, "not_manager", f"staff {by} is not a manager of {row.store_code}"
                )
            resolver, audit_actor, audit_store = by, Actor(actor), row.store_code
        if row.resolved_at is None:
            conn.execute(
                update(d)
                .where(d.c.id == discrepancy_id, d.c.resolved_at.is_(None))
                .values(resolved_at=now, resolved_by=resolver, resolution=note[:200])
            )
            write_audit(
                conn,
                [
                    audit_row(
                        audit_actor,
                        "discrepancy.resolve",
                        None,
                        {
                            "id": discrepancy_id,
                            "kind": row.kind,
                            "by": resolver,
                            "note": note[:200],
                        },
                        now,
                        audit_store or None,
                    )
                ],
            )
        return _discrepancy(conn.execute(select(d).where(d.c.id == discrepancy_id)).one())

    return db.run_write(run)
