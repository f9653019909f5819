"""Payment codes (付款码) through the payment gateway: the intent first, then the call.

The rules, in the order a charge lives them:

1. The intent (order number ``<terminal>-P<counter>``, amount, wallet kind, the code's
   last four digits -- never the whole code) is committed to ``payment_intent`` BEFORE the
   gateway is called. A crash at any later point leaves an open intent behind.
2. Every gateway call names the order number, and the gateway is idempotent by it: a pay
   retried for the same order number never charges twice.
3. ``USERPAYING`` (the wallet asks the customer for a password): the service asks the
   gateway every ``poll_interval_s`` until paid, failed, cancelled or the wallet's limit;
   cancel and the limit reverse the order, so the customer is never charged for a sale
   that did not complete.
4. A pay whose answer was lost (timeout) is queried; still unknown, the intent stays open.
5. :meth:`PaymentService.settle_open` (at start) asks the gateway about every open intent:
   paid -> the charge is recorded as paid (a sale may take it once); anything else ->
   reversed or closed.

Every method blocks on the network: call them from a worker thread, never the GUI thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import Engine

from pos_app.domain.paycode import PaycodeError, PaycodeKind, classify
from pos_app.localdb import payments as repo
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.store import audit, next_counter
from pos_app.services.errors import ServiceError
from pos_app.services.ports import Clock, TerminalIdentity
from sync_client.contract.errors import ChainPosError
from sync_client.contract.refunds import paycode_refund_no

__all__ = [
    "GatewayResult",
    "GatewayStatus",
    "GatewayUnreachable",
    "PayOutcome",
    "PaymentGateway",
    "PaymentService",
    "PaymentsError",
    "RefundResult",
    "RoutingGateway",
]

log = logging.getLogger("chainpos.payments")

POLL_INTERVAL_S = 2.0
SHUTDOWN_WAIT_S = 10.0
"""How long closing the till waits for the password waits it cancels to be reversed."""
WALLET_WAIT_LIMIT_S: Mapping[str, float] = {
    # How long each wallet keeps a password prompt open before the merchant should give
    # up and reverse; the providers recommend polling about this long.
    "wechat_pay": 30.0,
    "alipay": 30.0,
    "unionpay": 60.0,
}


class GatewayStatus(StrEnum):
    PAID = "paid"
    USER_PAYING = "user_paying"
    FAILED = "failed"
    REVERSED = "reversed"
    UNKNOWN = "unknown"
    """No answer (timeout, 5xx after the request left): the charge may or may not exist."""


@dataclass(frozen=True, slots=True)
class GatewayResult:
    """What the provider said about one order number. ``code`` (failures): a registered
    error code (``paycode_used``, ``paycode_declined``...); ``reason``: the provider's own
    words for logs; ``provider_ref``: the provider's transaction id."""

    status: GatewayStatus
    provider_ref: str | None = None
    code: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RefundResult:
    refunded: bool
    provider_ref: str | None = None
    code: str | None = None
    reason: str = ""


class GatewayUnreachable(ChainPosError):
    """The request never reached the provider (no connection): nothing was charged."""


class PaymentsError(ServiceError):
    """A payment-code request the till refuses before the gateway is called."""


class PaymentGateway(Protocol):
    """A payment provider's merchant API, one adapter per provider.

    Every call is idempotent by ``order_no`` (refunds: by ``refund_no``) and blocks until
    the provider answered or the adapter's timeout passed. ``GatewayUnreachable`` only when
    the request surely did not reach the provider; a lost answer is ``UNKNOWN``.

    ``placed_at`` is when the charge's intent was written (UTC, kept with the intent): the
    pay sends it and every later call about that order names it again, after a restart
    too (UnionPay finds an order by its ``orderId`` and the ``txnTime`` it was sent with).
    None when the till does not hold the intent (a refund of another till's sale).
    """

    def pay(
        self,
        order_no: str,
        kind: str,
        amount_fen: int,
        code: str,
        subject: str,
        *,
        placed_at: datetime | None = None,
    ) -> GatewayResult: ...

    def query(
        self, order_no: str, kind: str, *, placed_at: datetime | None = None
    ) -> GatewayResult:
        """An order the provider does not know is ``FAILED`` with ``code="paycode_unsettled"``
        never: it is ``FAILED`` with ``reason="not_found"``."""
        ...

    def reverse(
        self,
        order_no: str,
        kind: str,
        *,
        placed_at: datetime | None = None,
        amount_fen: int | None = None,
    ) -> GatewayResult:
        """Cancels the order (撤销): unpaid it can no longer be paid, paid it goes back to
        the customer; an order the provider never saw is cancelled too, so a pay arriving
        late cannot charge. ``REVERSED`` on success."""
        ...

    def refund(
        self,
        refund_no: str,
        order_no: str,
        kind: str,
        amount_fen: int,
        total_fen: int,
        *,
        placed_at: datetime | None = None,
    ) -> RefundResult: ...


