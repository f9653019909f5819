"""SQLAlchemy 2 models of the terminal database.

Money columns are integer fen, quantities integer thousandths (``qty_milli``), times
timezone-aware UTC (:class:`UTCDateTime`). The catalogue is never loaded whole: every read
is an indexed lookup or a bounded search.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pos_app.localdb.types import UTCDateTime


class Base(DeclarativeBase):
    pass


class Setting(Base):
    """Key/value settings of this terminal and its store (JSON-encoded values)."""

    __tablename__ = "setting"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Store(Base):
    __tablename__ = "store"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    address_zh: Mapped[str] = mapped_column(String(200), default="")
    address_en: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    active: Mapped[bool] = mapped_column(default=True, server_default="1")
    region: Mapped[str] = mapped_column(String(32), default="", server_default=text("''"))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)


class Staff(Base):
    """A person who may sign in. ``pin_hash`` is a scrypt hash (see domain.pin)."""

    __tablename__ = "staff"
    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    store_code: Mapped[str | None] = mapped_column(String(32))
    pin_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lockouts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Lockouts in a row (each longer); a right PIN resets it."""


class Category(Base):
    __tablename__ = "category"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))


class Item(Base):
    """A catalogue item (SKU). ``pinyin_initials`` makes ``ynbb`` find 芋泥波波."""

    __tablename__ = "item"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    unit: Mapped[str] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(32))
    pinyin_initials: Mapped[str] = mapped_column(String(200), default="")
    pinyin_full: Mapped[str] = mapped_column(String(400), default="")
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (
        Index("ix_item_pinyin_initials", "pinyin_initials"),
        Index("ix_item_name_zh", "name_zh"),
    )


class Barcode(Base):
    """Barcodes (normalised GTINs) and scale PLUs (``PLU:00101``) of items."""

    __tablename__ = "barcode"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)

    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 (SQLAlchemy reads it once)


class Price(Base):
    """A price version. In force from ``effective_at``; a store-specific row beats a
    chain-wide one (``store_code`` NULL). ``version`` is HQ's id, recorded on sale lines."""

    __tablename__ = "price"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"))
    store_code: Mapped[str | None] = mapped_column(String(32))
    price_fen: Mapped[int] = mapped_column(Integer)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_price_item_effective", "item_id", "effective_at"),)


class StockLevel(Base):
    """This store's stock as HQ last reported it (``hq_qty_milli``) and what was sold here
    since (``local_sold_milli``, reset when HQ's figure includes those sales)."""

    __tablename__ = "stock_level"
    item_id: Mapped[int] = mapped_column(
        ForeignKey("item.id", ondelete="CASCADE"), primary_key=True
    )
    hq_qty_milli: Mapped[int] = mapped_column(Integer, default=0)
    local_sold_milli: Mapped[int] = mapped_column(Integer, default=0)


class StockPending(Base):
    """Own sales HQ has accepted whose effect on stock the terminal has not seen yet.

    When HQ answers a push it names a feed seq (``until_seq``) at or after the stock
    changes those sales made. Until the terminal's cursor reaches it, HQ's level held in
    ``stock_level`` does not include them, so they stay in ``local_sold_milli``; applying
    changes up to ``until_seq`` takes them out.
    """

    __tablename__ = "stock_pending"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    until_seq: Mapped[int] = mapped_column(Integer, index=True)
    item_id: Mapped[int] = mapped_column(Integer)
    qty_milli: Mapped[int] = mapped_column(Integer)


