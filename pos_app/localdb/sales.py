"""Recording sales: one transaction for the sale, lines, tenders, stock and outbox row.

:func:`record_sale` writes on the ``sqlite3`` connection of the caller's transaction
(:func:`~pos_app.localdb.engine.raw_write_transaction`): a sale is about thirty rows, and
the ORM's unit of work cost several times the whole durable commit. The rows are the same
as the models (:class:`~pos_app.localdb.models.Sale` and its neighbours) describe and read
back; times are stored as :func:`~pos_app.localdb.types.to_utc_text`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pos_app.domain.cart import Unit
from pos_app.domain.tender import TenderKind
from pos_app.localdb.models import OutboxEvent, Sale, SaleLine, SaleTender
from pos_app.localdb.models import SaleMember as SaleMemberRow
from pos_app.localdb.pending_stock import add_sold
from pos_app.localdb.types import to_utc_text


@dataclass(frozen=True, slots=True)
class LineRecord:
    """A sale line as the till stores it: the wire line
    (:class:`sync_client.contract.protocol.SaleLine`, built from this record) plus the
    local ``item_id``. ``amount_fen = list_amount_fen - discount_fen``."""

    line_no: int
    item_id: int
    sku: str
    barcode: str | None
    name: str
    unit: Unit
    qty_milli: int
    unit_price_fen: int
    price_version: int
    list_amount_fen: int
    discount_fen: int
    amount_fen: int
    options_json: str | None = None
    """A drink's chosen options: a JSON list of ``protocol.SaleOption`` (``unit_price_fen``
    includes their prices); None for plain items."""
    menu_version: int | None = None
    """The menu version that priced the options."""
    promotions_json: str | None = None
    """What each promotion took off the line: a JSON list of ``id``, ``version``,
    ``amount_fen`` and ``name`` (as the receipt prints it); None when none did."""

    @property
    def promotions(self) -> list[dict[str, int]] | None:
        """The line's promotions as the wire line carries them (id, version, fen)."""
        if self.promotions_json is None:
            return None
        return [
            {"id": int(x["id"]), "version": int(x["version"]), "amount_fen": int(x["amount_fen"])}
            for x in json.loads(self.promotions_json)
        ]

    def promotion_amounts(self) -> list[tuple[str, int]]:
        """(name, fen) of each promotion on the line, in the order they applied."""
        if self.promotions_json is None:
            return []
        return [(str(x["name"]), int(x["amount_fen"])) for x in json.loads(self.promotions_json)]

    @property
    def options(self) -> list[dict[str, Any]] | None:
        """The chosen options as the wire line carries them."""
        return None if self.options_json is None else list(json.loads(self.options_json))

    def option_names(self) -> list[str]:
        """The chosen options' names as sold (Chinese), in order."""
        return [str(o["name"]) for o in self.options or ()]


@dataclass(frozen=True, slots=True)
class TenderRecord:
    kind: TenderKind
    amount_fen: int
    tendered_fen: int | None
    reference: str | None


@dataclass(frozen=True, slots=True)
class SaleMemberRecord:
    """The member a sale was for, as the receipt prints it. ``points_earned`` and
    ``points_after`` are the till's estimate of what HQ credits when the sale arrives
    (``points_after`` None: balance unknown, e.g. identified offline). ``coupon_id`` and
    ``coupon_valid_until``: the coupon the sale used, for its return."""

    number: str | None
    signup_id: str | None
    name: str
    phone_masked: str
    tier: str
    points_used: int = 0
    points_earned: int = 0
    points_after: int | None = None
    balance_after_fen: int | None = None
    coupon_name: str | None = None
    coupon_fen: int = 0
    coupon_id: str | None = None
    coupon_valid_until: datetime | None = None

    @property
    def label(self) -> str:
        """Name and masked phone, as printed."""
        return f"{self.name} {self.phone_masked}".strip()


@dataclass(frozen=True, slots=True)
class SaleRecord:
    id: str
    receipt_no: str
    store_code: str
    terminal_id: str
    cashier: str
    started_at: datetime
    completed_at: datetime
    subtotal_fen: int
    discount_fen: int
    rounding_fen: int
    total_fen: int
    change_fen: int
    reference: str
    lines: tuple[LineRecord, ...]
    tenders: tuple[TenderRecord, ...]
    status: str = "completed"
    member: SaleMemberRecord | None = None
    shift_id: str | None = None


_SALE_COLUMNS = tuple(f for f in SaleRecord.__slots__ if f not in ("lines", "tenders", "member"))
"""The fields of a :class:`SaleRecord` stored as columns of ``sale``."""


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    event_id: str
    type: str
    occurred_at: datetime
    payload: str


