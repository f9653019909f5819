"""Request and response models of HQ's admin API (``/v1/admin/...``, role hq_admin).

These are HQ's own contract with its staff tools; the terminal contract is
:mod:`sync_client.contract.protocol`. Money in fen, quantities in thousandths, timestamps UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from sync_client.contract.protocol import (
    Code,
    ConfigKey,
    ConfigValue,
    CouponData,
    HoldData,
    ItemData,
    MemberNo,
    NonNegFen,
    Phone,
    PriceData,
    Role,
    Sku,
    StockData,
    Tier,
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


Region = Annotated[str, Field(max_length=32)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class StoreIn(_Model):
    """A new store; ``region`` and coordinates (WGS-84 degrees) order stores nearest
    first on the stock screen and in transfer proposals."""

    code: Code
    name: Annotated[str, Field(min_length=1, max_length=100)]
    region: Region = ""
    latitude: Latitude | None = None
    longitude: Longitude | None = None

    @model_validator(mode="after")
    def _both_coordinates(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


class StorePatch(_Model):
    """Change a store's name, region or coordinates; ``clear_location`` removes the
    coordinates."""

    name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    region: Region | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    clear_location: bool = False

    @model_validator(mode="after")
    def _both_coordinates(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        if self.clear_location and self.latitude is not None:
            raise ValueError("clear_location with coordinates")
        return self


class SafetyIn(_Model):
    """Safety stock of an item: for ``store``, or chain-wide when it is null."""

    sku: Sku
    store: Code | None = None
    min_milli: Annotated[int, Field(strict=True, ge=0, le=10**12)]
    max_milli: Annotated[int, Field(strict=True, ge=0, le=10**12)]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_milli < self.min_milli:
            raise ValueError("max_milli is below min_milli")
        return self


class SafetyOut(_Model):
    sku: Sku
    store: Code | None
    min_milli: int
    max_milli: int
    updated_at: datetime


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


class ItemIn(ItemData):
    """An item to create or update (the catalogue item of the wire protocol); ``price_fen``
    publishes a chain-wide price now when it differs from the one in effect."""

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


# -- members ----------------------------------------------------------------------------

MemberName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
# Strict: JSON integers and booleans only, never ``true`` for 1 or 1 for ``true``.
SignedAmount = Annotated[int, Field(strict=True, ge=-(10**9), le=10**9)]
StrictFlag = Annotated[bool, Field(strict=True)]


class MemberAddIn(_Model):
    """A member enrolled by HQ staff; ``consent_version`` names the privacy notice the
    member agreed to (e.g. the paper form's version)."""

    name: MemberName
    phone: Phone
    tier: Tier = "standard"
    consent_version: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[\x21-\x7e]+$")]


class MemberSearchIn(_Model):
    """Exactly one of ``phone`` (exact), ``name`` (prefix), ``number`` (exact)."""

    phone: Phone | None = None
    name: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    number: MemberNo | None = None
    limit: Annotated[int, Field(strict=True, ge=1, le=200)] = 20

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [x for x in (self.phone, self.name, self.number) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of phone, name and number")
        return self


class MemberSummary(_Model):
    number: MemberNo
    name: str
    phone_masked: str
    tier: str
    points: int
    balance_fen: int
    active: bool


class MemberAdjustIn(_Model):
    """A correction: signed ``points`` and ``balance_fen`` deltas, and/or tier, name,
    status. ``reason`` goes to the ledger and the audit log."""

    reason: Annotated[str, Field(min_length=1, max_length=200)]
    points: SignedAmount = 0
    balance_fen: SignedAmount = 0
    tier: Tier | None = None
    active: StrictFlag | None = None
    name: MemberName | None = None


class LedgerEntry(_Model):
    account: Literal["points", "stored_value"]
    delta: int
    balance_after: int
    kind: str
    ref: str
    store: str | None
    note: str | None
    at: AwareDatetime


class MemberDetail(_Model):
    """A member as HQ staff see them. ``phone`` is masked unless revealed (audited).
    ``ledger_points`` / ``ledger_balance_fen``: the ledger's sums, equal to the balances."""

    number: MemberNo
    name: str
    phone: str
    tier: str
    points: int
    balance_fen: int
    active: bool
    version: int
    card_version: int
    consent_version: str
    consent_at: AwareDatetime
    created_at: AwareDatetime
    created_store: str | None
    ledger_points: int
    ledger_balance_fen: int
    coupons: list[CouponData]
    holds: list[HoldData]
    ledger: list[LedgerEntry]


class MemberCodeIn(_Model):
    """``card`` false: an app code valid ``ttl_s`` seconds. ``card`` true: the member's
    card code; with ``new_card`` a new card generation that cancels the older cards."""

    ttl_s: Annotated[int, Field(strict=True, ge=30, le=86_400)] = 300
    card: StrictFlag = False
    new_card: StrictFlag = False


class MemberCodeOut(_Model):
    """``code`` is what the QR code holds."""

    number: MemberNo
    kind: Literal["app", "card"]
    code: str
    expires_at: AwareDatetime | None
    card_version: int


class CouponIn(_Model):
    """A coupon worth ``value_fen`` off a purchase of at least ``min_spend_fen``."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    value_fen: Annotated[int, Field(strict=True, ge=1, le=10**9)]
    min_spend_fen: Annotated[int, Field(strict=True, ge=0, le=10**9)] = 0
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime


class AuditEntry(_Model):
    """One entry of HQ's audit trail; ``device``: the till it was recorded at, for a
    till's own entry."""

    at: AwareDatetime
    actor: str
    action: str
    member: str | None
    store: str | None
    detail: dict[str, Any]
    id: int | None = None
    device: str | None = None


class SweepOut(_Model):
    released: int


class CountLineOut(_Model):
    """A counted item; ``expected_milli`` (the level at ``counted_at``) and
    ``difference_milli`` once the count is approved."""

    sku: Sku
    counted_milli: int
    counted_at: datetime
    expected_milli: int | None = None
    difference_milli: int | None = None


class CountOut(_Model):
    """A stock count (盘点) as HQ has it; ``state``: pending, approved or rejected."""

    count_id: UUID
    count_no: str
    store: Code
    terminal: str
    staff: str
    zone: str
    started_at: datetime
    submitted_at: datetime
    state: Literal["pending", "approved", "rejected"]
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    lines: list[CountLineOut] = []
