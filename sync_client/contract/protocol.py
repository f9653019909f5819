"""The wire contract between terminals and HQ: the one definition both sides import.

Every model is versioned by :data:`PROTOCOL_VERSION`. Money is integer fen, quantities of
weighed goods are integer thousandths (``qty_milli``: 1 piece = 1000, 0.356 kg = 356),
timestamps are timezone-aware UTC.

Version 2 names every machine code on the wire ``code`` (with its ``params``); version 1
called it ``error`` in error answers and ``reason`` in event results. HQ answers a client
in the version it declares (:func:`answer_protocol`, :func:`error_answer`,
:func:`push_answer`, :func:`resync_answer`); the till's readers accept either name.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from sync_client.contract.holds import MAX_HOLD_TTL_S, MIN_HOLD_TTL_S

PROTOCOL_VERSION: Final = 2
"""The version this contract describes. History: 1, the first; 2, every machine code on
the wire is ``code`` with ``params`` (version 1: ``error`` in error answers, ``reason`` in
event results)."""
ProtocolVersion = Literal[1, 2]
"""The versions HQ speaks: it still answers a client of version 1 in version 1."""

Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9-]+$")]
# Strict: an amount is a JSON integer, never ``true`` or ``"5"``.
Fen = Annotated[int, Field(strict=True, ge=-(10**12), le=10**12)]
NonNegFen = Annotated[int, Field(strict=True, ge=0, le=10**12)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


OptionCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
"""The code of a menu category, option group or choice (``size``, ``large``, ``pearl``)."""

MAX_LINE_OPTIONS = 20


class SaleOption(_Model):
    """An option chosen for a drink (大杯, 少冰, 加珍珠), as sold: ``price_fen`` is what it
    added to one unit's price (0 for most sugar and ice choices)."""

    group: OptionCode
    code: OptionCode
    name: Annotated[str, Field(min_length=1, max_length=64)]
    price_fen: NonNegFen = 0


MAX_LINE_PROMOTIONS = 20


class LinePromotion(_Model):
    """What one promotion (``id`` and ``version``) took off a sale line, in fen."""

    id: Annotated[int, Field(ge=1)]
    version: Annotated[int, Field(ge=1)]
    amount_fen: Annotated[int, Field(ge=1, le=10**12)]


class SaleLine(_Model):
    """One line of a completed sale. ``amount_fen = list_amount_fen - discount_fen``.

    The till builds it from its own sale-line record (``model_validate(record,
    from_attributes=True)``), so it refuses a line HQ would refuse before the sale is
    saved."""

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
    options: Annotated[list[SaleOption] | None, Field(max_length=MAX_LINE_OPTIONS)] = None
    """The drink's chosen options (older terminals and plain items leave it out);
    ``unit_price_fen`` already includes their ``price_fen``."""
    menu_version: Annotated[int | None, Field(ge=1)] = None
    """The menu version (:class:`MenuData`) the options were priced with: with
    ``price_version`` it tells HQ whether the line was sold at a stale price."""
    promotions: Annotated[list[LinePromotion] | None, Field(max_length=MAX_LINE_PROMOTIONS)] = (
        None
    )
    """The promotions that priced the line and what each took (older tills and lines
    without a promotion leave it out); part of ``discount_fen``."""

    @model_validator(mode="after")
    def _amount_adds_up(self) -> SaleLine:
        if self.amount_fen != self.list_amount_fen - self.discount_fen:
            raise ValueError(
                f"amount_fen {self.amount_fen} != list_amount_fen {self.list_amount_fen} "
                f"- discount_fen {self.discount_fen}"
            )
        promoted = sum(pr.amount_fen for pr in self.promotions or ())
        if promoted > self.discount_fen:
            raise ValueError(
                f"the promotions took {promoted} fen, more than discount_fen {self.discount_fen}"
            )
        extra = sum(o.price_fen for o in self.options or ())
        if extra > self.unit_price_fen:
            raise ValueError(
                f"the options add {extra} fen, more than unit_price_fen {self.unit_price_fen}"
            )
        return self


TenderKind = Literal[
    "cash",
    "card",
    "other",
    "points",
    "stored_value",
    "wechat_pay",
    "alipay",
    "unionpay",
    "channel",
]
"""How a sale was paid. ``wechat_pay``, ``alipay`` and ``unionpay`` are payment codes
(付款码) charged through the payment gateway (``reference``: the gateway's order number);
``channel`` is an online order paid in its channel before pick-up (``reference``: the
channel's order id)."""

PAYMENT_CODE_KINDS: frozenset[str] = frozenset({"wechat_pay", "alipay", "unionpay"})


class Tender(_Model):
    """A payment. For cash ``tendered_fen`` is what the customer handed over.

    ``points`` and ``stored_value`` are paid from a member's account through an HQ hold
    (see :class:`HoldRequest`); list the hold in :attr:`SaleMember.holds` so the sale
    captures it, and put its id in ``reference`` for the receipt. Points never earn points.

    A payment-code tender (``wechat_pay``, ``alipay``, ``unionpay``) carries in
    ``placed_at`` when the till placed its charge with the gateway (the intent's time):
    HQ keeps it with the sale and gives it back in :class:`SaleForReturn`, so that a till
    refunding another till's sale names the original charge as the provider needs it
    (UnionPay finds an order by number and time). Optional: older tills leave it out.
    """

    kind: TenderKind
    amount_fen: NonNegFen
    tendered_fen: NonNegFen | None = None
    reference: Annotated[str | None, Field(max_length=64)] = None
    placed_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _covers_amount(self) -> Tender:
        if self.tendered_fen is not None and self.tendered_fen < self.amount_fen:
            raise ValueError(
                f"tendered_fen {self.tendered_fen} is less than amount_fen {self.amount_fen}"
            )
        if self.placed_at is not None and self.kind not in PAYMENT_CODE_KINDS:
            raise ValueError(f"placed_at is for payment-code tenders, not {self.kind}")
        return self

    @property
    def change_fen(self) -> int:
        """What goes back to the customer from this tender."""
        return 0 if self.tendered_fen is None else self.tendered_fen - self.amount_fen


MemberNo = Annotated[str, Field(min_length=6, max_length=20, pattern=r"^[0-9]+$")]
"""A member number as HQ assigns it (digits; the last one a Luhn check digit)."""

MAX_SALE_HOLDS = 20
MAX_SALE_APPROVALS = 10


class SaleMember(_Model):
    """The member a sale was rung up for, and the holds it spends.

    Exactly one of ``number`` and ``signup_id`` (a member signed up at this till whose
    sign-up may not have reached HQ yet; HQ credits the points once it has). HQ credits the
    points the sale earns once, when the sale arrives (offline sales earn later), and
    captures every hold in ``holds``: points, stored value or a coupon reserved for this
    sale. A void gives earned points back to HQ and the captured holds back to the member.
    """

    number: MemberNo | None = None
    signup_id: UUID | None = None
    holds: Annotated[list[UUID], Field(max_length=MAX_SALE_HOLDS)] = []

    @model_validator(mode="after")
    def _one_identity(self) -> SaleMember:
        if (self.number is None) == (self.signup_id is None):
            raise ValueError("give exactly one of number and signup_id")
        if len(set(self.holds)) != len(self.holds):
            raise ValueError("a hold is listed twice")
        return self


class SaleCompleted(_Model):
    """A sale that committed at a terminal. ``sale_id`` is the receipt's identity.

    ``member`` (optional; older terminals leave it out) names the member and the holds
    to capture. The amounts add up: lines are numbered 1..n, ``total_fen = subtotal_fen -
    discount_fen - rounding_fen`` is the sum of the lines' ``amount_fen`` and of the
    tenders' ``amount_fen``, and ``change_fen`` is what the tenders handed back. Points and
    stored value are paid by a member, so a sale paying with them names one."""

    type: Literal["sale.completed"] = "sale.completed"
    sale_id: UUID
    receipt_no: Annotated[str, Field(min_length=1, max_length=64)]
    store: Code
    terminal: Code
    cashier: Annotated[str, Field(min_length=1, max_length=32)]
    started_at: AwareDatetime
    completed_at: AwareDatetime
    lines: Annotated[list[SaleLine], Field(min_length=1, max_length=1000)]
    subtotal_fen: NonNegFen
    discount_fen: NonNegFen
    rounding_fen: NonNegFen
    total_fen: NonNegFen
    tenders: Annotated[list[Tender], Field(min_length=1, max_length=20)]
    change_fen: NonNegFen
    member: SaleMember | None = None
    approvals: Annotated[list[Approval], Field(max_length=MAX_SALE_APPROVALS)] = []
    """Supervisors' approvals the sale needed (a discount over the store's limit);
    older terminals leave it out."""
    pickup: UUID | None = None
    """The online reservation this sale hands over at the counter (到店自提): HQ captures
    it, so its reserved quantities leave the store once, as this sale."""

    @model_validator(mode="after")
    def _adds_up(self) -> SaleCompleted:
        numbers = [line.line_no for line in self.lines]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"lines are numbered 1..{len(numbers)} in order, not {numbers}")
        net = self.subtotal_fen - self.discount_fen - self.rounding_fen
        if self.total_fen != net:
            raise ValueError(
                f"total_fen {self.total_fen} != subtotal_fen - discount_fen - rounding_fen ({net})"
            )
        lines = sum(line.amount_fen for line in self.lines)
        if lines != self.total_fen:
            raise ValueError(f"the lines' amount_fen add up to {lines}, not total_fen")
        paid = sum(t.amount_fen for t in self.tenders)
        if paid != self.total_fen:
            raise ValueError(f"the tenders' amount_fen add up to {paid}, not total_fen")
        change = sum(t.change_fen for t in self.tenders)
        if change != self.change_fen:
            raise ValueError(f"change_fen {self.change_fen} != what the tenders hand back")
        if self.member is None and any(t.kind in ("points", "stored_value") for t in self.tenders):
            raise ValueError("points and stored value are paid by a member (give member)")
        return self


