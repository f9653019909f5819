"""Online channels and the stock they reserve at HQ, so the last unit is never sold twice.

A channel (the mini-program, each delivery platform) holds a ``cpc_`` token scoped to the
stores it may sell from. It reserves the lines of an order at a store; HQ takes them with
one conditional UPDATE per line inside one transaction::

    UPDATE stock_levels SET reserved_milli = reserved_milli + :q
    WHERE store_code = :s AND sku = :k AND on_hand_milli - reserved_milli >= :q

so no read-then-write: on PostgreSQL the row lock makes a concurrent reservation (or a
pushed sale) wait and re-check the condition; on SQLite writers are serial. Any line that
falls short rolls the whole order back and is named in the answer. Lines are taken in sku
order, the order a pushed sale locks levels in, so the two never deadlock.

Every later change of a reservation (confirm, cancel, expiry, collection by a sale) is a
conditional UPDATE of its ``status`` from the state it must be in, so each happens once,
whichever HQ process runs it. Every change of ``reserved_milli`` appends the level's
``stock`` feed change (available = on hand - reserved) so every till sees it; a pick-up
order's changes go to its store's tills as ``pickup`` changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from server_stub import auth, feed
from server_stub import models as m
from server_stub.audit import Actor, audit_row, write_audit
from server_stub.auth import DeviceIdentity
from server_stub.db import Database, RetryableWrite, WriteTx
from server_stub.errors import ApiError, unauthorised
from server_stub.stock import stock_change, with_in_transit
from sync_client.contract import pickup as pickup_codes
from sync_client.contract import protocol as p

__all__ = [
    "CHANNEL_TOKEN_PREFIX",
    "ChannelIdentity",
    "ChannelInfo",
    "Conflict",
    "ShortStock",
    "add_channel",
    "authenticate_channel",
    "cancel",
    "capture_pickup",
    "confirm",
    "get",
    "list_channels",
    "list_conflicts",
    "list_reservations",
    "mark_ready",
    "record_conflicts",
    "reserve",
    "revoke_channel",
    "sweep_expired",
]

log = logging.getLogger("chainpos.hq.reservations")

CHANNEL_TOKEN_PREFIX = "cpc_"
# A confirmed (paid) order holds its stock until it is delivered, collected or cancelled.
_NO_EXPIRY = timedelta(days=3650)

r = m.reservations
rl = m.reservation_lines
sl = m.stock_levels


@dataclass(frozen=True, slots=True)
class ChannelIdentity:
    """An authenticated online channel and the stores it may sell from."""

    name: str
    stores: frozenset[str]


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A channel as the admin CLI lists it."""

    name: str
    stores: tuple[str, ...]
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Conflict:
    """A till sale that took on hand below what online orders hold (for the manager)."""

    id: int
    store: str
    sku: str
    sale_ref: str | None
    on_hand_milli: int
    reserved_milli: int
    orders: tuple[str, ...]
    created_at: datetime


class ShortStock(ApiError):
    """409 ``insufficient_stock``: the lines the store's available stock does not cover."""

    def __init__(self, short: Sequence[p.ShortLine]) -> None:
        skus = ", ".join(s.sku for s in short[:10])
        super().__init__(409, "insufficient_stock", f"not enough available stock of {skus}")
        self.short = list(short)

    def body(self, protocol: int = p.PROTOCOL_VERSION) -> dict[str, Any]:
        """The answer (:class:`p.ReservationRefused`) as JSON data for a client of
        ``protocol``."""
        short = [s.model_dump(mode="json") for s in self.short]
        return p.error_answer(self.code, self.detail, protocol=protocol, short=short)


def _now() -> datetime:
    return datetime.now(UTC)


# -- channels -----------------------------------------------------------------------------


def _stores_text(stores: Iterable[str]) -> str:
    return ",".join(sorted(set(stores)))


