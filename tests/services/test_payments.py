"""Payment codes through the PaymentService: the intent is durable before the gateway is
called, every path ends settled, and a paid charge is taken by one sale once.

The gateway here is a hand-written in-memory provider (:class:`FakeProvider`) with the
same test codes the gateway simulator knows; the real adapters against the simulator are
tested in ``tests/server/test_paysim.py``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from sqlalchemy import select, text

from pos_app.app import Terminal
from pos_app.domain.paycode import PaycodeError
from pos_app.domain.tender import Payment, TenderKind
from pos_app.localdb.engine import read_session
from pos_app.localdb.models import PaymentIntent
from pos_app.services.auth import StaffMember
from pos_app.services.errors import CheckoutError
from pos_app.services.payments import (
    GatewayResult,
    GatewayStatus,
    GatewayUnreachable,
    PaymentsError,
    PaymentService,
    RefundResult,
)
from tests.support import FakeClock

TARO = "6954321100014"  # 芋泥波波 ¥15.00
PAYS = "134567890123456789"  # WeChat Pay: pays at once
PASSWORD = "134567890123450000"  # asks for a password, paid on the second query
PASSWORD_FOREVER = "134567890123450001"  # asks for a password, never paid
DECLINED = "134567890123450002"  # refused (insufficient balance)
USED = "134567890123450003"  # already used
TIMES_OUT = "134567890123450004"  # the pay answer is lost; the charge went through
ALIPAY = "2812345678901234"


@dataclass
class Order:
    amount_fen: int
    state: str  # paid, user_paying, failed, reversed
    queries: int = 0
    refunds: dict[str, int] = field(default_factory=dict)


class FakeProvider:
    """An in-memory provider, idempotent by order number like the real ones. ``seen``
    records, at each pay call, whether the intent was already committed (read through a
    separate connection) and whether the whole code was stored anywhere."""

    def __init__(self, terminal: Terminal) -> None:
        self._terminal = terminal
        self._lock = threading.Lock()
        self.orders: dict[str, Order] = {}
        self.pay_calls = 0
        self.reachable = True
        self.seen: list[tuple[bool, bool]] = []

    def _check(self) -> None:
        if not self.reachable:
            raise GatewayUnreachable("gateway_unreachable", "connection refused")

    def pay(
        self,
        order_no: str,
        kind: str,
        amount_fen: int,
        code: str,
        subject: str,
        *,
        placed_at: datetime | None = None,
    ) -> GatewayResult:
        self._check()
        with read_session(self._terminal.engine) as session:
            committed = session.get(PaymentIntent, order_no) is not None
            dump = "".join(str(r) for r in session.execute(text("SELECT * FROM payment_intent")))
        self.seen.append((committed, code in dump))
        with self._lock:
            self.pay_calls += 1
            if order_no in self.orders:
                return self._result(order_no)
            if code == DECLINED:
                self.orders[order_no] = Order(amount_fen, "failed")
                return GatewayResult(
                    GatewayStatus.FAILED, code="paycode_declined", reason="NOTENOUGH"
                )
            if code == USED:
                return GatewayResult(
                    GatewayStatus.FAILED, code="paycode_used", reason="AUTHCODEEXPIRE"
                )
            state = "user_paying" if code in (PASSWORD, PASSWORD_FOREVER) else "paid"
            self.orders[order_no] = Order(amount_fen, state)
            if code == PASSWORD_FOREVER:
                self.orders[order_no].queries = -(10**6)
            if code == TIMES_OUT:
                return GatewayResult(GatewayStatus.UNKNOWN, reason="timeout")
            return self._result(order_no)

    def _result(self, order_no: str) -> GatewayResult:
        order = self.orders.get(order_no)
        if order is None:
            return GatewayResult(GatewayStatus.FAILED, reason="not_found")
        status = {
            "paid": GatewayStatus.PAID,
            "user_paying": GatewayStatus.USER_PAYING,
            "failed": GatewayStatus.FAILED,
            "reversed": GatewayStatus.REVERSED,
        }[order.state]
        return GatewayResult(status, provider_ref=f"TX{order_no}")

    def query(
        self, order_no: str, kind: str, *, placed_at: datetime | None = None
    ) -> GatewayResult:
        self._check()
        with self._lock:
            order = self.orders.get(order_no)
            if order is not None and order.state == "user_paying":
                order.queries += 1
                if order.queries >= 2:
                    order.state = "paid"
            return self._result(order_no)

    def reverse(
        self,
        order_no: str,
        kind: str,
        *,
        placed_at: datetime | None = None,
        amount_fen: int | None = None,
    ) -> GatewayResult:
        self._check()
        with self._lock:
            order = self.orders.setdefault(order_no, Order(0, "reversed"))
            order.state = "reversed"
            return GatewayResult(GatewayStatus.REVERSED)

    def refund(
        self,
        refund_no: str,
        order_no: str,
        kind: str,
        amount_fen: int,
        total_fen: int,
        *,
        placed_at: datetime | None = None,
    ) -> RefundResult:
        self._check()
        with self._lock:
            order = self.orders.get(order_no)
            if order is None or order.state != "paid":
                return RefundResult(False, reason="not paid")
            order.refunds.setdefault(refund_no, amount_fen)
            return RefundResult(True, provider_ref=f"RF{refund_no}")


@pytest.fixture
def provider(terminal: Terminal) -> FakeProvider:
    return FakeProvider(terminal)


@pytest.fixture
def payments(terminal: Terminal, clock: FakeClock, provider: FakeProvider) -> PaymentService:
    return PaymentService(terminal.engine, clock, terminal.identity, provider, poll_interval_s=2.0)


def _intents(terminal: Terminal) -> list[tuple[str, str, str, int, str]]:
    with read_session(terminal.engine) as session:
        rows = session.scalars(select(PaymentIntent).order_by(PaymentIntent.order_no)).all()
        return [(r.order_no, r.kind, r.code_tail, r.amount_fen, r.state) for r in rows]


def _advancing(clock: FakeClock):  # type: ignore[no-untyped-def]
    return lambda seconds: clock.advance(seconds)


def test_a_scanned_wechat_code_pays_and_the_sale_takes_it_once(
    terminal: Terminal, cashier: StaffMember, payments: PaymentService, provider: FakeProvider
) -> None:
    """GIVEN a ¥15.00 sale
    WHEN the customer's WeChat Pay code is scanned
    THEN the intent was committed before the gateway was called, without the whole code;
    the charge is paid; the sale completes with a wechat_pay tender naming the order
    number, and completing it a second time is refused."""
    draft = terminal.checkout.new_draft(cashier)
    terminal.checkout.scan(draft, TARO)
    outcome = payments.charge(PAYS, 1500, draft_id=draft.draft_id, cashier=cashier.number)

    assert (outcome.state, outcome.kind, outcome.order_no) == (
        "paid",
        "wechat_pay",
        "S001-T01-P000001",
    )
    assert provider.seen == [(True, False)]
    assert _intents(terminal) == [("S001-T01-P000001", "wechat_pay", "6789", 1500, "paid")]
    payment = Payment(1500)
    payment.add_paycode(TenderKind(outcome.kind), outcome.amount_fen, outcome.order_no)
    sale = terminal.checkout.complete(draft, payment)
    assert [(t.kind, t.amount_fen, t.reference) for t in sale.tenders] == [
        ("wechat_pay", 1500, "S001-T01-P000001")
    ]
    with pytest.raises(CheckoutError) as exc:
        terminal.checkout.complete(draft, payment)
    assert exc.value.code == "payment_claimed"


def test_mixed_tenders_cash_and_alipay(
    terminal: Terminal, cashier: StaffMember, payments: PaymentService
) -> None:
    draft = terminal.checkout.new_draft(cashier)
    terminal.checkout.scan(draft, TARO)
    payment = Payment(1500)
    payment.add_cash(500)
    outcome = payments.charge(
        ALIPAY, payment.remaining_fen, draft_id=draft.draft_id, cashier="1001"
    )
    assert (outcome.kind, outcome.amount_fen, outcome.state) == ("alipay", 1000, "paid")
    payment.add_paycode(TenderKind.ALIPAY, 1000, outcome.order_no)
    sale = terminal.checkout.complete(draft, payment)
    assert sorted((t.kind, t.amount_fen) for t in sale.tenders) == [("alipay", 1000), ("cash", 500)]


def test_password_then_paid(
    terminal: Terminal, payments: PaymentService, provider: FakeProvider, clock: FakeClock
) -> None:
    """GIVEN a code whose wallet asks for a password (USERPAYING)
    WHEN the till keeps asking every 2 s
    THEN the charge is paid on the second query, without being charged twice."""
    outcome = payments.charge(PASSWORD, 1500, draft_id="d", cashier="1001")
    assert outcome.state == "user_paying"
    done = payments.wait_for_customer(outcome.order_no, threading.Event(), _advancing(clock))
    assert done.state == "paid"
    assert provider.orders[outcome.order_no].queries == 2
    assert provider.pay_calls == 1


def test_password_then_cancel_reverses(
    terminal: Terminal, payments: PaymentService, provider: FakeProvider, clock: FakeClock
) -> None:
    outcome = payments.charge(PASSWORD_FOREVER, 1500, draft_id="d", cashier="1001")
    cancel = threading.Event()

    def wait(seconds: float) -> None:
        clock.advance(seconds)
        cancel.set()  # the cashier presses cancel while the customer hesitates

    done = payments.wait_for_customer(outcome.order_no, cancel, wait)
    assert (done.state, done.code) == ("reversed", "paycode_cancelled")
    assert provider.orders[outcome.order_no].state == "reversed"
    assert _intents(terminal)[0][4] == "reversed"


def test_password_past_the_wallet_limit_reverses(
    terminal: Terminal, payments: PaymentService, provider: FakeProvider, clock: FakeClock
) -> None:
    outcome = payments.charge(PASSWORD_FOREVER, 1500, draft_id="d", cashier="1001")
    done = payments.wait_for_customer(outcome.order_no, threading.Event(), _advancing(clock))
    assert done.state == "reversed"
    assert provider.orders[outcome.order_no].state == "reversed"


@pytest.mark.parametrize(
    ("code", "error"), [(DECLINED, "paycode_declined"), (USED, "paycode_used")]
)
def test_refused_codes_close_the_intent(
    terminal: Terminal, payments: PaymentService, code: str, error: str
) -> None:
    outcome = payments.charge(code, 1500, draft_id="d", cashier="1001")
    assert (outcome.state, outcome.code) == ("failed", error)
    assert _intents(terminal)[0][4] == "failed"
    assert payments.unclaimed_paid() == []


def test_a_lost_pay_answer_is_queried_and_settled(
    terminal: Terminal, payments: PaymentService, provider: FakeProvider
) -> None:
    """GIVEN a pay whose answer is lost (timeout) while the charge went through
    WHEN the till queries the order number
    THEN it is recorded paid, once."""
    outcome = payments.charge(TIMES_OUT, 1500, draft_id="d", cashier="1001")
    assert outcome.state == "paid"
    assert provider.pay_calls == 1


def test_an_unknown_prefix_is_refused_and_nothing_is_written(
    terminal: Terminal, payments: PaymentService, provider: FakeProvider
) -> None:
    with pytest.raises(PaycodeError) as exc:
        payments.charge("9912345678901234", 1500, draft_id="d", cashier="1001")
    assert exc.value.code == "paycode_unknown"
    assert _intents(terminal) == [] and provider.pay_calls == 0


def test_gateway_unreachable_charges_nothing(
    terminal: Terminal, payments: PaymentService, provider: FakeProvider
) -> None:
    provider.reachable = False
    outcome = payments.charge(PAYS, 1500, draft_id="d", cashier="1001")
    assert (outcome.state, outcome.code) == ("failed", "gateway_unreachable")


def test_open_intents_are_settled_at_start_once(
    terminal: Terminal, payments: PaymentService, provider: FakeProvider, clock: FakeClock
) -> None:
    """GIVEN a till that died while one customer typed a password (and then paid) and
    another's charge was still asking (never paid)
    WHEN the till starts again and settles open intents
    THEN the paid one is recorded paid for a sale to take, the other is reversed; a
    second settle changes nothing."""
    paid = payments.charge(PASSWORD, 1500, draft_id="d", cashier="1001")
    hesitant = payments.charge(PASSWORD_FOREVER, 800, draft_id="e", cashier="1001")
    provider.orders[paid.order_no].state = "paid"  # the customer paid while the till was down

    settled = payments.settle_open()
    assert {(o.order_no, o.state) for o in settled} == {
        (paid.order_no, "paid"),
        (hesitant.order_no, "reversed"),
    }
    assert payments.settle_open() == []
    assert [o.order_no for o in payments.unclaimed_paid()] == [paid.order_no]


def test_settle_with_the_gateway_unreachable_leaves_the_intent_open(
    terminal: Terminal, payments: PaymentService, provider: FakeProvider
) -> None:
    outcome = payments.charge(PASSWORD, 1500, draft_id="d", cashier="1001")
    provider.reachable = False
    assert [o.state for o in payments.settle_open()] == ["unknown"]
    assert _intents(terminal)[0][4] == "user_paying"
    provider.reachable = True
    assert [(o.order_no, o.state) for o in payments.settle_open()] == [
        (outcome.order_no, "reversed")
    ]


def test_a_refund_retried_refunds_once(
    terminal: Terminal, payments: PaymentService, provider: FakeProvider
) -> None:
    outcome = payments.charge(PAYS, 1500, draft_id="d", cashier="1001")
    first = payments.refund("ret-1", "wechat_pay", 500, outcome.order_no)
    again = payments.refund("ret-1", "wechat_pay", 500, outcome.order_no)
    assert first == again
    assert list(provider.orders[outcome.order_no].refunds.values()) == [500]
    with pytest.raises(PaymentsError) as exc:
        payments.refund("ret-2", "wechat_pay", 500, "S001-T01-P999999")
    assert exc.value.code == "refund_failed"


def test_an_unclaimed_charge_refunded_is_out_of_every_sale_s_reach(
    terminal: Terminal, payments: PaymentService, provider: FakeProvider
) -> None:
    """GIVEN a paid charge no sale took
    WHEN a supervisor-approved refund gives it back, and is asked for again
    THEN the provider refunds the whole amount once, the charge is no longer offered,
    and no sale can take it."""
    outcome = payments.charge(PAYS, 1800, draft_id="d", cashier="1001")
    done = payments.refund_unclaimed(outcome.order_no, cashier="1001", approver="1003")
    assert (done.state, done.amount_fen) == ("refunded", 1800)
    assert list(provider.orders[outcome.order_no].refunds.values()) == [1800]
    assert payments.unclaimed_paid() == []
    with pytest.raises(PaymentsError) as exc:
        payments.refund_unclaimed(outcome.order_no, cashier="1001", approver="1003")
    assert exc.value.code == "payment_claimed"
    assert list(provider.orders[outcome.order_no].refunds.values()) == [1800]


def test_an_unclaimed_refund_refused_or_unanswered_loses_nothing(
    terminal: Terminal, payments: PaymentService, provider: FakeProvider
) -> None:
    """GIVEN a paid charge no sale took
    WHEN its refund is refused, THEN it is offered again (for a sale or another try);
    WHEN its refund gets no answer, THEN no sale can take it and the next start asks
    again with the same refund number, which refunds once."""
    outcome = payments.charge(PAYS, 1800, draft_id="d", cashier="1001")
    real_refund = provider.refund
    provider.refund = lambda *a, **k: RefundResult(False, reason="NOTENOUGH")  # type: ignore[method-assign]
    with pytest.raises(PaymentsError) as exc:
        payments.refund_unclaimed(outcome.order_no, cashier="1001", approver="1003")
    assert exc.value.code == "refund_failed"
    assert [o.order_no for o in payments.unclaimed_paid()] == [outcome.order_no]

    provider.refund = lambda *a, **k: RefundResult(False, reason="no answer")  # type: ignore[method-assign]
    with pytest.raises(PaymentsError) as exc:
        payments.refund_unclaimed(outcome.order_no, cashier="1001", approver="1003")
    assert exc.value.code == "paycode_unsettled"
    assert payments.unclaimed_paid() == []
    assert _intents(terminal)[0][4] == "refunding"

    provider.refund = real_refund  # type: ignore[method-assign]
    assert [(o.order_no, o.state) for o in payments.settle_open()] == [
        (outcome.order_no, "refunded")
    ]
    assert list(provider.orders[outcome.order_no].refunds.values()) == [1800]
    assert payments.settle_open() == []
