"""Cup labels (杯贴): one label per cup of a paid order, for the staff making the drinks.

When a label printer is configured (device setting ``label_printer``), every committed
sale with drinks (lines with options) queues one label per cup. Labels print on this
module's own worker thread, best effort: a label printer that is off, out of labels or
misconfigured is reported on the device board and logged, and the sale, its receipt and
the screen never wait for it or hear of it. Labels are not durable: a label lost to a
crash or a failing printer is written by hand (the receipt lists the options too).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from zoneinfo import ZoneInfo

from hardware import CupLabel, Document, cup_label_document
from pos_app.localdb.sales import SaleRecord
from pos_app.services.devices import DeviceBoard
from pos_app.services.ports import ReceiptPrinter
from pos_app.services.printing import problem_code

__all__ = ["LABEL_PRINTER", "CupLabelService", "cup_labels"]

log = logging.getLogger("chainpos.labels")

LABEL_PRINTER = "label_printer"
"""The label printer's key on the device board."""

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
MAX_LABELS_PER_SALE = 200


def order_number(receipt_no: str) -> str:
    """The number called out for an order: the receipt's running number, last 4 digits
    (``S001-T01-000042`` -> ``0042``)."""
    tail = receipt_no.rsplit("-", 1)[-1]
    return tail[-4:] if tail.isdigit() else receipt_no


def cup_labels(sale: SaleRecord, store_name: str | None = None) -> list[CupLabel]:
    """One label per cup: each piece of each line with options (drinks), in cart order."""
    drinks = [ln for ln in sale.lines if ln.options_json is not None and ln.unit == "piece"]
    cups = [(ln, n) for ln in drinks for n in range(ln.qty_milli // 1000)]
    total = len(cups)
    when = sale.completed_at.astimezone(LOCAL_TZ).strftime("%H:%M")
    number = order_number(sale.receipt_no)
    return [
        CupLabel(
            order_no=number,
            drink=ln.name,
            options=tuple(ln.option_names()),
            cup=f"{i}/{total}",
            time=when,
            store=store_name,
        )
        for i, (ln, _) in enumerate(cups[:MAX_LABELS_PER_SALE], start=1)
    ]


class CupLabelService:
    """Prints cup labels on its own thread (the only one that talks to the label printer).

    ``factory`` makes the printer (called on the worker, so a driver loads there);
    ``store_name`` is printed at the foot of each label."""

    def __init__(
        self,
        factory: Callable[[], ReceiptPrinter],
        devices: DeviceBoard,
        name: str,
        store_name: str | None = None,
    ) -> None:
        self._factory = factory
        self._devices = devices
        self._store_name = store_name
        self._printer: ReceiptPrinter | None = None
        self._jobs: queue.Queue[list[Document] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.printed = 0
        """Labels printed since start (for the device panel and tests)."""
        self.failed = 0
        """Labels that could not print."""
        devices.register(LABEL_PRINTER, LABEL_PRINTER, name)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cup-labels", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the worker after the labels already queued (joins it)."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout)
            self._thread = None

    def sale_completed(self, sale: object) -> int:
        """Queues the labels of a committed sale; returns how many. Never raises: the sale
        is done whatever happens to its labels."""
        if not isinstance(sale, SaleRecord):
            return 0
        try:
            docs = [cup_label_document(label) for label in cup_labels(sale, self._store_name)]
        except Exception:  # a label is never worth failing a sale over
            log.exception("cup labels of %s not laid out", sale.receipt_no)
            return 0
        if docs:
            self._jobs.put(docs)
        return len(docs)

    def _run(self) -> None:
        while True:
            docs = self._jobs.get()
            if docs is None:
                return
            for doc in docs:
                self._print(doc)

    def _print(self, doc: Document) -> None:
        try:
            if self._printer is None:
                self._printer = self._factory()
            self._printer.print_document(doc)
        except Exception as exc:  # off, out of labels, misconfigured: report and go on
            self.failed += 1
            self._printer = None
            code = problem_code(exc)
            log.warning("cup label not printed: %s: %s", code, exc)
            self._devices.report_problem(LABEL_PRINTER, code, str(exc))
            return
        self.printed += 1
        self._devices.report_ok(LABEL_PRINTER, used=True)
