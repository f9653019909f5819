"""Receipts: the printable document of a sale, printing and reprinting."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from hardware import Align, Columns, Document, Item, QRCode, Rule, Text
from pos_app.domain.cart import MILLI
from pos_app.domain.money import format_yuan
from pos_app.i18n import Translator
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.sales import SaleRecord
from pos_app.localdb.store import StoreInfo, audit, get_store
from pos_app.services.ports import Clock, ReceiptPrinter

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def _qty_text(unit: str, qty_milli: int) -> str:
    if unit == "kg":
        return f"{qty_milli / MILLI:.3f}kg"
    return str(qty_milli // MILLI)


def local_time(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


class ReceiptService:
    """Builds receipts in the store's receipt language and sends them to the printer.

    ``print_sale`` blocks while the printer works: callers run it off the GUI thread.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        printer: ReceiptPrinter,
        store_code: str,
        language: str = "zh_CN",
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._printer = printer
        self._store_code = store_code
        self._tr = Translator(language)

    def _store(self) -> StoreInfo:
        with read_session(self._engine) as session:
            store = get_store(session, self._store_code)
        return store or StoreInfo(self._store_code, self._store_code, self._store_code, "", "", "")

    def document(self, sale: SaleRecord, *, reprint: bool = False) -> Document:
        t = self._tr.t
        zh = self._tr.language.startswith("zh")
        store = self._store()
        blocks: list = [
            Text(store.name_zh if zh else store.name_en, Align.CENTER, bold=True, double=True),
        ]
        address = store.address_zh if zh else store.address_en
        if address:
            blocks.append(Text(address, Align.CENTER))
        if store.phone:
            blocks.append(Text(f"{t('receipt.phone')}: {store.phone}", Align.CENTER))
        blocks.append(Text(t("receipt.title"), Align.CENTER, bold=True))
        if reprint:
            blocks.append(Text(t("receipt.reprint"), Align.CENTER, bold=True))
        blocks += [
            Rule(),
            Columns(t("receipt.number"), sale.receipt_no),
            Columns(t("receipt.time"), local_time(sale.completed_at)),
            Columns(t("receipt.cashier"), sale.cashier),
            Columns(t("receipt.terminal"), sale.terminal_id),
            Rule(),
        ]
        for ln in sale.lines:
            unit_price = format_yuan(ln.unit_price_fen) + ("/kg" if ln.unit == "kg" else "")
            blocks.append(
                Item(
                    ln.name,
                    f"{_qty_text(ln.unit, ln.qty_milli)} × {unit_price}",
                    format_yuan(ln.list_amount_fen),
                )
            )
            if ln.discount_fen:
                blocks.append(
                    Columns(f"  {t('receipt.line_discount')}", format_yuan(-ln.discount_fen))
                )
        item_count = sum(ln.qty_milli // MILLI if ln.unit == "piece" else 1 for ln in sale.lines)
        blocks += [
            Rule(),
            Columns(t("receipt.item_count"), str(item_count)),
            Columns(t("receipt.subtotal"), format_yuan(sale.subtotal_fen)),
        ]
        if sale.discount_fen:
            blocks.append(Columns(t("receipt.discount"), format_yuan(-sale.discount_fen)))
        if sale.rounding_fen:
            blocks.append(Columns(t("receipt.rounding"), format_yuan(-sale.rounding_fen)))
        blocks.append(Columns(t("receipt.total"), format_yuan(sale.total_fen), bold=True))
        blocks.append(Rule())
        for tender in sale.tenders:
            label = t(f"tender.{tender.kind}")
            shown = tender.tendered_fen if tender.tendered_fen is not None else tender.amount_fen
            blocks.append(Columns(label, format_yuan(shown)))
        blocks.append(Columns(t("receipt.change"), format_yuan(sale.change_fen), bold=True))
        blocks += [
            Rule(),
            QRCode(sale.reference, t("receipt.qr_caption")),
            Text(t("receipt.thanks"), Align.CENTER),
        ]
        opens_drawer = not reprint and any(td.kind == "cash" for td in sale.tenders)
        return Document(tuple(blocks), cut=True, open_drawer=opens_drawer)

    def print_sale(
        self, sale: SaleRecord, *, reprint: bool = False, staff: str | None = None
    ) -> None:
        """Prints a receipt; a reprint is audited and never opens the drawer.

        Raises:
            hardware.PrinterError: the printer failed; the sale itself is unaffected.
        """
        if reprint:
            with write_session(self._engine) as session:
                audit(
                    session,
                    self._clock.now(),
                    staff,
                    "receipt.reprint",
                    sale_id=sale.id,
                    receipt_no=sale.receipt_no,
                )
                session.commit()
        self._printer.print_document(self.document(sale, reprint=reprint))
