"""The simulator's orders, and what each test code does.

Test codes are real-looking payment codes of each wallet (WeChat Pay: 18 digits from 10-15;
Alipay: 16-24 digits from 25-30; UnionPay: 19 digits from 62); their LAST FOUR DIGITS say
what happens:

====== ===================================================================================
0000   the wallet asks for the password: USERPAYING for :data:`PASSWORD_POLLS` queries,
       then paid
0001   the wallet asks for the password and the customer never types it (USERPAYING until
       the merchant reverses)
0002   declined (insufficient balance)
0003   already used (the code expired: the customer must refresh it)
0004   paid, but the answer to the pay call comes only after ``hold_s`` seconds (the
       till's call times out; its query finds the charge)
other  paid at once; the same code used again for another order is "already used"
====== ===================================================================================

Every call is idempotent by the merchant's order number (refunds: by the refund number).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from server_stub.paysim.bills import Booked

PASSWORD_POLLS = 2
PASSWORD, PASSWORD_FOREVER, DECLINED, USED, SLOW = "0000", "0001", "0002", "0003", "0004"


@dataclass
class Order:
    wallet: str
    merchant: str
    order_no: str
    amount_fen: int
    state: str  # paid, user_paying, failed, reversed
    trade_no: str
    failure: str = ""  # declined, used
    polls_left: int = 0
    created_at: str = ""
    paid_at: str = ""
    pay_calls: int = 0
    query_calls: int = 0
    reverse_calls: int = 0
    refunds: dict[str, int] = field(default_factory=dict)
    placed_at: str = ""
    """The time the merchant sent the order with (UnionPay's ``txnTime``): later requests
    about the order must name it again."""

    @property
    def refunded_fen(self) -> int:
        return sum(self.refunds.values())


@dataclass(frozen=True, slots=True)
class PayAnswer:
    order: Order
    hold: bool = False
    """Answer late (test code 0004)."""


@dataclass(frozen=True, slots=True)
class RefundAnswer:
    ok: bool
    order: Order | None
    refund_no: str
    amount_fen: int = 0
    new: bool = False
    why: str = ""  # not_found, not_paid, too_much


class Ledger:
    """All orders of all merchants, in memory; every booking (payment, refund) is also
    appended to ``DATA/bookings.jsonl`` for the daily bills. Thread-safe."""

    def __init__(self, data_dir: Path) -> None:
        self._lock = threading.Lock()
        self._orders: dict[tuple[str, str, str], Order] = {}
        self._used: set[str] = set()
        self._seq = itertools.count(1)
        self._bookings = data_dir / "bookings.jsonl"
        data_dir.mkdir(parents=True, exist_ok=True)

    def _trade_no(self, wallet: str) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%d")
        n = next(self._seq)
        prefix = {"wechat_pay": "4200", "alipay": "2026", "unionpay": "7"}[wallet]
        return f"{prefix}{stamp}{n:012d}"

    def _book(self, order: Order, amount_fen: int, refund_no: str | None = None) -> None:
        row = {
            "wallet": order.wallet,
            "merchant": order.merchant,
            "order_no": order.order_no,
            "amount_fen": amount_fen,
            "at": datetime.now(UTC).isoformat(),
            "refund_no": refund_no,
            "trade_no": order.trade_no,
        }
        with self._bookings.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def get(self, wallet: str, merchant: str, order_no: str) -> Order | None:
        with self._lock:
            return self._orders.get((wallet, merchant, order_no))

    def pay(
        self,
        wallet: str,
        merchant: str,
        order_no: str,
        amount_fen: int,
        code: str,
        placed_at: str = "",
    ) -> PayAnswer:
        """Charges ``code``; a second pay of the same order number answers what the first
        did (the charge happens once). A pay of an order number reversed before it arrived
        answers the reversed order: nothing is charged."""
        key = (wallet, merchant, order_no)
        digest = hashlib.sha256(f"{wallet}:{code}".encode()).hexdigest()
        with self._lock:
            found = self._orders.get(key)
            if found is not None:
                found.pay_calls += 1
                return PayAnswer(found)
            now = datetime.now(UTC).isoformat()
            order = Order(
                wallet,
                merchant,
                order_no,
                amount_fen,
                "paid",
                self._trade_no(wallet),
                created_at=now,
                pay_calls=1,
                placed_at=placed_at,
            )
            tail = code[-4:]
            if tail == DECLINED:
                order.state, order.failure = "failed", "declined"
            elif tail == USED or digest in self._used:
                order.state, order.failure = "failed", "used"
            elif tail == PASSWORD:
                order.state, order.polls_left = "user_paying", PASSWORD_POLLS
            elif tail == PASSWORD_FOREVER:
                order.state, order.polls_left = "user_paying", -1
            self._used.add(digest)
            self._orders[key] = order
            if order.state == "paid":
                order.paid_at = now
                self._book(order, amount_fen)
            return PayAnswer(order, hold=tail == SLOW)

    def query(self, wallet: str, merchant: str, order_no: str) -> Order | None:
        """The order as it stands; a password prompt counts this query down."""
        with self._lock:
            order = self._orders.get((wallet, merchant, order_no))
            if order is None:
                return None
            order.query_calls += 1
            if order.state == "user_paying" and order.polls_left > 0:
                order.polls_left -= 1
                if order.polls_left == 0:
                    order.state, order.paid_at = "paid", datetime.now(UTC).isoformat()
                    self._book(order, order.amount_fen)
            return order

    def reverse(
        self, wallet: str, merchant: str, order_no: str, placed_at: str = ""
    ) -> tuple[Order, bool]:
        """Cancels the order (撤销): unpaid it can no longer be paid, paid the money goes
        back. An order number never seen is recorded as reversed, so a pay that arrives
        late cannot charge. Returns the order and whether money went back."""
        key = (wallet, merchant, order_no)
        with self._lock:
            order = self._orders.get(key)
            if order is None:
                order = Order(
                    wallet,
                    merchant,
                    order_no,
                    0,
                    "reversed",
                    self._trade_no(wallet),
                    placed_at=placed_at,
                )
                self._orders[key] = order
            order.reverse_calls += 1
            refunded = False
            if order.state == "paid":
                left = order.amount_fen - order.refunded_fen
                if left > 0:
                    order.refunds[f"REVERSE-{order_no}"] = left
                    self._book(order, left, f"REVERSE-{order_no}")
                refunded = True
            order.state = "reversed"
            return order, refunded

    def refund(
        self, wallet: str, merchant: str, order_no: str, refund_no: str, amount_fen: int
    ) -> RefundAnswer:
        with self._lock:
            order = self._orders.get((wallet, merchant, order_no))
            if order is None:
                return RefundAnswer(False, None, refund_no, why="not_found")
            if refund_no in order.refunds:
                return RefundAnswer(True, order, refund_no, order.refunds[refund_no])
            if order.state != "paid":
                return RefundAnswer(False, order, refund_no, why="not_paid")
            if amount_fen <= 0 or order.refunded_fen + amount_fen > order.amount_fen:
                return RefundAnswer(False, order, refund_no, why="too_much")
            order.refunds[refund_no] = amount_fen
            self._book(order, amount_fen, refund_no)
            return RefundAnswer(True, order, refund_no, amount_fen, new=True)

    def snapshot(self, order_no: str) -> list[dict[str, object]]:
        """Every order with this number (for the tests' and operators' eyes)."""
        with self._lock:
            return [asdict(o) for k, o in self._orders.items() if k[2] == order_no]

    def bookings(self, wallet: str, merchant: str, day: date) -> list[Booked]:
        """The day's bookings (UTC) of one merchant, as the bill writers take them."""
        out: list[Booked] = []
        if not self._bookings.exists():
            return out
        with self._lock, self._bookings.open(encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                at = datetime.fromisoformat(row["at"])
                if row["wallet"] == wallet and row["merchant"] == merchant and at.date() == day:
                    out.append(
                        Booked(
                            row["order_no"],
                            row["amount_fen"],
                            at,
                            row["refund_no"],
                            row["trade_no"],
                        )
                    )
        return out