def add_channel(db: Database, name: str, stores: Sequence[str], actor: Actor) -> str:
    """Creates a channel for ``stores`` and returns its token (shown once, stored hashed).

    Raises:
        ApiError: 404 ``unknown_store``; 409 ``channel_exists``.
    """
    token = auth.new_token(CHANNEL_TOKEN_PREFIX)
    now = _now()

    def run(tx: WriteTx) -> str:
        known = set(
            tx.conn.execute(select(m.stores.c.code).where(m.stores.c.code.in_(list(stores))))
            .scalars()
            .all()
        )
        missing = sorted(set(stores) - known)
        if missing or not stores:
            raise ApiError(404, "unknown_store", f"no such store: {', '.join(missing) or '-'}")
        if tx.conn.execute(select(m.channels.c.name).where(m.channels.c.name == name)).first():
            raise ApiError(409, "channel_exists", f"channel {name!r} exists")
        tx.conn.execute(
            insert(m.channels).values(
                name=name,
                token_hash=auth.token_hash(token),
                stores=_stores_text(stores),
                active=True,
                created_at=now,
                revoked_at=None,
            )
        )
        detail = {"channel": name, "stores": sorted(set(stores))}
        write_audit(tx.conn, [audit_row(actor, "channel.add", None, detail, now)])
        return token

    return db.run_write(run)


def revoke_channel(db: Database, name: str, actor: Actor) -> None:
    """Revokes a channel's token; its open reservations stay until they end.

    Raises:
        ApiError: 404 ``unknown_channel``.
    """
    now = _now()

    def run(tx: WriteTx) -> None:
        done = tx.conn.execute(
            update(m.channels)
            .where(m.channels.c.name == name, m.channels.c.active.is_(True))
            .values(active=False, revoked_at=now)
        ).rowcount
        if done != 1:
            raise ApiError(404, "unknown_channel", f"no active channel {name!r}")
        write_audit(tx.conn, [audit_row(actor, "channel.revoke", None, {"channel": name}, now)])

    db.run_write(run)


def list_channels(db: Database) -> list[ChannelInfo]:
    """Every channel, by name."""
    with db.read() as conn:
        rows = conn.execute(select(m.channels).order_by(m.channels.c.name)).all()
    return [
        ChannelInfo(
            x.name, tuple(s for s in x.stores.split(",") if s), bool(x.active), x.created_at
        )
        for x in rows
    ]


def authenticate_channel(conn: Connection, token: str | None) -> ChannelIdentity:
    """The channel a bearer token belongs to.

    Raises:
        ApiError: 401 if the token is missing, unknown or revoked; 403 for another kind
            of token.
    """
    if not token:
        raise unauthorised("unauthorised", "an Authorization: Bearer <channel token> is required")
    row = conn.execute(
        select(m.channels.c.name, m.channels.c.stores, m.channels.c.active).where(
            m.channels.c.token_hash == auth.token_hash(token)
        )
    ).first()
    if row is None:
        if token.startswith((auth.DEVICE_TOKEN_PREFIX, auth.ADMIN_TOKEN_PREFIX)):
            raise ApiError(403, "forbidden", "this call needs a channel token")
        raise unauthorised("invalid_token", "unknown token")
    if not row.active:
        raise unauthorised("token_revoked", f"channel {row.name} was revoked")
    return ChannelIdentity(row.name, frozenset(s for s in row.stores.split(",") if s))


# -- reading ------------------------------------------------------------------------------