class RoutingGateway:
    """One :class:`PaymentGateway` per wallet kind behind one port (the composition root
    builds it from the store's configured providers)."""

    def __init__(self, by_kind: Mapping[str, PaymentGateway]) -> None:
        self._by_kind = dict(by_kind)

    def kinds(self) -> frozenset[str]:
        return frozenset(self._by_kind)

    def close(self) -> None:
        """Closes the adapters that keep connections open."""
        for gateway in self._by_kind.values():
            close = getattr(gateway, "close", None)
            if callable(close):
                close()

    def _for(self, kind: str) -> PaymentGateway:
        try:
            return self._by_kind[kind]
        except KeyError:
            raise PaymentsError(
                "gateway_not_configured", f"no gateway for {kind}", kind=kind
            ) from None

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
        return self._for(kind).pay(order_no, kind, amount_fen, code, subject, placed_at=placed_at)

    def query(
        self, order_no: str, kind: str, *, placed_at: datetime | None = None
    ) -> GatewayResult:
        return self._for(kind).query(order_no, kind, placed_at=placed_at)

    def reverse(
        self,
        order_no: str,
        kind: str,
        *,
        placed_at: datetime | None = None,
        amount_fen: int | None = None,
    ) -> GatewayResult:
        return self._for(kind).reverse(order_no, kind, placed_at=placed_at, amount_fen=amount_fen)

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
        return self._for(kind).refund(
            refund_no, order_no, kind, amount_fen, total_fen, placed_at=placed_at
        )


@dataclass(frozen=True, slots=True)
class PayOutcome:
    """Where a charge stands, for the screen. ``state``: ``paid``, ``user_paying``,
    ``failed``, ``reversed``, ``refunded`` (an unclaimed charge given back) or ``unknown``
    (still open: settled later). ``code`` (not paid): the registered error code the
    screen shows."""

    order_no: str
    kind: str
    amount_fen: int
    state: str
    code: str | None = None
    provider_ref: str | None = None
    reason: str = ""
    """The provider's own words for a refusal (shown after the registered text)."""

    @property
    def paid(self) -> bool:
        return self.state == "paid"

    @property
    def final(self) -> bool:
        return self.state in ("paid", "failed", "reversed")