StaffNo = Annotated[str, Field(min_length=1, max_length=32)]
"""A staff member's number as typed at sign-in (unique across the chain)."""

Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
"""A catalogue item's code as HQ assigns it (URL-safe: it appears in paths)."""


class SaleVoided(_Model):
    """A completed sale cancelled at the terminal, approved by a supervisor.

    HQ marks the sale voided and puts every line's quantity back into the store's stock.
    ``supervisor`` is the approving staff member's number; HQ checks that they were an
    active supervisor or manager of the sale's store at ``voided_at``.
    """

    type: Literal["sale.voided"] = "sale.voided"
    sale_id: UUID
    store: Code
    terminal: Code
    voided_at: AwareDatetime
    reason: Annotated[str, Field(min_length=1, max_length=200)]
    supervisor: StaffNo
    cashier: StaffNo | None = None


class StockCounted(_Model):
    """A store's physical count of one item: it sets HQ's level and records the difference.

    ``counted_milli`` is what is on the shelf (pieces x 1000, or grams for weighed goods).
    """

    type: Literal["stock.counted"] = "stock.counted"
    store: Code
    terminal: Code
    sku: Sku
    counted_milli: Annotated[int, Field(ge=0, le=10**12)]
    counted_at: AwareDatetime
    staff: StaffNo
    note: Annotated[str | None, Field(max_length=200)] = None


class MemberToppedUp(_Model):
    """Stored value bought at the till: the member paid ``amount_fen`` (cash or card,
    in ``tenders``) and HQ adds it to their balance, once, when the event arrives.

    The member is named by ``number`` or, for a member signed up at this till whose
    sign-up has not reached HQ yet, by ``signup_id`` (HQ answers ``unknown_member``,
    retryable, until it has). Top-ups earn no points.
    """

    type: Literal["member.topped_up"] = "member.topped_up"
    topup_id: UUID
    receipt_no: Annotated[str, Field(min_length=1, max_length=64)]
    store: Code
    terminal: Code
    cashier: StaffNo
    completed_at: AwareDatetime
    number: MemberNo | None = None
    signup_id: UUID | None = None
    amount_fen: Annotated[int, Field(strict=True, ge=1, le=10**9)]
    tenders: Annotated[list[Tender], Field(min_length=1, max_length=20)]

    @model_validator(mode="after")
    def _one_identity(self) -> MemberToppedUp:
        if (self.number is None) == (self.signup_id is None):
            raise ValueError("give exactly one of number and signup_id")
        return self


SignInFailure = Literal[
    "wrong_pin", "locked", "unknown_staff", "inactive", "other_store", "hq_admin_at_till"
]
"""Why a till refused a sign-in (the till's ``SignInError`` code)."""


class StaffSignInFailed(_Model):
    """A sign-in or approval a till refused. HQ keeps it in its audit log (once per event).

    ``staff`` is the number as typed; ``failed_attempts`` the wrong PINs in a row so far.
    """

    type: Literal["staff.sign_in_failed"] = "staff.sign_in_failed"
    store: Code
    terminal: Code
    staff: StaffNo
    at: AwareDatetime
    reason: SignInFailure
    action: Annotated[str, Field(min_length=1, max_length=40)] = "sign_in"
    failed_attempts: Annotated[int, Field(ge=0, le=1000)] = 0


class StaffLockedOut(_Model):
    """Too many wrong PINs locked a staff member out at a till until ``locked_until``;
    ``lockouts`` counts the locks in a row (each longer: 5 min, 15 min, then 1 h)."""

    type: Literal["staff.locked_out"] = "staff.locked_out"
    store: Code
    terminal: Code
    staff: StaffNo
    at: AwareDatetime
    locked_until: AwareDatetime
    lockouts: Annotated[int, Field(ge=1, le=10**6)]


# --- Approvals ------------------------------------------------------------------------

ApprovalAction = Literal[
    "discount_over_limit",
    "void_after_payment",
    "sale_undo",
    "refund_over_limit",
    "return_without_receipt",
    "no_sale",
    "cash_movement",
    "over_short",
]
"""What an approval allows. ``return_without_receipt`` needs a manager; the others a
supervisor or above (:data:`APPROVAL_MIN_ROLE`)."""

APPROVAL_MIN_ROLE: dict[str, str] = {
    "discount_over_limit": "supervisor",
    "void_after_payment": "supervisor",
    "sale_undo": "supervisor",
    "refund_over_limit": "supervisor",
    "return_without_receipt": "manager",
    "no_sale": "supervisor",
    "cash_movement": "supervisor",
    "over_short": "supervisor",
}


class Approval(_Model):
    """A supervisor's or manager's approval, carried by the event that needed it.

    The till checked the approver's PIN; HQ checks the approval against its own staff
    data: ``staff`` exists, was active at ``approved_at``, belongs to the event's store,
    is not an HQ admin (they never act at a till) and holds at least
    :data:`APPROVAL_MIN_ROLE` for ``action``. A sale or shift step whose approval fails
    that check is kept and flagged for a manager (it happened at the counter); any other
    event is refused and the refusal audited.
    """

    action: ApprovalAction
    staff: StaffNo
    approved_at: AwareDatetime


SaleCompleted.model_rebuild()  # its ``approvals`` name Approval, defined after it


# --- Returns ----------------------------------------------------------------------------

ReasonCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]
"""A return reason from the list HQ manages (setting ``returns.reasons``)."""

Restock = Literal["sellable", "damaged"]
"""Where returned goods go: back on the shelf, or into the store's damaged bin (out of
sellable stock, kept in the ledger for write-off)."""

MIN_RETURN_AUTH_TTL_S = 60
MAX_RETURN_AUTH_TTL_S = 3600


class LineQty(_Model):
    """A quantity of one line of the original sale (``qty_milli`` as in :class:`SaleLine`)."""

    line_no: Annotated[int, Field(ge=1, le=10_000)]
    qty_milli: Annotated[int, Field(strict=True, ge=1, le=10**9)]


def _unique_lines(lines: list[LineQty]) -> None:
    if len({line.line_no for line in lines}) != len(lines):
        raise ValueError("a line is listed twice")


class SoldLine(_Model):
    """A line of a sale as HQ has it, with what is left to return.

    ``returned_milli``: captured by returns in any store; ``held_milli``: authorised for
    a return not yet completed; ``returnable_milli = qty_milli - returned - held``.
    """

    line_no: Annotated[int, Field(ge=1, le=10_000)]
    sku: Sku
    barcode: Annotated[str | None, Field(max_length=64)] = None
    name: Annotated[str, Field(max_length=200)]
    unit: Literal["piece", "kg"]
    qty_milli: Annotated[int, Field(ge=1, le=10**9)]
    unit_price_fen: NonNegFen
    list_amount_fen: NonNegFen
    discount_fen: NonNegFen
    amount_fen: NonNegFen
    returned_milli: Annotated[int, Field(ge=0)]
    held_milli: Annotated[int, Field(ge=0)]
    returnable_milli: Annotated[int, Field(ge=0)]
    refunded_fen: NonNegFen
    options: Annotated[list[SaleOption] | None, Field(max_length=MAX_LINE_OPTIONS)] = None
    """The drink's options as sold (a return refunds the line with them: its amounts
    include their prices)."""


class EarlierReturn(_Model):
    """A return already made against the sale: where, when, which lines, how much."""

    return_id: UUID
    receipt_no: Annotated[str, Field(min_length=1, max_length=64)]
    store: Code
    terminal: Code
    returned_at: AwareDatetime
    lines: list[LineQty]
    refund_fen: NonNegFen


class SaleCoupon(_Model):
    """The member's coupon a sale used: ``value_fen`` off, spread over the sale's lines as
    a discount (so a line's refund is already net of it). ``back``: a return of the whole
    sale has given it back to the member already. ``valid_until`` (exclusive): a coupon
    goes back only while it is still valid
    (:func:`~sync_client.contract.refunds.coupon_goes_back`)."""

    coupon_id: UUID
    name: Annotated[str, Field(min_length=1, max_length=64)]
    value_fen: NonNegFen
    valid_until: AwareDatetime
    back: bool = False


class SaleForReturn(_Model):
    """A sale as the return screen shows it, with every earlier return in every store.

    ``earned_points``: what HQ credited the member for the sale (0 without a member);
    ``points_reversed``: what earlier returns took back. ``coupon``: the member's coupon
    the sale used, if any.
    """

    sale_id: UUID
    receipt_no: Annotated[str, Field(min_length=1, max_length=64)]
    store: Code
    terminal: Code
    cashier: StaffNo
    completed_at: AwareDatetime
    lines: list[SoldLine]
    subtotal_fen: NonNegFen
    discount_fen: NonNegFen
    rounding_fen: NonNegFen
    total_fen: NonNegFen
    tenders: list[Tender]
    change_fen: NonNegFen
    member: MemberNo | None = None
    earned_points: int = 0
    points_reversed: int = 0
    voided: bool = False
    returns: list[EarlierReturn] = []
    coupon: SaleCoupon | None = None


class SaleLookupRequest(_Model):
    """``POST /v1/returns/lookup``: find a sale to return, by exactly one of

    * ``ref``: the signed reference from the receipt's QR (HQ verifies the signature with
      the issuing terminal's secret; a forged or altered code is refused ``bad_receipt``);
    * ``receipt_no`` with ``store`` (and optionally ``business_date``, the local date);
    * ``member``: that member's sales, newest first, within the return window.

    The body carries the code so that it never appears in an access log.
    """

    ref: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    receipt_no: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    store: Code | None = None
    business_date: date | None = None
    member: MemberNo | None = None
    limit: Annotated[int, Field(ge=1, le=50)] = 20

    @model_validator(mode="after")
    def _one_way(self) -> SaleLookupRequest:
        ways = [self.ref is not None, self.receipt_no is not None, self.member is not None]
        if sum(ways) != 1:
            raise ValueError("give exactly one of ref, receipt_no (with store) and member")
        if (self.receipt_no is None) != (self.store is None):
            raise ValueError("receipt_no and store go together")
        return self


