"""The wire contract between terminals and HQ: the one definition both sides import.

Every model is versioned by :data:`PROTOCOL_VERSION`. Money is integer fen, quantities of
weighed goods are integer thousandths (``qty_milli``: 1 piece = 1000, 0.356 kg = 356),
timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

PROTOCOL_VERSION = 1

Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9-]+$")]
Fen = Annotated[int, Field(ge=-10**12, le=10**12)]
NonNegFen = Annotated[int, Field(ge=0, le=10**12)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SaleLine(_Model):
    """One line of a completed sale. ``amount_fen = list_amount_fen - discount_fen``."""

    line_no: Annotated[int, Field(ge=1, le=10_000)]
    sku: Annotated[str, Field(min_length=1, max_length=64)]
    barcode: Annotated[str | None, Field(max_length=64)] = None
    name: Annotated[str, Field(max_length=200)]
    unit: Literal["piece", "kg"]
    qty_milli: Annotated[int, Field(ge=1, le=10**9)]
    unit_price_fen: NonNegFen
    price_version: Annotated[int, Field(ge=0)]
    list_amount_fen: NonNegFen
    discount_fen: NonNegFen
    amount_fen: NonNegFen


class Tender(_Model):
    """A payment. For cash ``tendered_fen`` is what the customer handed over."""

    kind: Literal["cash", "card", "other"]
    amount_fen: NonNegFen
    tendered_fen: NonNegFen | None = None
    reference: Annotated[str | None, Field(max_length=64)] = None


class SaleCompleted(_Model):
    """A sale that committed at a terminal. ``sale_id`` is the receipt's identity."""

    type: Literal["sale.completed"] = "sale.completed"
    sale_id: UUID
    receipt_no: Annotated[str, Field(min_length=1, max_length=64)]
    store: Code
    terminal: Code
    cashier: Annotated[str, Field(min_length=1, max_length=32)]
    started_at: datetime
    completed_at: datetime
    lines: Annotated[list[SaleLine], Field(min_length=1, max_length=1000)]
    subtotal_fen: NonNegFen
    discount_fen: NonNegFen
    rounding_fen: NonNegFen
    total_fen: NonNegFen
    tenders: Annotated[list[Tender], Field(min_length=1, max_length=20)]
    change_fen: NonNegFen


EventPayload = Annotated[SaleCompleted, Field(discriminator="type")]


class Event(_Model):
    """An outbox event as pushed to HQ.

    ``id`` is a UUIDv7 made by the terminal; HQ deduplicates on it. ``device_seq`` is the
    terminal's local sequence number, strictly increasing per terminal.
    """

    id: UUID
    device_seq: Annotated[int, Field(ge=1)]
    occurred_at: datetime
    payload: EventPayload
