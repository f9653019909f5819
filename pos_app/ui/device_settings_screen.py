"""DeviceSettingsScreen: the receipt printer and the scanners, for store managers.

The printer: how it is reached (network, serial, USB, device file or the built-in
virtual printer) and what it can do (paper width, characters per line, cutter, QR
drawn by the printer or sent as an image, GB18030 or GBK). Save applies the settings
at once; Test page prints through the print queue like any receipt, and the result
comes back here. Scanners: the keyboard-wedge timing, a prefix/suffix, a serial
scanner; a scan while this screen is open shows what arrived, to check the setup.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from pos_app.services.auth import StaffMember
from pos_app.services.device_settings import (
    BACKENDS,
    BAUD_RATES,
    PrinterSettings,
    ScannerSettings,
)
from pos_app.services.errors import ServiceError
from pos_app.services.printing import JobNotPrinted, PrintJobInfo
from pos_app.services.types import PROFILES
from pos_app.ui.context import UiContext
from pos_app.ui.devices_screen import problem_text
from pos_app.ui.errors import error_text, system_text
from pos_app.ui.widgets import Banner, TouchButton
from sync_client.contract.money import format_yuan


def _line(name: str, placeholder: str = "") -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setPlaceholderText(placeholder)
    return edit


def _combo(name: str, items: list[tuple[str, object]]) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    combo.setMinimumHeight(48)
    for text, data in items:
        combo.addItem(text, data)
    return combo


def _select(combo: QComboBox, data: object) -> None:
    index = combo.findData(data)
    if index >= 0:
        combo.setCurrentIndex(index)


class DeviceSettingsScreen(QWidget):
    """Printer and scanner settings. Runs on the GUI thread; only a manager opens it."""

    back_requested = Signal()
    scanners_saved = Signal(object)  # ScannerSettings

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DeviceSettingsScreen")
        self.ctx = ctx
        self.staff: StaffMember | None = None
        self._test_waiting = False
        root = QVBoxLayout(self)
        self.title = QLabel()
        self.title.setProperty("role", "grand")
        root.addWidget(self.title)
        # The two setting boxes scroll on a small panel; the title and Save stay in sight.
        body = QWidget()
        body.setObjectName("settings_body")
        columns = QHBoxLayout(body)
        columns.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setObjectName("settings_scroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        root.addWidget(scroll, 1)

        # -- printer ----------------------------------------------------------------
        self.printer_box = QGroupBox()
        printer = QVBoxLayout(self.printer_box)
        columns.addWidget(self.printer_box, 3)
        backend_row = QHBoxLayout()
        self.backend_group = QButtonGroup(self)
        self.backend_group.setExclusive(True)
        self.backend_buttons: dict[str, TouchButton] = {}
        for i, backend in enumerate(BACKENDS):
            b = TouchButton()
            b.setObjectName(f"backend_{backend}")
            b.setCheckable(True)
            self.backend_group.addButton(b, i)
            backend_row.addWidget(b)
            self.backend_buttons[backend] = b
        self.backend_group.idClicked.connect(self._on_backend_clicked)
        printer.addLayout(backend_row)

        self.connection = QStackedWidget()
        self.connection.setObjectName("connection_fields")
        self.virtual_note = QLabel()
        self.virtual_note.setWordWrap(True)
        virtual_page = QWidget()
        QVBoxLayout(virtual_page).addWidget(self.virtual_note)
        network_page = QWidget()
        network = QGridLayout(network_page)
        self.host = _line("printer_host", "192.168.1.50")
        self.port = QSpinBox()
        self.port.setObjectName("printer_port")
        self.port.setRange(1, 65535)
        self.port.setValue(9100)
        self.host_label, self.port_label = QLabel(), QLabel()
        network.addWidget(self.host_label, 0, 0)
        network.addWidget(self.host, 0, 1)
        network.addWidget(self.port_label, 1, 0)
        network.addWidget(self.port, 1, 1)
        serial_page = QWidget()
        serial = QGridLayout(serial_page)
        self.serial_device = _line("printer_serial_device", "/dev/ttyUSB0")
        self.baudrate = _combo("printer_baudrate", [(str(b), b) for b in BAUD_RATES])
        self.serial_label, self.baud_label = QLabel(), QLabel()
        serial.addWidget(self.serial_label, 0, 0)
        serial.addWidget(self.serial_device, 0, 1)
        serial.addWidget(self.baud_label, 1, 0)
        serial.addWidget(self.baudrate, 1, 1)
        usb_page = QWidget()
        usb = QGridLayout(usb_page)
        self.usb_vendor = _line("usb_vendor_id", "0x0416")
        self.usb_product = _line("usb_product_id", "0x5011")
        self.vendor_label, self.product_label = QLabel(), QLabel()
        usb.addWidget(self.vendor_label, 0, 0)
        usb.addWidget(self.usb_vendor, 0, 1)
        usb.addWidget(self.product_label, 1, 0)
        usb.addWidget(self.usb_product, 1, 1)
        file_page = QWidget()
        file = QGridLayout(file_page)
        self.file_path = _line("printer_path", "/dev/usb/lp0")
        self.path_label = QLabel()
        file.addWidget(self.path_label, 0, 0)
        file.addWidget(self.file_path, 0, 1)
        self._pages = {
            "virtual": virtual_page,
            "network": network_page,
            "serial": serial_page,
            "usb": usb_page,
            "file": file_page,
        }
        for page in self._pages.values():
            self.connection.addWidget(page)
        printer.addWidget(self.connection)

        model = QGridLayout()
        self.profile = _combo("printer_profile", [(name, name) for name in PROFILES])
        self.profile.activated.connect(self._on_profile_activated)
        self.paper = _combo("paper_width", [("58 mm", 58), ("80 mm", 80)])
        self.paper.activated.connect(self._on_paper_activated)
        self.columns = QSpinBox()
        self.columns.setObjectName("columns")
        self.columns.setRange(16, 64)
        self.cutter = QCheckBox()
        self.cutter.setObjectName("cutter")
        self.qr = _combo("qr_mode", [("", "native"), ("", "raster")])
        self.encoding = _combo("encoding", [("GB18030", "gb18030"), ("GBK", "gbk")])
        self.model_labels: dict[str, QLabel] = {}
        for row, (key, widget) in enumerate(
            (
                ("profile", self.profile),
                ("paper", self.paper),
                ("columns", self.columns),
                ("cutter", self.cutter),
                ("qr", self.qr),
                ("encoding", self.encoding),
            )
        ):
            label = QLabel()
            self.model_labels[key] = label
            model.addWidget(label, row, 0)
            model.addWidget(widget, row, 1)
        printer.addLayout(model)
        printer.addStretch(1)

        # -- scanners ---------------------------------------------------------------
        self.scanner_box = QGroupBox()
        scanner = QGridLayout(self.scanner_box)
        columns.addWidget(self.scanner_box, 2)
        self.threshold = QSpinBox()
        self.threshold.setObjectName("wedge_threshold")
        self.threshold.setRange(5, 200)
        self.threshold.setSuffix(" ms")
        self.prefix = _line("scan_prefix")
        self.suffix = _line("scan_suffix")
        self.serial_scanner = _line("serial_scanner", "/dev/ttyACM0")
        self.scanner_baud = _combo("serial_scanner_baud", [(str(b), b) for b in BAUD_RATES])
        self.scanner_labels: dict[str, QLabel] = {}
        for row, (key, widget) in enumerate(
            (
                ("threshold", self.threshold),
                ("prefix", self.prefix),
                ("suffix", self.suffix),
                ("serial", self.serial_scanner),
                ("baud", self.scanner_baud),
            )
        ):
            label = QLabel()
            self.scanner_labels[key] = label
            scanner.addWidget(label, row, 0)
            scanner.addWidget(widget, row, 1)
        self.last_scan = QLabel()
        self.last_scan.setObjectName("last_scan")
        self.last_scan.setWordWrap(True)
        scanner.addWidget(self.last_scan, 5, 0, 1, 2)
        # The test scan: how a scale label reads with the store's layouts (HQ's setting).
        self.label_reading = QLabel()
        self.label_reading.setObjectName("label_reading")
        self.label_reading.setWordWrap(True)
        scanner.addWidget(self.label_reading, 6, 0, 1, 2)
        scanner.setRowStretch(7, 1)

        self.banner = Banner()
        self.banner.setObjectName("settings_banner")
        root.addWidget(self.banner)
        buttons = QHBoxLayout()
        self.save = TouchButton(role="primary")
        self.save.setObjectName("save_settings")
        self.save.clicked.connect(self._on_save_clicked)
        self.test_page = TouchButton()
        self.test_page.setObjectName("test_page")
        self.test_page.clicked.connect(self._on_test_page_clicked)
        self.back = TouchButton()
        self.back.setObjectName("settings_back")
        self.back.clicked.connect(self.back_requested)
        for b in (self.save, self.test_page, self.back):
            buttons.addWidget(b)
        root.addLayout(buttons)

        ctx.hardware.job_printed.connect(self._on_job_printed)
        ctx.hardware.job_not_printed.connect(self._on_job_not_printed)
        self.retranslate()

    # -- showing ---------------------------------------------------------------------
    def open_for(self, staff: StaffMember) -> None:
        """Fills the form from the saved settings for ``staff`` (a manager)."""
        self.staff = staff
        self._test_waiting = False
        self.banner.clear_message()
        self.last_scan.setText(self.ctx.translator.t("settings.scan_to_test"))
        self.load(self.ctx.device_settings.printer(), self.ctx.device_settings.scanners())

    def load(self, printer: PrinterSettings, scanners: ScannerSettings) -> None:
        self._set_backend(printer.backend)
        self.host.setText(printer.host)
        self.port.setValue(printer.port)
        self.serial_device.setText(printer.serial_device)
        _select(self.baudrate, printer.baudrate)
        self.usb_vendor.setText(printer.usb_vendor_id)
        self.usb_product.setText(printer.usb_product_id)
        self.file_path.setText(printer.path)
        _select(self.profile, printer.profile)
        _select(self.paper, printer.paper_mm)
        self.columns.setValue(printer.columns)
        self.cutter.setChecked(printer.cutter)
        _select(self.qr, printer.qr)
        _select(self.encoding, printer.encoding)
        self.threshold.setValue(scanners.wedge_threshold_ms)
        self.prefix.setText(scanners.prefix)
        self.suffix.setText(scanners.suffix)
        self.serial_scanner.setText(scanners.serial_device)
        _select(self.scanner_baud, scanners.serial_baudrate)

    def retranslate(self) -> None:
        t = self.ctx.translator.t
        self.title.setText(t("settings.title"))
        self.printer_box.setTitle(t("settings.printer"))
        self.scanner_box.setTitle(t("settings.scanners"))
        for backend, button in self.backend_buttons.items():
            button.setText(t(f"settings.backend.{backend}"))
        self.virtual_note.setText(t("settings.virtual_note"))
        self.host_label.setText(t("settings.host"))
        self.port_label.setText(t("settings.port"))
        self.serial_label.setText(t("settings.serial_device"))
        self.baud_label.setText(t("settings.baudrate"))
        self.vendor_label.setText(t("settings.usb_vendor"))
        self.product_label.setText(t("settings.usb_product"))
        self.path_label.setText(t("settings.path"))
        for key, label in self.model_labels.items():
            label.setText(t(f"settings.{key}"))
        self.cutter.setText(t("settings.cutter_present"))
        self.qr.setItemText(0, t("settings.qr_native"))
        self.qr.setItemText(1, t("settings.qr_raster"))
        for key, label in self.scanner_labels.items():
            label.setText(t(f"settings.scanner_{key}"))
        self.serial_scanner.setPlaceholderText(t("settings.serial_scanner_none"))
        self.save.setText(t("settings.save"))
        self.test_page.setText(t("settings.test_page"))
        self.back.setText(t("common.back"))

    def show_scan(self, code: str) -> None:
        """A scan arrived while the screen is open: show it, to check the scanner."""
        self.last_scan.setText(self.ctx.translator.t("settings.last_scan", code=code))
        self.label_reading.setText(self._label_text(code))

    def _label_text(self, code: str) -> str:
        """How checkout reads ``code``: the scale layout and its fields, or why not."""
        t = self.ctx.translator.t
        try:
            reading = self.ctx.catalog.read_label(code)
        except ServiceError as exc:
            return error_text(self.ctx.translator, exc)
        zh = self.ctx.translator.language.startswith("zh")
        name = (reading.name_zh if zh or not reading.name_en else reading.name_en) or t(
            "settings.label_no_item"
        )
        if reading.layout is None:
            return t("settings.label_not_scale", key=reading.lookup_key, name=name)
        parts = [
            t("settings.label_layout", layout=reading.layout, plu=reading.item_code, name=name)
        ]
        if reading.price_fen is not None:
            parts.append(t("settings.label_price", amount=format_yuan(reading.price_fen)))
        if reading.weight_g is not None:
            parts.append(t("settings.label_weight", kg=f"{reading.weight_g / 1000:.3f}"))
        if reading.count is not None:
            parts.append(t("settings.label_count", count=reading.count))
        return t("settings.label_sep").join(parts)

    # -- the form ----------------------------------------------------------------------
    @property
    def backend(self) -> str:
        checked = self.backend_group.checkedId()
        return BACKENDS[checked] if checked >= 0 else "virtual"

    def _set_backend(self, backend: str) -> None:
        self.backend_buttons.get(backend, self.backend_buttons["virtual"]).setChecked(True)
        self.connection.setCurrentWidget(self._pages.get(backend, self._pages["virtual"]))

    def _on_backend_clicked(self, index: int) -> None:
        self._set_backend(BACKENDS[index])

    def _on_profile_activated(self, _index: int) -> None:
        base = PrinterSettings.from_profile(str(self.profile.currentData()))
        _select(self.paper, base.paper_mm)
        self.columns.setValue(base.columns)
        self.cutter.setChecked(base.cutter)
        _select(self.qr, base.qr)
        _select(self.encoding, base.encoding)

    def _on_paper_activated(self, _index: int) -> None:
        self.columns.setValue(48 if self.paper.currentData() == 80 else 32)

    def printer_settings(self) -> PrinterSettings:
        return PrinterSettings(
            backend=self.backend,
            host=self.host.text().strip(),
            port=self.port.value(),
            serial_device=self.serial_device.text().strip(),
            baudrate=int(self.baudrate.currentData()),
            usb_vendor_id=self.usb_vendor.text().strip(),
            usb_product_id=self.usb_product.text().strip(),
            path=self.file_path.text().strip(),
            profile=str(self.profile.currentData()),
            paper_mm=int(self.paper.currentData()),
            columns=self.columns.value(),
            cutter=self.cutter.isChecked(),
            qr=str(self.qr.currentData()),
            encoding=str(self.encoding.currentData()),
        )

    def scanner_settings(self) -> ScannerSettings:
        return ScannerSettings(
            wedge_threshold_ms=self.threshold.value(),
            prefix=self.prefix.text(),
            suffix=self.suffix.text(),
            serial_device=self.serial_scanner.text().strip(),
            serial_baudrate=int(self.scanner_baud.currentData()),
        )

    def _save(self) -> bool:
        if self.staff is None:
            return False
        try:
            self.ctx.device_settings.save_printer(self.printer_settings(), self.staff)
            scanners = self.ctx.device_settings.save_scanners(self.scanner_settings(), self.staff)
        except ServiceError as exc:
            self.banner.show_message(error_text(self.ctx.translator, exc), "error")
            return False
        self.scanners_saved.emit(scanners)
        return True

    def _on_save_clicked(self) -> None:
        if self._save():
            self.banner.show_message(self.ctx.translator.t("settings.saved"), "info")

    def _on_test_page_clicked(self) -> None:
        if self.staff is None or not self._save():
            return
        self._test_waiting = True
        self.ctx.printing.print_test_page(self.staff.number)
        self.banner.show_message(self.ctx.translator.t("settings.test_printing"), "info")

    # -- results -----------------------------------------------------------------------
    def _on_job_printed(self, job: PrintJobInfo, _png: bytes) -> None:
        if self._test_waiting and job.kind == "test_page":
            self._test_waiting = False
            self.banner.show_message(self.ctx.translator.t("settings.test_printed"), "info")

    def _on_job_not_printed(self, event: JobNotPrinted) -> None:
        if not self._test_waiting:
            return
        t = self.ctx.translator.t
        problem = problem_text(self.ctx, event.problem)
        detail = system_text(self.ctx.translator, event.message)
        if event.job.kind == "test_page":
            text = t("settings.test_failed", problem=problem, detail=detail)
        else:
            text = t("settings.test_blocked", problem=problem, detail=detail)
        self.banner.show_message(text, "error")