def _request_hash(req: p.ReservationRequest) -> str:
    body = {
        "store": req.store,
        "lines": sorted((x.sku, x.qty_milli) for x in req.lines),
        "ttl_s": req.ttl_s,
        "pickup": req.pickup,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _lines(conn: Connection, reservation_id: uuid.UUID) -> list[p.SkuQty]:
    rows = conn.execute(
        select(rl.c.sku, rl.c.qty_milli)
        .where(rl.c.reservation_id == reservation_id)
        .order_by(rl.c.sku)
    ).all()
    return [p.SkuQty(sku=x.sku, qty_milli=int(x.qty_milli)) for x in rows]


def _data(conn: Connection, row: Any) -> p.ReservationData:
    show_code = row.pickup and row.status == "confirmed"
    return p.ReservationData(
        reservation_id=row.id,
        order_id=row.order_id,
        channel=row.channel,
        store=row.store_code,
        status=row.status,
        pickup=bool(row.pickup),
        lines=_lines(conn, row.id),
        reserved_at=row.reserved_at,
        expires_at=row.expires_at,
        confirmed_at=row.confirmed_at,
        pickup_code=row.pickup_code if show_code else None,
        ready=bool(row.ready),
        sale_id=row.sale_id,
    )


def _pickup_data(conn: Connection, row: Any) -> p.PickupData:
    code = row.pickup_code
    return p.PickupData(
        reservation_id=row.id,
        order_id=row.order_id,
        channel=row.channel,
        store=row.store_code,
        status=row.status,
        ready=bool(row.ready),
        lines=_lines(conn, row.id),
        code_hash=pickup_codes.code_hash(row.id, code) if code else None,
        confirmed_at=row.confirmed_at,
        sale_id=row.sale_id,
    )


def _pickup_change(conn: Connection, row: Any) -> feed.Pending:
    return feed.Pending("pickup", str(row.id), row.store_code, _pickup_data(conn, row))


def _by_order(conn: Connection, channel: str, order_id: str) -> Any:
    return conn.execute(select(r).where(r.c.channel == channel, r.c.order_id == order_id)).first()


def _own(conn: Connection, channel: ChannelIdentity, order_id: str) -> Any:
    # Another channel's order answers exactly like a missing one.
    row = _by_order(conn, channel.name, order_id)
    if row is None:
        raise ApiError(404, "unknown_order", f"no order {order_id} of channel {channel.name}")
    return row


def get(db: Database, channel: ChannelIdentity, order_id: str) -> p.ReservationData:
    """The channel's order ``order_id``.

    Raises:
        ApiError: 404 ``unknown_order`` (also for another channel's order).
    """
    with db.read() as conn:
        return _data(conn, _own(conn, channel, order_id))


# -- changing reserved quantities ---------------------------------------------------------


def _shift_reserved(
    conn: Connection, store: str, lines: Sequence[tuple[str, int]], sign: int, now: datetime
) -> list[feed.Pending]:
    """Adds ``sign * qty`` to the reserved quantity of each line (no condition: giving
    back, or a capture); returns the stock feed changes."""
    changes = []
    for sku, qty in sorted(lines):
        row = conn.execute(
            update(sl)
            .where(sl.c.store_code == store, sl.c.sku == sku)
            .values(reserved_milli=sl.c.reserved_milli + sign * qty, updated_at=now)
            .returning(sl.c.on_hand_milli, sl.c.reserved_milli)
        ).first()
        if row is not None:
            changes.append(
                stock_change(store, sku, int(row.on_hand_milli), int(row.reserved_milli), now)
            )
    return with_in_transit(conn, changes)


def _line_pairs(conn: Connection, reservation_id: uuid.UUID) -> list[tuple[str, int]]:
    return [(x.sku, x.qty_milli) for x in _lines(conn, reservation_id)]


def reserve(
    db: Database, channel: ChannelIdentity, req: p.ReservationRequest, now: datetime | None = None
) -> tuple[bool, p.ReservationData]:
    """Holds an order's lines at ``req.store``; once per (channel, order id): a repeat
    answers the existing reservation (``created`` False) whatever its state now.

    Raises:
        ShortStock: 409 with every line the available stock does not cover (nothing held).
        ApiError: 403 ``store_out_of_scope``; 409 ``order_id_reused``.
    """
    if req.store not in channel.stores:
        raise ApiError(
            403,
            "store_out_of_scope",
            f"channel {channel.name} does not sell from store {req.store}",
        )
    when = now or _now()
    req_hash = _request_hash(req)

    def repeat(conn: Connection) -> tuple[bool, p.ReservationData] | None:
        row = _by_order(conn, channel.name, req.order_id)
        if row is None:
            return None
        if row.request_hash != req_hash:
            raise ApiError(
                409,
                "order_id_reused",
                f"order {req.order_id} was reserved with different lines or store",
            )
        return False, _data(conn, row)

    def run(tx: WriteTx) -> tuple[bool, p.ReservationData]:
        conn = tx.conn
        again = repeat(conn)
        if again is not None:
            return again
        short: list[p.ShortLine] = []
        changes: list[feed.Pending] = []
        for line in sorted(req.lines, key=lambda x: x.sku):
            row = conn.execute(
                update(sl)
                .where(
                    sl.c.store_code == req.store,
                    sl.c.sku == line.sku,
                    sl.c.on_hand_milli - sl.c.reserved_milli >= line.qty_milli,
                )
                .values(reserved_milli=sl.c.reserved_milli + line.qty_milli, updated_at=when)
                .returning(sl.c.on_hand_milli, sl.c.reserved_milli)
            ).first()
            if row is None:
                short.append(
                    p.ShortLine(sku=line.sku, requested_milli=line.qty_milli, available_milli=0)
                )
                continue
            changes.append(
                stock_change(
                    req.store, line.sku, int(row.on_hand_milli), int(row.reserved_milli), when
                )
            )
        if short:
            # The same order committed meanwhile by a retry on another connection.
            again = repeat(conn)
            if again is not None:
                raise _Repeat(again)
            found = {
                x.sku: int(x.on_hand_milli) - int(x.reserved_milli)
                for x in conn.execute(
                    select(sl.c.sku, sl.c.on_hand_milli, sl.c.reserved_milli).where(
                        sl.c.store_code == req.store, sl.c.sku.in_([s.sku for s in short])
                    )
                )
            }
            raise ShortStock(
                [
                    s.model_copy(update={"available_milli": max(0, found.get(s.sku, 0))})
                    for s in short
                ]
            )
        rid = uuid.uuid4()
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(r).values(
                        id=rid,
                        channel=channel.name,
                        order_id=req.order_id,
                        store_code=req.store,
                        request_hash=req_hash,
                        status="reserved",
                        pickup=req.pickup,
                        ready=False,
                        pickup_code=None,
                        reserved_at=when,
                        expires_at=when + timedelta(seconds=req.ttl_s),
                        confirmed_at=None,
                        settled_at=None,
                        sale_id=None,
                    )
                )
        except IntegrityError:
            # The same order committed by a concurrent request: undo this one's hold.
            raise RetryableWrite("reservation created concurrently") from None
        conn.execute(
            insert(rl),
            [{"reservation_id": rid, "sku": x.sku, "qty_milli": x.qty_milli} for x in req.lines],
        )
        feed.append(tx, with_in_transit(conn, changes), when)
        row = conn.execute(select(r).where(r.c.id == rid)).one()
        return True, _data(conn, row)

    try:
        return db.run_write(run)
    except _Repeat as rep:
        return rep.answer


