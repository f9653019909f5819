"""HQ's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Units: money in integer fen, quantities in integer thousandths (``*_milli``: 1 piece =
1000, 1 kg = 1000), timestamps UTC (:class:`UTCDateTime`). The schema itself is created by
the Alembic migrations in ``server_stub/migrations``; a test checks that they agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# Integer on SQLite so that the column is an alias of ROWID and autoincrements.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware.

    PostgreSQL keeps ``timestamptz``; SQLite keeps the naive UTC text, which sorts in time
    order. Naive datetimes are refused on write: every caller must say what zone it means.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime written to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

stores = Table(
    "stores",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The region a regional manager of the HQ console looks after, and by which other
    # stores are ordered nearest first when coordinates are missing (None: no region).
    Column("region", String(32), nullable=True, index=True),
    # Where the store is, to order other stores nearest first (WGS-84 degrees).
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
)

# Settings; scope is a store code or "*" for chain-wide. value_json is the JSON scalar.
config = Table(
    "config",
    metadata,
    Column("scope", String(32), nullable=False),
    Column("key", String(64), nullable=False),
    Column("value_json", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("scope", "key"),
)

# token_hash: SHA-256 hex of the bearer token (tokens are 256-bit random, so a fast hash
# is enough). receipt_secret: the device's 32-byte receipt key, sealed with AES-GCM under
# a key from HQ's keys file (server_stub.device_secrets), kept to verify receipt codes.
devices = Table(
    "devices",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("store_code", String(32), ForeignKey("stores.code"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("receipt_secret", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True, index=True),
    Column("last_seen_at", UTCDateTime, nullable=True),
)

# One-time enrolment codes, stored as SHA-256 hex of the normalised code.
enroll_codes = Table(
    "enroll_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("store_code", String(32), ForeignKey("stores.code"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Column("device_id", String(40), nullable=True),
)

admin_tokens = Table(
    "admin_tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# Staff numbers are unique across the chain; store_code NULL = chain-wide (HQ staff).
staff = Table(
    "staff",
    metadata,
    Column("number", String(32), primary_key=True),
    Column("store_code", String(32), ForeignKey("stores.code"), nullable=True, index=True),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("pin_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # When ``active`` last turned false (null while active, or when HQ does not know):
    # events a till made before it name an active staff member (server_stub.approvals).
    Column("deactivated_at", UTCDateTime, nullable=True),
)

items = Table(
    "items",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("unit", String(8), nullable=False),
    Column("category", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# A barcode belongs to at most one item.
item_barcodes = Table(
    "item_barcodes",
    metadata,
    Column("barcode", String(64), primary_key=True),
    Column("sku", String(64), ForeignKey("items.sku"), nullable=False, index=True),
)

# id is the price version: assigned by the database, strictly increasing.
price_versions = Table(
    "price_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("sku", String(64), ForeignKey("items.sku"), nullable=False),
    Column("price_fen", BigInteger, nullable=False),
    Column("effective_at", UTCDateTime, nullable=False),
    Column("store_code", String(32), ForeignKey("stores.code"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_price_versions_sku_effective", "sku", "effective_at"),
)

# Menu versions (tiles, categories, option groups with their prices), immutable once
# published, like price versions: ``store_code`` null is the chain's menu, a store's own
# version overrides it as a whole. ``body_json`` is the ``protocol.MenuData`` the tills get
# (without version, store and effective_at, which are the columns).
menu_versions = Table(
    "menu_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("store_code", String(32), ForeignKey("stores.code"), nullable=True),
    Column("effective_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("body_json", Text, nullable=False),
    Index("ix_menu_versions_store_effective", "store_code", "effective_at"),
)

# Sold out (估清) and back, as each store's tills reported it; the latest ``at`` per store,
# item and business day holds.
menu_sold_out = Table(
    "menu_sold_out",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("store_code", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("sold_out", Boolean, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("staff", String(32), nullable=False),
    Column("terminal", String(32), nullable=False),
    Index("ix_menu_sold_out_store_date", "store_code", "business_date", "sku"),
)

# Promotions, one row per version (immutable once published; ending one is a new version
# with ``ends_at``). ``definition_json`` is the wire form the tills read
# (``sync_client.contract.promotions``); the other columns repeat what the report and the
# snapshot select on.
promotion_versions = Table(
    "promotion_versions",
    metadata,
    Column("promotion_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("name_zh", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=True),
    Column("daily_limit", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("definition_json", Text, nullable=False),
    PrimaryKeyConstraint("promotion_id", "version"),
)

# What each promotion took off each sale line, as the till priced it (kept by the ingest
# with the sale; the sale's store and time repeated for the report).
sale_line_promotions = Table(
    "sale_line_promotions",
    metadata,
    Column("sale_id", Uuid, nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("promotion_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("store_code", String(32), nullable=False),
    Column("completed_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("sale_id", "line_no", "promotion_id"),
    Index("ix_sale_line_promotions_promo_store", "promotion_id", "store_code", "completed_at"),
)

# The current level per store and item. May go below zero (offline sales).
stock_levels = Table(
    "stock_levels",
    metadata,
    Column("store_code", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("on_hand_milli", BigInteger, nullable=False),
    Column("reserved_milli", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("store_code", "sku"),
    Index("ix_stock_levels_sku", "sku"),
)

# The ledger: every change of a level, signed; a store's level of an item is the sum of its
# rows. reason: sale, void, receive, adjust, count, transfer_out, transfer_in. ref: the
# sale, receipt, count or transfer. occurred_at: when it happened in the shop (a sale's
# completed_at, a step's time), what a count is compared by; created_at: when HQ wrote it.
stock_moves = Table(
    "stock_moves",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("store_code", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("delta_milli", BigInteger, nullable=False),
    Column("reason", String(16), nullable=False),
    Column("note", String(200), nullable=True),
    Column("ref", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Index("ix_stock_moves_store_sku", "store_code", "sku"),
    Index("ix_stock_moves_store_sku_occurred", "store_code", "sku", "occurred_at"),
)

# Something about a store's stock a manager should look at. kind: low (below the
# minimum; one open alert at a time, resolved when the level is back), negative (offline
# sales took it below zero), count_variance (a count's difference past the threshold),
# transfer_shortfall (less arrived than was shipped; one row for each of the two stores).
# qty_milli: the shortfall or the variance; min_milli: the minimum a low alert was
# raised against; ref: the sale, count or transfer.
stock_alerts = Table(
    "stock_alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("store_code", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("on_hand_milli", BigInteger, nullable=False),
    Column("ref", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("min_milli", BigInteger, nullable=True),
    Column("qty_milli", BigInteger, nullable=True),
    Column("detail", String(200), nullable=True),
    Index("ix_stock_alerts_open", "store_code", "sku", "kind", "resolved_at"),
)

# Safety stock per item, for one store or chain-wide (store_code NULL); the store's own
# row wins. Below min_milli raises a low alert; above max_milli a store can give.
safety_stock = Table(
    "safety_stock",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("store_code", String(32), ForeignKey("stores.code"), nullable=True),
    Column("sku", String(64), ForeignKey("items.sku"), nullable=False),
    Column("min_milli", BigInteger, nullable=False),
    Column("max_milli", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("min_milli >= 0 AND max_milli >= min_milli", name="min_max"),
    Index("uq_safety_stock_store_sku", "store_code", "sku", unique=True),
    Index(
        "uq_safety_stock_chain_sku",
        "sku",
        unique=True,
        sqlite_where=text("store_code IS NULL"),
        postgresql_where=text("store_code IS NULL"),
    ),
)

# Transfers (调拨) between stores. state: requested -> approved | refused | cancelled;
# approved -> shipped -> received. Each step is a terminal event (events.id); the
# timestamps are the steps' times at the till.
transfers = Table(
    "transfers",
    metadata,
    Column("transfer_id", Uuid, primary_key=True),
    Column("transfer_no", String(64), nullable=False),
    Column("from_store", String(32), ForeignKey("stores.code"), nullable=False, index=True),
    Column("to_store", String(32), ForeignKey("stores.code"), nullable=False, index=True),
    Column("state", String(16), nullable=False),
    Column("requested_by", String(32), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("decided_by", String(32), nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("shipped_by", String(32), nullable=True),
    Column("shipped_at", UTCDateTime, nullable=True),
    Column("received_by", String(32), nullable=True),
    Column("received_at", UTCDateTime, nullable=True),
    Column("note", String(200), nullable=True),
    Column("refused_reason", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # What is in transit to a store (shipped, not received), read with every change of its
    # levels: the few shipped transfers, not the store's whole history.
    Index("ix_transfers_state_to_store", "state", "to_store"),
)

transfer_lines = Table(
    "transfer_lines",
    metadata,
    Column("transfer_id", Uuid, ForeignKey("transfers.transfer_id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("requested_milli", BigInteger, nullable=False),
    Column("approved_milli", BigInteger, nullable=True),
    Column("shipped_milli", BigInteger, nullable=True),
    Column("received_milli", BigInteger, nullable=True),
    PrimaryKeyConstraint("transfer_id", "sku"),
)

# Goods booked in at a till (收货); the lines are in the ledger (reason receive, ref the
# receipt id) and, as booked, in lines_json ([[sku, qty_milli], ...]).
stock_receipts = Table(
    "stock_receipts",
    metadata,
    Column("receipt_id", Uuid, primary_key=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("store_code", String(32), nullable=False, index=True),
    Column("terminal", String(32), nullable=False),
    Column("staff", String(32), nullable=False),
    Column("document", String(64), nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("lines_json", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Stock counts (盘点). state: pending -> approved | rejected. On approval each line gets
# expected_milli (the ledger's level at its counted_at) and difference_milli (counted -
# expected), which became a ledger row (reason count).
stock_count_sessions = Table(
    "stock_count_sessions",
    metadata,
    Column("count_id", Uuid, primary_key=True),
    Column("count_no", String(64), nullable=False),
    Column("store_code", String(32), nullable=False, index=True),
    Column("terminal", String(32), nullable=False),
    Column("staff", String(32), nullable=False),
    Column("zone", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("submitted_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("decided_by", String(32), nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("decision_note", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

stock_count_lines = Table(
    "stock_count_lines",
    metadata,
    Column("count_id", Uuid, ForeignKey("stock_count_sessions.count_id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("counted_milli", BigInteger, nullable=False),
    Column("counted_at", UTCDateTime, nullable=False),
    Column("expected_milli", BigInteger, nullable=True),
    Column("difference_milli", BigInteger, nullable=True),
    PrimaryKeyConstraint("count_id", "sku"),
)

stock_counts = Table(
    "stock_counts",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("store_code", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("counted_milli", BigInteger, nullable=False),
    Column("previous_milli", BigInteger, nullable=False),
    Column("difference_milli", BigInteger, nullable=False),
    Column("counted_at", UTCDateTime, nullable=False),
    Column("staff", String(32), nullable=False),
    Column("terminal", String(32), nullable=False),
    Column("note", String(200), nullable=True),
)

# Every applied terminal event; the primary key is what makes replays harmless.
events = Table(
    "events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("device_id", String(40), nullable=False),
    Column("device_seq", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("store_code", String(32), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_events_device_seq", "device_id", "device_seq"),
)

sales = Table(
    "sales",
    metadata,
    Column("sale_id", Uuid, primary_key=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("store_code", String(32), ForeignKey("stores.code"), nullable=False),
    Column("terminal", String(32), nullable=False),
    Column("cashier", String(32), nullable=False),
    Column("receipt_no", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=False),
    Column("subtotal_fen", BigInteger, nullable=False),
    Column("discount_fen", BigInteger, nullable=False),
    Column("rounding_fen", BigInteger, nullable=False),
    Column("total_fen", BigInteger, nullable=False),
    Column("change_fen", BigInteger, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("voided_at", UTCDateTime, nullable=True),
    Column("void_event_id", Uuid, nullable=True, unique=True),
    Column("void_reason", String(200), nullable=True),
    Column("void_supervisor", String(32), nullable=True),
    # The member the sale was rung up for (their number), if any.
    Column("member_no", String(20), nullable=True),
    Index("ix_sales_store_completed", "store_code", "completed_at"),
    # The dashboard's sales today per store: read from this index alone (it holds every
    # column the sum needs), never from the table's rows.
    Index(
        "ix_sales_open_store_completed_total",
        "store_code",
        "completed_at",
        "total_fen",
        sqlite_where=text("voided_at IS NULL"),
        postgresql_where=text("voided_at IS NULL"),
    ),
    # Finding a sale to return: by receipt number at a store, by member (newest first).
    Index("ix_sales_store_receipt", "store_code", "receipt_no"),
    Index("ix_sales_member_completed", "member_no", "completed_at"),
)

# price_version: the version the terminal priced the line with (0 = none known).
sale_lines = Table(
    "sale_lines",
    metadata,
    Column("sale_id", Uuid, ForeignKey("sales.sale_id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("barcode", String(64), nullable=True),
    Column("name", String(200), nullable=False),
    Column("unit", String(8), nullable=False),
    Column("qty_milli", BigInteger, nullable=False),
    Column("unit_price_fen", BigInteger, nullable=False),
    Column("price_version", BigInteger, nullable=False),
    Column("list_amount_fen", BigInteger, nullable=False),
    Column("discount_fen", BigInteger, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    # Returns against the line: captured (in any store), authorised and not yet captured,
    # and the money given back. ``qty_milli - returned_milli - held_milli`` is what is
    # left to return; an authorisation takes it with one conditional UPDATE.
    Column("returned_milli", BigInteger, nullable=False, server_default=text("0")),
    Column("held_milli", BigInteger, nullable=False, server_default=text("0")),
    Column("refunded_fen", BigInteger, nullable=False, server_default=text("0")),
    # A drink's chosen options as the till sold them (a JSON list of
    # ``protocol.SaleOption``) and the menu version that priced them; null for plain items.
    Column("options_json", Text, nullable=True),
    Column("menu_version", BigInteger, nullable=True),
    PrimaryKeyConstraint("sale_id", "line_no"),
)

sale_tenders = Table(
    "sale_tenders",
    metadata,
    Column("sale_id", Uuid, ForeignKey("sales.sale_id"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("tendered_fen", BigInteger, nullable=True),
    Column("reference", String(64), nullable=True),
    # When the till placed a payment-code tender's charge with the gateway (null for other
    # tenders and from older tills): a refund at another till names the charge by it.
    Column("placed_at", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("sale_id", "idx"),
)

# Sales per store and the chain's local day, added to by the ingest in the transaction of
# the events (server_stub.sales_summary): unvoided sales (count, total), voids, returns
# (count, refunded); per tender kind what the unvoided sales took and the returns refunded.
store_day_sales = Table(
    "store_day_sales",
    metadata,
    Column("store_code", String(32), nullable=False),
    Column("day", Date, nullable=False),
    Column("sales_count", BigInteger, nullable=False),
    Column("sales_fen", BigInteger, nullable=False),
    Column("voids_count", BigInteger, nullable=False),
    Column("returns_count", BigInteger, nullable=False),
    Column("refunds_fen", BigInteger, nullable=False),
    PrimaryKeyConstraint("store_code", "day"),
    Index("ix_store_day_sales_day", "day"),
)

store_day_tenders = Table(
    "store_day_tenders",
    metadata,
    Column("store_code", String(32), nullable=False),
    Column("day", Date, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("sales_fen", BigInteger, nullable=False),
    Column("refunds_fen", BigInteger, nullable=False),
    PrimaryKeyConstraint("store_code", "day", "kind"),
)

shifts = Table(
    "shifts",
    metadata,
    Column("shift_id", Uuid, primary_key=True),
    Column("store_code", String(32), nullable=False),
    Column("terminal", String(32), nullable=False),
    Column("opened_by", String(32), nullable=True),
    Column("opened_at", UTCDateTime, nullable=True),
    Column("float_fen", BigInteger, nullable=True),
    Column("closed_by", String(32), nullable=True),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("expected_cash_fen", BigInteger, nullable=True),
    Column("counted_cash_fen", BigInteger, nullable=True),
    Column("over_short_fen", BigInteger, nullable=True),
    Column("shift_no", String(64), nullable=True),
    Column("business_date", Date, nullable=True),
    Column("float_counts", Text, nullable=True),
    Column("carried_from", Uuid, nullable=True),
    Column("counted_counts", Text, nullable=True),
    Column("close_figures", Text, nullable=True),
    Column("close_reason", String(200), nullable=True),
    Column("approved_by", String(32), nullable=True),
    Column("sales_count", Integer, nullable=True),
    Column("sales_fen", BigInteger, nullable=True),
    Column("refunds_fen", BigInteger, nullable=True),
)

# Per tender kind of a closed shift: expected, counted (cash), over/short.
shift_tenders = Table(
    "shift_tenders",
    metadata,
    Column("shift_id", Uuid, ForeignKey("shifts.shift_id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("expected_fen", BigInteger, nullable=False),
    Column("counted_fen", BigInteger, nullable=True),
    Column("over_short_fen", BigInteger, nullable=True),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("shift_id", "kind"),
)

# Cash added to or taken from a till during a shift (备用金补充 / 取款).
cash_movements = Table(
    "cash_movements",
    metadata,
    Column("movement_id", Uuid, primary_key=True),
    Column("event_id", Uuid, ForeignKey("events.id"), nullable=False),
    Column("shift_id", Uuid, nullable=False, index=True),
    Column("store_code", String(32), nullable=False),
    Column("terminal", String(32), nullable=False),
    Column("staff", String(32), nullable=False),
    Column("moved_at", UTCDateTime, nullable=False),
    Column("direction", String(4), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("approved_by", String(32), nullable=True),
)

# A store's closed business day (日结): the Z report as answered, once per store and date.
day_closes = Table(
    "day_closes",
    metadata,
    Column("store_code", String(32), ForeignKey("stores.code"), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("closed_at", UTCDateTime, nullable=False),
    Column("closed_by", String(32), nullable=False),
    Column("report", Text, nullable=False),
    PrimaryKeyConstraint("store_code", "business_date"),
)

# The change feed. body is the complete JSON of the protocol's change object (seq
# included), written once so that pull and live push only concatenate text.
feed = Table(
    "feed",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("key", String(140), nullable=False),
    Column("store_code", String(32), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("body", Text, nullable=False),
    # A second store that sees the change (a transfer: its receiving store).
    Column("store2_code", String(32), nullable=True, index=True),
)

# A single row (id = 1). last_seq: the newest seq handed out; writers take it with an
# UPDATE in their own transaction, so seqs are gap-free and commit in seq order.
# pruned_through: every row with seq <= it may have been deleted by retention.
feed_state = Table(
    "feed_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("pruned_through", BigInteger, nullable=False),
)


# -- members ----------------------------------------------------------------------------
#
# ``points`` and ``balance_fen`` are what the member may spend now: a hold takes its
# amount off at once (a conditional UPDATE), a release or expiry puts it back. The ledger
# records every change, so per member and account the ledger's deltas sum to the column.
# Points may fall below zero only when a void takes back points already spent; stored
# value never does (a CHECK as the last line of defence).

# phone_enc: AES-GCM ciphertext (server_stub.member_keys); phone_hash: keyed HMAC hex,
# what a phone search looks up. version: bumped by every change (feed kind "member").
# card_version: the generation of the member's plastic card (older card codes refused).
members = Table(
    "members",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("name", String(64), nullable=False),
    Column("phone_enc", String(200), nullable=False),
    Column("phone_hash", String(64), nullable=False, unique=True),
    Column("tier", String(16), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("balance_fen", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("card_version", Integer, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("consent_version", String(32), nullable=False),
    Column("consent_at", UTCDateTime, nullable=False),
    Column("created_store", String(32), nullable=True),
    Column("created_by", String(80), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("balance_fen >= 0", name="balance_not_negative"),
    Index("ix_members_name", "name"),
)

# A till's client-generated sign-up id -> the member it created (or found by phone), so a
# replayed sign-up and sales that name it reach the same member.
member_signups = Table(
    "member_signups",
    metadata,
    Column("signup_id", Uuid, primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False, index=True),
    Column("store_code", String(32), nullable=True),
    Column("device_id", String(40), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# amount: points, fen of stored value, or 1 for a coupon. status: held -> captured |
# released | expired; captured -> refunded (void). request_hash: the creating request, to
# tell a retry (same hash) from a different request reusing the id.
member_holds = Table(
    "member_holds",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("value_fen", BigInteger, nullable=False),
    Column("coupon_id", Uuid, nullable=True),
    Column("store_code", String(32), nullable=False),
    Column("device_id", String(40), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("settled_at", UTCDateTime, nullable=True),
    Column("sale_id", Uuid, nullable=True, index=True),
    Index("ix_member_holds_status_expires", "status", "expires_at"),
)

# account: points | stored_value. kind: earn, earn_reversal, redeem, pay, release,
# late_capture, refund, topup, adjust. ref: the sale, hold, top-up or adjustment id; one
# row per (account, kind, ref), so no effect can be booked twice.
member_ledger = Table(
    "member_ledger",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False),
    Column("account", String(16), nullable=False),
    Column("delta", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("ref", String(64), nullable=False),
    Column("store_code", String(32), nullable=True),
    Column("note", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_member_ledger_member", "member_id", "id"),
    Index("uq_member_ledger_effect", "account", "kind", "ref", unique=True),
)

# status: available -> held (hold_id) -> used (sale_id); a release, expiry or void makes
# it available again.
member_coupons = Table(
    "member_coupons",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("value_fen", BigInteger, nullable=False),
    Column("min_spend_fen", BigInteger, nullable=False),
    Column("valid_from", UTCDateTime, nullable=False),
    Column("valid_until", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("hold_id", Uuid, nullable=True),
    Column("sale_id", Uuid, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Points a sale earns, once per sale. status: credited, pending (the sale named a sign-up
# HQ has not received; credited when it arrives), reversed (voided), none (nothing to earn).
member_earnings = Table(
    "member_earnings",
    metadata,
    Column("sale_id", Uuid, primary_key=True),
    Column("member_id", BigInteger, nullable=True),
    Column("signup_id", Uuid, nullable=True, index=True),
    Column("base_fen", BigInteger, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("settled_at", UTCDateTime, nullable=True),
)

member_topups = Table(
    "member_topups",
    metadata,
    Column("topup_id", Uuid, primary_key=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False, index=True),
    Column("store_code", String(32), nullable=False),
    Column("terminal", String(32), nullable=False),
    Column("cashier", String(32), nullable=False),
    Column("receipt_no", String(64), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("tenders_json", Text, nullable=False),
    Column("completed_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

# Something a person should look at: a sale naming a hold HQ cannot capture, a hold
# released before its sale arrived and no longer covered by the balance, an unknown member.
member_alerts = Table(
    "member_alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("member_no", String(20), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("ref", String(64), nullable=True),
    Column("detail", String(300), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
)

# Changes a terminal quarantined and settings it refused, as it reported them; one row
# per (device, the terminal's own problem id), so a repeated report stores nothing new.
sync_problems = Table(
    "sync_problems",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("device_id", String(40), nullable=False),
    Column("store_code", String(32), nullable=False),
    Column("problem_id", BigInteger, nullable=False),
    Column("protocol", Integer, nullable=False),
    Column("seq", BigInteger, nullable=True),
    Column("kind", String(32), nullable=False),
    Column("key", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("device_id", "problem_id", name="uq_sync_problems_device_problem"),
    Index("ix_sync_problems_received", "received_at"),
)

# The audit trail (server_stub.audit): who (device id, admin token name, CLI user or a
# till's staff via its device), what, which member (never a phone number in clear), a
# JSON detail; a hash chain over every column (prev_id/prev_hash -> hash). device_id and
# local_id: an entry recorded at a till, once per (device, local id).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("action", String(40), nullable=False),
    Column("member_no", String(20), nullable=True),
    Column("store_code", String(32), nullable=True),
    Column("detail", Text, nullable=False),
    Column("device_id", String(40), nullable=True),
    Column("local_id", BigInteger, nullable=True),
    Column("prev_id", BigInteger, nullable=True),
    Column("prev_hash", String(64), nullable=True),
    Column("hash", String(64), nullable=True),
    Index("ix_audit_log_member", "member_no", "at"),
    Index("ix_audit_log_at", "at"),
    Index("uq_audit_log_device_local", "device_id", "local_id", unique=True),
)

# A single row (id = 1): the newest audit entry and its hash. Appends lock it, so the
# chain has one order however many HQ processes write.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_id", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
)


# -- returns ------------------------------------------------------------------------------
#
# A return is a sale in reverse: each returned line names its original sale line. Across
# stores HQ decides: an authorisation moves quantities into ``sale_lines.held_milli`` (a
# conditional UPDATE) and the return event captures them into ``returned_milli``; release
# or expiry gives them back, each exactly once (a conditional UPDATE of the status).

# sale_id null: a return without a receipt. auth_id: the authorisation it captured (null
# offline or without a receipt). points_reversed: earned points taken back from the member;
# points_shortfall: what could not be taken because the member had spent them.
# conflict: an offline return found the goods returned elsewhere meanwhile (discrepancy).
# coupon_id: the sale's coupon this return gave back to the member (it completed the
# return of the whole sale while the coupon was valid; returns.coupon_back).
returns = Table(
    "returns",
    metadata,
    Column("return_id", Uuid, primary_key=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("store_code", String(32), nullable=False),
    Column("terminal", String(32), nullable=False),
    Column("cashier", String(32), nullable=False),
    Column("receipt_no", String(64), nullable=False),
    Column("returned_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("sale_id", Uuid, nullable=True, index=True),
    Column("auth_id", Uuid, nullable=True),
    Column("refund_fen", BigInteger, nullable=False),
    Column("member_no", String(20), nullable=True),
    Column("points_reversed", BigInteger, nullable=False),
    Column("points_shortfall", BigInteger, nullable=False),
    Column("conflict", Boolean, nullable=False),
    Column("approvals_json", Text, nullable=True),
    Column("shift_id", Uuid, nullable=True),
    Column("coupon_id", Uuid, nullable=True),
    Index("ix_returns_store_returned", "store_code", "returned_at"),
)

return_lines = Table(
    "return_lines",
    metadata,
    Column("return_id", Uuid, ForeignKey("returns.return_id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sale_id", Uuid, nullable=True),
    Column("original_line_no", Integer, nullable=True),
    Column("sku", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("unit", String(8), nullable=False),
    Column("qty_milli", BigInteger, nullable=False),
    Column("unit_price_fen", BigInteger, nullable=False),
    Column("refund_fen", BigInteger, nullable=False),
    Column("restock", String(16), nullable=False),
    Column("reason", String(32), nullable=False),
    PrimaryKeyConstraint("return_id", "line_no"),
    Index("ix_return_lines_original", "sale_id", "original_line_no"),
)

return_refunds = Table(
    "return_refunds",
    metadata,
    Column("return_id", Uuid, ForeignKey("returns.return_id"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("reference", String(64), nullable=True),
    PrimaryKeyConstraint("return_id", "idx"),
)

# status: held -> captured (return_id) | released | expired. request_hash: the granting
# request (sale and lines), to tell a retry from a different request reusing the id.
return_auths = Table(
    "return_auths",
    metadata,
    Column("auth_id", Uuid, primary_key=True),
    Column("sale_id", Uuid, nullable=False, index=True),
    Column("store_code", String(32), nullable=False),
    Column("device_id", String(40), nullable=False),
    Column("terminal", String(32), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("settled_at", UTCDateTime, nullable=True),
    Column("return_id", Uuid, nullable=True),
    Index("ix_return_auths_status_expires", "status", "expires_at"),
)

return_auth_lines = Table(
    "return_auth_lines",
    metadata,
    Column("auth_id", Uuid, ForeignKey("return_auths.auth_id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("qty_milli", BigInteger, nullable=False),
    PrimaryKeyConstraint("auth_id", "line_no"),
)

# Something a manager at HQ must settle: an offline return of goods already returned
# elsewhere (kind ``double_return``), ... Resolved by a named staff member with a note.
discrepancies = Table(
    "discrepancies",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("store_code", String(32), nullable=False),
    Column("sale_id", Uuid, nullable=True),
    Column("line_no", Integer, nullable=True),
    Column("ref", String(64), nullable=True),
    Column("detail", String(300), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    # A manager's staff number (CLI) or ``console:<username>`` (the console).
    Column("resolved_by", String(80), nullable=True),
    Column("resolution", String(200), nullable=True),
    Index("ix_discrepancies_store_created", "store_code", "created_at"),
)

# One run of a provider's daily reconciliation (server_stub.reconcile): who ran it, the
# count in each bucket, and every line that did not match (JSON list of {bucket, refund,
# key, store, provider_fen, hq_fen}), so a day's result reads again without the bill.
reconciliation_runs = Table(
    "reconciliation_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("provider", String(16), nullable=False),
    Column("day", Date, nullable=False),
    Column("run_at", UTCDateTime, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("matched", Integer, nullable=False),
    Column("provider_only", Integer, nullable=False),
    Column("hq_only", Integer, nullable=False),
    Column("amount_differs", Integer, nullable=False),
    Column("alerts_raised", Integer, nullable=False),
    Column("lines_json", Text, nullable=False),
    Index("ix_reconciliation_runs_day", "day", "provider", "run_at"),
)


# -- the HQ console ---------------------------------------------------------------------
#
# People who sign in to the console (server_stub.console). password_hash: scrypt in the
# "cscrypt$" format of server_stub.console.passwords (distinct from PIN hashes). role:
# hq_admin | regional_manager | store_manager | auditor; region / store_code: the scope of
# a regional / store manager. totp_enc: the TOTP secret sealed with the member keys.
console_users = Table(
    "console_users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("display_name", String(100), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("region", String(32), nullable=True),
    Column("store_code", String(32), ForeignKey("stores.code"), nullable=True),
    Column("totp_enc", String(200), nullable=True),
    Column("active", Boolean, nullable=False),
    Column("failed_attempts", Integer, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# A signed-in browser. id_hash: SHA-256 hex of the random session id in the cookie, so a
# copy of the table cannot be replayed as cookies. Signing out deletes the row.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column(
        "username", String(64), ForeignKey("console_users.username"), nullable=False, index=True
    ),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# A scheduled price version cancelled before its moment: terminals cannot drop a price
# version, so HQ publishes ``superseded_by`` (same item, scope and moment, the price in
# effect before) and the cancelled one loses the tie to it.
price_cancellations = Table(
    "price_cancellations",
    metadata,
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("superseded_by", BigInteger, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("cancelled_at", UTCDateTime, nullable=False),
)


# -- online channels and their stock reservations (server_stub.reservations) -------------
#
# A channel (the mini-program, each delivery platform) authenticates with a ``cpc_``
# bearer token stored as SHA-256 like device tokens; ``stores``: the store codes it may
# sell from, comma-separated.
channels = Table(
    "channels",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("stores", String(2000), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# status: reserved -> confirmed | cancelled | expired; confirmed -> cancelled | collected
# (pick-up orders, by their sale). One row per (channel, order_id): a repeat answers it.
# request_hash: the reserving request, to tell a retry from another order reusing the id.
# The pick-up code is kept to show the channel again; the tills get only its hash.
reservations = Table(
    "reservations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("channel", String(64), ForeignKey("channels.name"), nullable=False),
    Column("order_id", String(64), nullable=False),
    Column("store_code", String(32), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("pickup", Boolean, nullable=False),
    Column("ready", Boolean, nullable=False),
    Column("pickup_code", String(32), nullable=True),
    Column("reserved_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime, nullable=True),
    Column("settled_at", UTCDateTime, nullable=True),
    Column("sale_id", Uuid, nullable=True, unique=True),
    Index("ux_reservations_channel_order", "channel", "order_id", unique=True),
    Index("ix_reservations_status_expires", "status", "expires_at"),
    Index("ix_reservations_store_status", "store_code", "status"),
)

reservation_lines = Table(
    "reservation_lines",
    metadata,
    Column("reservation_id", Uuid, ForeignKey("reservations.id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty_milli", BigInteger, nullable=False),
    PrimaryKeyConstraint("reservation_id", "sku"),
)

# A till sale that took a level's on hand below what online orders hold of it: the sale
# stands (the goods left the shop), a manager settles the orders named here.
reservation_conflicts = Table(
    "reservation_conflicts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("store_code", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("sale_ref", String(64), nullable=True),
    Column("on_hand_milli", BigInteger, nullable=False),
    Column("reserved_milli", BigInteger, nullable=False),
    Column("orders", String(2000), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Index("ix_reservation_conflicts_store_created", "store_code", "created_at"),
)