class PaymentService:
    """Charges, polls, reverses, settles and refunds payment codes (see the module doc).

    ``wait(seconds)`` is how the poll loop waits between queries (tests pass one that
    returns at once); it returns early when the cancel event is set.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        identity: TerminalIdentity,
        gateway: PaymentGateway | None,
        *,
        poll_interval_s: float = POLL_INTERVAL_S,
        wait_limit_s: Mapping[str, float] = WALLET_WAIT_LIMIT_S,
        subject: str = "ChainPOS",
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._identity = identity
        self._gateway = gateway
        self._poll_s = poll_interval_s
        self._limits = dict(wait_limit_s)
        self._subject = subject
        # The cancel events of the password waits in progress (cancel_waits at shutdown).
        self._waits: set[threading.Event] = set()
        self._waits_changed = threading.Condition()

    @property
    def available(self) -> bool:
        """Whether this store has a payment gateway configured at all."""
        return self._gateway is not None

    def close(self) -> None:
        """Closes the gateway's connections (at shutdown, after the worker stopped)."""
        close = getattr(self._gateway, "close", None)
        if callable(close):
            close()

    # -- charging -----------------------------------------------------------------------

    def charge(self, raw_code: str, amount_fen: int, *, draft_id: str, cashier: str) -> PayOutcome:
        """Writes the intent, then asks the gateway to charge ``amount_fen`` to the code.

        Raises:
            PaycodeError: ``paycode_unknown`` (before anything is written).
            PaymentsError: ``bad_amount`` or ``gateway_not_configured``.
        """
        code = classify(raw_code)
        gateway = self._require()
        if amount_fen <= 0:
            raise PaymentsError("bad_amount", "amount must be positive", amount_fen=amount_fen)
        if isinstance(gateway, RoutingGateway) and code.kind.value not in gateway.kinds():
            raise PaymentsError(
                "gateway_not_configured", f"no gateway for {code.kind}", kind=code.kind.value
            )
        now = self._clock.now()
        with write_session(self._engine) as session:
            order_no = f"{self._identity.terminal_id}-P{next_counter(session, 'payment'):06d}"
            repo.add_intent(
                session,
                order_no=order_no,
                kind=code.kind.value,
                code_tail=code.tail,
                amount_fen=amount_fen,
                draft_id=draft_id,
                cashier=cashier,
                now=now,
            )
            audit(
                session,
                now,
                cashier,
                "paycode.intent",
                order_no=order_no,
                kind=code.kind.value,
                amount_fen=amount_fen,
                tail=code.tail,
            )
            session.commit()
        kind = code.kind.value
        try:
            result = gateway.pay(
                order_no, kind, amount_fen, code.code, self._subject, placed_at=now
            )
        except GatewayUnreachable:
            self._close(order_no, "failed", failure="gateway_unreachable")
            return PayOutcome(order_no, kind, amount_fen, "failed", "gateway_unreachable")
        if result.status is GatewayStatus.UNKNOWN:
            return self._after_lost_answer(order_no, kind, amount_fen, now)
        return self._apply(order_no, kind, amount_fen, result)

    def _after_lost_answer(
        self, order_no: str, kind: str, amount_fen: int, placed_at: datetime
    ) -> PayOutcome:
        """The pay call's answer was lost: ask, and close what did not go through."""
        result = self._query(order_no, kind, placed_at)
        if result.status is GatewayStatus.FAILED:
            # Not paid (or unknown to the provider): reverse so a late pay cannot land.
            return self._reverse(order_no, kind, amount_fen, "paycode_declined", placed_at)
        return self._apply(order_no, kind, amount_fen, result)

    def _query(self, order_no: str, kind: str, placed_at: datetime) -> GatewayResult:
        try:
            return self._require().query(order_no, kind, placed_at=placed_at)
        except GatewayUnreachable:
            return GatewayResult(GatewayStatus.UNKNOWN, reason="unreachable")

    def _apply(
        self, order_no: str, kind: str, amount_fen: int, result: GatewayResult
    ) -> PayOutcome:
        now = self._clock.now()
        if result.status is GatewayStatus.PAID:
            with write_session(self._engine) as session:
                repo.set_state(session, order_no, "paid", now, provider_ref=result.provider_ref)
                audit(session, now, None, "paycode.paid", order_no=order_no, amount_fen=amount_fen)
                session.commit()
            return self.outcome(order_no)
        if result.status is GatewayStatus.USER_PAYING:
            with write_session(self._engine) as session:
                repo.set_state(session, order_no, "user_paying", now)
                session.commit()
            return PayOutcome(order_no, kind, amount_fen, "user_paying")
        if result.status is GatewayStatus.FAILED:
            failure = result.code or "paycode_declined"
            self._close(order_no, "failed", failure=failure)
            log.info("payment %s failed: %s %s", order_no, failure, result.reason)
            return PayOutcome(order_no, kind, amount_fen, "failed", failure, reason=result.reason)
        if result.status is GatewayStatus.REVERSED:
            self._close(order_no, "reversed", failure="paycode_cancelled")
            return PayOutcome(order_no, kind, amount_fen, "reversed", "paycode_cancelled")
        return PayOutcome(order_no, kind, amount_fen, "unknown", "paycode_unsettled")

    def _close(self, order_no: str, state: str, *, failure: str) -> None:
        now = self._clock.now()
        with write_session(self._engine) as session:
            repo.set_state(session, order_no, state, now, failure=failure)
            audit(session, now, None, f"paycode.{state}", order_no=order_no, failure=failure)
            session.commit()

    # -- waiting for the password -------------------------------------------------------

    def wait_for_customer(
        self,
        order_no: str,
        cancel: threading.Event,
        wait: Callable[[float], object] | None = None,
    ) -> PayOutcome:
        """Asks the gateway every ``poll_interval_s`` until the charge is paid or failed;
        reverses it when ``cancel`` is set or the wallet's limit passes.

        ``wait(seconds)`` defaults to ``cancel.wait`` (returns early on cancel).
        :meth:`cancel_waits` (the till is shutting down) sets ``cancel``.
        """
        with self._waits_changed:
            self._waits.add(cancel)
        try:
            return self._wait_for_customer(order_no, cancel, wait)
        finally:
            with self._waits_changed:
                self._waits.discard(cancel)
                self._waits_changed.notify_all()

    def cancel_waits(self, timeout_s: float) -> bool:
        """Cancels every password wait in progress (each reverses its charge, as when the
        cashier cancels) and waits up to ``timeout_s`` for them to end. True when all ended;
        False when a reverse still had no answer (its intent stays open and the next start
        settles it). Any thread; used at shutdown."""
        deadline = time.monotonic() + timeout_s  # real time, whatever the till's clock says
        with self._waits_changed:
            for event in self._waits:
                event.set()
            while self._waits:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._waits_changed.wait(left)
        return True

    def _wait_for_customer(
        self,
        order_no: str,
        cancel: threading.Event,
        wait: Callable[[float], object] | None,
    ) -> PayOutcome:
        intent = self._intent(order_no)
        kind, amount, placed = intent.kind, intent.amount_fen, intent.created_at
        pause = wait if wait is not None else cancel.wait
        deadline = self._clock.monotonic() + self._limits.get(kind, 30.0)
        while True:
            if cancel.is_set():
                return self._reverse(order_no, kind, amount, "paycode_cancelled", placed)
            if self._clock.monotonic() >= deadline:
                return self._reverse(order_no, kind, amount, "paycode_declined", placed)
            pause(self._poll_s)
            if cancel.is_set():
                return self._reverse(order_no, kind, amount, "paycode_cancelled", placed)
            result = self._query(order_no, kind, placed)
            if result.status in (GatewayStatus.USER_PAYING, GatewayStatus.UNKNOWN):
                continue
            return self._apply(order_no, kind, amount, result)

    def cancel(self, order_no: str) -> PayOutcome:
        """Reverses a charge the sale will not take (the cashier cancelled)."""
        intent = self._intent(order_no)
        return self._reverse(
            order_no, intent.kind, intent.amount_fen, "paycode_cancelled", intent.created_at
        )

    def _reverse(
        self, order_no: str, kind: str, amount_fen: int, why: str, placed_at: datetime
    ) -> PayOutcome:
        try:
            result = self._require().reverse(
                order_no, kind, placed_at=placed_at, amount_fen=amount_fen
            )
        except GatewayUnreachable:
            result = GatewayResult(GatewayStatus.UNKNOWN, reason="unreachable")
        if result.status is GatewayStatus.REVERSED:
            self._close(order_no, "reversed", failure=why)
            return PayOutcome(order_no, kind, amount_fen, "reversed", why)
        if result.status is GatewayStatus.PAID:
            # Paid before the reverse landed and the provider would not reverse it: the
            # money is in; the sale may take it.
            return self._apply(order_no, kind, amount_fen, result)
        # No answer: the intent stays open and is settled by the next settle_open().
        log.warning("reverse of %s not confirmed: %s", order_no, result.reason)
        return PayOutcome(order_no, kind, amount_fen, "unknown", "paycode_unsettled")

    # -- settling after a crash ---------------------------------------------------------

    def settle_open(self) -> list[PayOutcome]:
        """Asks the gateway about every open intent and settles it (run at start, off the
        GUI thread): paid -> recorded as paid, for a sale to take once; still waiting for a
        password -> reversed (nobody is at the till waiting for it); not paid -> closed.
        Intents the gateway cannot be asked about stay open for the next run."""
        if self._gateway is None:
            return []
        with read_session(self._engine) as session:
            intents = repo.open_intents(session)
        out = []
        for intent in intents:
            result = self._query(intent.order_no, intent.kind, intent.created_at)
            if result.status is GatewayStatus.UNKNOWN:
                out.append(
                    PayOutcome(
                        intent.order_no,
                        intent.kind,
                        intent.amount_fen,
                        "unknown",
                        "paycode_unsettled",
                    )
                )
            elif result.status is GatewayStatus.PAID:
                out.append(self._apply(intent.order_no, intent.kind, intent.amount_fen, result))
            else:
                out.append(
                    self._reverse(
                        intent.order_no,
                        intent.kind,
                        intent.amount_fen,
                        "paycode_cancelled",
                        intent.created_at,
                    )
                )
        return out + self._settle_refunding()

    def _settle_refunding(self) -> list[PayOutcome]:
        """Finishes the refunds of unclaimed charges a crash interrupted (approved already;
        the refund number makes the retry refund once). One that fails again goes back to
        the unclaimed charges the screen offers."""
        with read_session(self._engine) as session:
            intents = repo.intents_in(session, "refunding")
        out = []
        for intent in intents:
            try:
                out.append(self._finish_refund(intent, cashier=intent.cashier, approver=""))
            except PaymentsError as exc:
                log.warning("refund of %s not finished at start: %s", intent.order_no, exc.code)
        return out

    def unclaimed_paid(self) -> list[PayOutcome]:
        """Paid charges that no sale took (settled after a crash): the cashier finishes the
        sale with them or refunds them."""
        with read_session(self._engine) as session:
            rows = repo.unclaimed_paid(session)
        return [
            PayOutcome(r.order_no, r.kind, r.amount_fen, "paid", None, r.provider_ref) for r in rows
        ]

    def refund_unclaimed(self, order_no: str, *, cashier: str, approver: str) -> PayOutcome:
        """Gives a paid charge that no sale took back to the customer's wallet, in full,
        through the gateway (a supervisor approved it). Idempotent by the refund number
        derived from the order number; the intent is held as ``refunding`` meanwhile so no
        sale can take it, and ends ``refunded``.

        Raises:
            PaymentsError: ``payment_claimed`` (a sale took it, or it is not paid),
                ``refund_failed`` or ``gateway_unreachable`` (the charge stays for a sale
                or another try).
        """
        intent = self._intent(order_no)
        now = self._clock.now()
        with write_session(self._engine) as session:
            if not repo.set_unclaimed_state(session, order_no, "refunding", now, only_from="paid"):
                raise PaymentsError("payment_claimed", f"{order_no} is not an unclaimed charge")
            audit(
                session,
                now,
                cashier,
                "paycode.refunding",
                order_no=order_no,
                amount_fen=intent.amount_fen,
                approved_by=approver,
            )
            session.commit()
        return self._finish_refund(intent, cashier=cashier, approver=approver)

    def _finish_refund(
        self, intent: repo.IntentRecord, *, cashier: str, approver: str
    ) -> PayOutcome:
        """Sends the full refund of an intent held as ``refunding`` and records the end."""
        order_no = intent.order_no
        refund_no = paycode_refund_no("UNCLAIMED", order_no)
        try:
            result = self._require().refund(
                refund_no,
                order_no,
                intent.kind,
                intent.amount_fen,
                intent.amount_fen,
                placed_at=intent.created_at,
            )
        except GatewayUnreachable as exc:
            result = RefundResult(False, code="gateway_unreachable", reason=str(exc))
        except Exception:
            self._back_to_paid(order_no)
            raise
        if not result.refunded and result.reason == "no answer":
            # The refund may have happened: the charge stays out of every sale's reach
            # (refunding) and the next start asks again with the same refund number.
            log.warning("refund of %s had no answer; retried at the next start", order_no)
            raise PaymentsError("paycode_unsettled", "the refund had no answer")
        if not result.refunded:
            self._back_to_paid(order_no)
            code = result.code or "refund_failed"
            raise PaymentsError(code, f"refund refused: {result.reason}", reason=result.reason)
        now = self._clock.now()
        with write_session(self._engine) as session:
            repo.set_unclaimed_state(session, order_no, "refunded", now, only_from="refunding")
            audit(
                session,
                now,
                cashier,
                "paycode.refund_unclaimed",
                order_no=order_no,
                refund_no=refund_no,
                amount_fen=intent.amount_fen,
                approved_by=approver,
            )
            session.commit()
        return PayOutcome(order_no, intent.kind, intent.amount_fen, "refunded", None, refund_no)

    def _back_to_paid(self, order_no: str) -> None:
        with write_session(self._engine) as session:
            repo.set_unclaimed_state(
                session, order_no, "paid", self._clock.now(), only_from="refunding"
            )
            session.commit()

    # -- refunds (the returns service's RefundGateway) ----------------------------------

    def refund(
        self,
        refund_id: str,
        kind: str,
        amount_fen: int,
        reference: str | None,
        *,
        total_fen: int | None = None,
        placed_at: datetime | None = None,
    ) -> str:
        """Refunds part of a paid charge (``reference``: its order number) to the same
        wallet. Idempotent by ``refund_id`` + order number: a retry refunds once.

        The charge's total and the time it was placed come from this till's intent; a
        charge made at another till (a cross-store return) has none here, and the caller
        passes them from the sale's tender as HQ keeps it (``total_fen``: the tender's
        amount, ``placed_at``: its charge time). Without them (a sale from an older till)
        the refund names the refunded amount as the total and no time: the provider
        refuses what it cannot find that way, and the refusal is said plainly.

        Raises:
            PaymentsError: ``refund_failed`` (the provider refused, or no such charge) or
                ``gateway_unreachable``.
        """
        if reference is None:
            raise PaymentsError("refund_failed", "a payment-code refund needs its order number")
        with read_session(self._engine) as session:
            intent = repo.get_intent(session, reference)
        placed: datetime | None
        if intent is not None:
            total, placed = intent.amount_fen, intent.created_at
        else:
            total = total_fen if total_fen is not None and total_fen >= amount_fen else amount_fen
            placed = placed_at
        refund_no = paycode_refund_no(refund_id, reference)
        try:
            result = self._require().refund(
                refund_no,
                reference,
                kind,
                amount_fen,
                total,
                placed_at=placed,
            )
        except GatewayUnreachable as exc:
            raise PaymentsError("gateway_unreachable", str(exc)) from exc
        if not result.refunded:
            raise PaymentsError(
                "refund_failed", f"refund refused: {result.reason}", reason=result.reason
            )
        now = self._clock.now()
        with write_session(self._engine) as session:
            audit(
                session,
                now,
                None,
                "paycode.refund",
                order_no=reference,
                refund_no=refund_no,
                amount_fen=amount_fen,
            )
            session.commit()
        return result.provider_ref or refund_no

    # -- reading ------------------------------------------------------------------------

    def outcome(self, order_no: str) -> PayOutcome:
        r = self._intent(order_no)
        state = r.state if r.state != "open" else "unknown"
        code = None if state in ("paid", "user_paying") else (r.failure or "paycode_unsettled")
        return PayOutcome(r.order_no, r.kind, r.amount_fen, state, code, r.provider_ref)

    def _intent(self, order_no: str) -> repo.IntentRecord:
        with read_session(self._engine) as session:
            intent = repo.get_intent(session, order_no)
        if intent is None:
            raise PaymentsError("paycode_unsettled", f"no payment {order_no}")
        return intent

    def _require(self) -> PaymentGateway:
        if self._gateway is None:
            raise PaymentsError("gateway_not_configured", "no payment gateway configured")
        return self._gateway


def is_paycode_kind(kind: str) -> bool:
    return kind in PaycodeKind._value2member_map_


__all__ += ["PaycodeError", "is_paycode_kind"]