class _Repeat(Exception):
    """Carries a repeat's answer out of a transaction that must roll back."""

    def __init__(self, answer: tuple[bool, p.ReservationData]) -> None:
        super().__init__("repeat")
        self.answer = answer


def confirm(
    db: Database, channel: ChannelIdentity, order_id: str, now: datetime | None = None
) -> p.ReservationData:
    """Marks an order paid: its stock stays held with no expiry; a pick-up order gets its
    pick-up code and reaches its store's tills. Confirming again changes nothing.

    Raises:
        ApiError: 404 ``unknown_order``; 409 ``reservation_ended`` (cancelled or expired).
    """
    when = now or _now()

    def run(tx: WriteTx) -> p.ReservationData:
        conn = tx.conn
        row = _own(conn, channel, order_id)
        code = pickup_codes.new_code() if row.pickup else None
        done = conn.execute(
            update(r)
            .where(r.c.id == row.id, r.c.status == "reserved", r.c.expires_at > when)
            .values(
                status="confirmed",
                confirmed_at=when,
                expires_at=when + _NO_EXPIRY,
                pickup_code=code,
            )
        ).rowcount
        row = conn.execute(select(r).where(r.c.id == row.id)).one()
        if done != 1:
            if row.status in ("confirmed", "collected"):
                return _data(conn, row)
            raise ApiError(
                409,
                "reservation_ended",
                f"order {order_id} is {row.status if row.status != 'reserved' else 'expired'}",
            )
        if row.pickup:
            feed.append(tx, [_pickup_change(conn, row)], when)
        return _data(conn, row)

    return db.run_write(run)


def _release(
    tx: WriteTx, rows: Sequence[Any], from_status: str, status: str, when: datetime
) -> list[Any]:
    """Ends reservations still in ``from_status`` (as ``status``), giving their stock back;
    rows ended meanwhile by someone else are skipped. Returns the rows ended here."""
    conn = tx.conn
    ended = []
    changes: list[feed.Pending] = []
    for row in sorted(rows, key=lambda x: x.id):
        cond = [r.c.id == row.id, r.c.status == from_status]
        if status == "expired":
            cond.append(r.c.expires_at <= when)
        done = conn.execute(update(r).where(*cond).values(status=status, settled_at=when)).rowcount
        if done != 1:
            continue
        ended.append(row)
        changes.extend(_shift_reserved(conn, row.store_code, _line_pairs(conn, row.id), -1, when))
        if row.pickup and from_status == "confirmed":
            changes.append(
                _pickup_change(conn, conn.execute(select(r).where(r.c.id == row.id)).one())
            )
    feed.append(tx, changes, when)
    return ended