class HqConfig(Base):
    """Settings HQ publishes, chain-wide (``scope`` ``*``) or for a store (its code).

    The value in force for this store (store beats chain-wide) is copied into ``setting``
    under the same key, where the services read it."""

    __tablename__ = "hq_config"
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Sale(Base):
    __tablename__ = "sale"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    receipt_no: Mapped[str] = mapped_column(String(64), unique=True)
    store_code: Mapped[str] = mapped_column(String(32))
    terminal_id: Mapped[str] = mapped_column(String(32))
    cashier: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    subtotal_fen: Mapped[int] = mapped_column(Integer)
    discount_fen: Mapped[int] = mapped_column(Integer)
    rounding_fen: Mapped[int] = mapped_column(Integer)
    total_fen: Mapped[int] = mapped_column(Integer)
    change_fen: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="completed")
    shift_id: Mapped[str | None] = mapped_column(String(36), index=True)


class SaleLine(Base):
    __tablename__ = "sale_line"
    sale_id: Mapped[str] = mapped_column(ForeignKey("sale.id"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    barcode: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(8))
    qty_milli: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(Integer)
    price_version: Mapped[int] = mapped_column(Integer)
    list_amount_fen: Mapped[int] = mapped_column(Integer)
    discount_fen: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(Integer)
    # A drink's chosen options (JSON list of protocol.SaleOption; NULL for plain items)
    # and the menu version that priced them.
    options_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    menu_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # What each promotion took off the line (JSON list of id, version, amount_fen, name);
    # NULL when none did.
    promotions_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class Promotion(Base):
    """A promotion from HQ: the newest version held, as its wire definition (read by
    ``sync_client.contract.promotions.parse_promotion``)."""

    __tablename__ = "promotion"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[str] = mapped_column(Text)


class MenuVersion(Base):
    """A menu version from HQ (``protocol.MenuData``), kept whole as JSON in ``body``; in
    force from ``effective_at``, a store's own version (``store_code``) before the chain's
    (NULL), like :class:`Price`."""

    __tablename__ = "menu_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    store_code: Mapped[str | None] = mapped_column(String(32))
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_menu_version_effective", "effective_at"),)


class SoldOut(Base):
    """The latest sold-out mark (估清) of an item at this store, from this till or another
    of the store's (through HQ): ``sold_out`` for ``business_date`` (local date,
    YYYY-MM-DD), or back on sale; it means nothing on another day. The latest ``at`` wins."""

    __tablename__ = "sold_out"
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_date: Mapped[str] = mapped_column(String(10))
    sold_out: Mapped[bool] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    staff: Mapped[str] = mapped_column(String(32))


class SaleTender(Base):
    __tablename__ = "sale_tender"
    sale_id: Mapped[str] = mapped_column(ForeignKey("sale.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(Integer)
    tendered_fen: Mapped[int | None] = mapped_column(Integer)
    reference: Mapped[str | None] = mapped_column(String(64))


class OutboxEvent(Base):
    """An event waiting for HQ. ``seq`` is the terminal's local sequence (device_seq).

    A row leaves only after HQ answered applied/duplicate; ``state`` becomes ``rejected``
    when HQ refused it, and such rows are kept for the store manager.
    """

    __tablename__ = "outbox"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_outbox_state_seq", "state", "seq"),
        {"sqlite_autoincrement": True},
    )


class Counter(Base):
    """Named monotonically increasing counters (receipt numbers)."""

    __tablename__ = "counter"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class AuditEntry(Base):
    """Sensitive actions: sign-ins, lockouts, approvals, voids, reprints."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    staff: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(48))
    detail: Mapped[str] = mapped_column(Text, default="{}")


class QuarantinedChange(Base):
    """A change from HQ's feed the till could not apply (``seq`` set), or a setting it
    could not use (``kind`` ``setting``, no ``seq``): kept with the raw ``body`` and the
    ``error`` while the cursor moves on, and reported to HQ (``reported_at``)."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)

    __table_args__ = ({"sqlite_autoincrement": True},)


class PrintJob(Base):
    """A printout for the receipt printer: the durable print queue.

    A sale's receipt row is written in the sale's own transaction, so a crash after the
    commit never loses it. Jobs print in ``id`` order. ``state``: ``pending`` (waiting or
    being retried), ``printed`` (the printer took it and reported ready afterwards),
    ``failed`` (cannot be laid out; kept for the manager), ``cancelled`` (by a manager).
    Receipts are laid out from their sale when printed; other kinds keep their document
    as JSON (``hardware.document_to_dict``); a test page is drawn for the printer in use.
    """

    __tablename__ = "print_job"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    sale_id: Mapped[str | None] = mapped_column(ForeignKey("sale.id"), index=True)
    is_copy: Mapped[bool] = mapped_column(default=False)
    document: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    requested_by: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    printed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_print_job_state_id", "state", "id"),
        {"sqlite_autoincrement": True},
    )


class MemberCache(Base):
    """Members this till identified recently, so a sale can still earn for them when HQ
    is unreachable. Never a copy of all members: rows are written only when HQ answers an
    identification here, dropped when the feed says the account changed, and pruned after
    a few weeks. No full phone number: ``phone_key`` is a keyed hash of the number typed
    at an identification by phone (to find the member again offline)."""

    __tablename__ = "member_cache"
    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    phone_masked: Mapped[str] = mapped_column(String(20))
    tier: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(Integer)
    balance_fen: Mapped[int] = mapped_column(Integer)
    coupons: Mapped[str] = mapped_column(Text, default="[]")
    version: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    phone_key: Mapped[str | None] = mapped_column(String(64), index=True)


class MemberSignup(Base):
    """A customer who joined at this till. The sign-up is sent to HQ (``POST
    /v1/members``) with the same ``signup_id`` until HQ answers; ``phone_enc`` is the
    phone number encrypted with the terminal's key (AES-GCM), erased once HQ has it.
    ``state``: ``pending`` (waiting for HQ), ``sent`` (``member_number`` is the member HQ
    resolved it to), ``refused`` (HQ refused it; ``last_error`` says why)."""

    __tablename__ = "member_signup"
    signup_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_masked: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(64))
    consent_version: Mapped[str] = mapped_column(String(32))
    signed_up_at: Mapped[datetime] = mapped_column(UTCDateTime())
    staff: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    member_number: Mapped[str | None] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_member_signup_state", "state"),)


