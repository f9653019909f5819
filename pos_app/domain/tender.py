"""Payment of a total by one or more tenders; change is given only in cash."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sync_client.contract.errors import ChainPosError
from sync_client.contract.money import Fen


class TenderKind(StrEnum):
    CASH = "cash"
    CARD = "card"
    POINTS = "points"
    STORED_VALUE = "stored_value"
    WECHAT_PAY = "wechat_pay"
    ALIPAY = "alipay"
    UNIONPAY = "unionpay"
    CHANNEL = "channel"
    """An online order paid in its channel before pick-up; ``reference``: its order id."""

    @property
    def from_account(self) -> bool:
        """Paid from a member's account at HQ, through a hold."""
        return self in (TenderKind.POINTS, TenderKind.STORED_VALUE)

    @property
    def is_paycode(self) -> bool:
        """A payment code (付款码) charged through the payment gateway."""
        return self in (TenderKind.WECHAT_PAY, TenderKind.ALIPAY, TenderKind.UNIONPAY)


class PaymentError(ChainPosError, ValueError):
    """A tender the payment refuses; ``code`` is a stable key for translation, amounts in
    ``params`` are fen."""


@dataclass(frozen=True, slots=True)
class AppliedTender:
    """``amount_fen`` counts toward the total; for cash ``tendered_fen`` is what was handed
    over, and the difference is change."""

    kind: TenderKind
    amount_fen: Fen
    tendered_fen: Fen | None = None
    reference: str | None = None

    @property
    def change_fen(self) -> Fen:
        return (self.tendered_fen - self.amount_fen) if self.tendered_fen is not None else 0


MAX_CASH_FEN = 1_000_000  # ¥10,000 handed over at once is a typing mistake, not a payment.


@dataclass
class Payment:
    due_fen: Fen
    tenders: list[AppliedTender] = field(default_factory=list)

    @property
    def paid_fen(self) -> Fen:
        return sum(t.amount_fen for t in self.tenders)

    @property
    def remaining_fen(self) -> Fen:
        return self.due_fen - self.paid_fen

    @property
    def change_fen(self) -> Fen:
        return sum(t.change_fen for t in self.tenders)

    @property
    def received_fen(self) -> Fen:
        """实收: what the customer handed over, cash as tendered (change included)."""
        return sum(
            t.tendered_fen if t.tendered_fen is not None else t.amount_fen for t in self.tenders
        )

    @property
    def is_complete(self) -> bool:
        return self.remaining_fen == 0 and bool(self.tenders or self.due_fen == 0)

    def add_cash(self, tendered_fen: Fen) -> AppliedTender:
        """Takes cash. More than what remains is fine: the rest is change."""
        if tendered_fen <= 0:
            raise PaymentError(
                "bad_amount", "cash must be a positive amount", amount_fen=tendered_fen
            )
        if tendered_fen > MAX_CASH_FEN:
            raise PaymentError(
                "too_much_cash", "amount too large for one cash tender", amount_fen=tendered_fen
            )
        if self.remaining_fen <= 0:
            raise PaymentError("already_paid", "nothing left to pay")
        tender = AppliedTender(TenderKind.CASH, min(tendered_fen, self.remaining_fen), tendered_fen)
        self.tenders.append(tender)
        return tender

    def add_card(self, amount_fen: Fen, reference: str | None = None) -> AppliedTender:
        """Records an approved payment on the external card terminal; never gives change."""
        if amount_fen <= 0:
            raise PaymentError("bad_amount", "card amount must be positive", amount_fen=amount_fen)
        if amount_fen > self.remaining_fen:
            raise PaymentError(
                "card_over",
                "a card payment cannot exceed what remains",
                amount_fen=amount_fen,
                remaining_fen=self.remaining_fen,
            )
        tender = AppliedTender(TenderKind.CARD, amount_fen, None, reference)
        self.tenders.append(tender)
        return tender

    def add_channel(self, amount_fen: Fen, order_id: str) -> AppliedTender:
        """Records an online order's payment in its channel (to hand it over at the
        counter); never gives change."""
        if amount_fen < 0 or amount_fen > self.remaining_fen:
            raise PaymentError(
                "bad_amount", "the order's amount does not fit", amount_fen=amount_fen
            )
        tender = AppliedTender(TenderKind.CHANNEL, amount_fen, None, order_id)
        self.tenders.append(tender)
        return tender

    def add_account(self, kind: TenderKind, amount_fen: Fen, hold_id: str) -> AppliedTender:
        """Records points or stored value an HQ hold (``hold_id``) reserved for this sale;
        never gives change."""
        if not kind.from_account:
            raise PaymentError("bad_kind", f"{kind} is not paid from a member account")
        if amount_fen <= 0:
            raise PaymentError("bad_amount", "amount must be positive", amount_fen=amount_fen)
        if amount_fen > self.remaining_fen:
            raise PaymentError(
                "account_over",
                "an account payment cannot exceed what remains",
                amount_fen=amount_fen,
                remaining_fen=self.remaining_fen,
            )
        tender = AppliedTender(kind, amount_fen, None, hold_id)
        self.tenders.append(tender)
        return tender

    def add_paycode(self, kind: TenderKind, amount_fen: Fen, order_no: str) -> AppliedTender:
        """Records a payment code the gateway charged (``order_no``: the gateway order
        number of the paid intent); never gives change. A paid intent is taken once."""
        if not kind.is_paycode:
            raise PaymentError("bad_kind", f"{kind} is not a payment code")
        if amount_fen <= 0:
            raise PaymentError("bad_amount", "amount must be positive", amount_fen=amount_fen)
        if amount_fen > self.remaining_fen:
            raise PaymentError(
                "paycode_over",
                "a payment-code payment cannot exceed what remains",
                amount_fen=amount_fen,
                remaining_fen=self.remaining_fen,
            )
        if any(t.reference == order_no for t in self.tenders if t.kind.is_paycode):
            raise PaymentError("payment_claimed", "this payment is already in the sale")
        tender = AppliedTender(kind, amount_fen, None, order_no)
        self.tenders.append(tender)
        return tender

    @property
    def paycode_orders(self) -> tuple[str, ...]:
        """The gateway order numbers of the payment-code tenders."""
        return tuple(t.reference for t in self.tenders if t.kind.is_paycode and t.reference)

    @property
    def holds(self) -> tuple[str, ...]:
        """The hold ids of the account tenders."""
        return tuple(t.reference for t in self.tenders if t.kind.from_account and t.reference)

    def remove(self, index: int) -> AppliedTender:
        return self.tenders.pop(index)