def cancel(
    db: Database,
    channel: ChannelIdentity,
    order_id: str,
    now: datetime | None = None,
    *,
    actor: Actor | None = None,
) -> p.ReservationData:
    """Cancels an order (paid or not): its held stock goes back. Cancelling again, or an
    order that expired, changes nothing. ``actor``: someone other than the channel
    cancelling it (an HQ console user), audited with the cancellation.

    Raises:
        ApiError: 404 ``unknown_order``; 409 ``pickup_collected`` for an order handed over.
    """
    when = now or _now()

    def run(tx: WriteTx) -> p.ReservationData:
        conn = tx.conn
        row = _own(conn, channel, order_id)
        if row.status in ("reserved", "confirmed"):
            if actor is not None:
                # Before the release: the audit head is locked before the feed counter.
                detail = {"channel": channel.name, "order_id": order_id, "was": row.status}
                write_audit(
                    conn,
                    [audit_row(actor, "reservation.cancel", None, detail, when, row.store_code)],
                )
            _release(tx, [row], row.status, "cancelled", when)
            row = conn.execute(select(r).where(r.c.id == row.id)).one()
        if row.status == "collected":
            raise ApiError(
                409, "pickup_collected", f"order {order_id} was collected in store {row.store_code}"
            )
        if row.status in ("reserved", "confirmed"):
            # Changed state between the read and the update: run again.
            raise RetryableWrite(f"order {order_id} changed while cancelling")
        return _data(conn, row)

    return db.run_write(run)


def sweep_expired(db: Database, now: datetime | None = None, batch: int = 500) -> int:
    """Gives back the stock of every unconfirmed reservation past its time; returns how
    many. Safe to run from any number of HQ processes at once: each reservation is ended
    by the one whose conditional UPDATE matched it."""
    total = 0
    while True:
        when = now or _now()

        def run(tx: WriteTx, when: datetime = when) -> tuple[int, int]:
            rows = tx.conn.execute(
                select(r)
                .where(r.c.status == "reserved", r.c.expires_at <= when)
                .order_by(r.c.expires_at, r.c.id)
                .limit(batch)
            ).all()
            return len(rows), len(_release(tx, rows, "reserved", "expired", when))

        seen, ended = db.run_write(run)
        total += ended
        if ended:
            log.info("released %d expired reservations", ended)
        if seen < batch:
            return total


# -- pick-up at the store -----------------------------------------------------------------


def mark_ready(
    db: Database, device: DeviceIdentity, reservation_id: uuid.UUID, now: datetime | None = None
) -> p.PickupData:
    """A till of the pick-up store says the order is packed and waiting (待自提).

    Raises:
        ApiError: 404 ``unknown_pickup`` (also another store's); 409 ``reservation_ended``.
    """
    when = now or _now()

    def run(tx: WriteTx) -> p.PickupData:
        conn = tx.conn
        row = conn.execute(select(r).where(r.c.id == reservation_id)).first()
        if row is None or row.store_code != device.store or not row.pickup:
            raise ApiError(404, "unknown_pickup", f"no pick-up order {reservation_id} here")
        done = conn.execute(
            update(r)
            .where(r.c.id == row.id, r.c.status == "confirmed", r.c.ready.is_(False))
            .values(ready=True)
        ).rowcount
        row = conn.execute(select(r).where(r.c.id == row.id)).one()
        if row.status != "confirmed" and not (row.status == "collected"):
            raise ApiError(409, "reservation_ended", f"order {row.order_id} is {row.status}")
        if done == 1:
            feed.append(tx, [_pickup_change(conn, row)], when)
        return _pickup_data(conn, row)

    return db.run_write(run)


@dataclass(frozen=True, slots=True)
class CaptureRefused:
    """Why a sale cannot hand over a pick-up order (a push reject reason); ``retryable``
    while the order may still become capturable (reserved, not yet paid)."""

    reason: Literal["unknown_pickup", "pickup_collected"]
    detail: str
    retryable: bool = False


