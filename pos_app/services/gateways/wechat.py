"""WeChat Pay payment codes through the merchant API v2 (付款码支付, ``micropay``).

No maintained Python SDK covers it: ``wechatpayv3`` wraps API v3 only (JSAPI, APP, H5,
Native), and payment codes are a v2 API (signed XML), so this is the small client the
provider's v2 rules describe: the fields sorted, empty ones left out, ``&key=<API key>``
appended, HMAC-SHA256 upper-case hex as ``sign`` (``sign_type=HMAC-SHA256``); answers
are checked the same way before anything in them is believed.

Paths: ``/pay/micropay``, ``/pay/orderquery``, ``/secapi/pay/reverse``,
``/secapi/pay/refund`` under the configured base URL. The two ``/secapi/`` calls need the
merchant's API client certificate (``apiclient_cert.pem`` / ``apiclient_key.pem``) in the
TLS handshake; both come from the keyring, and Python's ``ssl`` loads a certificate chain
only from files, so :func:`client_tls_context` writes them for the moment of loading: to a
private directory (0700, files 0600), removed right after.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import shutil
import ssl
import tempfile
import xml.etree.ElementTree as ET
from datetime import datetime
from xml.sax.saxutils import escape

import httpx

from pos_app.services.payments import (
    GatewayResult,
    GatewayStatus,
    GatewayUnreachable,
    RefundResult,
)

log = logging.getLogger("chainpos.payments.wechat")

_USED = {"AUTHCODEEXPIRE", "AUTH_CODE_INVALID", "AUTH_CODE_ERROR"}
_UNKNOWN = {"SYSTEMERROR", "BANKERROR"}


def sign(fields: dict[str, str], api_key: str) -> str:
    """HMAC-SHA256 signature of the v2 rules (``sign`` itself and empty values left out)."""
    text = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if v != "" and k != "sign")
    text += f"&key={api_key}"
    return hmac.new(api_key.encode(), text.encode(), hashlib.sha256).hexdigest().upper()


def client_tls_context(
    cert_pem: str | None, key_pem: str | None, ca_pem: str | None = None
) -> ssl.SSLContext:
    """A TLS context trusting ``ca_pem`` (None: the public CAs) and, when given,
    presenting the merchant's client certificate."""
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else httpx.create_ssl_context()
    if not cert_pem or not key_pem:
        return context
    folder = tempfile.mkdtemp(prefix="chainpos-wx-")  # 0700, this user only
    try:
        paths = []
        for name, text in (("apiclient_cert.pem", cert_pem), ("apiclient_key.pem", key_pem)):
            path = os.path.join(folder, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            paths.append(path)
        context.load_cert_chain(certfile=paths[0], keyfile=paths[1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return context


class WeChatPayGateway:
    """One WeChat Pay merchant (``mch_id`` with its ``appid``); blocking, any thread."""

    def __init__(
        self,
        base_url: str,
        mch_id: str,
        appid: str,
        api_key: str,
        *,
        timeout_s: float = 15.0,
        client_cert_pem: str | None = None,
        client_key_pem: str | None = None,
        ca_pem: str | None = None,
    ) -> None:
        """``client_cert_pem`` / ``client_key_pem``: the merchant's API client certificate
        for reverse and refund (without it the provider refuses them); ``ca_pem``: the
        only CA trusted (the gateway simulator's; None: the public CAs)."""
        self._base = base_url.rstrip("/")
        self._mch_id = mch_id
        self._appid = appid
        self._key = api_key
        # One client per merchant: its connections are kept alive between calls. The
        # certificate's own client is used for /secapi/ only.
        self._http = httpx.Client(timeout=timeout_s, verify=client_tls_context(None, None, ca_pem))
        self._secapi = self._http
        if client_cert_pem and client_key_pem:
            self._secapi = httpx.Client(
                timeout=timeout_s,
                verify=client_tls_context(client_cert_pem, client_key_pem, ca_pem),
            )

    def __repr__(self) -> str:  # never the key
        return f"WeChatPayGateway({self._base}, mch_id={self._mch_id})"

    def close(self) -> None:
        """Closes the kept-alive connections (the till is shutting down)."""
        self._http.close()
        self._secapi.close()

    def _call(self, path: str, fields: dict[str, str]) -> dict[str, str] | None:
        """The verified answer's fields; None when no trustworthy answer came back."""
        body = {
            "appid": self._appid,
            "mch_id": self._mch_id,
            "nonce_str": secrets.token_hex(16),
            "sign_type": "HMAC-SHA256",
            **fields,
        }
        body["sign"] = sign(body, self._key)
        xml = "<xml>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in body.items()) + "</xml>"
        client = self._secapi if path.startswith("/secapi/") else self._http
        try:
            response = client.post(
                self._base + path,
                content=xml.encode(),
                headers={"Content-Type": "text/xml; charset=utf-8"},
            )
        except httpx.ConnectError as exc:
            raise GatewayUnreachable("gateway_unreachable", str(exc)) from exc
        except httpx.HTTPError as exc:
            log.warning("wechat %s: no answer (%s)", path, type(exc).__name__)
            return None
        if response.status_code != 200:
            log.warning("wechat %s: HTTP %s", path, response.status_code)
            return None
        try:
            root = ET.fromstring(response.content)
        except ET.ParseError:
            log.warning("wechat %s: answer is not XML", path)
            return None
        answer = {child.tag: (child.text or "") for child in root}
        if answer.get("return_code") != "SUCCESS":
            return answer  # not processed; unsigned by the rules
        if not hmac.compare_digest(sign(answer, self._key), answer.get("sign", "")):
            log.error("wechat %s: the answer's signature is wrong; not believed", path)
            return None
        return answer

    @staticmethod
    def _failed(answer: dict[str, str]) -> GatewayResult:
        reason = answer.get("err_code_des") or answer.get("return_msg") or ""
        return GatewayResult(GatewayStatus.FAILED, code="paycode_declined", reason=reason)

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
            "/pay/micropay",
            {
                "body": subject,
                "out_trade_no": order_no,
                "total_fee": str(amount_fen),
                "spbill_create_ip": "127.0.0.1",
                "auth_code": code,
            },
        )
        if answer is None:
            return GatewayResult(GatewayStatus.UNKNOWN, reason="no answer")
        if answer.get("return_code") != "SUCCESS":
            return self._failed(answer)
        if answer.get("result_code") == "SUCCESS":
            return GatewayResult(GatewayStatus.PAID, provider_ref=answer.get("transaction_id"))
        err = answer.get("err_code", "")
        if err == "USERPAYING":
            return GatewayResult(GatewayStatus.USER_PAYING)
        if err in _UNKNOWN:
            return GatewayResult(GatewayStatus.UNKNOWN, reason=err)
        if err in _USED:
            return GatewayResult(GatewayStatus.FAILED, code="paycode_used", reason=err)
        if err in ("ORDERREVERSED", "ORDERCLOSED"):
            return GatewayResult(GatewayStatus.REVERSED, reason=err)
        return self._failed(answer)

    def query(
        self, order_no: str, kind: str, *, placed_at: datetime | None = None
    ) -> GatewayResult:
        answer = self._call("/pay/orderquery", {"out_trade_no": order_no})
        if answer is None or answer.get("return_code") != "SUCCESS":
            return GatewayResult(GatewayStatus.UNKNOWN, reason="no answer")
        if answer.get("result_code") != "SUCCESS":
            if answer.get("err_code") == "ORDERNOTEXIST":
                return GatewayResult(GatewayStatus.FAILED, reason="not_found")
            return GatewayResult(GatewayStatus.UNKNOWN, reason=answer.get("err_code", ""))
        state = answer.get("trade_state", "")
        if state in ("SUCCESS", "REFUND"):
            return GatewayResult(GatewayStatus.PAID, provider_ref=answer.get("transaction_id"))
        if state == "USERPAYING":
            return GatewayResult(GatewayStatus.USER_PAYING)
        if state in ("REVOKED", "CLOSED"):
            return GatewayResult(GatewayStatus.REVERSED, reason=state)
        return GatewayResult(GatewayStatus.FAILED, code="paycode_declined", reason=state)

    def reverse(
        self,
        order_no: str,
        kind: str,
        *,
        placed_at: datetime | None = None,
        amount_fen: int | None = None,
    ) -> GatewayResult:
        answer = self._call("/secapi/pay/reverse", {"out_trade_no": order_no})
        if answer is None or answer.get("return_code") != "SUCCESS":
            return GatewayResult(GatewayStatus.UNKNOWN, reason="no answer")
        if answer.get("result_code") == "SUCCESS" and answer.get("recall") != "Y":
            return GatewayResult(GatewayStatus.REVERSED)
        return GatewayResult(GatewayStatus.UNKNOWN, reason=answer.get("err_code", "recall"))

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
            "/secapi/pay/refund",
            {
                "out_trade_no": order_no,
                "out_refund_no": refund_no,
                "total_fee": str(total_fen),
                "refund_fee": str(amount_fen),
            },
        )
        if answer is None:
            return RefundResult(False, reason="no answer")
        if answer.get("return_code") == "SUCCESS" and answer.get("result_code") == "SUCCESS":
            return RefundResult(True, provider_ref=answer.get("refund_id"))
        reason = answer.get("err_code") or answer.get("return_msg") or "refused"
        return RefundResult(False, reason=reason)
