"""The simulator's HTTP app: each provider's merchant API for payment codes, on its own
paths, as the providers document them.

WeChat Pay API v2 (XML bodies, ``sign`` = MD5 or HMAC-SHA256 over the sorted non-empty
fields and ``&key=<API key>``, upper-case hex):
  ``POST /pay/micropay``, ``/pay/orderquery``, ``/secapi/pay/reverse``, ``/secapi/pay/refund``
  The two ``/secapi/`` calls of a merchant registered with an API client certificate are
  refused unless they came over the simulator's HTTPS port with that certificate.

Alipay open API (``GET`` or form ``POST`` to ``/gateway.do``; the request's ``sign`` is RSA2
over the sorted ``k=v`` pairs; the answer is ``{"<method>_response": {...}, "sign": ...}``
signed with the simulator's Alipay key over the exact text of the inner object):
  ``alipay.trade.pay`` (``scene=bar_code``), ``alipay.trade.query``, ``alipay.trade.cancel``,
  ``alipay.trade.refund``

UnionPay acp 5.1.0 back channel (form fields; ``signature`` = RSA-SHA256 over the hex
SHA-256 of the sorted ``k=v`` pairs, ``signMethod=01``; the answer is form-encoded and
signed the same way with the simulator's UnionPay key):
  ``POST /gateway/api/backTransReq.do`` -- consume by QR code (``txnType=01``,
  ``txnSubType=06``, ``qrNo``), consume cancel (``txnType=31``), refund (``txnType=04``);
  ``POST /gateway/api/queryTrans.do`` (``txnType=00``). As at UnionPay, a query finds the
  order by ``merId`` + ``orderId`` + the ``txnTime`` the consume was sent with (another
  ``txnTime``: 34, no such order); a cancel names the original by ``origQryId`` or by
  ``origOrderId`` + ``origTxnTime``, and a cancel of an order not seen yet is recorded, so
  the consume arriving after it is refused.

Also ``GET /healthz``, ``GET /bills/{wallet}/{merchant_id}/{YYYY-MM-DD}`` (the daily bill
in that provider's format) and ``GET /_sim/orders/{order_no}`` (what the simulator holds:
for tests and operators).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import logging
import secrets
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from server_stub.paysim import bills
from server_stub.paysim.ledger import Ledger, Order
from server_stub.paysim.merchants import MerchantBook, platform_keys
from server_stub.paysim.tls import cert_sha256

log = logging.getLogger("chainpos.paysim")


# -- signatures ---------------------------------------------------------------------------


def wechat_sign(fields: dict[str, str], key: str, sign_type: str = "MD5") -> str:
    text = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if v != "" and k != "sign")
    text += f"&key={key}"
    if sign_type == "HMAC-SHA256":
        return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest().upper()
    return hashlib.md5(text.encode()).hexdigest().upper()


@functools.lru_cache(maxsize=64)
def _private(pem: str) -> rsa.RSAPrivateKey:
    # Cached: loading an RSA private key checks it, which costs tens of milliseconds.
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@functools.lru_cache(maxsize=256)
def _public(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def rsa2_sign(text: str, private_pem: str) -> str:
    sig = _private(private_pem).sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(sig).decode()


def rsa2_verify(text: str, signature: str, public_pem: str) -> bool:
    try:
        _public(public_pem).verify(
            base64.b64decode(signature), text.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def unionpay_digest_text(fields: dict[str, str]) -> str:
    text = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "signature")
    return hashlib.sha256(text.encode()).hexdigest()


def _yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def _fen(yuan: str) -> int | None:
    try:
        value = Decimal(yuan) * 100
    except InvalidOperation:
        return None
    return int(value) if value == value.to_integral_value() else None


# -- the app ------------------------------------------------------------------------------


def create_app(data_dir: Path, *, hold_s: float = 20.0) -> FastAPI:
    """The simulator on ``data_dir`` (keys, merchants, bookings). ``hold_s``: how long
    the pay answer of test code 0004 is held back."""
    app = FastAPI(title="ChainPOS payment gateway simulator", docs_url=None, redoc_url=None)
    platform = platform_keys(data_dir)
    book = MerchantBook(data_dir)
    ledger = Ledger(data_dir)
    app.state.ledger = ledger

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/_sim/orders/{order_no}")
    async def sim_order(order_no: str) -> list[dict[str, object]]:
        return ledger.snapshot(order_no)

    @app.get("/bills/{wallet}/{merchant_id}/{day}")
    async def bill(wallet: str, merchant_id: str, day: str) -> PlainTextResponse:
        try:
            when = date.fromisoformat(day)
        except ValueError:
            raise HTTPException(400, "day is YYYY-MM-DD") from None
        rows = ledger.bookings(wallet, merchant_id, when)
        if wallet == "wechat_pay":
            account = book.find(wallet, merchant_id) or {}
            text = bills.wechat_bill(merchant_id, account.get("app_id", ""), rows)
        elif wallet == "alipay":
            text = bills.alipay_bill(merchant_id, when, rows)
        elif wallet == "unionpay":
            text = bills.unionpay_bill(merchant_id, rows)
        else:
            raise HTTPException(404, "no such wallet")
        return PlainTextResponse(text, media_type="text/csv; charset=utf-8")

    # -- WeChat Pay API v2 ----------------------------------------------------------------

    def wx_xml(fields: dict[str, str]) -> Response:
        root = ET.Element("xml")
        for k, v in fields.items():
            ET.SubElement(root, k).text = v
        return Response(ET.tostring(root, encoding="unicode"), media_type="text/xml")

    def wx_client_cert_ok(request: Request, account: dict[str, str]) -> bool:
        want = account.get("client_cert_sha256")
        if not want:
            return True  # registered before certificates: not asked for one
        tls_info = request.scope.get("extensions", {}).get("tls", {})
        chain = tls_info.get("client_cert_chain") or []
        return bool(chain) and hmac.compare_digest(cert_sha256(chain[0]), want)

    async def wx_request(request: Request) -> tuple[dict[str, str], dict[str, str] | None, str]:
        """(fields, merchant account or None, failure message)."""
        body = await request.body()
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return {}, None, "XML格式错误"
        fields = {child.tag: (child.text or "") for child in root}
        account = book.find("wechat_pay", fields.get("mch_id", ""))
        if account is None or account["app_id"] != fields.get("appid"):
            return fields, None, "appid和mch_id不匹配"
        sign_type = fields.get("sign_type", "MD5") or "MD5"
        want = wechat_sign(fields, account["api_key"], sign_type)
        if not hmac.compare_digest(want, fields.get("sign", "")):
            return fields, None, "签名错误"
        if request.url.path.startswith("/secapi/") and not wx_client_cert_ok(request, account):
            log.warning("wechat %s without the merchant's client certificate", request.url.path)
            return fields, None, "证书错误，请使用商户API证书"
        return fields, account, ""

    def wx_answer(
        fields: dict[str, str],
        account: dict[str, str] | None,
        failure: str,
        result: dict[str, str],
    ) -> Response:
        if account is None:
            return wx_xml({"return_code": "FAIL", "return_msg": failure})
        out = {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": fields["appid"],
            "mch_id": fields["mch_id"],
            "nonce_str": secrets.token_hex(16),
            **result,
        }
        sign_type = fields.get("sign_type", "MD5") or "MD5"
        out["sign"] = wechat_sign(out, account["api_key"], sign_type)
        return wx_xml(out)

    def wx_fail(code: str, text: str) -> dict[str, str]:
        return {"result_code": "FAIL", "err_code": code, "err_code_des": text}

    def wx_paid(order: Order) -> dict[str, str]:
        return {
            "result_code": "SUCCESS",
            "openid": "oSimUser",
            "trade_type": "MICROPAY",
            "bank_type": "OTHERS",
            "total_fee": str(order.amount_fen),
            "fee_type": "CNY",
            "transaction_id": order.trade_no,
            "out_trade_no": order.order_no,
            "time_end": datetime.now(UTC).strftime("%Y%m%d%H%M%S"),
        }

    def wx_order_result(order: Order) -> dict[str, str]:
        if order.state == "paid":
            return wx_paid(order)
        if order.state == "user_paying":
            return wx_fail("USERPAYING", "需要用户输入支付密码")
        if order.state == "reversed":
            return wx_fail("ORDERREVERSED", "订单已撤销")
        if order.failure == "used":
            return wx_fail("AUTHCODEEXPIRE", "二维码已过期，请用户在微信上刷新后再试")
        return wx_fail("NOTENOUGH", "余额不足")

    @app.post("/pay/micropay")
    async def wx_micropay(request: Request) -> Response:
        fields, account, failure = await wx_request(request)
        if account is None:
            return wx_answer(fields, None, failure, {})
        try:
            amount = int(fields.get("total_fee", ""))
        except ValueError:
            return wx_answer(fields, account, "", wx_fail("PARAM_ERROR", "total_fee"))
        answer = ledger.pay(
            "wechat_pay",
            fields["mch_id"],
            fields.get("out_trade_no", ""),
            amount,
            fields.get("auth_code", ""),
        )
        if answer.hold:
            await asyncio.sleep(hold_s)
        return wx_answer(fields, account, "", wx_order_result(answer.order))

    @app.post("/pay/orderquery")
    async def wx_orderquery(request: Request) -> Response:
        fields, account, failure = await wx_request(request)
        if account is None:
            return wx_answer(fields, None, failure, {})
        order = ledger.query("wechat_pay", fields["mch_id"], fields.get("out_trade_no", ""))
        if order is None:
            return wx_answer(fields, account, "", wx_fail("ORDERNOTEXIST", "此交易订单号不存在"))
        state = {
            "paid": "REFUND" if order.refunds else "SUCCESS",
            "user_paying": "USERPAYING",
            "reversed": "REVOKED",
            "failed": "PAYERROR",
        }[order.state]
        result = {
            "result_code": "SUCCESS",
            "out_trade_no": order.order_no,
            "trade_state": state,
            "trade_state_desc": state,
            "total_fee": str(order.amount_fen),
        }
        if order.state == "paid":
            result["transaction_id"] = order.trade_no
        return wx_answer(fields, account, "", result)

    @app.post("/secapi/pay/reverse")
    async def wx_reverse(request: Request) -> Response:
        fields, account, failure = await wx_request(request)
        if account is None:
            return wx_answer(fields, None, failure, {})
        ledger.reverse("wechat_pay", fields["mch_id"], fields.get("out_trade_no", ""))
        return wx_answer(fields, account, "", {"result_code": "SUCCESS", "recall": "N"})

    @app.post("/secapi/pay/refund")
    async def wx_refund(request: Request) -> Response:
        fields, account, failure = await wx_request(request)
        if account is None:
            return wx_answer(fields, None, failure, {})
        try:
            amount = int(fields.get("refund_fee", ""))
        except ValueError:
            return wx_answer(fields, account, "", wx_fail("PARAM_ERROR", "refund_fee"))
        try:
            total = int(fields.get("total_fee", ""))
        except ValueError:
            return wx_answer(fields, account, "", wx_fail("PARAM_ERROR", "total_fee"))
        original = ledger.get("wechat_pay", fields["mch_id"], fields.get("out_trade_no", ""))
        if original is not None and total != original.amount_fen:
            # As at WeChat Pay: the refund must name the order's own total.
            return wx_answer(
                fields,
                account,
                "",
                wx_fail("INVALID_REQUEST", "订单金额或退款金额与之前请求不一致，请核实后再试"),
            )
        got = ledger.refund(
            "wechat_pay",
            fields["mch_id"],
            fields.get("out_trade_no", ""),
            fields.get("out_refund_no", ""),
            amount,
        )
        if not got.ok or got.order is None:
            code = {"not_found": "ORDERNOTEXIST", "not_paid": "TRADE_STATE_ERROR"}.get(
                got.why, "INVALID_REQUEST"
            )
            return wx_answer(fields, account, "", wx_fail(code, got.why))
        return wx_answer(
            fields,
            account,
            "",
            {
                "result_code": "SUCCESS",
                "transaction_id": got.order.trade_no,
                "out_trade_no": got.order.order_no,
                "out_refund_no": got.refund_no,
                "refund_id": f"50{got.order.trade_no}{len(got.order.refunds):02d}",
                "refund_fee": str(got.amount_fen),
                "total_fee": str(got.order.amount_fen),
            },
        )

    # -- Alipay -------------------------------------------------------------------------

    def ali_answer(method: str, inner: dict[str, Any]) -> Response:
        name = method.replace(".", "_") + "_response"
        text = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
        sign = rsa2_sign(text, platform["alipay_private_key"])
        body = f'{{"{name}":{text},"sign":"{sign}"}}'
        return Response(body, media_type="application/json; charset=utf-8")

    def ali_error(code: str, msg: str, sub_code: str, sub_msg: str) -> Response:
        inner = {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}
        return JSONResponse({"error_response": inner})

    def ali_fail(sub_code: str, sub_msg: str, **extra: str) -> dict[str, Any]:
        return {
            "code": "40004",
            "msg": "Business Failed",
            "sub_code": sub_code,
            "sub_msg": sub_msg,
            **extra,
        }

    def ali_trade(order: Order) -> dict[str, Any]:
        return {
            "trade_no": order.trade_no,
            "out_trade_no": order.order_no,
            "total_amount": _yuan(order.amount_fen),
            "buyer_logon_id": "sim***@example.com",
        }

    @app.api_route("/gateway.do", methods=["GET", "POST"])
    async def alipay_gateway(request: Request) -> Response:
        params: dict[str, str] = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            params.update({k: str(v) for k, v in form.items()})
        method = params.get("method", "")
        account = book.find("alipay", params.get("app_id", ""))
        if account is None:
            return ali_error("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
        if params.get("sign_type") != "RSA2":
            return ali_error(
                "40002", "Invalid Arguments", "isv.invalid-signature-type", "无效的签名类型"
            )
        text = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign")
        if not rsa2_verify(text, params.get("sign", ""), account["app_public_key"]):
            return ali_error("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错")
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            return ali_answer(method, ali_fail("ACQ.INVALID_PARAMETER", "biz_content"))
        app_id = params["app_id"]
        order_no = str(biz.get("out_trade_no", ""))
        ok = {"code": "10000", "msg": "Success"}
        if method == "alipay.trade.pay":
            amount = _fen(str(biz.get("total_amount", "")))
            if biz.get("scene") != "bar_code" or amount is None or amount <= 0:
                return ali_answer(method, ali_fail("ACQ.INVALID_PARAMETER", "参数无效"))
            answer = ledger.pay("alipay", app_id, order_no, amount, str(biz.get("auth_code")))
            if answer.hold:
                await asyncio.sleep(hold_s)
            order = answer.order
            if order.state == "paid":
                return ali_answer(
                    method,
                    {**ok, **ali_trade(order), "gmt_payment": order.paid_at[:19].replace("T", " ")},
                )
            if order.state == "user_paying":
                return ali_answer(
                    method, {"code": "10003", "msg": "等待用户付款", **ali_trade(order)}
                )
            if order.state == "reversed":
                return ali_answer(method, ali_fail("ACQ.TRADE_HAS_CLOSE", "交易已经关闭"))
            if order.failure == "used":
                return ali_answer(
                    method, ali_fail("ACQ.PAYMENT_AUTH_CODE_INVALID", "支付授权码无效")
                )
            return ali_answer(method, ali_fail("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足"))
        if method == "alipay.trade.query":
            found = ledger.query("alipay", app_id, order_no)
            if found is None:
                return ali_answer(method, ali_fail("ACQ.TRADE_NOT_EXIST", "交易不存在"))
            order = found
            status = {
                "paid": "TRADE_SUCCESS",
                "user_paying": "WAIT_BUYER_PAY",
                "reversed": "TRADE_CLOSED",
                "failed": "TRADE_CLOSED",
            }[order.state]
            return ali_answer(method, {**ok, **ali_trade(order), "trade_status": status})
        if method == "alipay.trade.cancel":
            order, refunded = ledger.reverse("alipay", app_id, order_no)
            return ali_answer(
                method,
                {
                    **ok,
                    "trade_no": order.trade_no,
                    "out_trade_no": order_no,
                    "retry_flag": "N",
                    "action": "refund" if refunded else "close",
                },
            )
        if method == "alipay.trade.refund":
            amount = _fen(str(biz.get("refund_amount", "")))
            got = ledger.refund(
                "alipay",
                app_id,
                order_no,
                str(biz.get("out_request_no") or order_no),
                amount or 0,
            )
            if not got.ok or got.order is None:
                sub = {"not_found": "ACQ.TRADE_NOT_EXIST", "not_paid": "ACQ.TRADE_STATUS_ERROR"}
                return ali_answer(
                    method, ali_fail(sub.get(got.why, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"), got.why)
                )
            return ali_answer(
                method,
                {
                    **ok,
                    **ali_trade(got.order),
                    "fund_change": "Y" if got.new else "N",
                    "refund_fee": _yuan(got.order.refunded_fen),
                },
            )
        return ali_error("40004", "Business Failed", "isv.invalid-method", "不存在的方法名")

    # -- UnionPay acp 5.1.0 -------------------------------------------------------------

    def up_answer(fields: dict[str, str], values: dict[str, str]) -> Response:
        out = {
            "version": fields.get("version", "5.1.0"),
            "encoding": "UTF-8",
            "signMethod": "01",
            "certId": platform["unionpay_cert_id"],
            "merId": fields.get("merId", ""),
            "orderId": fields.get("orderId", ""),
            "txnType": fields.get("txnType", ""),
            "txnSubType": fields.get("txnSubType", ""),
            "txnTime": fields.get("txnTime", ""),
            **values,
        }
        out["signature"] = rsa2_sign(unionpay_digest_text(out), platform["unionpay_private_key"])
        return Response(urlencode(out), media_type="application/x-www-form-urlencoded")

    async def up_request(request: Request) -> tuple[dict[str, str], dict[str, str] | None]:
        form = await request.form()
        fields = {k: str(v) for k, v in form.items()}
        account = book.find("unionpay", fields.get("merId", ""))
        if account is None or fields.get("certId") != account["cert_id"]:
            return fields, None
        if fields.get("signMethod") != "01" or not rsa2_verify(
            unionpay_digest_text(fields), fields.get("signature", ""), account["public_key"]
        ):
            return fields, None
        return fields, account

    def up_state(order: Order) -> tuple[str, str]:
        if order.state == "paid":
            return "00", "成功[0000000]"
        if order.state == "user_paying":
            return "05", "交易已受理，请稍后查询交易结果"
        if order.state == "reversed":
            return "01", "交易已撤销"
        if order.failure == "used":
            return "01", "付款码已失效"
        return "51", "余额不足"

    @app.post("/gateway/api/backTransReq.do")
    async def up_back(request: Request) -> Response:
        fields, account = await up_request(request)
        if account is None:
            return up_answer(fields, {"respCode": "11", "respMsg": "验证签名失败"})
        mer, txn = fields["merId"], fields.get("txnType", "")
        try:
            amount = int(fields.get("txnAmt", ""))
        except ValueError:
            return up_answer(fields, {"respCode": "30", "respMsg": "报文格式错误 txnAmt"})
        if txn == "01" and fields.get("txnSubType") == "06":
            answer = ledger.pay(
                "unionpay",
                mer,
                fields.get("orderId", ""),
                amount,
                fields.get("qrNo", ""),
                fields.get("txnTime", ""),
            )
            if answer.hold:
                await asyncio.sleep(hold_s)
            code, msg = up_state(answer.order)
            return up_answer(
                fields,
                {
                    "respCode": code,
                    "respMsg": msg,
                    "txnAmt": str(amount),
                    "queryId": answer.order.trade_no,
                },
            )
        orig = fields.get("origQryId", "")
        target = next((o for o in _orders_of(ledger, "unionpay", mer) if o.trade_no == orig), None)
        if txn == "31":
            orig_order, orig_time = fields.get("origOrderId", ""), fields.get("origTxnTime", "")
            if target is None and orig_order and orig_time:
                target = ledger.get("unionpay", mer, orig_order)
                if target is not None and target.placed_at != orig_time:
                    return up_answer(fields, {"respCode": "34", "respMsg": "查无此交易"})
            if target is None and not (orig_order and orig_time):
                return up_answer(fields, {"respCode": "34", "respMsg": "查无此交易"})
            # An order not seen yet is recorded as cancelled, so a late consume is refused.
            target, _ = ledger.reverse(
                "unionpay", mer, target.order_no if target else orig_order, orig_time
            )
            orig = target.trade_no
            return up_answer(
                fields,
                {
                    "respCode": "00",
                    "respMsg": "成功[0000000]",
                    "origQryId": orig,
                    "queryId": orig + "C",
                },
            )
        if txn == "04":
            if target is None:
                return up_answer(fields, {"respCode": "34", "respMsg": "查无此交易"})
            got = ledger.refund("unionpay", mer, target.order_no, fields.get("orderId", ""), amount)
            if not got.ok:
                return up_answer(fields, {"respCode": "01", "respMsg": f"交易失败 {got.why}"})
            return up_answer(
                fields,
                {
                    "respCode": "00",
                    "respMsg": "成功[0000000]",
                    "origQryId": orig,
                    "txnAmt": str(amount),
                    "queryId": orig + "R" + str(len(target.refunds)),
                },
            )
        return up_answer(fields, {"respCode": "12", "respMsg": "交易类型不支持"})

    @app.post("/gateway/api/queryTrans.do")
    async def up_query(request: Request) -> Response:
        fields, account = await up_request(request)
        if account is None:
            return up_answer(fields, {"respCode": "11", "respMsg": "验证签名失败"})
        found = ledger.get("unionpay", fields["merId"], fields.get("orderId", ""))
        order = None
        if found is not None and found.placed_at == fields.get("txnTime"):
            order = ledger.query("unionpay", fields["merId"], fields.get("orderId", ""))
        if order is None:
            return up_answer(fields, {"respCode": "34", "respMsg": "查无此交易"})
        code, msg = up_state(order)
        return up_answer(
            fields,
            {
                "respCode": "00",
                "respMsg": "成功[0000000]",
                "origRespCode": code,
                "origRespMsg": msg,
                "queryId": order.trade_no,
                "txnAmt": str(order.amount_fen),
            },
        )

    return app


def _orders_of(ledger: Ledger, wallet: str, merchant: str) -> list[Order]:
    with ledger._lock:
        return [o for k, o in ledger._orders.items() if k[0] == wallet and k[1] == merchant]