class SaleLookupResponse(_Model):
    sales: list[SaleForReturn]


class ReturnAuthRequest(_Model):
    """``POST /v1/returns/authorisations``: reserve quantities of a sale's lines for a
    return being rung up at the caller's store.

    ``auth_id`` is made by the till (UUIDv7) and stored before the first attempt; a retry
    with the same id answers the same authorisation. HQ grants it atomically against each
    line's returnable quantity (summed over every return and live authorisation in every
    store) or refuses it whole (409 ``not_returnable`` naming the line and where and when
    it was returned). The :class:`SaleReturned` event naming it captures it; release or
    expiry (``ttl_s``, default 900) gives the quantities back, exactly once.
    """

    auth_id: UUID
    sale_id: UUID
    lines: Annotated[list[LineQty], Field(min_length=1, max_length=1000)]
    ttl_s: Annotated[
        int | None, Field(strict=True, ge=MIN_RETURN_AUTH_TTL_S, le=MAX_RETURN_AUTH_TTL_S)
    ] = None

    @model_validator(mode="after")
    def _lines_once(self) -> ReturnAuthRequest:
        _unique_lines(self.lines)
        return self


ReturnAuthStatus = Literal["held", "captured", "released", "expired"]


class ReturnAuthData(_Model):
    """A return authorisation as HQ has it. ``return_id``: the return that captured it."""

    auth_id: UUID
    sale_id: UUID
    store: Code
    terminal: Code
    status: ReturnAuthStatus
    lines: list[LineQty]
    created_at: AwareDatetime
    expires_at: AwareDatetime
    settled_at: AwareDatetime | None = None
    return_id: UUID | None = None


class OriginalSale(_Model):
    """The sale a return refers to."""

    sale_id: UUID
    store: Code
    terminal: Code
    receipt_no: Annotated[str, Field(min_length=1, max_length=64)]


class ReturnLine(_Model):
    """One returned line. ``original_line_no`` names the sold line (null only for a return
    without a receipt). ``refund_fen`` is what this line gives back."""

    line_no: Annotated[int, Field(ge=1, le=10_000)]
    original_line_no: Annotated[int | None, Field(ge=1, le=10_000)] = None
    sku: Sku
    barcode: Annotated[str | None, Field(max_length=64)] = None
    name: Annotated[str, Field(max_length=200)]
    unit: Literal["piece", "kg"]
    qty_milli: Annotated[int, Field(strict=True, ge=1, le=10**9)]
    unit_price_fen: NonNegFen
    refund_fen: NonNegFen
    restock: Restock
    reason: ReasonCode


class SaleReturned(_Model):
    """Goods brought back and refunded at ``store``: a sale in reverse, linked line by line.

    * With a receipt, ``original`` names the sale. ``authorisation`` is HQ's
      :class:`ReturnAuthData` for these quantities; it is null only for a return of a
      sale this till holds, made while HQ was unreachable: HQ then checks the quantities
      itself and records a discrepancy for a manager if another store returned the same
      goods meanwhile (the goods and the refund already happened: never refused for that).
    * Without a receipt, ``original`` is null and a ``return_without_receipt`` approval
      by a manager is required.
    * ``refunds`` pay the customer back, by tender kind; ``card`` carries the original
      card reference, ``points`` and ``stored_value`` go back to ``member`` through HQ's
      ledger. ``points_reversed`` is the till's estimate of the earned points taken back
      (HQ decides, never driving the balance below zero, and records any shortfall).
    * ``shift_id`` is the till shift whose drawer paid a cash refund.
    * ``coupon_back`` names the sale's coupon when the till told the customer it goes
      back to the member (this return completes the return of the whole sale and the
      coupon is still valid, :func:`~sync_client.contract.refunds.coupon_goes_back`).
      HQ decides with the same rule from its own count of every store's returns, and
      gives the coupon back once, in the event's transaction, also when the till did not
      name it (another store returned the rest meanwhile).
    """

    type: Literal["sale.returned"] = "sale.returned"
    return_id: UUID
    receipt_no: Annotated[str, Field(min_length=1, max_length=64)]
    store: Code
    terminal: Code
    cashier: StaffNo
    returned_at: AwareDatetime
    original: OriginalSale | None
    authorisation: UUID | None = None
    lines: Annotated[list[ReturnLine], Field(min_length=1, max_length=1000)]
    refund_fen: NonNegFen
    refunds: Annotated[list[Tender], Field(max_length=20)]
    member: MemberNo | None = None
    points_reversed: Annotated[int, Field(ge=0)] = 0
    approvals: Annotated[list[Approval], Field(max_length=5)] = []
    shift_id: UUID | None = None
    coupon_back: UUID | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SaleReturned:
        if len({line.line_no for line in self.lines}) != len(self.lines):
            raise ValueError("a return line number is used twice")
        if sum(line.refund_fen for line in self.lines) != self.refund_fen:
            raise ValueError("refund_fen is not the sum of the lines' refunds")
        if sum(t.amount_fen for t in self.refunds) != self.refund_fen:
            raise ValueError("the refunds do not add up to refund_fen")
        if self.original is None:
            if self.authorisation is not None:
                raise ValueError("an authorisation needs the original sale")
            if any(line.original_line_no is not None for line in self.lines):
                raise ValueError("a return without a receipt names no original lines")
            if not any(a.action == "return_without_receipt" for a in self.approvals):
                raise ValueError("a return without a receipt needs a manager's approval")
        else:
            originals = [line.original_line_no for line in self.lines]
            if None in originals:
                raise ValueError("every line of a return with a receipt names its original")
            if len(set(originals)) != len(originals):
                raise ValueError("an original line is returned twice in one return")
        return self


# --- Shifts -----------------------------------------------------------------------------


class DenominationCount(_Model):
    """How many notes or coins of one value were counted (``value_fen``: 10000 for ¥100)."""

    value_fen: Annotated[int, Field(strict=True, ge=1, le=100_000)]
    count: Annotated[int, Field(strict=True, ge=0, le=1_000_000)]


class ShiftCashMoved(_Model):
    """Cash added to the drawer (备用金补充, ``in``) or taken to the safe (取款, ``out``)
    during a shift, with a reason and a supervisor's approval."""

    type: Literal["shift.cash_moved"] = "shift.cash_moved"
    movement_id: UUID
    shift_id: UUID
    store: Code
    terminal: Code
    staff: StaffNo
    moved_at: AwareDatetime
    direction: Literal["in", "out"]
    amount_fen: Annotated[int, Field(strict=True, ge=1, le=10**10)]
    reason: Annotated[str, Field(min_length=1, max_length=200)]
    approval: Approval | None = None


class TenderFigures(_Model):
    """One tender kind at shift close: what the records say, what was counted (cash, and
    card slips when the store counts them; null when not counted) and the difference
    (``counted - expected``, signed)."""

    kind: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]
    expected_fen: Fen
    counted_fen: Fen | None = None
    over_short_fen: Fen | None = None
    count: Annotated[int, Field(ge=0)] = 0


class ShiftOpened(_Model):
    """A cashier opened a shift with a counted float of ``float_fen``.

    ``shift_no`` is the till's own number for the shift (terminal id + counter, so shift
    numbers never collide offline); ``float_counts`` the count by denomination;
    ``carried_from`` the shift whose counted cash this float takes over, when the store
    carries cash over between shifts."""

    type: Literal["shift.opened"] = "shift.opened"
    shift_id: UUID
    store: Code
    terminal: Code
    staff: StaffNo
    opened_at: AwareDatetime
    float_fen: NonNegFen
    shift_no: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    float_counts: Annotated[list[DenominationCount], Field(max_length=50)] = []
    carried_from: UUID | None = None


class ShiftClosed(_Model):
    """A shift closed with a blind count: ``over_short_fen = counted - expected`` (signed).

    Expected cash = float + cash taken - change given - cash refunds + cash added - cash
    removed, computed from the shift's own records, never from what was handed over.
    ``tenders`` holds the same figures per tender kind; the counts, totals and the
    supervisor's sign-off (required when the over/short passes the store's threshold)
    travel with it so that HQ can report over/short by store and by cashier.
    """

    type: Literal["shift.closed"] = "shift.closed"
    shift_id: UUID
    store: Code
    terminal: Code
    staff: StaffNo
    closed_at: AwareDatetime
    expected_cash_fen: Fen
    counted_cash_fen: NonNegFen
    over_short_fen: Fen
    shift_no: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    business_date: date | None = None
    counts: Annotated[list[DenominationCount], Field(max_length=50)] = []
    tenders: Annotated[list[TenderFigures], Field(max_length=20)] = []
    sales_count: Annotated[int, Field(ge=0)] = 0
    sales_fen: NonNegFen = 0
    returns_count: Annotated[int, Field(ge=0)] = 0
    refunds_fen: NonNegFen = 0
    voids_count: Annotated[int, Field(ge=0)] = 0
    discounts_fen: NonNegFen = 0
    no_sale_opens: Annotated[int, Field(ge=0)] = 0
    unsynced_events: Annotated[int, Field(ge=0)] = 0
    unprinted_receipts: Annotated[int, Field(ge=0)] = 0
    reason: Annotated[str | None, Field(max_length=200)] = None
    approval: Approval | None = None