def capture_pickup(
    conn: Connection, store: str, reservation_id: uuid.UUID, sale_id: uuid.UUID, now: datetime
) -> CaptureRefused | list[feed.Pending]:
    """Inside a push: the sale ``sale_id`` hands over the confirmed pick-up order
    ``reservation_id``. Its reserved quantities go (the sale's own lines take on hand
    down, as any sale); returns the feed changes, or why it cannot."""
    row = conn.execute(select(r).where(r.c.id == reservation_id)).first()
    if row is None or row.store_code != store or not row.pickup:
        return CaptureRefused("unknown_pickup", f"no pick-up order {reservation_id} at {store}")
    done = conn.execute(
        update(r)
        .where(r.c.id == reservation_id, r.c.status == "confirmed")
        .values(status="collected", sale_id=sale_id, settled_at=now, ready=True)
    ).rowcount
    if done != 1:
        status = conn.execute(select(r.c.status).where(r.c.id == reservation_id)).scalar_one()
        if status == "collected":
            return CaptureRefused("pickup_collected", f"order {row.order_id} was already collected")
        if status == "reserved":
            return CaptureRefused(
                "unknown_pickup", f"order {row.order_id} is not paid yet; try again later", True
            )
        return CaptureRefused("pickup_collected", f"order {row.order_id} is {status}")
    changes = _shift_reserved(conn, store, _line_pairs(conn, reservation_id), -1, now)
    changes.append(
        _pickup_change(conn, conn.execute(select(r).where(r.c.id == reservation_id)).one())
    )
    return changes


# -- conflicts with till sales ------------------------------------------------------------


def record_conflicts(
    conn: Connection,
    levels: Sequence[tuple[str, str, int, int, str | None]],
    now: datetime,
) -> int:
    """Inside a push: records each (store, sku, on hand, reserved, sale ref) whose on hand
    a till sale took below its reserved quantity, naming the orders holding it. The sale
    stands: the goods left the shop. Returns how many were recorded."""
    hit = [x for x in levels if x[3] > 0 and x[2] < x[3]]
    if not hit:
        return 0
    orders: dict[tuple[str, str], list[str]] = {}
    for store, sku, order_id, channel in conn.execute(
        select(r.c.store_code, rl.c.sku, r.c.order_id, r.c.channel)
        .join(rl, rl.c.reservation_id == r.c.id)
        .where(
            r.c.status.in_(("reserved", "confirmed")),
            tuple_(r.c.store_code, rl.c.sku).in_([(x[0], x[1]) for x in hit]),
        )
        .order_by(r.c.reserved_at)
    ):
        orders.setdefault((store, sku), []).append(f"{channel}:{order_id}")
    rows = []
    for store, sku, on_hand, reserved, ref in hit:
        named = orders.get((store, sku), [])
        rows.append(
            {
                "store_code": store,
                "sku": sku,
                "sale_ref": ref,
                "on_hand_milli": on_hand,
                "reserved_milli": reserved,
                "orders": ",".join(named)[:2000],
                "created_at": now,
                "resolved_at": None,
            }
        )
        log.warning(
            "till sale %s took %s/%s below its reservations (%d < %d): %s",
            ref,
            store,
            sku,
            on_hand,
            reserved,
            ", ".join(named) or "-",
        )
    conn.execute(insert(m.reservation_conflicts), rows)
    return len(rows)


def list_conflicts(db: Database, store: str | None = None, limit: int = 200) -> list[Conflict]:
    """Recorded conflicts, newest first."""
    c = m.reservation_conflicts
    q = select(c).order_by(c.c.id.desc()).limit(limit)
    if store is not None:
        q = q.where(c.c.store_code == store)
    with db.read() as conn:
        rows = conn.execute(q).all()
    return [
        Conflict(
            int(x.id),
            x.store_code,
            x.sku,
            x.sale_ref,
            int(x.on_hand_milli),
            int(x.reserved_milli),
            tuple(o for o in x.orders.split(",") if o),
            x.created_at,
        )
        for x in rows
    ]


def list_reservations(
    db: Database, store: str | None = None, status: str | None = None, limit: int = 200
) -> list[p.ReservationData]:
    """Reservations, newest first, as their channels see them (pick-up codes hidden)."""
    q = select(r).order_by(r.c.reserved_at.desc(), r.c.id.desc()).limit(limit)
    if store is not None:
        q = q.where(r.c.store_code == store)
    if status is not None:
        q = q.where(r.c.status == status)
    with db.read() as conn:
        return [
            _data(conn, x).model_copy(update={"pickup_code": None}) for x in conn.execute(q).all()
        ]


def pickups_of_store(conn: Connection, store: str) -> list[p.PickupData]:
    """The paid pick-up orders of a store waiting for their customer (for a snapshot)."""
    rows = conn.execute(
        select(r).where(r.c.store_code == store, r.c.pickup.is_(True), r.c.status == "confirmed")
    ).all()
    return [_pickup_data(conn, x) for x in rows]
