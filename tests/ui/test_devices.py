"""Store hardware on the real screens: receipts that did not print, the device panel,
the manager's printer and scanner settings, the no-sale drawer, a serial scanner.

Printing goes to the terminal's built-in virtual printer over loopback TCP (or a second
virtual printer the manager points the terminal at); what it received is decoded.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from PySide6.QtCore import QBuffer, QIODevice
from PySide6.QtWidgets import QApplication
from sqlalchemy import text

from hardware import Decoded, VirtualPrinter, decode
from pos_app.app import Terminal, build_terminal, build_window, install_scan_filter
from pos_app.domain.ids import verify_sale_ref
from pos_app.localdb.engine import read_session
from pos_app.ui.dialogs import ApprovalDialog
from pos_app.ui.main_window import MainWindow
from tests.support import FakeClock
from tests.ui.helpers import choose, scan, sign_in, tap, type_text, when_dialog

TARO = "6954321100014"
WAIT = 10_000


def _read(terminal: Terminal, data: bytes) -> Decoded:
    profile = terminal.device_settings.printer().printer_profile()
    return decode(data, profile.encoding, chinese_at_power_on=not profile.chinese_mode)


def _sell_taro_for_cash(qtbot, window: MainWindow, clock: FakeClock) -> None:
    scan(qtbot, window, clock, TARO)
    tap(qtbot, window.checkout.pay)
    tap(qtbot, window.tender.quick_buttons[0])
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done)


def _device_row(window: MainWindow, label: str) -> list[str]:
    table = window.devices_screen.device_table
    for row in range(table.rowCount()):
        if table.item(row, 0).text() == label:
            return [table.item(row, c).text() for c in range(table.columnCount())]
    raise AssertionError(f"no device row {label!r}")


@pytest.fixture
def other_printer() -> Iterator[VirtualPrinter]:
    printer = VirtualPrinter()
    yield printer
    printer.stop()


def test_receipt_not_printed_stays_in_sight_and_prints_by_itself(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """Scenario 8 on screen. GIVEN a printer out of paper
    WHEN a cashier takes a cash sale
    THEN the done screen says paid but not printed, because of the paper, and a red
    "1 receipt not printed" button stays in the top bar on every screen; the device
    panel shows the printer offline, out of paper, and the receipt waiting
    AND WHEN the roll is changed THEN, without any tap, the receipt prints once, complete,
    the button goes away and the panel shows the printer online."""
    printer = terminal.virtual_printer
    printer.set_paper_out(True)
    sign_in(qtbot, window)
    _sell_taro_for_cash(qtbot, window, scan_clock)
    qtbot.waitUntil(
        lambda: window.done.print_status.text().startswith("已收款，小票未打印（缺纸）"),
        timeout=WAIT,
    )
    assert window.done.print_again.isVisible()
    qtbot.waitUntil(lambda: window.unprinted_button.isVisible(), timeout=WAIT)
    assert window.unprinted_button.text().startswith("未打印小票 1 张")
    tap(qtbot, window.done.next_sale)
    assert window.unprinted_button.isVisible()

    tap(qtbot, window.unprinted_button)
    assert window.stack.currentWidget() is window.devices_screen
    status = _device_row(window, "小票打印机")[2]
    assert status.startswith("离线: 缺纸")
    sale = terminal.checkout.last_sale()
    assert sale is not None
    jobs = window.devices_screen.job_table
    assert jobs.rowCount() == 1 and sale.receipt_no in jobs.item(0, 0).text()
    assert jobs.item(0, 1).text() == "等待打印"

    printer.set_paper_out(False)
    qtbot.waitUntil(lambda: not window.unprinted_button.isVisible(), timeout=WAIT)
    qtbot.waitUntil(lambda: _device_row(window, "小票打印机")[2].startswith("在线"))
    assert "缺纸" in _device_row(window, "小票打印机")[3]  # the last error stays listed
    assert jobs.rowCount() == 0
    (receipt,) = [_read(terminal, j) for j in printer.jobs]
    assert sale.receipt_no in receipt.text and len(receipt.cuts) == 1
    assert "重印" not in receipt.text
    tap(qtbot, window.devices_screen.back)
    assert window.stack.currentWidget() is window.checkout


def _assert_preview_shows_the_receipt_qr(window: MainWindow, terminal: Terminal) -> None:
    """The done screen's preview is a picture of the receipt: paper-wide, with ink, and
    its QR code reads back as this till's signed receipt code."""
    image = window.done.preview.pixmap().toImage()
    assert not image.isNull()
    assert image.width() >= terminal.device_settings.printer().printer_profile().dots // 2
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    assert image.save(buffer, "PNG")
    picture = Image.open(io.BytesIO(bytes(buffer.data()))).convert("L")
    dark = picture.histogram()[:128]
    dark_pixels = sum(dark)
    assert 0 < dark_pixels < picture.width * picture.height // 2
    (qr,) = [r.text for r in zxingcpp.read_barcodes(picture)]
    verify_sale_ref(qr, terminal.identity.receipt_secret)