# --- Stock across the chain -------------------------------------------------------------


class SkuQty(_Model):
    """A quantity of one item (pieces x 1000, or grams)."""

    sku: Sku
    qty_milli: Annotated[int, Field(strict=True, ge=0, le=10**12)]


def _skus_once(lines: list[SkuQty]) -> None:
    if len({line.sku for line in lines}) != len(lines):
        raise ValueError("an item is listed twice")


class TransferStep(_Model):
    """One step of a transfer, done at a till of the right store by the right role; HQ
    checks both against its own data and refuses a step that does not follow the state
    machine (requested -> approved | refused | cancelled; approved -> shipped;
    shipped -> received).

    * ``transfer.requested``: ``store`` is the store asking (``to_store``), a manager;
      ``from_store`` the store asked; ``lines`` the quantities wanted; ``transfer_no`` the
      till's number for it (terminal id + counter, never colliding offline).
    * ``transfer.approved`` / ``transfer.refused``: ``store`` is ``from_store``, a
      manager; approved ``lines`` may lower a quantity (to zero); ``reason`` on refusal.
    * ``transfer.cancelled``: by the requesting store before approval.
    * ``transfer.shipped``: ``store`` is ``from_store``; ``lines`` what left (its stock
      goes down by them, the goods are in transit).
    * ``transfer.received``: ``store`` is ``to_store``; ``lines`` what arrived (its stock
      goes up by them); less than shipped is recorded as a discrepancy.
    """

    type: Literal[
        "transfer.requested",
        "transfer.approved",
        "transfer.refused",
        "transfer.cancelled",
        "transfer.shipped",
        "transfer.received",
    ]
    transfer_id: UUID
    store: Code
    terminal: Code
    staff: StaffNo
    at: AwareDatetime
    transfer_no: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    from_store: Code | None = None
    lines: Annotated[list[SkuQty], Field(max_length=500)] = []
    reason: Annotated[str | None, Field(max_length=200)] = None
    note: Annotated[str | None, Field(max_length=200)] = None

    @model_validator(mode="after")
    def _fields_of_step(self) -> TransferStep:
        _skus_once(self.lines)
        if self.type == "transfer.requested":
            if self.from_store is None or self.transfer_no is None or not self.lines:
                raise ValueError("a request names from_store, transfer_no and lines")
            if self.from_store == self.store:
                raise ValueError("a store cannot ask itself for goods")
            if any(line.qty_milli == 0 for line in self.lines):
                raise ValueError("a requested quantity is positive")
        elif self.type in ("transfer.approved", "transfer.shipped", "transfer.received"):
            if not self.lines:
                raise ValueError(f"{self.type} lists its quantities")
        elif self.type == "transfer.refused" and not self.reason:
            raise ValueError("a refusal gives a reason")
        return self


class StockReceived(_Model):
    """Goods booked in at the till from the warehouse or a supplier (收货): the store's
    stock goes up by ``lines``. ``document`` is the delivery note's number."""

    type: Literal["stock.received"] = "stock.received"
    receipt_id: UUID
    store: Code
    terminal: Code
    staff: StaffNo
    received_at: AwareDatetime
    document: Annotated[str | None, Field(max_length=64)] = None
    lines: Annotated[list[SkuQty], Field(min_length=1, max_length=1000)]

    @model_validator(mode="after")
    def _lines_once(self) -> StockReceived:
        _skus_once(self.lines)
        return self


class CountLine(_Model):
    """One item counted: ``counted_milli`` on the shelf at ``counted_at`` (the scan).

    Sales during the count are accounted for by the time: HQ compares the count with the
    level as it stood at ``counted_at`` (the ledger by event time), so a sale after the
    item was counted is not a variance."""

    sku: Sku
    counted_milli: Annotated[int, Field(strict=True, ge=0, le=10**12)]
    counted_at: AwareDatetime


class StockCountSubmitted(_Model):
    """A stock count (盘点) of a zone or the whole store, submitted for a manager's
    approval. Nothing changes until it is approved; then each line's difference becomes
    an adjustment in the ledger (reason ``count``)."""

    type: Literal["stock.count_submitted"] = "stock.count_submitted"
    count_id: UUID
    count_no: Annotated[str, Field(min_length=1, max_length=64)]
    store: Code
    terminal: Code
    staff: StaffNo
    zone: Annotated[str, Field(max_length=64)] = ""
    started_at: AwareDatetime
    submitted_at: AwareDatetime
    lines: Annotated[list[CountLine], Field(min_length=1, max_length=5000)]

    @model_validator(mode="after")
    def _lines_once(self) -> StockCountSubmitted:
        if len({line.sku for line in self.lines}) != len(self.lines):
            raise ValueError("an item is counted twice; add the quantities")
        return self


class StockCountDecided(_Model):
    """A manager approves (the differences become adjustments) or rejects a count."""

    type: Literal["stock.count_decided"] = "stock.count_decided"
    count_id: UUID
    store: Code
    terminal: Code
    staff: StaffNo
    decided_at: AwareDatetime
    approved: bool
    note: Annotated[str | None, Field(max_length=200)] = None


class AuditItem(_Model):
    """One entry of a till's own audit log: ``local_id`` is its id there (HQ keeps each
    (device, local id) once), ``detail`` its JSON detail as the till wrote it."""

    local_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    at: AwareDatetime
    staff: StaffNo | None = None
    action: Annotated[str, Field(min_length=1, max_length=48)]
    detail: dict[str, Any] = {}


class AuditRecorded(_Model):
    """A batch of the till's audit entries (sign-ins, lockouts, approvals, reprints, drawer
    opens...), oldest first, for HQ's tamper-evident audit trail."""

    type: Literal["audit.recorded"] = "audit.recorded"
    store: Code
    terminal: Code
    entries: Annotated[list[AuditItem], Field(min_length=1, max_length=500)]


class MenuSoldOut(_Model):
    """A store marked an item sold out (估清) for its business day, or back on sale
    (``sold_out`` false). The latest ``at`` per store, item and day is what holds."""

    type: Literal["menu.sold_out"] = "menu.sold_out"
    store: Code
    terminal: Code
    sku: Sku
    business_date: date
    sold_out: bool
    staff: StaffNo
    at: AwareDatetime


# --- Day close (日结) -------------------------------------------------------------------


class DayCloseRequest(_Model):
    """A store manager closes the store's business day (``POST /v1/stores/{store}/
    day-close``). HQ refuses (409 ``shifts_open``) while a shift of the store's tills for
    that date is open, as far as the tills' events have told it."""

    business_date: date
    staff: StaffNo


class DayShift(_Model):
    """One closed shift of the day, as HQ recorded it from the till's events."""

    shift_id: UUID
    terminal: Code
    shift_no: str | None = None
    cashier: StaffNo
    opened_at: AwareDatetime | None = None
    closed_at: AwareDatetime
    float_fen: Fen
    expected_cash_fen: Fen
    counted_cash_fen: Fen
    over_short_fen: Fen
    sales_count: Annotated[int, Field(ge=0)] = 0
    sales_fen: Fen = 0
    refunds_fen: Fen = 0


class DayReport(_Model):
    """The store's Z report for one business day: every shift of every till, the
    per-tender totals (``counted_fen``/``over_short_fen`` where the shifts counted that
    tender), sales and refunds, and the over/short of the day. Stored once per store and
    date: a repeated day close answers the same report."""

    store: Code
    business_date: date
    shifts: list[DayShift]
    tenders: list[TenderFigures]
    sales_count: Annotated[int, Field(ge=0)]
    sales_fen: Fen
    returns_count: Annotated[int, Field(ge=0)] = 0
    refunds_fen: Fen
    over_short_fen: Fen
    closed_at: AwareDatetime
    closed_by: StaffNo


EVENT_TYPES: frozenset[str] = frozenset(
    {
        "sale.completed",
        "sale.voided",
        "stock.counted",
        "shift.opened",
        "shift.closed",
        "member.topped_up",
        "sale.returned",
        "shift.cash_moved",
        "transfer.requested",
        "transfer.approved",
        "transfer.refused",
        "transfer.cancelled",
        "transfer.shipped",
        "transfer.received",
        "stock.received",
        "stock.count_submitted",
        "stock.count_decided",
        "staff.sign_in_failed",
        "staff.locked_out",
        "audit.recorded",
        "menu.sold_out",
    }
)
"""Every ``payload.type`` this protocol version defines; HQ rejects others per event."""

EventPayload = Annotated[
    SaleCompleted
    | SaleVoided
    | StockCounted
    | ShiftOpened
    | ShiftClosed
    | MemberToppedUp
    | SaleReturned
    | ShiftCashMoved
    | TransferStep
    | StockReceived
    | StockCountSubmitted
    | StockCountDecided
    | StaffSignInFailed
    | StaffLockedOut
    | AuditRecorded
    | MenuSoldOut,
    Field(discriminator="type"),
]


class Event(_Model):
    """An outbox event as pushed to HQ.

    ``id`` is a UUIDv7 made by the terminal; HQ deduplicates on it. ``device_seq`` is the
    terminal's local sequence number, strictly increasing per terminal.
    """

    id: UUID
    device_seq: Annotated[int, Field(ge=1, le=2**63 - 1)]
    occurred_at: AwareDatetime
    payload: EventPayload


# --- Push: terminal -> HQ -------------------------------------------------------------

MAX_BATCH_EVENTS = 500
"""Most events one push may carry; a longer batch is refused whole (422)."""

