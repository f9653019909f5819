"""UnionPay QuickPass payment codes (银联二维码 被扫 consume) on UnionPay's acp 5.1.0 back
channel: form fields, ``signMethod=01`` (RSA-SHA256 over the hex SHA-256 of the sorted
``k=v`` pairs, base64 in ``signature``), answers form-encoded and signed the same way.

UnionPay publishes no maintained Python SDK (its demos are Java, PHP and .NET), so this
is the small client the acp rules describe. ``respCode`` ``00`` is done; ``03``, ``04``
and ``05`` are "still processing: ask again"; a query carries the original's answer in
``origRespCode``. Every request about an order names it by ``orderId`` and the
``txnTime`` its consume was sent with: that is the intent's ``placed_at``, kept in the
till's database, so a query after a restart finds the order. Cancel (``txnType=31``) names
the original by ``origOrderId`` + ``origTxnTime`` (and its ``queryId`` when a query found
it), so an order UnionPay has not seen yet is cancelled too and a consume arriving late
is refused; refund (``txnType=04``) names it by the ``queryId`` a query finds first.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pos_app.services.payments import (
    GatewayResult,
    GatewayStatus,
    GatewayUnreachable,
    RefundResult,
)

log = logging.getLogger("chainpos.payments.unionpay")
_CHINA = timezone(timedelta(hours=8))
_PENDING = {"03", "04", "05"}


def txn_time(at: datetime) -> str:
    """UnionPay's ``txnTime``: Beijing time, ``YYYYMMDDhhmmss``."""
    return at.astimezone(_CHINA).strftime("%Y%m%d%H%M%S")


def digest_text(fields: dict[str, str]) -> bytes:
    text = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "signature")
    return hashlib.sha256(text.encode()).hexdigest().encode()


