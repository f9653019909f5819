"""What the screens are handed by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from pos_app.i18n import Translator
from pos_app.services.auth import AuthService
from pos_app.services.catalog import CatalogService
from pos_app.services.checkout import CheckoutService
from pos_app.services.device_settings import DeviceSettingsService
from pos_app.services.devices import DeviceBoard, DeviceState
from pos_app.services.members import MemberService
from pos_app.services.menu import MenuService
from pos_app.services.payments import PaymentService
from pos_app.services.pickups import PickupService
from pos_app.services.printing import (
    DrawerResult,
    JobNotPrinted,
    JobPrinted,
    PrintEvent,
    PrintQueue,
    QueueChanged,
)
from pos_app.services.returns import ReturnService
from pos_app.services.scanners import ScannerHub
from pos_app.services.shifts import ShiftService
from pos_app.services.stock import StockService
from pos_app.services.types import PrinterProfile
from pos_app.ui.sync_status import SyncBridge

Preview = Callable[[bytes, PrinterProfile], bytes]


class HardwareEvents(QObject):
    """Brings reports of the print worker, the device board and the serial scanners to
    the GUI thread as Qt signals.

    The services call the ``_on_*`` methods on their own threads; emitting a signal of
    this object (which lives in the GUI thread) queues the call to the connected slots.
    Only frozen dataclasses travel. ``preview`` draws a printed job as PNG; it runs on
    the print worker, never on the GUI thread.
    """

    job_printed = Signal(object, bytes)  # PrintJobInfo, preview PNG (empty: none)
    job_not_printed = Signal(object)  # JobNotPrinted
    queue_changed = Signal(object)  # QueueState
    drawer_result = Signal(object)  # DrawerResult
    devices_changed = Signal(object)  # tuple[DeviceState, ...]
    serial_scanned = Signal(str)

    def __init__(
        self,
        printing: PrintQueue,
        devices: DeviceBoard,
        scanners: ScannerHub,
        preview: Preview | None = None,
    ) -> None:
        super().__init__()
        self._printing, self._devices, self._scanners = printing, devices, scanners
        self._preview = preview
        printing.subscribe(self._on_print_event)
        devices.subscribe(self._on_devices)
        scanners.subscribe(self._on_serial_scan)

    def detach(self) -> None:
        """Stops listening (before the window goes away while services keep running)."""
        self._printing.unsubscribe(self._on_print_event)
        self._devices.unsubscribe(self._on_devices)
        self._scanners.unsubscribe(self._on_serial_scan)

    def _on_print_event(self, event: PrintEvent) -> None:
        if isinstance(event, JobPrinted):
            png = b""
            if self._preview is not None and event.job.kind in ("receipt", "return", "test_page"):
                try:
                    png = self._preview(event.data, event.profile)
                except Exception:
                    png = b""
            self.job_printed.emit(event.job, png)
        elif isinstance(event, JobNotPrinted):
            self.job_not_printed.emit(event)
        elif isinstance(event, QueueChanged):
            self.queue_changed.emit(event.state)
        elif isinstance(event, DrawerResult):
            self.drawer_result.emit(event)

    def _on_devices(self, states: tuple[DeviceState, ...]) -> None:
        self.devices_changed.emit(states)

    def _on_serial_scan(self, code: str, _source: str) -> None:
        self.serial_scanned.emit(code)


@dataclass
class UiContext:
    translator: Translator
    auth: AuthService
    catalog: CatalogService
    checkout: CheckoutService
    printing: PrintQueue
    devices: DeviceBoard
    device_settings: DeviceSettingsService
    hardware: HardwareEvents
    store_name: Callable[[str], str]
    terminal_id: str
    sync: SyncBridge | None = None
    """The link to HQ, for the status bar; None on a standalone terminal."""
    members: MemberService | None = None
    """Members (identify, holds, sign-up, top-up); None on a standalone terminal."""
    returns: ReturnService | None = None
    """Returns and refunds (the return screen); None hides the screen."""
    stock: StockService | None = None
    """Stock across the chain (the 库存 screens); None hides the button."""
    shifts: ShiftService | None = None
    """Shifts and handover; None hides the shift screens."""
    pickups: PickupService | None = None
    """Online orders: the reserved-stock warning and the 待自提 list; None hides them."""
    payments: PaymentService | None = None
    """Payment codes on the payment screen; None: the store has no gateway configured."""
    payment_worker: Executor | None = None
    """Where the payment service's blocking gateway calls run (never the GUI thread)."""
    menu: MenuService | None = None
    """The menu's tiles, drink options and sold-out marks; None hides the tiles."""