def test_print_again_after_the_fault_is_cleared_prints_the_same_receipt_once(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN a receipt that did not print because the cover was open
    WHEN the cover is closed and the cashier taps Print again at once
    THEN that receipt prints once (not a copy) and the done screen says printed."""
    printer = terminal.virtual_printer
    printer.set_cover_open(True)
    sign_in(qtbot, window)
    _sell_taro_for_cash(qtbot, window, scan_clock)
    qtbot.waitUntil(lambda: "纸仓盖未关" in window.done.print_status.text(), timeout=WAIT)
    printer.set_cover_open(False)
    tap(qtbot, window.done.print_again)
    qtbot.waitUntil(lambda: window.done.print_status.text() == "小票已打印", timeout=WAIT)
    _assert_preview_shows_the_receipt_qr(window, terminal)
    qtbot.waitUntil(lambda: terminal.printing.state.unprinted == 0, timeout=WAIT)
    # Status reads while the cover was open are connections that print nothing.
    (receipt,) = [r for r in map(lambda j: _read(terminal, j), printer.jobs) if r.text or r.cuts]
    assert "重印" not in receipt.text and len(receipt.cuts) == 1


def test_receipts_left_from_before_a_restart_are_counted_and_printed(
    qtbot, qapp: QApplication, demo_db: Path, scan_clock: FakeClock
):
    """GIVEN a sale whose receipt never printed before the terminal went down
    WHEN the terminal starts with its printer out of paper
    THEN the top bar shows 1 receipt not printed from the first moment; once there is
    paper, it prints, without opening the cash drawer, and the indicator goes."""
    first = build_terminal(demo_db, start_devices=False)
    from pos_app.domain.tender import Payment

    cashier = first.auth.sign_in("1001", "1234")
    draft = first.checkout.new_draft(cashier)
    first.checkout.scan(draft, TARO)
    payment = Payment(draft.cart.totals().total_fen)
    payment.add_cash(2000)
    sale = first.checkout.complete(draft, payment)
    first.close()

    terminal = build_terminal(
        demo_db, language="zh_CN", start_devices=False, print_retry=(0.05, 0.5)
    )
    try:
        terminal.virtual_printer.set_paper_out(True)
        terminal.printing.start()
        window = build_window(terminal)
        qtbot.addWidget(window)
        scan_filter = install_scan_filter(qapp, window, scan_clock)
        window.show()
        assert window.unprinted_button.isVisible()
        assert window.unprinted_button.text().startswith("未打印小票 1 张")
        terminal.virtual_printer.set_paper_out(False)
        qtbot.waitUntil(lambda: not window.unprinted_button.isVisible(), timeout=WAIT)
        # The drawer kick sent on its own when the receipt could not start may be a job
        # of its own (if the paper came back first); the receipt prints once.
        (job,) = terminal.virtual_printer.jobs
        receipt = _read(terminal, job)
        assert sale.receipt_no in receipt.text and len(receipt.cuts) == 1
        assert receipt.drawer_kicks == []  # a sale from before the restart: drawer stays shut
        qapp.removeEventFilter(scan_filter)
    finally:
        terminal.close()


def test_a_manager_points_the_terminal_at_a_network_printer_and_prints_a_test_page(
    qtbot,
    window: MainWindow,
    terminal: Terminal,
    scan_clock: FakeClock,
    other_printer: VirtualPrinter,
):
    """GIVEN the store manager signed in
    WHEN she opens Settings, chooses Network, types the printer's address and port,
    picks the 58 mm GBK model and taps Print test page
    THEN the settings are saved and applied at once, the test page reaches that printer
    laid out for 32 columns, and the screen says it printed."""
    host, port = other_printer.serve_tcp()
    sign_in(qtbot, window, "1004", "86420")
    assert window.settings_button.isVisible()
    tap(qtbot, window.settings_button)
    screen = window.settings_screen
    assert window.stack.currentWidget() is screen
    assert screen.backend_buttons["virtual"].isChecked()
    tap(qtbot, screen.backend_buttons["network"])
    type_text(qtbot, screen.host, host, scan_clock)
    screen.port.setValue(port)
    choose(screen.profile, "generic-58-gbk")
    assert screen.columns.value() == 32 and screen.paper.currentData() == 58
    assert screen.qr.currentData() == "raster" and not screen.cutter.isChecked()
    tap(qtbot, screen.test_page)
    qtbot.waitUntil(lambda: "测试页已打印" in screen.banner.text(), timeout=WAIT)
    assert other_printer.wait_for_jobs(1)
    page = decode(other_printer.jobs[0], "gbk", chinese_at_power_on=False)
    assert "打印测试" in page.text
    assert "12345678901234567890123456789012" in page.text_lines
    saved = terminal.device_settings.printer()
    assert (saved.backend, saved.host, saved.port, saved.profile) == (
        "network",
        host,
        port,
        "generic-58-gbk",
    )
    with read_session(terminal.engine) as s:
        who = s.execute(text("SELECT staff FROM audit_log WHERE action='settings.printer'"))
        assert who.scalars().all() == ["1004"]  # Print test page saves first
    tap(qtbot, screen.back)
    assert window.stack.currentWidget() is window.checkout


def test_settings_refuse_what_cannot_work_and_cashiers_do_not_see_them(
    qtbot, window: MainWindow, terminal: Terminal
):
    """GIVEN the manager choosing Network without an address THEN Save explains the
    problem and nothing changes; a cashier has no Settings button."""
    sign_in(qtbot, window, "1004", "86420")
    tap(qtbot, window.settings_button)
    screen = window.settings_screen
    tap(qtbot, screen.backend_buttons["network"])
    tap(qtbot, screen.save)
    assert screen.banner.text() == "IP 地址或主机名无效"
    assert terminal.device_settings.printer().backend == "virtual"
    tap(qtbot, screen.back)
    tap(qtbot, window.sign_out_button)
    sign_in(qtbot, window)
    assert window.stack.currentWidget() is window.checkout
    assert not window.settings_button.isVisible()
    assert window.devices_button.isVisible()


def test_scanner_prefix_from_settings_applies_to_the_wedge_at_once(
    qtbot, window: MainWindow, scan_clock: FakeClock
):
    """GIVEN scanners programmed to send '#' before each code
    WHEN the manager sets the prefix '#' and saves
    THEN a scan on the settings screen shows the code without it, and the same scan on
    the checkout screen adds the item."""
    sign_in(qtbot, window, "1004", "86420")
    tap(qtbot, window.settings_button)
    screen = window.settings_screen
    assert screen.last_scan.text() == "扫一个条码，检查扫码枪设置"
    type_text(qtbot, screen.prefix, "#", scan_clock)
    tap(qtbot, screen.save)
    assert screen.banner.text() == "已保存，立即生效"
    scan(qtbot, window, scan_clock, "#" + TARO, target=screen.suffix)
    assert screen.last_scan.text() == f"收到扫码：{TARO}"
    assert screen.suffix.text() == ""
    tap(qtbot, screen.back)
    scan(qtbot, window, scan_clock, "#" + TARO)
    assert window.checkout.model.rowCount() == 1
    assert window.checkout.model.index(0, 0).data() == "芋泥波波"


def test_no_sale_drawer_open_needs_a_supervisor_and_is_audited(
    qtbot, window: MainWindow, terminal: Terminal
):
    """GIVEN a cashier WHEN she taps Open drawer and supervisor 1003 approves
    THEN the printer receives one drawer pulse, the screen confirms, and the audit log
    names both; a cancelled approval opens nothing."""
    sign_in(qtbot, window)
    when_dialog(ApprovalDialog, lambda d: d.reject())
    tap(qtbot, window.checkout.drawer)

    def approve(dialog: ApprovalDialog) -> None:
        dialog.number.setText("1003")
        dialog.pin.setText("135790")
        dialog.ok.click()

    when_dialog(ApprovalDialog, approve)
    tap(qtbot, window.checkout.drawer)
    qtbot.waitUntil(lambda: window.checkout.banner.text() == "钱箱已打开（已记录）", timeout=WAIT)
    (job,) = terminal.virtual_printer.jobs
    assert [k.pin for k in _read(terminal, job).drawer_kicks] == [2]
    with read_session(terminal.engine) as s:
        rows = s.execute(
            text("SELECT staff, detail FROM audit_log WHERE action='drawer.no_sale'")
        ).all()
    assert len(rows) == 1 and rows[0][0] == "1001" and '"approved_by": "1003"' in rows[0][1]
    tap(qtbot, window.devices_button)
    assert _device_row(window, "钱箱")[2].startswith("在线")


def test_a_supervisor_gives_up_a_receipt_that_cannot_print(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN a receipt waiting behind an offline printer
    WHEN supervisor 1003 selects it on the device panel and gives it up
    THEN it leaves the queue and the indicator; a cashier could not have done so."""
    terminal.virtual_printer.set_offline(True)
    sign_in(qtbot, window)
    _sell_taro_for_cash(qtbot, window, scan_clock)
    qtbot.waitUntil(lambda: window.unprinted_button.isVisible(), timeout=WAIT)
    tap(qtbot, window.done.next_sale)
    tap(qtbot, window.devices_button)
    panel = window.devices_screen
    assert not panel.cancel_job.isEnabled()
    tap(qtbot, panel.back)
    tap(qtbot, window.sign_out_button)
    sign_in(qtbot, window, "1003", "135790")
    tap(qtbot, window.devices_button)
    assert panel.cancel_job.isEnabled()
    panel.job_table.selectRow(0)
    tap(qtbot, panel.cancel_job)
    qtbot.waitUntil(lambda: not window.unprinted_button.isVisible(), timeout=WAIT)
    # The list refreshes from the queue's own signal, which may come a moment later.
    qtbot.waitUntil(lambda: panel.job_table.rowCount() == 0, timeout=WAIT)
    with read_session(terminal.engine) as s:
        staff = s.execute(text("SELECT staff FROM audit_log WHERE action='print_job.cancel'"))
        assert staff.scalars().all() == ["1003"]


def test_a_serial_scanner_set_up_on_screen_adds_items_to_the_cart(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN a serial scanner reachable as a pyserial URL (socket://, like a serial
    server) WHEN the manager enters it in the settings and saves
    THEN the device panel lists it online, and a code it sends lands in the cart."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(WAIT / 1000)
        port = server.getsockname()[1]
        sign_in(qtbot, window, "1004", "86420")
        tap(qtbot, window.settings_button)
        screen = window.settings_screen
        type_text(qtbot, screen.serial_scanner, f"socket://127.0.0.1:{port}", scan_clock)
        tap(qtbot, screen.save)
        connection, _ = server.accept()
        with connection:
            tap(qtbot, screen.back)
            tap(qtbot, window.devices_button)
            label = "串口扫码枪"
            qtbot.waitUntil(lambda: _device_row(window, label)[2].startswith("在线"))
            tap(qtbot, window.devices_screen.back)
            connection.sendall(TARO.encode() + b"\r\n")
            qtbot.waitUntil(lambda: window.checkout.model.rowCount() == 1, timeout=WAIT)
    assert window.checkout.model.index(0, 0).data() == "芋泥波波"
    assert terminal.scanners.devices == (f"socket://127.0.0.1:{port}",)


def test_a_test_scan_in_settings_shows_how_a_scale_label_reads(
    qtbot, window: MainWindow, scan_clock: FakeClock
):
    """GIVEN a manager on the device settings screen (the store's default layouts)
    WHEN an 18-digit label of 琥珀核桃仁 (PLU 00101, ¥34.89, 0.356 kg) and a plain barcode
    are scanned
    THEN the screen says which layout read the label and what each field says, and that
    the barcode is no scale label."""
    sign_in(qtbot, window, "1004", "86420")
    tap(qtbot, window.settings_button)
    screen = window.settings_screen
    scan(qtbot, window, scan_clock, "210010103489003569", target=screen.suffix)
    assert screen.label_reading.text() == (
        "秤签（格式 ean18-price-weight）：PLU 00101，琥珀核桃仁，金额 ¥34.89，重量 0.356 千克"
    )
    scan(qtbot, window, scan_clock, TARO, target=screen.suffix)
    assert screen.label_reading.text() == f"不是秤签：按 {TARO} 查找（芋泥波波）"
