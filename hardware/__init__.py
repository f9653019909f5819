"""Store hardware for ChainPOS: receipt printers, the cash drawer, a virtual printer.

Qt-free and app-free: this package imports only the standard library,
python-escpos, qrcode, Pillow and pyserial. Describe a printout as a
:class:`Document` (or build one with :func:`receipt_document`), turn it into bytes
for a :class:`PrinterProfile` with :func:`render`, and send it with a
:class:`Printer`. :func:`decode` reads bytes back the way a printer would;
:func:`render_preview` draws them; :class:`VirtualPrinter` stands in for a network
printer in the demo and in tests. :class:`SerialScanner` reads a serial barcode scanner
on its own thread.

Every error is a :class:`HardwareError`; printer errors are :class:`PrinterError`.
"""

from typing import TYPE_CHECKING, Any

from hardware._decode import (
    Cut,
    Decoded,
    DotFeed,
    DrawerKick,
    Line,
    NativeQR,
    RasterImage,
    Run,
    UnknownCommand,
    decode,
)
from hardware._document import (
    Align,
    Block,
    Columns,
    Document,
    Feed,
    Item,
    QRCode,
    Rule,
    Text,
    document_from_dict,
    document_to_dict,
)
from hardware._exceptions import (
    CoverOpen,
    HardwareError,
    PaperOut,
    PrinterConfigError,
    PrinterError,
    PrinterOffline,
    PrinterTimeout,
    StatusUnavailable,
)
from hardware._label import CupLabel, cup_label_document
from hardware._layout import drawer_kick, receipt_test_page, render
from hardware._profiles import PROFILES, PrinterProfile, get_profile
from hardware._receipt import (
    Amount,
    HandoverSlip,
    Receipt,
    ReceiptLabels,
    SaleLine,
    Tender,
    handover_document,
    receipt_document,
)
from hardware._status import PrinterStatus
from hardware._text import FALLBACK, display_width, encode_text, print_width, to_printable, wrap
from hardware._virtual import VirtualPrinter

__all__ = [
    "FALLBACK",
    "PROFILES",
    "Align",
    "Amount",
    "Block",
    "Columns",
    "Connection",
    "CoverOpen",
    "CupLabel",
    "Cut",
    "Decoded",
    "Document",
    "DotFeed",
    "DrawerKick",
    "Feed",
    "FileConnection",
    "HandoverSlip",
    "HardwareError",
    "Item",
    "Line",
    "NativeQR",
    "NetworkConnection",
    "PaperOut",
    "Printer",
    "PrinterConfigError",
    "PrinterError",
    "PrinterOffline",
    "PrinterProfile",
    "PrinterStatus",
    "PrinterTimeout",
    "QRCode",
    "RasterImage",
    "Receipt",
    "ReceiptLabels",
    "Rule",
    "Run",
    "SaleLine",
    "ScannerState",
    "SerialConnection",
    "SerialScanner",
    "SerialScannerConfig",
    "StatusUnavailable",
    "Tender",
    "Text",
    "UnknownCommand",
    "UsbConnection",
    "VirtualPrinter",
    "connection_from_settings",
    "cup_label_document",
    "decode",
    "display_width",
    "document_from_dict",
    "document_to_dict",
    "drawer_kick",
    "encode_text",
    "get_profile",
    "handover_document",
    "print_width",
    "receipt_document",
    "receipt_test_page",
    "render",
    "render_preview",
    "to_printable",
    "wrap",
]


# The real-printer driver pulls in python-escpos, whose capability database takes about
# 0.2 s to load; it is imported on first use so a terminal starts without paying for it.
# The serial scanner (pyserial) is loaded the same way.
_BACKENDS = {
    "Connection",
    "FileConnection",
    "NetworkConnection",
    "Printer",
    "SerialConnection",
    "UsbConnection",
    "connection_from_settings",
}
_SCANNER = {"ScannerState", "SerialScanner", "SerialScannerConfig"}
# The preview draws with Pillow (tens of ms to import): loaded when a preview is drawn.
_PREVIEW = {"render_preview"}

if TYPE_CHECKING:
    from hardware._backends import (
        Connection,
        FileConnection,
        NetworkConnection,
        Printer,
        SerialConnection,
        UsbConnection,
        connection_from_settings,
    )
    from hardware._preview import render_preview
    from hardware._scanner import ScannerState, SerialScanner, SerialScannerConfig


def __getattr__(name: str) -> Any:
    if name in _BACKENDS:
        from hardware import _backends

        return getattr(_backends, name)
    if name in _SCANNER:
        from hardware import _scanner

        return getattr(_scanner, name)
    if name in _PREVIEW:
        from hardware import _preview

        return getattr(_preview, name)
    raise AttributeError(f"module 'hardware' has no attribute {name!r}")