class UnionPayGateway:
    """One UnionPay merchant (``merId``) signing with its key ``cert_id``."""

    def __init__(
        self,
        base_url: str,
        mer_id: str,
        cert_id: str,
        private_key: str,
        unionpay_public_key: str,
        *,
        timeout_s: float = 15.0,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._mer_id = mer_id
        self._cert_id = cert_id
        key = serialization.load_pem_private_key(private_key.encode(), password=None)
        public = serialization.load_pem_public_key(unionpay_public_key.encode())
        assert isinstance(key, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey)
        self._key, self._public = key, public
        # One client per merchant: its connections are kept alive between calls.
        self._http = httpx.Client(timeout=timeout_s)

    def __repr__(self) -> str:  # never the key
        return f"UnionPayGateway({self._base}, merId={self._mer_id})"

    def close(self) -> None:
        """Closes the kept-alive connections (the till is shutting down)."""
        self._http.close()

    def _call(self, path: str, fields: dict[str, str]) -> dict[str, str] | None:
        body = {
            "version": "5.1.0",
            "encoding": "UTF-8",
            "signMethod": "01",
            "certId": self._cert_id,
            "bizType": "000000",
            "accessType": "0",
            "channelType": "08",
            "merId": self._mer_id,
            "txnTime": datetime.now(_CHINA).strftime("%Y%m%d%H%M%S"),
            **fields,
        }
        sig = self._key.sign(digest_text(body), padding.PKCS1v15(), hashes.SHA256())
        body["signature"] = base64.b64encode(sig).decode()
        try:
            response = self._http.post(self._base + path, data=body)
        except httpx.ConnectError as exc:
            raise GatewayUnreachable("gateway_unreachable", str(exc)) from exc
        except httpx.HTTPError as exc:
            log.warning("unionpay %s: no answer (%s)", path, type(exc).__name__)
            return None
        if response.status_code != 200:
            log.warning("unionpay %s: HTTP %s", path, response.status_code)
            return None
        answer = dict(parse_qsl(response.text, keep_blank_values=True))
        try:
            self._public.verify(
                base64.b64decode(answer.get("signature", "")),
                digest_text(answer),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            log.error("unionpay %s: the answer's signature is wrong; not believed", path)
            return None
        return answer

    def _query_raw(self, order_no: str, placed_at: datetime | None) -> dict[str, str] | None:
        fields = {"txnType": "00", "txnSubType": "00", "orderId": order_no}
        if placed_at is not None:
            fields["txnTime"] = txn_time(placed_at)
        return self._call("/gateway/api/queryTrans.do", fields)

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
        sent_at = txn_time(placed_at if placed_at is not None else datetime.now(UTC))
        answer = self._call(
            "/gateway/api/backTransReq.do",
            {
                "txnType": "01",
                "txnSubType": "06",
                "orderId": order_no,
                "txnAmt": str(amount_fen),
                "currencyCode": "156",
                "qrNo": code,
                "txnTime": sent_at,
            },
        )
        if answer is None:
            return GatewayResult(GatewayStatus.UNKNOWN, reason="no answer")
        code_ = answer.get("respCode", "")
        if code_ == "00":
            return GatewayResult(GatewayStatus.PAID, provider_ref=answer.get("queryId"))
        if code_ == "05":
            return GatewayResult(GatewayStatus.USER_PAYING)
        if code_ in _PENDING:
            return GatewayResult(GatewayStatus.UNKNOWN, reason=code_)
        return GatewayResult(
            GatewayStatus.FAILED, code="paycode_declined", reason=answer.get("respMsg", code_)
        )

    def query(
        self, order_no: str, kind: str, *, placed_at: datetime | None = None
    ) -> GatewayResult:
        answer = self._query_raw(order_no, placed_at)
        if answer is None:
            return GatewayResult(GatewayStatus.UNKNOWN, reason="no answer")
        if answer.get("respCode") == "34":
            return GatewayResult(GatewayStatus.FAILED, reason="not_found")
        if answer.get("respCode") != "00":
            return GatewayResult(GatewayStatus.UNKNOWN, reason=answer.get("respCode", ""))
        orig = answer.get("origRespCode", "")
        if orig == "00":
            return GatewayResult(GatewayStatus.PAID, provider_ref=answer.get("queryId"))
        if orig in _PENDING:
            return GatewayResult(GatewayStatus.USER_PAYING)
        return GatewayResult(
            GatewayStatus.FAILED, code="paycode_declined", reason=answer.get("origRespMsg", orig)
        )

    def reverse(
        self,
        order_no: str,
        kind: str,
        *,
        placed_at: datetime | None = None,
        amount_fen: int | None = None,
    ) -> GatewayResult:
        found = self._query_raw(order_no, placed_at)
        if found is None:
            return GatewayResult(GatewayStatus.UNKNOWN, reason="no answer")
        code = found.get("respCode")
        if code == "00" and found.get("origRespCode") not in {"00", *_PENDING}:
            return GatewayResult(GatewayStatus.REVERSED, reason="not paid")
        if code not in ("00", "34"):
            return GatewayResult(GatewayStatus.UNKNOWN, reason=code or "")
        if placed_at is None and code == "34":
            # Without the consume's txnTime the cancel cannot name the order.
            return GatewayResult(GatewayStatus.UNKNOWN, reason="no txnTime")
        # Sent for an order UnionPay has not seen too ("34": the consume may still be on
        # its way): the cancel is recorded against the order and a late consume refused.
        fields = {
            "txnType": "31",
            "txnSubType": "00",
            "orderId": f"{order_no}C",
            "txnAmt": found.get("txnAmt") or str(amount_fen or 0),
        }
        if placed_at is not None:
            fields |= {"origOrderId": order_no, "origTxnTime": txn_time(placed_at)}
        if found.get("queryId"):
            fields["origQryId"] = found["queryId"]
        answer = self._call("/gateway/api/backTransReq.do", fields)
        if answer is not None and answer.get("respCode") == "00":
            return GatewayResult(GatewayStatus.REVERSED)
        return GatewayResult(GatewayStatus.UNKNOWN, reason="cancel not confirmed")

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
        found = self._query_raw(order_no, placed_at)
        if found is None or found.get("respCode") != "00":
            return RefundResult(False, reason="original not found")
        answer = self._call(
            "/gateway/api/backTransReq.do",
            {
                "txnType": "04",
                "txnSubType": "00",
                "orderId": refund_no,
                "origQryId": found.get("queryId", ""),
                "txnAmt": str(amount_fen),
            },
        )
        if answer is not None and answer.get("respCode") == "00":
            return RefundResult(True, provider_ref=answer.get("queryId"))
        return RefundResult(False, reason=(answer or {}).get("respMsg", "no answer"))
