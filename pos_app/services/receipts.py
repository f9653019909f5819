"""Receipts: the printable document of a sale (printing goes through the print queue)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from hardware import (
    Amount,
    Document,
    Receipt,
    ReceiptLabels,
    receipt_document,
)
from hardware import SaleLine as ReceiptLine
from hardware import Tender as ReceiptTender
from pos_app.domain.cart import MILLI
from pos_app.i18n import Translator
from pos_app.localdb.engine import read_session
from pos_app.localdb.sales import LineRecord, SaleRecord
from pos_app.localdb.store import StoreInfo, get_store
from sync_client.contract.money import format_yuan

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def _qty_text(unit: str, qty_milli: int) -> str:
    if unit == "kg":
        return f"{qty_milli / MILLI:.3f}kg"
    return str(qty_milli // MILLI)


def option_texts(line: LineRecord) -> tuple[str, ...]:
    """A line's options as printed under it: the name, and the price it added if any
    (``大杯+¥3.00``); names are as sold (Chinese)."""
    return tuple(
        str(o["name"]) + (f"+{format_yuan(int(o['price_fen']))}" if o.get("price_fen") else "")
        for o in line.options or ()
    )


def local_time(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


class ReceiptService:
    """Builds receipts in the store's receipt language. Thread-safe: the print worker
    lays out each receipt when it prints it."""

    def __init__(self, engine: Engine, store_code: str, language: str = "zh_CN") -> None:
        self._engine = engine
        self._store_code = store_code
        self._tr = Translator(language)

    def _store(self) -> StoreInfo:
        with read_session(self._engine) as session:
            store = get_store(session, self._store_code)
        return store or StoreInfo(self._store_code, self._store_code, self._store_code, "", "", "")

    def document(self, sale: SaleRecord, *, reprint: bool = False) -> Document:
        """The receipt of ``sale`` in the store's receipt language (hardware lays it out).

        ``reprint`` marks it as a copy and keeps the drawer shut.
        """
        t = self._tr.t
        zh = self._tr.language.startswith("zh")
        store = self._store()
        lines = tuple(
            ReceiptLine(
                name=ln.name,
                quantity=_qty_text(ln.unit, ln.qty_milli),
                unit_price=format_yuan(ln.unit_price_fen) + ("/kg" if ln.unit == "kg" else ""),
                amount=format_yuan(ln.list_amount_fen),
                options=option_texts(ln),
            )
            for ln in sale.lines
        )
        # Each promotion with what it took off the whole sale, then the other discounts,
        # 抹零, and 共优惠: everything the customer saved.
        promoted: dict[str, int] = {}
        for ln in sale.lines:
            for name, fen in ln.promotion_amounts():
                promoted[name] = promoted.get(name, 0) + fen
        discounts = [
            Amount(t("receipt.promotion", name=name), format_yuan(-fen))
            for name, fen in promoted.items()
        ]
        other = sale.discount_fen - sum(promoted.values())
        if other:
            discounts.append(Amount(t("receipt.discount"), format_yuan(-other)))
        if sale.rounding_fen:
            discounts.append(Amount(t("receipt.rounding"), format_yuan(-sale.rounding_fen)))
        if promoted:
            saved = sale.discount_fen + sale.rounding_fen
            discounts.append(Amount(t("receipt.saved"), format_yuan(-saved)))
        member = sale.member
        details: list[Amount] = []
        if member is not None:
            if member.coupon_name:
                details.append(Amount(t("receipt.coupon"), member.coupon_name))
            if member.points_used:
                details.append(Amount(t("receipt.points_used"), str(member.points_used)))
            details.append(Amount(t("receipt.points_earned"), str(member.points_earned)))
            if member.points_after is not None:
                details.append(Amount(t("receipt.points_balance"), str(member.points_after)))
            if member.balance_after_fen is not None:
                details.append(
                    Amount(t("receipt.stored_value_balance"), format_yuan(member.balance_after_fen))
                )
            details.append(Amount(t("receipt.points_note"), ""))
        tenders = tuple(
            ReceiptTender(
                t(f"tender.{td.kind}"),
                format_yuan(td.tendered_fen if td.tendered_fen is not None else td.amount_fen),
                cash=td.kind == "cash",
            )
            for td in sale.tenders
        )
        receipt = Receipt(
            store_name=store.name_zh if zh else store.name_en,
            store_address=(store.address_zh if zh else store.address_en) or None,
            store_phone=store.phone or None,
            sale_reference=sale.receipt_no,
            printed_at=local_time(sale.completed_at),
            cashier=sale.cashier,
            terminal=sale.terminal_id,
            lines=lines,
            subtotal=format_yuan(sale.subtotal_fen),
            discounts=tuple(discounts),
            total=format_yuan(sale.total_fen),
            tenders=tenders,
            change=format_yuan(sale.change_fen),
            # 实收: what was handed over, printed whenever cash was (the change comes from it).
            received=format_yuan(
                sum(
                    td.tendered_fen if td.tendered_fen is not None else td.amount_fen
                    for td in sale.tenders
                )
            )
            if any(td.kind == "cash" for td in sale.tenders)
            else None,
            member=None if member is None else member.label,
            member_details=tuple(details),
            qr_payload=sale.reference,
            footer=t("receipt.thanks"),
            reprint=reprint,
            labels=ReceiptLabels(
                title=t("receipt.title"),
                phone=t("receipt.phone"),
                reprint=t("receipt.reprint"),
                number=t("receipt.number"),
                time=t("receipt.time"),
                cashier=t("receipt.cashier"),
                terminal=t("receipt.terminal"),
                subtotal=t("receipt.subtotal"),
                total=t("receipt.total"),
                change=t("receipt.change"),
                received=t("receipt.received"),
                member=t("receipt.member"),
                points_earned=t("receipt.points_earned"),
                points_balance=t("receipt.points_balance"),
            ),
        )
        return receipt_document(receipt)
