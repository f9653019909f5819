"""The printouts a store needs, as documents: the sale receipt and the shift handover slip.

Services fill the data classes below from a completed sale or shift (amounts already
formatted, times already local) and print the returned :class:`~hardware.Document`.
Labels are Simplified Chinese, as on paper in the stores.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware._document import Align, Block, Columns, Document, Feed, Item, QRCode, Rule, Text

__all__ = [
    "Amount",
    "HandoverSlip",
    "Receipt",
    "ReceiptLabels",
    "SaleLine",
    "Tender",
    "handover_document",
    "receipt_document",
]


@dataclass(frozen=True, slots=True)
class SaleLine:
    """One line of a sale.

    Attributes:
        name: Product name with options, e.g. ``"杨枝甘露(大) 少冰"``.
        quantity: Quantity as printed, e.g. ``"2"`` or ``"0.356kg"``.
        unit_price: Formatted unit price, e.g. ``"¥16.00"``.
        amount: Formatted line amount, e.g. ``"¥32.00"``.
    """

    name: str
    quantity: str
    unit_price: str
    amount: str
    options: tuple[str, ...] = ()
    """A drink's chosen options as printed under its name, e.g. ``("大杯 +¥3.00", "少冰")``."""


@dataclass(frozen=True, slots=True)
class Amount:
    """A labelled amount: a discount, a subtotal, a shift figure."""

    label: str
    amount: str


@dataclass(frozen=True, slots=True)
class Tender:
    """A payment. ``cash`` tenders open the drawer when the receipt prints."""

    label: str
    amount: str
    cash: bool = False


@dataclass(frozen=True, slots=True)
class ReceiptLabels:
    """The words printed on a receipt; Simplified Chinese by default, the caller's
    translation otherwise (hardware never picks a language)."""

    title: str | None = "销售小票"
    phone: str = "电话"
    reprint: str = "** 重印 **"
    number: str = "单号"
    time: str = "时间"
    cashier: str = "收银员"
    terminal: str = "机号"
    subtotal: str = "小计"
    total: str = "合计"
    change: str = "找零"
    received: str = "实收"
    member: str = "会员"
    points_earned: str = "本单积分"
    points_balance: str = "积分余额"


@dataclass(frozen=True, slots=True)
class Receipt:
    """Everything printed on a sale receipt.

    Attributes:
        store_name: Printed large at the top.
        sale_reference: Human-readable sale number, printed and under the QR code.
        printed_at: Local date and time, already formatted.
        cashier: Cashier name or number.
        terminal: Terminal name or number.
        lines: The sale lines, in cart order.
        total: Amount due.
        tenders: Payments, in the order taken.
        discounts: Promotions and coupons, amounts as printed (e.g. ``"-¥3.00"``).
        subtotal: Total before discounts, printed when there are discounts.
        change: Change given, printed when present.
        received: What the customer handed over (实收), printed before the change when
            present.
        member: Member identification, already masked (``"138****1234"``).
        points_earned: Points earned by this sale.
        points_balance: Member's points balance after the sale.
        member_details: Further member lines after the points (points used, stored-value
            balance), label and value as printed.
        qr_payload: Signed sale reference for returns in any store.
        store_address: Optional second header line.
        store_phone: Optional third header line.
        footer: Closing line.
        reprint: Marks the receipt as a copy; a reprint never opens the drawer.
    """

    store_name: str
    sale_reference: str
    printed_at: str
    cashier: str
    terminal: str
    lines: tuple[SaleLine, ...]
    total: str
    tenders: tuple[Tender, ...] = ()
    discounts: tuple[Amount, ...] = ()
    subtotal: str | None = None
    change: str | None = None
    received: str | None = None
    member: str | None = None
    points_earned: str | None = None
    points_balance: str | None = None
    member_details: tuple[Amount, ...] = ()
    qr_payload: str | None = None
    store_address: str | None = None
    store_phone: str | None = None
    footer: str | None = "谢谢惠顾，欢迎再次光临！"
    reprint: bool = False
    labels: ReceiptLabels = ReceiptLabels()


_OPTIONS_PER_LINE = 3


