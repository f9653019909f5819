"""Recording sales: one transaction for the sale, lines, tenders, stock and outbox row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from pos_app.localdb.models import OutboxEvent, Sale, SaleLine, SaleTender
from pos_app.localdb.models import SaleMember as SaleMemberRow


@dataclass(frozen=True, slots=True)
class LineRecord:
    line_no: int
    item_id: int
    sku: str
    barcode: str | None
    name: str
    unit: str
    qty_milli: int
    unit_price_fen: int
    price_version: int
    list_amount_fen: int
    discount_fen: int
    amount_fen: int


@dataclass(frozen=True, slots=True)
class TenderRecord:
    kind: str
    amount_fen: int
    tendered_fen: int | None
    reference: str | None


@dataclass(frozen=True, slots=True)
class SaleMemberRecord:
    """The member a sale was for, as the receipt prints it. ``points_earned`` and
    ``points_after`` are the till's estimate of what HQ credits when the sale arrives
    (``points_after`` None: balance unknown, e.g. identified offline)."""

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
    sold: dict[int, int] = {}
    for ln in sale.lines:
        sold[ln.item_id] = sold.get(ln.item_id, 0) + ln.qty_milli
    session.execute(
        text(
            "INSERT INTO stock_level (item_id, hq_qty_milli, local_sold_milli) "
            "VALUES (:i, 0, :q) ON CONFLICT(item_id) DO UPDATE "
            "SET local_sold_milli = local_sold_milli + :q"
        ),
        [{"i": item_id, "q": qty} for item_id, qty in sold.items()],
    )
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
            LineRecord(**{f: getattr(ln, f) for f in LineRecord.__slots__}) for ln in lines
        ),
        tenders=tuple(
            TenderRecord(t.kind, t.amount_fen, t.tendered_fen, t.reference) for t in tenders
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


def stock_on_hand(session: Session, item_id: int) -> int | None:
    """This store's level in qty_milli: HQ's last figure minus unsynced local sales."""
    row = session.execute(
        text("SELECT hq_qty_milli - local_sold_milli FROM stock_level WHERE item_id = :i"),
        {"i": item_id},
    ).first()
    return None if row is None else int(row[0])