class MemberHold(Base):
    """A hold on a member's points, stored value or coupon for a sale being rung up,
    written before HQ is first asked so it can always be captured or given back.

    ``state``: ``requesting`` (asked; HQ's answer not yet recorded), ``held`` (HQ reserved
    ``value_fen``), ``captured`` (the committed sale ``sale_id`` lists it), ``releasing``
    (to be given back; retried until HQ confirms), ``released`` (HQ gave it back, or
    refused to make it). ``draft_id`` names the sale in progress that asked for it.
    """

    __tablename__ = "member_hold"
    hold_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    draft_id: Mapped[str] = mapped_column(String(36), index=True)
    member_number: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int | None] = mapped_column(Integer)
    coupon_id: Mapped[str | None] = mapped_column(String(36))
    value_fen: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    sale_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_member_hold_state", "state"),)


class SaleMember(Base):
    """The member a sale was rung up for, as the receipt prints it. ``points_earned`` and
    ``points_after`` are the till's estimate (HQ credits the points when the sale
    arrives); ``balance_after_fen`` is what HQ reported after the sale's holds."""

    __tablename__ = "sale_member"
    sale_id: Mapped[str] = mapped_column(ForeignKey("sale.id"), primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20))
    signup_id: Mapped[str | None] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(64))
    phone_masked: Mapped[str] = mapped_column(String(20))
    tier: Mapped[str] = mapped_column(String(16))
    points_used: Mapped[int] = mapped_column(Integer, default=0)
    points_earned: Mapped[int] = mapped_column(Integer, default=0)
    points_after: Mapped[int | None] = mapped_column(Integer)
    balance_after_fen: Mapped[int | None] = mapped_column(Integer)
    coupon_name: Mapped[str | None] = mapped_column(String(64))
    coupon_fen: Mapped[int] = mapped_column(Integer, default=0)
    coupon_id: Mapped[str | None] = mapped_column(String(36))
    coupon_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MemberTopup(Base):
    """Stored value bought at this till (cash or card, in ``tenders`` as JSON), pushed to
    HQ as a ``member.topped_up`` event committed in the same transaction."""

    __tablename__ = "member_topup"
    topup_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    receipt_no: Mapped[str] = mapped_column(String(64), unique=True)
    number: Mapped[str | None] = mapped_column(String(20))
    signup_id: Mapped[str | None] = mapped_column(String(36))
    member_name: Mapped[str] = mapped_column(String(64))
    phone_masked: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(Integer)
    tenders: Mapped[str] = mapped_column(Text)
    cashier: Mapped[str] = mapped_column(String(32))
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Shift(Base):
    """A cashier's shift at this till: its counted float, and once closed its blind count
    and the figures it closed with (JSON, as the handover slip printed them).

    At most one shift per terminal is ``open``; the shift service checks that inside its
    ``BEGIN IMMEDIATE`` transaction. ``shift_no`` is ``<terminal>-S<counter>``, so shift
    numbers never collide offline."""

    __tablename__ = "shift"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    shift_no: Mapped[str] = mapped_column(String(64), unique=True)
    store_code: Mapped[str] = mapped_column(String(32))
    terminal_id: Mapped[str] = mapped_column(String(32))
    staff: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    float_fen: Mapped[int] = mapped_column(Integer)
    float_counts: Mapped[str] = mapped_column(Text, default="{}")
    carried_from: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(8), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(32))
    business_date: Mapped[str | None] = mapped_column(String(10))
    counted_counts: Mapped[str | None] = mapped_column(Text)
    counted_cash_fen: Mapped[int | None] = mapped_column(Integer)
    expected_cash_fen: Mapped[int | None] = mapped_column(Integer)
    over_short_fen: Mapped[int | None] = mapped_column(Integer)
    figures: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    approved_by: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (Index("ix_shift_terminal_status", "terminal_id", "status"),)