_LINE_FIELDS = tuple(f for f in LineRecord.__slots__ if f != "unit")
"""The line's fields stored as they are; ``unit`` (a ``StrEnum``) goes last, as text."""
_LINE_COLUMNS = ("sale_id", *_LINE_FIELDS, "unit")
_TENDER_COLUMNS = ("sale_id", "idx", "kind", "amount_fen", "tendered_fen", "reference")
_MEMBER_COLUMNS = ("sale_id", *SaleMemberRecord.__slots__)
_TIMES = frozenset({"started_at", "completed_at", "coupon_valid_until"})
"""Columns stored as UTC text (:class:`~pos_app.localdb.types.UTCDateTime`)."""


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_INSERT_SALE = _insert("sale", _SALE_COLUMNS)
_INSERT_LINE = _insert("sale_line", _LINE_COLUMNS)
_INSERT_TENDER = _insert("sale_tender", _TENDER_COLUMNS)
_INSERT_MEMBER = _insert("sale_member", _MEMBER_COLUMNS)
_INSERT_EVENT = (
    "INSERT INTO outbox (event_id, type, occurred_at, payload, state, attempts, last_error) "
    "VALUES (?, ?, ?, ?, 'pending', 0, NULL)"
)


def _column(name: str, value: Any) -> Any:
    """``value`` as its column stores it: times as UTC text, enum members as their value."""
    if value is None:
        return None
    if name in _TIMES:
        return to_utc_text(value)
    return value.value if isinstance(value, Enum) else value


def record_sale(db: sqlite3.Connection, sale: SaleRecord, event: OutboxRecord) -> int:
    """Writes the sale and its outbox event; returns the event's local sequence number.

    ``db`` is the ``sqlite3`` connection of a ``BEGIN IMMEDIATE`` transaction
    (:func:`~pos_app.localdb.engine.raw_write_transaction`). The caller owns the
    transaction: commit once, after this returns, so that the sale, its stock decrement
    and its event are durable together or not at all.
    """
    db.execute(_INSERT_SALE, [_column(f, getattr(sale, f)) for f in _SALE_COLUMNS])
    db.executemany(
        _INSERT_LINE,
        [(sale.id, *(getattr(ln, f) for f in _LINE_FIELDS), str(ln.unit)) for ln in sale.lines],
    )
    db.executemany(
        _INSERT_TENDER,
        [
            (sale.id, i, _column("kind", t.kind), t.amount_fen, t.tendered_fen, t.reference)
            for i, t in enumerate(sale.tenders)
        ],
    )
    if sale.member is not None:
        member = sale.member
        db.execute(
            _INSERT_MEMBER,
            (sale.id, *(_column(f, getattr(member, f)) for f in SaleMemberRecord.__slots__)),
        )
    add_sold(db, sale.lines)
    cur = db.execute(
        _INSERT_EVENT,
        (event.event_id, event.type, to_utc_text(event.occurred_at), event.payload),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def _sale_record(session: Session, sale: Sale) -> SaleRecord:
    lines = session.scalars(
        select(SaleLine).where(SaleLine.sale_id == sale.id).order_by(SaleLine.line_no)
    ).all()
    tenders = session.scalars(
        select(SaleTender).where(SaleTender.sale_id == sale.id).order_by(SaleTender.idx)
    ).all()
    member = session.get(SaleMemberRow, sale.id)
    return SaleRecord(
        **{f: getattr(sale, f) for f in _SALE_COLUMNS},
        member=None
        if member is None
        else SaleMemberRecord(**{f: getattr(member, f) for f in SaleMemberRecord.__slots__}),
        lines=tuple(
            LineRecord(
                **{f: getattr(ln, f) for f in LineRecord.__slots__ if f != "unit"},
                unit=Unit(ln.unit),
            )
            for ln in lines
        ),
        tenders=tuple(
            TenderRecord(TenderKind(t.kind), t.amount_fen, t.tendered_fen, t.reference)
            for t in tenders
        ),
    )


def get_sale(session: Session, sale_id: str) -> SaleRecord | None:
    sale = session.get(Sale, sale_id)
    return None if sale is None else _sale_record(session, sale)


def last_sale(session: Session, terminal_id: str) -> SaleRecord | None:
    sale = session.scalars(
        select(Sale)
        .where(Sale.terminal_id == terminal_id)
        .order_by(Sale.completed_at.desc(), Sale.receipt_no.desc())
        .limit(1)
    ).first()
    return None if sale is None else _sale_record(session, sale)


def outbox_depth(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.state == "pending")
        )
        or 0
    )