RejectReason = Literal[
    "invalid",
    "unknown_type",
    "unknown_sku",
    "sale_exists",
    "unknown_sale",
    "already_voided",
    "not_authorised",
    "conflict",
    "unknown_member",
    "topup_exists",
    "bad_transition",
    "unknown_transfer",
    "unknown_count",
    "unknown_store",
    "unknown_pickup",
    "pickup_collected",
]
"""Why HQ refused one event. ``unknown_sale`` and ``conflict`` are worth retrying later
(the sale may still be on its way from another terminal; a concurrent write collided), as
is ``unknown_member`` for a top-up naming a ``signup_id`` HQ has not seen yet, and
``unknown_pickup`` (the reservation may not be confirmed at HQ yet); the others will be
refused again until the event or HQ's data changes. ``bad_transition``: a transfer or
count step that its current state does not allow (the detail names the state);
``unknown_transfer`` and ``unknown_count`` (retryable): a step for a transfer or count HQ
has not received yet."""


class PushRequest(_Model):
    """A batch of outbox events, oldest first.

    Each element is checked on its own against :class:`Event`, so one malformed or
    unknown event is rejected alone and never sinks the batch. A body that is not an
    object with a list of JSON objects is refused whole (422).
    """

    protocol: ProtocolVersion = PROTOCOL_VERSION
    """The version the till speaks: HQ answers in it (a version-1 till gets ``reason``)."""
    events: Annotated[list[dict[str, Any]], Field(max_length=MAX_BATCH_EVENTS)]


class EventResult(_Model):
    """HQ's answer for one pushed event, in the order the events were sent.

    ``applied``: written now. ``duplicate``: an event with this id was applied before (by
    any HQ process), nothing changed. ``rejected``: nothing changed, see ``code`` (and
    ``params``, the values its text needs). The terminal may drop its outbox row on
    ``applied`` and ``duplicate``. An HQ of protocol 1 names the code ``reason``.
    """

    index: Annotated[int, Field(ge=0)]
    id: UUID | None
    status: Literal["applied", "duplicate", "rejected"]
    code: Annotated[RejectReason | None, Field(validation_alias=AliasChoices("code", "reason"))] = (
        None
    )
    params: dict[str, Any] = {}
    detail: str | None = None
    retryable: bool = False


class PushResponse(_Model):
    """Per-event results plus totals.

    ``head`` is a feed seq at or after every change the applied and duplicate events
    made (stock levels): once the terminal's cursor reaches it, HQ's levels it holds
    include these events, so it stops subtracting them itself.
    """

    protocol: int = PROTOCOL_VERSION
    results: list[EventResult]
    applied: int
    duplicate: int
    rejected: int
    head: Annotated[int, Field(ge=0)] = 0


class TimeResponse(_Model):
    """HQ's clock, for the terminal to measure its offset (``GET /v1/time``).

    The terminal takes ``offset = server_time - (sent + received) / 2`` from the
    exchange with the shortest round trip, so every terminal switches prices at HQ's
    ``effective_at``, whatever its own clock says.
    """

    server_time: AwareDatetime


# --- Enrolment --------------------------------------------------------------------------


class EnrollRequest(_Model):
    """A new terminal's first call, with the one-time code HQ staff gave the store."""

    store: Code
    code: Annotated[str, Field(min_length=4, max_length=32, pattern=r"^[A-Za-z0-9 -]+$")]
    device_name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]


class EnrollResponse(_Model):
    """The terminal's identity. Keep ``token`` and ``receipt_secret`` in the keyring.

    ``token`` goes in ``Authorization: Bearer <token>`` on every later call.
    ``receipt_secret`` is 32 random bytes, standard base64: the key for HMAC-signing
    receipt QR codes; HQ holds it too, to verify receipts from any store.
    """

    protocol: int = PROTOCOL_VERSION
    device_id: Code
    store: Code
    token: str
    receipt_secret: str
    hq_time: AwareDatetime


# --- Change feed: HQ -> terminal --------------------------------------------------------

Unit = Literal["piece", "kg"]
Role = Literal["cashier", "supervisor", "manager", "hq_admin"]
Barcode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
"""Printable ASCII. Scale labels' item numbers are written ``PLU:<digits>``."""
ConfigKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")]
ConfigValue = str | int | bool | None


class ItemData(_Model):
    """A catalogue item. Items are never deleted; ``active=False`` takes one off sale."""

    sku: Sku
    name_zh: Annotated[str, Field(min_length=1, max_length=200)]
    name_en: Annotated[str, Field(max_length=200)] = ""
    unit: Unit
    barcodes: Annotated[list[Barcode], Field(max_length=50)] = []
    category: Annotated[str, Field(max_length=64)] = ""
    active: bool = True


class PriceData(_Model):
    """One price version. ``version`` is HQ-assigned and strictly increasing.

    At sale time a terminal uses, for the item, the store-specific version (``store`` =
    its own store) with the greatest ``effective_at <= now`` if there is one, otherwise
    the chain-wide version (``store`` null) with the greatest ``effective_at <= now``;
    ties go to the greater ``version``. Versions arrive ahead of time, so every terminal
    switches on its own clock at ``effective_at``.
    """

    version: Annotated[int, Field(ge=1)]
    sku: Sku
    price_fen: NonNegFen
    effective_at: AwareDatetime
    store: Code | None = None


class StockData(_Model):
    """A store's level of one item, in thousandths; ``on_hand_milli`` may be negative
    (offline sales can sell more than HQ knew of). ``available = on_hand - reserved``.
    ``in_transit_milli``: shipped to the store by transfers not yet received (HQ announces
    the level again when a shipment leaves for it or arrives)."""

    store: Code
    sku: Sku
    on_hand_milli: int
    reserved_milli: int
    available_milli: int
    updated_at: AwareDatetime
    in_transit_milli: Annotated[int, Field(ge=0)] = 0


class StoreData(_Model):
    """A store of the chain, as every terminal may know it (for the stock screen).

    ``region`` and the coordinates (WGS-84 degrees) order other stores nearest first on
    the stock screen: by distance when both stores have coordinates, else same region
    first."""

    code: Code
    name: Annotated[str, Field(min_length=1, max_length=100)]
    active: bool = True
    region: Annotated[str, Field(max_length=32)] = ""
    latitude: Annotated[float | None, Field(ge=-90, le=90)] = None
    longitude: Annotated[float | None, Field(ge=-180, le=180)] = None


class ConfigData(_Model):
    """One setting, chain-wide (``store`` null) or for one store; the store's value wins.

    ``value`` null removes the setting."""

    store: Code | None = None
    key: ConfigKey
    value: ConfigValue


class StaffData(_Model):
    """A staff member, so terminals can sign staff in offline.

    ``pin_hash`` is ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` with salt and hash in standard
    base64 (with padding), hash = ``hashlib.scrypt(pin, salt=salt, n=n, r=r, p=p,
    dklen=len(hash))``. ``store`` null means chain-wide (HQ staff).
    """

    number: StaffNo
    store: Code | None
    name: Annotated[str, Field(min_length=1, max_length=64)]
    role: Role
    pin_hash: Annotated[str, Field(max_length=200)]
    active: bool = True


class MemberData(_Model):
    """That a member's account changed (points, balance, coupons, tier, name, status).

    Only what a terminal needs to drop or refresh a cached copy: no name, no phone, no
    balances (every terminal of the chain receives it). ``version`` increases with every
    change; a cached copy with a lower version is stale."""

    number: MemberNo
    version: Annotated[int, Field(ge=1)]
    active: bool = True


class _Change(_Model):
    """One feed entry. ``seq`` strictly increases in commit order; ``key`` identifies the
    thing changed within its kind (a later change with the same kind and key replaces an
    earlier one); ``store`` is the store the change belongs to, null when chain-wide."""

    seq: Annotated[int, Field(ge=1)]
    key: Annotated[str, Field(min_length=1, max_length=140)]
    store: Code | None
    created_at: AwareDatetime


class ItemChange(_Change):
    """Key: the sku."""

    kind: Literal["item"] = "item"
    data: ItemData


class PriceChange(_Change):
    """Key: the version number as text."""

    kind: Literal["price"] = "price"
    data: PriceData


class StockChange(_Change):
    """Key: ``<store>:<sku>``. Terminals see every store's levels."""

    kind: Literal["stock"] = "stock"
    data: StockData


class StoreChange(_Change):
    """Key: the store code; always chain-wide (``store`` null)."""

    kind: Literal["store"] = "store"
    data: StoreData


class ConfigChange(_Change):
    """Key: ``<store or *>:<key>``."""

    kind: Literal["config"] = "config"
    data: ConfigData


class StaffChange(_Change):
    """Key: the staff number."""

    kind: Literal["staff"] = "staff"
    data: StaffData


class MemberChange(_Change):
    """Key: the member number; always chain-wide (``store`` null)."""

    kind: Literal["member"] = "member"
    data: MemberData


TransferState = Literal["requested", "approved", "refused", "shipped", "received", "cancelled"]


class TransferLineData(_Model):
    """One item of a transfer: what was asked for, approved, shipped and received."""

    sku: Sku
    requested_milli: Annotated[int, Field(ge=0)]
    approved_milli: Annotated[int | None, Field(ge=0)] = None
    shipped_milli: Annotated[int | None, Field(ge=0)] = None
    received_milli: Annotated[int | None, Field(ge=0)] = None


class TransferData(_Model):
    """A transfer (调拨) between two stores as HQ has it, for both stores' tills.

    ``from_store`` sends, ``to_store`` asked for the goods. Goods are in transit between
    ``shipped`` and ``received``; a shortfall on receipt is recorded as a discrepancy."""

    transfer_id: UUID
    transfer_no: Annotated[str, Field(min_length=1, max_length=64)]
    from_store: Code
    to_store: Code
    state: TransferState
    lines: Annotated[list[TransferLineData], Field(min_length=1, max_length=500)]
    requested_by: StaffNo
    requested_at: AwareDatetime
    updated_at: AwareDatetime
    note: Annotated[str | None, Field(max_length=200)] = None
    refused_reason: Annotated[str | None, Field(max_length=200)] = None