class ShiftCashMovement(Base):
    """Cash added to the drawer (``in``, 备用金补充) or taken to the safe (``out``, 取款)."""

    __tablename__ = "shift_cash_movement"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    shift_id: Mapped[str] = mapped_column(ForeignKey("shift.id"), index=True)
    direction: Mapped[str] = mapped_column(String(4))
    amount_fen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    staff: Mapped[str] = mapped_column(String(32))
    approved_by: Mapped[str | None] = mapped_column(String(32))
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SaleReturn(Base):
    """Goods brought back and refunded at this till: a sale in reverse.

    ``reference`` is the return's own signed QR code. ``original_*`` name the sale it
    returns (all null for a return without a receipt); ``authorisation_id`` is HQ's
    return authorisation the return captures (null for a same-store return made while
    HQ was unreachable). ``approvals`` is a JSON list of ``protocol.Approval``.
    ``coupon_back_id`` / ``coupon_back_name``: the sale's coupon this return told the
    customer goes back to her (it completes the return of the whole sale; HQ gives it).
    """

    __tablename__ = "sale_return"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    receipt_no: Mapped[str] = mapped_column(String(64), unique=True)
    reference: Mapped[str] = mapped_column(String(128))
    store_code: Mapped[str] = mapped_column(String(32))
    terminal_id: Mapped[str] = mapped_column(String(32))
    cashier: Mapped[str] = mapped_column(String(32))
    returned_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    original_sale_id: Mapped[str | None] = mapped_column(String(36), index=True)
    original_store: Mapped[str | None] = mapped_column(String(32))
    original_terminal: Mapped[str | None] = mapped_column(String(32))
    original_receipt_no: Mapped[str | None] = mapped_column(String(64))
    authorisation_id: Mapped[str | None] = mapped_column(String(36))
    refund_fen: Mapped[int] = mapped_column(Integer)
    member: Mapped[str | None] = mapped_column(String(20))
    points_reversed: Mapped[int] = mapped_column(Integer, default=0)
    shift_id: Mapped[str | None] = mapped_column(String(36))
    approvals: Mapped[str] = mapped_column(Text, default="[]")
    coupon_back_id: Mapped[str | None] = mapped_column(String(36))
    coupon_back_name: Mapped[str | None] = mapped_column(String(64))