def receipt_document(receipt: Receipt) -> Document:
    """Lay out a sale receipt.

    Args:
        receipt: The sale as printed.

    Returns:
        A document that cuts at the end and opens the drawer when a cash tender is
        present (not on reprints).
    """
    r = receipt
    lb = r.labels
    blocks: list[Block] = [Text(r.store_name, align=Align.CENTER, bold=True, double=True)]
    if r.store_address:
        blocks.append(Text(r.store_address, align=Align.CENTER))
    if r.store_phone:
        blocks.append(Text(f"{lb.phone}: {r.store_phone}", align=Align.CENTER))
    if lb.title:
        blocks.append(Text(lb.title, align=Align.CENTER, bold=True))
    if r.reprint:
        blocks.append(Text(lb.reprint, align=Align.CENTER, bold=True))
    blocks += [
        Rule(),
        Columns(lb.number, r.sale_reference),
        Columns(lb.time, r.printed_at),
        Columns(f"{lb.cashier}: {r.cashier}", f"{lb.terminal}: {r.terminal}"),
        Rule(),
    ]
    for x in r.lines:
        blocks.append(Item(x.name, f"{x.quantity} x {x.unit_price}", x.amount))
        # The options under the name, three to a line, so that a line breaks between
        # options rather than inside a price.
        for i in range(0, len(x.options), _OPTIONS_PER_LINE):
            blocks.append(Text("  " + " ".join(x.options[i : i + _OPTIONS_PER_LINE])))
    blocks.append(Rule())
    if r.discounts and r.subtotal:
        blocks.append(Columns(lb.subtotal, r.subtotal))
    blocks += [Columns(d.label, d.amount) for d in r.discounts]
    blocks.append(Columns(lb.total, r.total, bold=True))
    blocks += [Columns(t.label, t.amount) for t in r.tenders]
    if r.received:
        blocks.append(Columns(lb.received, r.received))
    if r.change:
        blocks.append(Columns(lb.change, r.change))
    if r.member:
        blocks += [Rule(), Columns(lb.member, r.member)]
        if r.points_earned:
            blocks.append(Columns(lb.points_earned, r.points_earned))
        if r.points_balance:
            blocks.append(Columns(lb.points_balance, r.points_balance))
        blocks += [Columns(d.label, d.amount) for d in r.member_details]
    blocks.append(Rule())
    if r.qr_payload:
        blocks.append(QRCode(r.qr_payload, caption=r.sale_reference))
    if r.footer:
        blocks.append(Text(r.footer, align=Align.CENTER))
    blocks.append(Feed(1))
    opens_drawer = not r.reprint and any(t.cash for t in r.tenders)
    return Document(tuple(blocks), cut=True, open_drawer=opens_drawer)


@dataclass(frozen=True, slots=True)
class HandoverSlip:
    """A shift handover (交班) summary.

    Attributes:
        store_name: Store printed at the top.
        terminal: Terminal name or number.
        cashier: The cashier handing over.
        shift_start: Local start time, formatted.
        shift_end: Local end time, formatted.
        sale_count: Number of sales in the shift.
        totals: Shift figures (sales, returns, discounts...), in order.
        tenders: Takings per tender type.
        cash_expected: Cash the drawer should hold.
        cash_counted: Cash counted.
        cash_difference: Counted minus expected, formatted with its sign.
        next_cashier: The cashier taking over, when known.
    """

    store_name: str
    terminal: str
    cashier: str
    shift_start: str
    shift_end: str
    sale_count: int
    totals: tuple[Amount, ...]
    tenders: tuple[Amount, ...]
    cash_expected: str
    cash_counted: str
    cash_difference: str
    next_cashier: str | None = None


def handover_document(slip: HandoverSlip) -> Document:
    """Lay out a shift handover slip, with signature lines, cut, no drawer kick.

    Args:
        slip: The shift figures as printed.

    Returns:
        The document.
    """
    s = slip
    blocks: list[Block] = [
        Text("交班单", align=Align.CENTER, bold=True, double=True),
        Text(s.store_name, align=Align.CENTER),
        Rule(),
        Columns("机号", s.terminal),
        Columns("收银员", s.cashier),
        Columns("开始", s.shift_start),
        Columns("结束", s.shift_end),
        Columns("销售笔数", str(s.sale_count)),
        Rule(),
    ]
    blocks += [Columns(t.label, t.amount) for t in s.totals]
    blocks.append(Rule())
    blocks += [Columns(t.label, t.amount) for t in s.tenders]
    blocks += [
        Rule(),
        Columns("应有现金", s.cash_expected),
        Columns("实点现金", s.cash_counted),
        Columns("差额", s.cash_difference, bold=True),
        Rule(),
    ]
    if s.next_cashier:
        blocks.append(Columns("接班人", s.next_cashier))
    blocks += [
        Feed(1),
        Text("交班人签字：________"),
        Feed(1),
        Text("接班人签字：________"),
        Feed(1),
    ]
    return Document(tuple(blocks), cut=True, open_drawer=False)