class StockAlertData(_Model):
    """A stock alert for a store: ``low`` (below its minimum), ``negative`` (offline
    sales took it below zero), ``count_variance`` or ``transfer_shortfall``. ``resolved``
    once the level is back above the minimum or a manager closed it."""

    alert_id: Annotated[int, Field(ge=1)]
    store: Code
    sku: Sku
    kind: Literal["low", "negative", "count_variance", "transfer_shortfall"]
    on_hand_milli: int
    min_milli: Annotated[int | None, Field(ge=0)] = None
    created_at: AwareDatetime
    resolved: bool = False
    qty_milli: int | None = None
    """How much short: below the minimum when raised (``low``: minimum minus on hand), less
    received than shipped (``transfer_shortfall``); or the signed difference counted minus
    expected (``count_variance``). Null for ``negative`` (``on_hand_milli`` says it)."""
    ref: Annotated[str | None, Field(max_length=64)] = None
    """The transfer, count or sale the alert is about."""


class TransferChange(_Change):
    """Key: the transfer id. Sent to the tills of both stores (``store`` is the sender;
    HQ also delivers it to the receiver's tills)."""

    kind: Literal["transfer"] = "transfer"
    data: TransferData


class AlertChange(_Change):
    """Key: the alert id; ``store`` is the alert's store."""

    kind: Literal["alert"] = "alert"
    data: StockAlertData


# --- Online channels: stock reservations ------------------------------------------------

ReservationStatus = Literal["reserved", "confirmed", "cancelled", "expired", "collected"]
"""``reserved``: stock held until ``expires_at``; ``confirmed``: paid in the channel (held
until delivered or collected, no expiry); ``cancelled`` / ``expired``: the stock went
back; ``collected``: a pick-up order handed over at the counter as a sale."""

OrderId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
"""A channel's own order id: printable ASCII, no spaces."""


class ReservationRequest(_Model):
    """``POST /v1/channel/reservations``: hold ``lines`` at ``store`` for an online order.

    Idempotent by the channel's ``order_id``: the same body again answers the same
    reservation; a different body under a used ``order_id`` is refused (409
    ``order_id_reused``). ``pickup`` marks an order the customer collects in the store
    (到店自提)."""

    order_id: OrderId
    store: Code
    lines: Annotated[list[SkuQty], Field(min_length=1, max_length=100)]
    ttl_s: Annotated[int, Field(strict=True, ge=60, le=86400)] = 900
    pickup: bool = False

    @model_validator(mode="after")
    def _one_line_per_item(self) -> ReservationRequest:
        _skus_once(self.lines)
        if any(line.qty_milli == 0 for line in self.lines):
            raise ValueError("a line reserves nothing")
        return self


class ReservationData(_Model):
    """A reservation as its channel sees it. ``pickup_code`` is the code the customer
    shows at the counter: only for a confirmed pick-up order, only to its channel."""

    reservation_id: UUID
    order_id: OrderId
    channel: Annotated[str, Field(min_length=1, max_length=64)]
    store: Code
    status: ReservationStatus
    pickup: bool = False
    lines: list[SkuQty]
    reserved_at: AwareDatetime
    expires_at: AwareDatetime
    confirmed_at: AwareDatetime | None = None
    pickup_code: Annotated[str | None, Field(max_length=32)] = None
    ready: bool = False
    sale_id: UUID | None = None


class ShortLine(_Model):
    """A line a store cannot cover: ``available_milli`` is on hand minus reserved."""

    sku: Sku
    requested_milli: int
    available_milli: int


class ReservationRefused(_Model):
    """The 409 answer to a reservation the store's available stock does not cover
    (``code``: ``insufficient_stock``): every line that falls short, nothing held."""

    code: Annotated[str, Field(validation_alias=AliasChoices("code", "error"))]
    params: dict[str, Any] = {}
    detail: str
    short: list[ShortLine]


class PickupData(_Model):
    """A pick-up order (到店自提) of a store, for that store's tills only.

    The pick-up code itself is a bearer secret and never travels to the tills: they get
    ``code_hash`` (:func:`sync_client.contract.pickup.code_hash`) to match a scanned
    code against."""

    reservation_id: UUID
    order_id: OrderId
    channel: Annotated[str, Field(min_length=1, max_length=64)]
    store: Code
    status: ReservationStatus
    ready: bool = False
    lines: list[SkuQty]
    code_hash: Annotated[str | None, Field(max_length=64)] = None
    confirmed_at: AwareDatetime | None = None
    sale_id: UUID | None = None


class PickupChange(_Change):
    """Key: the reservation id; ``store`` is the pick-up store (only its tills see it)."""

    kind: Literal["pickup"] = "pickup"
    data: PickupData


# --- The menu (tiles, categories, drink options) ---------------------------------------

Colour = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")]
MAX_MENU_TILES = 2000
MAX_MENU_GROUPS = 200
MAX_GROUP_CHOICES = 30


class MenuCategory(_Model):
    """A tab of the checkout screen's tiles, in the order listed."""

    code: OptionCode
    name_zh: Annotated[str, Field(min_length=1, max_length=32)]
    name_en: Annotated[str, Field(max_length=32)] = ""


class MenuChoice(_Model):
    """One choice of an option group; ``price_fen`` is added to the item's price per unit
    (a 大杯 costs the item's price plus its ``price_fen``)."""

    code: OptionCode
    name_zh: Annotated[str, Field(min_length=1, max_length=32)]
    name_en: Annotated[str, Field(max_length=32)] = ""
    price_fen: NonNegFen = 0
    default: bool = False


class MenuOptionGroup(_Model):
    """What a drink asks for: size, sugar, ice, toppings. The cashier picks between
    ``min_choices`` and ``max_choices`` choices (a required single choice: 1 and 1; at most
    three toppings: 0 and 3); ``default`` choices start selected.

    ``choices`` may arrive empty from a faulty HQ: the till reports such a group and leaves
    it out (it never breaks the screen), so the model does not refuse it."""

    code: OptionCode
    name_zh: Annotated[str, Field(min_length=1, max_length=32)]
    name_en: Annotated[str, Field(max_length=32)] = ""
    min_choices: Annotated[int, Field(ge=0, le=MAX_GROUP_CHOICES)] = 0
    max_choices: Annotated[int, Field(ge=1, le=MAX_GROUP_CHOICES)] = 1
    choices: Annotated[list[MenuChoice], Field(max_length=MAX_GROUP_CHOICES)] = []


class MenuTile(_Model):
    """A quick key: one item on one category's tab, in the order listed. ``groups`` are the
    option groups (codes) the item asks for, in the order the sheet shows them; ``image``
    a picture's file name under the till's resources, ``colour`` the tile's colour."""

    sku: Sku
    category: OptionCode
    colour: Colour | None = None
    image: Annotated[str | None, Field(max_length=200, pattern=r"^[A-Za-z0-9._-]+$")] = None
    groups: Annotated[list[OptionCode], Field(max_length=20)] = []


class MenuData(_Model):
    """One version of a menu: the whole tile layout with its option groups and prices.

    Versioned like :class:`PriceData`: ``version`` is HQ-assigned and strictly increasing;
    a till uses the version for its own store (``store``) with the greatest
    ``effective_at <= now`` if there is one (a store's override replaces the chain menu as
    a whole), else the chain-wide one (``store`` null); ties go to the greater version.
    Versions are immutable and arrive ahead of time. Items' names and base prices come
    from the catalogue and prices; a tile whose item the till does not know is reported
    and left out."""

    version: Annotated[int, Field(ge=1)]
    store: Code | None = None
    effective_at: AwareDatetime
    categories: Annotated[list[MenuCategory], Field(max_length=100)] = []
    groups: Annotated[list[MenuOptionGroup], Field(max_length=MAX_MENU_GROUPS)] = []
    tiles: Annotated[list[MenuTile], Field(max_length=MAX_MENU_TILES)] = []


class MenuChange(_Change):
    """Key: the version number as text."""

    kind: Literal["menu"] = "menu"
    data: MenuData


class SoldOutData(_Model):
    """A store's item marked sold out (估清) for a business day, or back on sale, as one of
    its tills reported it (:class:`MenuSoldOut`); the store's other tills follow it. The
    latest ``at`` wins: a till ignores a report older than the one it has."""

    store: Code
    sku: Sku
    business_date: date
    sold_out: bool
    at: AwareDatetime


class SoldOutChange(_Change):
    """Key: ``<store>:<sku>``; ``store`` is the store (only its tills see it)."""

    kind: Literal["sold_out"] = "sold_out"
    data: SoldOutData


class PromotionData(_Model):
    """One version of a promotion: ``definition`` is its wire form (the JSON object
    :func:`sync_client.contract.promotions.parse_promotion` reads, with the same ``id``
    and ``version``). Versions of one promotion are immutable and strictly increasing; a
    till keeps the newest it has. The definition is checked by the parser, not by this
    model, so a till sets aside (quarantines) a promotion it cannot read and applies the
    rest of the page."""

    id: Annotated[int, Field(ge=1)]
    version: Annotated[int, Field(ge=1)]
    definition: dict[str, Any]


class PromotionChange(_Change):
    """Key: the promotion's id as text; chain-wide (the definition's scope says which
    stores run it)."""

    kind: Literal["promotion"] = "promotion"
    data: PromotionData


FeedChange = Annotated[
    ItemChange
    | PriceChange
    | StockChange
    | StoreChange
    | ConfigChange
    | StaffChange
    | MemberChange
    | TransferChange
    | AlertChange
    | PickupChange
    | MenuChange
    | SoldOutChange
    | PromotionChange,
    Field(discriminator="kind"),
]
CHANGE_KINDS: frozenset[str] = frozenset(
    {
        "item",
        "price",
        "stock",
        "store",
        "config",
        "staff",
        "member",
        "transfer",
        "alert",
        "pickup",
        "menu",
        "sold_out",
        "promotion",
    }
)

