"""What the screens are handed by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from pos_app.i18n import Translator
from pos_app.services.auth import AuthService
from pos_app.services.catalog import CatalogService
from pos_app.services.checkout import CheckoutService, SaleRecord
from pos_app.services.receipts import ReceiptService
from pos_app.ui.sync_status import SyncBridge


class ReceiptJobs(QObject):
    """Prints receipts on a worker thread and reports back on the GUI thread.

    ``preview`` (may be ``None``) returns PNG bytes of what the printer last received;
    it is called on the worker thread right after a successful print.
    """

    printed = Signal(str, bytes)  # sale id, preview PNG (empty when unavailable)
    failed = Signal(str, str)  # sale id, error class name

    def __init__(
        self,
        receipts: ReceiptService,
        executor: Executor,
        preview: Callable[[], bytes | None] | None = None,
    ) -> None:
        super().__init__()
        self._receipts = receipts
        self._executor = executor
        self._preview = preview

    def submit(self, sale: SaleRecord, *, reprint: bool = False, staff: str | None = None) -> None:
        self._executor.submit(self._run, sale, reprint, staff)

    def _run(self, sale: SaleRecord, reprint: bool, staff: str | None) -> None:
        try:
            self._receipts.print_sale(sale, reprint=reprint, staff=staff)
        except Exception as exc:
            self.failed.emit(sale.id, type(exc).__name__)
            return
        png = b""
        if self._preview is not None:
            try:
                png = self._preview() or b""
            except Exception:
                png = b""
        self.printed.emit(sale.id, png)


@dataclass
class UiContext:
    translator: Translator
    auth: AuthService
    catalog: CatalogService
    checkout: CheckoutService
    receipts: ReceiptJobs
    store_name: Callable[[str], str]
    terminal_id: str
    sync: SyncBridge | None = None
    """The link to HQ, for the status bar; None on a standalone terminal."""
