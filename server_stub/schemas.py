"""Request and response models of HQ's admin API (``/v1/admin/...``, role hq_admin).

These are HQ's own contract with its staff tools; the terminal contract is
:mod:`sync_client.protocol`. Money in fen, quantities in thousandths, timestamps UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from sync_client.protocol import (
    Barcode,
    Code,
    ConfigKey,
    ConfigValue,
    NonNegFen,
    PriceData,
    Role,
    Sku,
    StockData,
    Unit,
)

StaffNumber = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
Pin = Annotated[str, Field(pattern=r"^[0-9]{4,8}$")]
Reason = Annotated[str, Field(min_length=1, max_length=200)]
QtyMilli = Annotated[int, Field(ge=-(10**12), le=10**12)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _no_nul(self) -> Self:
        # PostgreSQL text cannot hold NUL; refuse it on every backend alike.
        for name, value in self:
            if isinstance(value, str) and "\x00" in value:
                raise ValueError(f"{name}: text contains a NUL character")
        return self


class StoreIn(_Model):
    code: Code
    name: Annotated[str, Field(min_length=1, max_length=100)]


class StaffIn(_Model):
    """A new staff member. ``store`` null only for role ``hq_admin`` (chain-wide)."""

    number: StaffNumber
    store: Code | None = None
    name: Annotated[str, Field(min_length=1, max_length=64)]
    role: Role
    pin: Pin


class StaffPatch(_Model):
    """Change a PIN, or take someone off (``active`` false) or back on."""

    pin: Pin | None = None
    active: bool | None = None


class EnrollCodeIn(_Model):
    store: Code
    ttl_hours: Annotated[int, Field(ge=1, le=168)] = 24


class EnrollCodeOut(_Model):
    """``qr_payload`` is the JSON the QR code carries: HQ URL, store, code."""

    code: str
    store: Code
    expires_at: AwareDatetime
    qr_payload: str


class ItemIn(_Model):
    """An item to create or update; ``price_fen`` publishes a chain-wide price now when it
    differs from the one in effect."""

    sku: Sku
    name_zh: Annotated[str, Field(min_length=1, max_length=200)]
    name_en: Annotated[str, Field(max_length=200)] = ""
    unit: Unit
    barcodes: Annotated[list[Barcode], Field(max_length=50)] = []
    category: Annotated[str, Field(max_length=64)] = ""
    active: bool = True
    price_fen: NonNegFen | None = None


class CatalogIn(_Model):
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=50_000)]


class CatalogImportOut(_Model):
    created: int
    updated: int
    unchanged: int
    prices: int


class PriceSetIn(_Model):
    """``stores`` empty: chain-wide. ``effective_at`` absent: now."""

    sku: Sku
    price_fen: NonNegFen
    effective_at: AwareDatetime | None = None
    stores: Annotated[list[Code], Field(max_length=2000)] = []


class PriceSetOut(_Model):
    versions: list[PriceData]


class StockMoveIn(_Model):
    """Receive: ``qty_milli`` > 0 arrives. Adjust: signed correction, not zero."""

    store: Code
    sku: Sku
    qty_milli: QtyMilli
    reason: Reason


class StockMoveOut(_Model):
    level: StockData


class ConfigIn(_Model):
    store: Code | None = None
    key: ConfigKey
    value: ConfigValue


class DeviceOut(_Model):
    device_id: str
    store: Code
    name: str
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None
    last_seen_at: AwareDatetime | None


class StoreStaleLines(_Model):
    store: Code
    lines: int
    stale_lines: int


class StalePriceReport(_Model):
    """Sale lines priced with a version other than the one in effect at the sale."""

    since: datetime
    lines: int
    stale_lines: int
    stores: list[StoreStaleLines]


class OkOut(_Model):
    ok: Literal[True] = True


class HealthOut(_Model):
    status: Literal["ok"] = "ok"
    backend: Literal["sqlite", "pg"]
    feed_seq: int