MAX_PULL_LIMIT = 5000


class PullResponse(_Model):
    """Changes the device may see with ``after < seq <= next_after``, oldest first.

    Every visible change in that range is here; store the cursor ``next_after`` once they
    are applied. ``more`` says another pull right away will return more. ``head`` is the
    newest seq HQ had committed when it answered.
    """

    protocol: int = PROTOCOL_VERSION
    after: int
    next_after: int
    head: int
    more: bool
    changes: list[FeedChange]


class ResyncRequired(_Model):
    """The cursor cannot be served from the feed (HTTP 410).

    Either it is older than the oldest change HQ keeps (``after < oldest_after``), or it is
    ahead of HQ's head (HQ's database was replaced). Fetch ``snapshot``, replace the local
    copy, continue from the snapshot's ``seq``.
    """

    code: Annotated[Literal["resync"], Field(validation_alias=AliasChoices("code", "error"))] = (
        "resync"
    )
    params: dict[str, Any] = {}
    detail: str
    oldest_after: int
    head: int
    snapshot: str


class Snapshot(_Model):
    """The state a terminal needs, consistent as of ``seq``: continue pulling from it.

    ``prices`` holds, per item and scope (chain-wide or this store), the version in effect
    and every version published for later. ``stock`` holds this store's levels; every
    store's levels follow in pages from ``GET /v1/sync/snapshot/stock``
    (:class:`StockPage`), fetched after the snapshot is applied. ``staff`` holds this
    store's staff and chain-wide staff.
    """

    protocol: int = PROTOCOL_VERSION
    seq: int
    generated_at: AwareDatetime
    store: Code
    stores: list[StoreData]
    items: list[ItemData]
    prices: list[PriceData]
    stock: list[StockData]
    config: list[ConfigData]
    staff: list[StaffData]
    transfers: list[TransferData] = []
    """Transfers from or to this store that are not finished (requested, approved,
    shipped)."""
    alerts: list[StockAlertData] = []
    """This store's open stock alerts."""
    pickups: list[PickupData] = []
    """This store's paid pick-up orders waiting for their customer."""
    menus: list[MenuData] = []
    """Per scope (chain-wide or this store), the menu version in effect and every version
    published for later."""
    sold_out: list[SoldOutData] = []
    """This store's latest sold-out report per item for today and yesterday."""
    promotions: list[PromotionData] = []
    """The newest version of every promotion that has not ended."""


STOCK_PAGES_PATH: Final = "/v1/sync/snapshot/stock"
MAX_STOCK_PAGE = 5000
STOCK_KEY_PATTERN: Final = r"^([A-Z0-9-]+:[A-Za-z0-9][A-Za-z0-9._-]*)?$"
StockKey = Annotated[str, Field(max_length=100, pattern=STOCK_KEY_PATTERN)]
"""Where a page of levels starts: ``""`` (the first page) or ``<store>:<sku>`` of the last
level of the page before (the feed's key of a stock change)."""


class StockPage(_Model):
    """``GET /v1/sync/snapshot/stock?after=<key>&limit=<n>``: every store's levels, a page
    at a time, in ``(store, sku)`` order after ``after``; ``next_after`` null on the last page.

    The levels are HQ's as of feed ``seq``: every stock change with ``seq <= seq`` is in
    them, none after it. A till keeps, per level, the seq it is as of (a feed change's own
    seq, a page's ``seq``) and takes a level only when it is as new or newer, so pages and
    the feed may arrive in any order and a page may be applied twice: the newest wins.
    Pages are read at different times and need not share one ``seq``."""

    protocol: int = PROTOCOL_VERSION
    seq: Annotated[int, Field(ge=0)]
    after: StockKey
    next_after: StockKey | None
    levels: list[StockData]


# --- Problems: terminal -> HQ ------------------------------------------------------------

MAX_PROBLEMS = 100


class SyncProblem(_Model):
    """A change the terminal quarantined (``kind`` its change kind, ``seq`` its place in
    the feed when known) or a setting it refused (``kind`` ``setting``). ``body`` is what
    it received, ``error`` why it could not use it. ``id`` is the terminal's own number for
    the problem: reporting the same one again is harmless."""

    id: Annotated[int, Field(ge=1)]
    seq: Annotated[int | None, Field(ge=0)] = None
    kind: Annotated[str, Field(min_length=1, max_length=32)]
    key: Annotated[str, Field(max_length=200)]
    body: Annotated[str, Field(max_length=100_000)]
    error: Annotated[str, Field(max_length=1000)]
    at: AwareDatetime


class ProblemReport(_Model):
    """``POST /v1/sync/problems``."""

    protocol: int = PROTOCOL_VERSION
    problems: Annotated[list[SyncProblem], Field(min_length=1, max_length=MAX_PROBLEMS)]


class ProblemsAccepted(_Model):
    """HQ stored the problems (new ones; repeats are counted as stored too)."""

    stored: int
    pickups: list[PickupData] = []
    """This store's paid pick-up orders waiting for their customer."""


# --- Stock lookup -----------------------------------------------------------------------


class StoreStockLevel(_Model):
    """One store's level of an item."""

    store: Code
    store_name: str
    on_hand_milli: int
    reserved_milli: int
    available_milli: int
    updated_at: AwareDatetime


class StockLookup(_Model):
    """Every store's level of one item, most recently changed first."""

    sku: Sku
    unit: Unit
    levels: list[StoreStockLevel]


class TransferProposal(_Model):
    """HQ's suggestion (``GET /v1/stock/proposals``): move ``qty_milli`` of ``sku`` from
    ``from_store``, above its maximum, to ``to_store``, below its minimum; the quantity
    brings ``to_store`` up to its maximum at most and never takes ``from_store`` below its
    own. Donors come nearest first (``distance_km`` when both stores have coordinates).
    A manager of ``to_store`` turns it into a ``transfer.requested`` event."""

    sku: Sku
    to_store: Code
    from_store: Code
    qty_milli: Annotated[int, Field(ge=1)]
    to_on_hand_milli: int
    to_min_milli: Annotated[int, Field(ge=0)]
    to_max_milli: Annotated[int, Field(ge=0)]
    from_on_hand_milli: int
    from_max_milli: Annotated[int, Field(ge=0)]
    distance_km: float | None = None


class ProposalList(_Model):
    """Proposals, by receiving store, item and then donor nearest first."""

    proposals: list[TransferProposal]


# --- Live channel (WebSocket /v1/sync/live) ----------------------------------------------

CLOSE_BAD_MESSAGE = 4400
"""The hello or a later client message was not valid JSON of the expected shape."""
CLOSE_UNAUTHORISED = 4401
"""The token was revoked while connected."""
CLOSE_FORBIDDEN = 4403
"""The hello named a store that is not the device's."""
CLOSE_HEARTBEAT_TIMEOUT = 4408
"""Nothing heard from the client for three heartbeat intervals."""
CLOSE_TOO_SLOW = 4409
"""The client did not read fast enough and its send queue overflowed: reconnect and pull."""
CLOSE_RESYNC = 4410
"""The cursor in the hello cannot be served (see :class:`ResyncRequired`)."""
MAX_LIVE_FRAME_BYTES = 1 << 20
"""A bigger frame from a client closes the connection with 1009."""


class LiveHello(_Model):
    """The client's first message. ``after`` is the cursor; ``stock="own"`` asks for only
    this store's stock levels (large chains: other stores' levels on demand)."""

    type: Literal["hello"] = "hello"
    protocol: ProtocolVersion = 1
    """The live messages are the same in versions 1 and 2 (none carries a code), so a till
    says 1, which an HQ of either version accepts."""
    after: Annotated[int, Field(ge=0)]
    stock: Literal["all", "own"] = "all"
    store: Code | None = None


class LiveAck(_Model):
    """The client applied every change up to ``seq``; also the answer to a heartbeat."""

    type: Literal["ack"] = "ack"
    seq: Annotated[int, Field(ge=0)]


LiveClientMessage = Annotated[LiveHello | LiveAck, Field(discriminator="type")]


class LiveWelcome(_Model):
    """Sent once after a good hello. ``heartbeat_s`` is the server's heartbeat interval."""

    type: Literal["welcome"] = "welcome"
    protocol: int = PROTOCOL_VERSION
    device_id: Code
    store: Code
    head: int
    heartbeat_s: float


class LiveChanges(_Model):
    """Every change the device may see with ``after < seq <= next_after``.

    If ``after`` is greater than the client's cursor, changes were missed: pull from the
    cursor over HTTP. Changes at or below the cursor are repeats and may be skipped.
    """

    type: Literal["changes"] = "changes"
    after: int
    next_after: int
    changes: list[FeedChange]


class LiveHeartbeat(_Model):
    """Sent every ``heartbeat_s``; answer with :class:`LiveAck`.

    Everything visible up to ``next_after`` has been sent on this connection."""

    type: Literal["heartbeat"] = "heartbeat"
    head: int
    next_after: int
    server_time: AwareDatetime


class LiveResync(_Model):
    """Sent before closing with :data:`CLOSE_RESYNC`."""

    type: Literal["resync"] = "resync"
    detail: str
    snapshot: str


LiveServerMessage = Annotated[
    LiveWelcome | LiveChanges | LiveHeartbeat | LiveResync, Field(discriminator="type")
]


# --- Members (terminal -> HQ, online) ------------------------------------------------------

Phone = Annotated[str, Field(min_length=5, max_length=32, pattern=r"^[0-9 +()-]+$")]
"""A mobile number as typed: ``13812341234``, ``+86 138-1234-1234``. HQ normalises it to
the 11 digits of a mainland China mobile number and refuses others (``bad_phone``)."""

