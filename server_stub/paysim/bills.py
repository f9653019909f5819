"""Daily statements in each provider's bill format, as their bill downloads return them.

* WeChat Pay trade bill (``bill_type=ALL``): one header row; every value prefixed with a
  backtick; a summary block after ``总交易单数``.
* Alipay business detail (业务明细): ``#`` comment lines around a header row; refunds are
  业务类型 退款 with a negative amount and the refund request number.
* UnionPay: the settlement file's message fields as CSV (``txnType`` 01 consume / 04
  refund, ``txnAmt`` in fen).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Booked:
    """One payment (``refund_no`` None) or refund the provider booked."""

    order_no: str
    amount_fen: int
    at: datetime
    refund_no: str | None = None
    trade_no: str = ""


def _yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


WECHAT_HEADER = ["交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额", "费率备注"]  # noqa: E501


def wechat_bill(mchid: str, appid: str, rows: Iterable[Booked]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(WECHAT_HEADER)
    count = pay_total = refund_total = 0
    for b in rows:
        count += 1
        refund = b.refund_no is not None
        pay_total += 0 if refund else b.amount_fen
        refund_total += b.amount_fen if refund else 0
        values = [
            b.at.strftime("%Y-%m-%d %H:%M:%S"),
            appid,
            mchid,
            "0",
            "",
            b.trade_no,
            b.order_no,
            "",
            "MICROPAY",
            "REFUND" if refund else "SUCCESS",
            "OTHERS",
            "CNY",
            "0.00" if refund else _yuan(b.amount_fen),
            "0.00",
            b.trade_no if refund else "0",
            b.refund_no or "0",
            _yuan(b.amount_fen) if refund else "0.00",
            "0.00",
            "ORIGINAL" if refund else "",
            "SUCCESS" if refund else "",
            "ChainPOS",
            "",
            "0.00000",
            "0.60%",
            "0.00" if refund else _yuan(b.amount_fen),
            _yuan(b.amount_fen) if refund else "0.00",
            "",
        ]
        w.writerow([f"`{v}" for v in values])
    w.writerow(
        [
            "总交易单数",
            "应结订单总金额",
            "退款总金额",
            "充值券退款总金额",
            "手续费总金额",
            "订单总金额",
            "申请退款总金额",
        ]
    )
    w.writerow(
        [
            f"`{count}",
            f"`{_yuan(pay_total)}",
            f"`{_yuan(refund_total)}",
            "`0.00",
            "`0.00",
            f"`{_yuan(pay_total)}",
            f"`{_yuan(refund_total)}",
        ]
    )
    return out.getvalue()


ALIPAY_HEADER = ["支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称", "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注"]  # noqa: E501


def alipay_bill(app_id: str, day: date, rows: Iterable[Booked]) -> str:
    out = io.StringIO()
    out.write("#支付宝业务明细查询\n")
    out.write(f"#账号：[{app_id}]\n")
    out.write(
        f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{day:%Y年%m月%d日} 23:59:59]\n"
    )
    out.write(
        "#-----------------------------------------业务明细列表----------------------------------------\n"
    )
    w = csv.writer(out, lineterminator="\n")
    w.writerow(ALIPAY_HEADER)
    for b in rows:
        refund = b.refund_no is not None
        amount = _yuan(-b.amount_fen if refund else b.amount_fen)
        at = b.at.strftime("%Y-%m-%d %H:%M:%S")
        w.writerow(
            [
                b.trade_no,
                b.order_no,
                "退款" if refund else "交易",
                "ChainPOS",
                at,
                at,
                "",
                "",
                "",
                "",
                "",
                amount,
                amount,
                "0.00",
                "0.00",
                "0.00",
                "0.00",
                "0.00",
                "",
                "0.00",
                "0.00",
                b.refund_no or "",
                "0.00",
                "0.00",
                "",
            ]
        )
    out.write(
        "#-----------------------------------------业务明细列表结束------------------------------------\n"
    )
    return out.getvalue()


def unionpay_bill(mer_id: str, rows: Iterable[Booked]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "merId",
            "txnType",
            "orderId",
            "origOrderId",
            "queryId",
            "txnTime",
            "txnAmt",
            "currencyCode",
        ]
    )
    for b in rows:
        refund = b.refund_no is not None
        w.writerow(
            [
                mer_id,
                "04" if refund else "01",
                b.refund_no if refund else b.order_no,
                b.order_no if refund else "",
                b.trade_no,
                b.at.strftime("%Y%m%d%H%M%S"),
                b.amount_fen,
                "156",
            ]
        )
    return out.getvalue()
