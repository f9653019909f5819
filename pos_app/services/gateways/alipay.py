"""Alipay payment codes (当面付 条码支付) through ``python-alipay-sdk``.

The SDK signs each request (RSA2 over the sorted parameters), sends it and checks the
answer's signature against Alipay's public key before returning it; this adapter maps
Alipay's answer codes onto the port: ``10000`` done, ``10003`` waiting for the buyer
(password), ``20000`` unknown, ``40004`` refused with a ``sub_code``.

The SDK knows only Alipay's production and sandbox gateways; the configured base URL
(``<base>/gateway.do``) is set on the client after it is built.
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.error
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig

from pos_app.services.payments import (
    GatewayResult,
    GatewayStatus,
    GatewayUnreachable,
    RefundResult,
)

log = logging.getLogger("chainpos.payments.alipay")


def _yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


class AlipayGateway:
    """One Alipay app (``app_id``); blocking, any thread."""

    def __init__(
        self,
        base_url: str,
        app_id: str,
        app_private_key: str,
        alipay_public_key: str,
        *,
        timeout_s: float = 15.0,
    ) -> None:
        self._client = AliPay(
            appid=app_id,
            app_notify_url=None,
            app_private_key_string=app_private_key,
            alipay_public_key_string=alipay_public_key,
            sign_type="RSA2",
            config=AliPayConfig(timeout=timeout_s),
        )
        self._client._gateway = base_url.rstrip("/") + "/gateway.do"
        self._app_id = app_id

    def __repr__(self) -> str:  # never the keys
        return f"AlipayGateway(app_id={self._app_id})"

    def _call(self, fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        """The SDK's verified answer; None when no trustworthy answer came back.

        Raises:
            GatewayUnreachable: the connection was refused (nothing reached Alipay).
        """
        try:
            return fn()
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ConnectionRefusedError | socket.gaierror):
                raise GatewayUnreachable("gateway_unreachable", str(exc.reason)) from exc
            log.warning("alipay: no answer (%s)", exc.reason)
            return None
        except (TimeoutError, ConnectionError, OSError) as exc:
            log.warning("alipay: no answer (%s)", type(exc).__name__)
            return None
        except AliPayValidationError:
            log.error("alipay: the answer's signature is wrong; not believed")
            return None
        except AliPayException as exc:
            # An error_response: the request was refused before any business happened.
            log.warning("alipay: refused: %s", exc)
            try:
                body = json.loads(str(exc).split("message:", 1)[1])
                sub = body.get("error_response", {}).get("sub_msg", "")
            except (IndexError, ValueError, AttributeError):
                sub = ""
            return {"code": "40002", "sub_code": "error_response", "sub_msg": sub}

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
        answer = self._call(
            lambda: self._client.api_alipay_trade_pay(
                order_no, "bar_code", code, subject, total_amount=_yuan(amount_fen)
            )
        )
        if answer is None:
            return GatewayResult(GatewayStatus.UNKNOWN, reason="no answer")
        status = answer.get("code")
        if status == "10000":
            return GatewayResult(GatewayStatus.PAID, provider_ref=answer.get("trade_no"))
        if status == "10003":
            return GatewayResult(GatewayStatus.USER_PAYING)
        sub = str(answer.get("sub_code", ""))
        if status == "20000" or sub in ("ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR"):
            return GatewayResult(GatewayStatus.UNKNOWN, reason=sub or "20000")
        if sub == "ACQ.PAYMENT_AUTH_CODE_INVALID":
            return GatewayResult(GatewayStatus.FAILED, code="paycode_used", reason=sub)
        if sub == "ACQ.TRADE_HAS_CLOSE":
            return GatewayResult(GatewayStatus.REVERSED, reason=sub)
        reason = str(answer.get("sub_msg") or sub)
        return GatewayResult(GatewayStatus.FAILED, code="paycode_declined", reason=reason)

    def query(
        self, order_no: str, kind: str, *, placed_at: datetime | None = None
    ) -> GatewayResult:
        answer = self._call(lambda: self._client.api_alipay_trade_query(out_trade_no=order_no))
        if answer is None:
            return GatewayResult(GatewayStatus.UNKNOWN, reason="no answer")
        if answer.get("code") != "10000":
            if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return GatewayResult(GatewayStatus.FAILED, reason="not_found")
            return GatewayResult(GatewayStatus.UNKNOWN, reason=str(answer.get("sub_code")))
        status = answer.get("trade_status")
        if status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            return GatewayResult(GatewayStatus.PAID, provider_ref=answer.get("trade_no"))
        if status == "WAIT_BUYER_PAY":
            return GatewayResult(GatewayStatus.USER_PAYING)
        return GatewayResult(GatewayStatus.REVERSED, reason=str(status))

    def reverse(
        self,
        order_no: str,
        kind: str,
        *,
        placed_at: datetime | None = None,
        amount_fen: int | None = None,
    ) -> GatewayResult:
        answer = self._call(lambda: self._client.api_alipay_trade_cancel(out_trade_no=order_no))
        if answer is None:
            return GatewayResult(GatewayStatus.UNKNOWN, reason="no answer")
        if answer.get("code") == "10000" and answer.get("retry_flag") != "Y":
            return GatewayResult(GatewayStatus.REVERSED, reason=str(answer.get("action")))
        return GatewayResult(GatewayStatus.UNKNOWN, reason=str(answer.get("sub_code", "retry")))

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
        answer = self._call(
            lambda: self._client.api_alipay_trade_refund(
                _yuan(amount_fen), out_trade_no=order_no, out_request_no=refund_no
            )
        )
        if answer is None:
            return RefundResult(False, reason="no answer")
        if answer.get("code") == "10000":
            return RefundResult(True, provider_ref=answer.get("trade_no"))
        return RefundResult(False, reason=str(answer.get("sub_msg") or answer.get("sub_code")))