Tier = Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[a-z][a-z0-9_]*$")]
"""A membership tier as the chain names it (``standard``, ``silver``, ``gold``...)."""

HoldKind = Literal["points", "stored_value", "coupon"]
HoldStatus = Literal["held", "captured", "released", "expired", "refunded"]


class IdentifyRequest(_Model):
    """``POST /v1/members/identify``: exactly one of ``code`` (a scanned member app code
    or card code, see :mod:`sync_client.contract.membercode`) and ``phone``.

    The phone travels in the body, never in a URL, so it stays out of access logs."""

    code: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    phone: Phone | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> IdentifyRequest:
        if (self.code is None) == (self.phone is None):
            raise ValueError("give exactly one of code and phone")
        return self


class CouponData(_Model):
    """A coupon the member may use now: ``value_fen`` off a purchase of at least
    ``min_spend_fen``, from ``valid_from`` until ``valid_until`` (exclusive)."""

    coupon_id: UUID
    name: Annotated[str, Field(min_length=1, max_length=64)]
    value_fen: NonNegFen
    min_spend_fen: NonNegFen
    valid_from: AwareDatetime
    valid_until: AwareDatetime


class MemberPanel(_Model):
    """What the till shows about an identified member.

    ``phone_masked`` is ``138****1234``; the full number never leaves HQ. ``points`` and
    ``balance_fen`` are what may be spent now (held amounts are already taken off).
    ``coupons`` are the usable ones. ``version`` increases with every change of the account
    (see :class:`MemberData`). ``spend_until``: until when this identification lets the
    till spend points, stored value or coupons without scanning again (the scanned code's
    expiry plus a grace period; far in the future for a card); null when identified by
    phone and the chain requires a code to spend (``member.spend_without_code`` false).
    """

    number: MemberNo
    name: Annotated[str, Field(min_length=1, max_length=64)]
    phone_masked: str
    tier: Tier
    points: int
    balance_fen: NonNegFen
    coupons: list[CouponData]
    active: bool
    version: Annotated[int, Field(ge=1)]
    identified_by: Literal["code", "card", "phone", "signup"]
    spend_until: AwareDatetime | None


class SignUpRequest(_Model):
    """``POST /v1/members``: a customer joins at the till.

    ``signup_id`` is made by the terminal (UUIDv7) before the first attempt and reused on
    every retry, so a sign-up queued offline and replayed creates one member. ``consent``
    must be true: the customer agreed to the privacy notice ``consent_version`` (shown on
    the customer display). ``signed_up_at`` is the till's time of the sign-up."""

    signup_id: UUID
    phone: Phone
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
    consent: Annotated[bool, Field(strict=True)]
    consent_version: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[\x21-\x7e]+$")]
    signed_up_at: AwareDatetime


class SignUpResponse(_Model):
    """``created`` false: this phone was already a member (or this ``signup_id`` was seen
    before); ``member`` is that member, and the ``signup_id`` now names them."""

    created: bool
    member: MemberPanel


class HoldRequest(_Model):
    """``POST /v1/members/holds``: reserve value for a sale being rung up.

    ``hold_id`` is made by the terminal (UUIDv7), stored locally before the first attempt
    and reused on every retry: HQ creates the hold once and answers the same hold again.
    ``kind``:

    * ``points``: ``amount`` points (worth :attr:`HoldData.value_fen`);
    * ``stored_value``: ``amount`` fen of the member's balance;
    * ``coupon``: the coupon ``coupon_id`` (no ``amount``).

    ``proof`` is the member code or card code the member was identified with; HQ needs it
    unless the chain allows spending after identification by phone. The hold lasts
    ``ttl_s`` seconds (default: the chain's ``member.hold_ttl_s``,
    :data:`~sync_client.contract.holds.DEFAULT_HOLD_TTL_S`); the sale that
    lists it in :attr:`SaleMember.holds` captures it, a release or the expiry gives the
    value back, exactly once.
    """

    hold_id: UUID
    member: MemberNo
    kind: HoldKind
    amount: Annotated[int | None, Field(strict=True, ge=1, le=10**9)] = None
    coupon_id: UUID | None = None
    proof: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    ttl_s: Annotated[int | None, Field(strict=True, ge=MIN_HOLD_TTL_S, le=MAX_HOLD_TTL_S)] = None

    @model_validator(mode="after")
    def _fields_of_kind(self) -> HoldRequest:
        if self.kind == "coupon":
            if self.coupon_id is None or self.amount is not None:
                raise ValueError("a coupon hold names coupon_id and no amount")
        elif self.amount is None or self.coupon_id is not None:
            raise ValueError(f"a {self.kind} hold names an amount and no coupon_id")
        return self


class HoldData(_Model):
    """A hold as HQ has it.

    ``amount``: points, or fen of stored value, or 1 for a coupon. ``value_fen``: what it
    takes off the sale (points at the chain's redemption rate; the coupon's value).
    ``points`` and ``balance_fen``: the member's spendable balances after this hold was
    made (or as of this answer for a repeated request). ``sale_id``: the sale that captured
    it.
    """

    hold_id: UUID
    member: MemberNo
    kind: HoldKind
    amount: int
    value_fen: NonNegFen
    coupon_id: UUID | None
    status: HoldStatus
    store: Code
    created_at: AwareDatetime
    expires_at: AwareDatetime
    settled_at: AwareDatetime | None
    sale_id: UUID | None
    points: int
    balance_fen: NonNegFen


# --- Errors -----------------------------------------------------------------------------


class ErrorBody(_Model):
    """Every 4xx answer: a stable machine ``code`` (one of
    :class:`~sync_client.contract.errors.ErrorCode`), ``params`` (the values its text
    needs: amounts, names, dates; often empty) and a human explanation ``detail`` (or a
    list of field errors for ``invalid_request``).

    To a client of protocol 1 HQ also names the code ``error`` (:func:`error_answer`)."""

    code: Annotated[str, Field(validation_alias=AliasChoices("code", "error"))]
    params: dict[str, Any] = {}
    detail: str | list[dict[str, Any]]


class ErrorBodyV1(ErrorBody):
    """:class:`ErrorBody` as a client of protocol 1 (or of none) gets it: the code also
    under ``error``, where a version-1 till looks for it."""

    error: str


class ReservationRefusedV1(ReservationRefused):
    """:class:`ReservationRefused` as a client of protocol 1 (or of none) gets it."""

    error: str


# --- Answering older clients --------------------------------------------------------------

PROTOCOL_HEADER: Final = "X-ChainPOS-Protocol"
"""The request header in which a till names the protocol version it speaks."""
LEGACY_ERROR_KEY: Final = "error"
"""What protocol 1 called ``code`` in error answers (``reason`` in event results)."""


def answer_protocol(declared: int | None) -> ProtocolVersion:
    """The version HQ answers a client in: the one it declares (a newer one gets the
    newest HQ knows), or 1 when it declares none (the oldest tills did not)."""
    return 1 if declared is None or declared < 2 else PROTOCOL_VERSION


def error_answer(
    code: str,
    detail: str | list[dict[str, Any]],
    params: dict[str, Any] | None = None,
    *,
    protocol: int = PROTOCOL_VERSION,
    **extra: Any,
) -> dict[str, Any]:
    """An error answer (:class:`ErrorBody`, plus ``extra`` keys of a richer refusal such
    as :class:`ReservationRefused`) as JSON data for a client of ``protocol``.

    Protocol 1 readers look the code up by ``error`` and ignore unknown keys, so their
    answer carries the code under both names."""
    body: dict[str, Any] = {"code": code, "params": dict(params or {}), "detail": detail}
    body.update(extra)
    if protocol < 2:
        body[LEGACY_ERROR_KEY] = code
    return body


class EventResultV1(_Model):
    """:class:`EventResult` as protocol 1 has it: the code is ``reason``, no ``params``."""

    index: Annotated[int, Field(ge=0)]
    id: UUID | None
    status: Literal["applied", "duplicate", "rejected"]
    reason: RejectReason | None = None
    detail: str | None = None
    retryable: bool = False


class PushResponseV1(_Model):
    """:class:`PushResponse` as protocol 1 has it (results :class:`EventResultV1`)."""

    protocol: Literal[1] = 1
    results: list[EventResultV1]
    applied: int
    duplicate: int
    rejected: int
    head: Annotated[int, Field(ge=0)] = 0


class ResyncRequiredV1(_Model):
    """:class:`ResyncRequired` as protocol 1 has it: the code is ``error``, no ``params``."""

    error: Literal["resync"] = "resync"
    detail: str
    oldest_after: int
    head: int
    snapshot: str


def push_answer(
    response: PushResponse, protocol: int = PROTOCOL_VERSION
) -> PushResponse | PushResponseV1:
    """A push answer for a till of ``protocol``. A version-1 till reads it strictly
    (unknown keys refused), so it gets exactly the version-1 shape."""
    if protocol >= 2:
        return response
    return PushResponseV1(
        results=[
            EventResultV1(
                index=r.index,
                id=r.id,
                status=r.status,
                reason=r.code,
                detail=r.detail,
                retryable=r.retryable,
            )
            for r in response.results
        ],
        applied=response.applied,
        duplicate=response.duplicate,
        rejected=response.rejected,
        head=response.head,
    )


def resync_answer(
    body: ResyncRequired, protocol: int = PROTOCOL_VERSION
) -> ResyncRequired | ResyncRequiredV1:
    """A 410 answer for a till of ``protocol``; exactly the version-1 shape for a till
    of protocol 1, which reads it strictly."""
    if protocol >= 2:
        return body
    return ResyncRequiredV1(
        detail=body.detail, oldest_after=body.oldest_after, head=body.head, snapshot=body.snapshot
    )
