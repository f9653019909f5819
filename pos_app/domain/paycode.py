"""Payment codes (付款码): telling the wallet from the code a customer shows.

The prefixes and lengths are the ones the providers document for their merchant-scanned
("micropay") codes:

- WeChat Pay: 18 digits starting 10-15 (WeChat Pay API v2 ``micropay``, field
  ``auth_code``: "18位纯数字，以10、11、12、13、14、15开头"; restated by aggregators, e.g.
  https://doc.weidoufu.com/api/micropay.html).
- Alipay: 16-24 digits starting 25-30 (``alipay.trade.pay`` with ``scene=bar_code``,
  field ``auth_code``: "25~30开头的长度为16~24位的数字"; same source).
- UnionPay QuickPass (云闪付): 19 digits starting 62 (UnionPay's C2B code spec: the
  payment code is a 19-digit number whose prefix is ``62``).

A code is a bearer instrument while it is valid: it is used for one pay call and never
stored; the till keeps only the wallet kind and the last four digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sync_client.contract.errors import ChainPosError


class PaycodeKind(StrEnum):
    """The wallet a code belongs to; the values are the wire's tender kinds."""

    WECHAT_PAY = "wechat_pay"
    ALIPAY = "alipay"
    UNIONPAY = "unionpay"


class PaycodeError(ChainPosError, ValueError):
    """A scanned code that is no payment code the till takes (``paycode_unknown``)."""


@dataclass(frozen=True, slots=True)
class Paycode:
    """A payment code read by the scanner. ``code`` lives only in memory, for one pay call."""

    kind: PaycodeKind
    code: str = ""

    @property
    def tail(self) -> str:
        """The last four digits, the only part of the code that is ever written down."""
        return self.code[-4:]

    def __repr__(self) -> str:  # never print the whole code into logs or tracebacks
        return f"Paycode({self.kind.value}, ****{self.tail})"


def classify(raw: str) -> Paycode:
    """Tells the wallet from a scanned code.

    Raises:
        PaycodeError: ``paycode_unknown`` for anything that is not a WeChat Pay, Alipay or
            UnionPay QuickPass payment code.
    """
    code = raw.strip()
    if code.isascii() and code.isdigit():
        n, head = len(code), int(code[:2]) if len(code) >= 2 else -1
        if n == 18 and 10 <= head <= 15:
            return Paycode(PaycodeKind.WECHAT_PAY, code)
        if 16 <= n <= 24 and 25 <= head <= 30:
            return Paycode(PaycodeKind.ALIPAY, code)
        if n == 19 and head == 62:
            return Paycode(PaycodeKind.UNIONPAY, code)
    raise PaycodeError("paycode_unknown", "not a WeChat Pay, Alipay or UnionPay payment code")


def looks_like_paycode(raw: str) -> bool:
    """Whether a scan is a payment code (the payment screen routes those to the gateway)."""
    try:
        classify(raw)
    except PaycodeError:
        return False
    return True