class SaleReturnLine(Base):
    """One returned line; ``original_line_no`` names the sold line (null without a
    receipt). ``restock``: ``sellable`` (back on the shelf) or ``damaged``."""

    __tablename__ = "sale_return_line"
    return_id: Mapped[str] = mapped_column(ForeignKey("sale_return.id"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    original_line_no: Mapped[int | None] = mapped_column(Integer)
    item_id: Mapped[int | None] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    barcode: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(8))
    qty_milli: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(Integer)
    refund_fen: Mapped[int] = mapped_column(Integer)
    restock: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))


class SaleReturnRefund(Base):
    """How a return paid the customer back, by tender (``reference``: the original card
    reference for a card refund)."""

    __tablename__ = "sale_return_refund"
    return_id: Mapped[str] = mapped_column(ForeignKey("sale_return.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str | None] = mapped_column(String(64))


class ReturnAuth(Base):
    """This till's record of an HQ return authorisation, written before HQ is first
    asked so it is always either captured by a committed return or given back.

    ``state``: ``requesting`` (asked; HQ's answer not yet recorded), ``held`` (HQ
    reserved ``lines``), ``captured`` (the committed return ``return_id`` names it),
    ``releasing`` (to be given back; retried until HQ confirms), ``released``.
    ``lines``: JSON list of ``{line_no, qty_milli}`` of the sale ``sale_id``.
    """

    __tablename__ = "return_auth"
    auth_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sale_id: Mapped[str] = mapped_column(String(36), index=True)
    lines: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    return_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_return_auth_state", "state"),)


# -- stock across the chain ---------------------------------------------------------------


class ChainStock(Base):
    """Every store's level of every item as HQ last delivered it, by the feed or by the
    pages of levels fetched after a snapshot (this store's too: its shown level is
    :mod:`pos_app.localdb.pending_stock`'s, which also counts unsynced sales).
    ``updated_at`` is HQ's time of the level, for its freshness; ``as_of_seq`` the feed
    seq the level is as of (a change's own seq, a page's seq): a level as of an older seq
    never replaces it. ``in_transit_milli``: shipped to the store and not yet received,
    as HQ knows it."""

    __tablename__ = "chain_stock"
    store_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    on_hand_milli: Mapped[int] = mapped_column(Integer)
    reserved_milli: Mapped[int] = mapped_column(Integer)
    available_milli: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    as_of_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    in_transit_milli: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (Index("ix_chain_stock_sku", "sku"),)


class Transfer(Base):
    """A transfer (调拨) between this store and another.

    ``hq_state`` is the state HQ last sent (null until HQ's feed delivered it);
    ``local_state`` the state after the last step taken at this till, whose outbox event
    is ``local_event_id``. The state shown is the local one while that event is pending,
    HQ's once HQ answered (see :mod:`pos_app.localdb.transfers`)."""

    __tablename__ = "transfer"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    transfer_no: Mapped[str] = mapped_column(String(64), unique=True)
    from_store: Mapped[str] = mapped_column(String(32), index=True)
    to_store: Mapped[str] = mapped_column(String(32), index=True)
    hq_state: Mapped[str | None] = mapped_column(String(16))
    local_state: Mapped[str | None] = mapped_column(String(16))
    local_event_id: Mapped[str | None] = mapped_column(String(36))
    requested_by: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(String(200))
    refused_reason: Mapped[str | None] = mapped_column(String(200))


class TransferLine(Base):
    """One item of a transfer; a quantity stays null until its step happened."""

    __tablename__ = "transfer_line"
    transfer_id: Mapped[str] = mapped_column(
        ForeignKey("transfer.id", ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    requested_milli: Mapped[int] = mapped_column(Integer)
    approved_milli: Mapped[int | None] = mapped_column(Integer)
    shipped_milli: Mapped[int | None] = mapped_column(Integer)
    received_milli: Mapped[int | None] = mapped_column(Integer)


class StockAlert(Base):
    """A stock alert from HQ (``low``, ``negative``, ``count_variance``,
    ``transfer_shortfall``); the till keeps its own store's. ``qty_milli``: what the
    alert is about in quantity, as HQ sent it (a transfer's shortfall, a count's signed
    difference); null for the others, whose shortfall is ``min_milli - on_hand_milli``."""

    __tablename__ = "stock_alert"
    alert_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    store_code: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(24))
    on_hand_milli: Mapped[int] = mapped_column(Integer)
    min_milli: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved: Mapped[bool] = mapped_column(default=False)
    qty_milli: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_stock_alert_store_resolved", "store_code", "resolved"),)


class StockCount(Base):
    """A stock count (盘点) taken at this till: ``open`` while scanning, ``submitted``,
    then ``approved`` or ``rejected`` by a manager. ``count_no`` is
    ``<terminal>-C<counter>``."""

    __tablename__ = "stock_count"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    count_no: Mapped[str] = mapped_column(String(64), unique=True)
    zone: Mapped[str] = mapped_column(String(64), default="")
    staff: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StockCountLine(Base):
    """One item counted: the quantity so far and the time of its last scan."""

    __tablename__ = "stock_count_line"
    count_id: Mapped[str] = mapped_column(
        ForeignKey("stock_count.id", ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[int] = mapped_column(Integer)
    counted_milli: Mapped[int] = mapped_column(Integer)
    counted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StockReceipt(Base):
    """Goods booked in at this till (收货); ``lines`` a JSON list of ``{sku, qty_milli}``."""

    __tablename__ = "stock_receipt"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document: Mapped[str | None] = mapped_column(String(64))
    staff: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    lines: Mapped[str] = mapped_column(Text)


class PaymentIntent(Base):
    """A payment-code charge, written before the gateway is called and settled after.

    ``order_no`` (``<terminal>-P<counter>``) is the gateway's merchant order number: every
    call about this charge (pay, query, reverse) names it, so a retry never charges twice.
    ``state``: ``open`` (the gateway may or may not have it), ``user_paying`` (the wallet
    asks the customer for a password), ``paid``, ``failed``, ``reversed`` (cancelled; the
    customer is not charged), ``refunding`` / ``refunded`` (a paid charge no sale took,
    given back with a supervisor's approval). Only the code's last four digits are kept
    (``code_tail``).
    ``sale_id`` is the sale that took the paid charge (set in the sale's transaction).
    """

    __tablename__ = "payment_intent"
    order_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    code_tail: Mapped[str] = mapped_column(String(4))
    amount_fen: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12), index=True)
    draft_id: Mapped[str] = mapped_column(String(36))
    cashier: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    failure: Mapped[str | None] = mapped_column(String(32))
    sale_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# -- online pick-up orders ----------------------------------------------------------------


class PickupOrder(Base):
    """A pick-up order (到店自提) of this store as HQ's feed last delivered it.

    ``lines`` is JSON ``[[sku, qty_milli], ...]``; ``code_hash`` lets the till match a
    scanned pick-up code (:mod:`sync_client.contract.pickup`) without holding the codes.
    ``local_sale_id``: the sale this till made of it, before HQ's feed says collected."""

    __tablename__ = "pickup_order"
    reservation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    store_code: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    ready: Mapped[bool] = mapped_column(default=False)
    lines: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sale_id: Mapped[str | None] = mapped_column(String(36))
    local_sale_id: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (Index("ix_pickup_order_status", "status"),)
