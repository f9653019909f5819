"""Recording sales: one transaction for the sale, lines, tenders, stock and outbox row."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pos_app.domain.cart import Unit
from pos_app.domain.tender import TenderKind
from pos_app.localdb.models import OutboxEvent, Sale, SaleLine, SaleTender
from pos_app.localdb.models import SaleMember as SaleMemberRow
from pos_app.localdb.pending_stock import add_sold


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


def record_sale(session: Session, sale: SaleRecord, event: OutboxRecord) -> int:
    """Writes the sale and its outbox event; returns the event's local sequence number.

    The caller owns the transaction: commit once, after this returns, so that the sale,
    its stock decrement and its event are durable together or not at all.
    """
    session.add(Sale(**{f: getattr(sale, f) for f in _SALE_COLUMNS}))
    session.add_all(
        SaleLine(sale_id=sale.id, **{f: getattr(ln, f) for f in LineRecord.__slots__})
        for ln in sale.lines
    )
    session.add_all(
        SaleTender(
            sale_id=sale.id,
            idx=i,
            kind=t.kind,
            amount_fen=t.amount_fen,
            tendered_fen=t.tendered_fen,
            reference=t.reference,
        )
        for i, t in enumerate(sale.tenders)
    )
    if sale.member is not None:
        session.add(
            SaleMemberRow(
                sale_id=sale.id, **{f: getattr(sale.member, f) for f in SaleMemberRecord.__slots__}
            )
        )
    add_sold(session, sale.lines)
    row = OutboxEvent(
        event_id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_at,
        payload=event.payload,
        state="pending",
        attempts=0,
    )
    session.add(row)
    session.flush()
    return row.seq


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
