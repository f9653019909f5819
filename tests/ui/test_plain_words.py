"""No raw system text on a Chinese screen, and a receipt that failed to print in sight.

What the operating system and the device and network libraries say ("[Errno 111]
Connection refused") is kept for the log; the screens show a registered code's text. The
printer is the real virtual printer (out of paper) or a closed loopback port.
"""

from __future__ import annotations

import re
import socket
import ssl
from datetime import UTC, datetime

import httpx
import pytest
import serial
import usb.core
from escpos.exceptions import USBNotFoundError
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from hardware import PrinterOffline, PrinterTimeout
from pos_app.app import Terminal
from pos_app.i18n import Translator
from pos_app.services.sync import SyncDetails
from pos_app.ui.errors import system_text
from pos_app.ui.main_window import MainWindow
from pos_app.ui.sync_status import SyncDetailsDialog
from sync_client import SyncStatus
from sync_client.replica import Problem, RejectedEvent
from tests.support import FakeClock
from tests.ui.helpers import scan, sign_in, tap, type_text

TARO = "6954321100014"  # 芋泥波波 ¥15.00
WAIT = 10_000
ASCII_WORD = re.compile(r"[A-Za-z]+")


def _caused(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


DEVICE_ERRORS = {
    "refused": (
        ConnectionRefusedError(111, "Connection refused"),
        "打印机连不上，请检查网线和电源",
    ),
    "refused-wrapped": (
        _caused(
            PrinterOffline("network 192.168.1.50:9100: [Errno 111] Connection refused"),
            ConnectionRefusedError(111, "Connection refused"),
        ),
        "打印机连不上，请检查网线和电源",
    ),
    "timeout": (TimeoutError("timed out"), "打印机没有响应，请检查网线和电源"),
    "printer-timeout": (PrinterTimeout("network 10.0.0.9:9100: timed out"), "打印机没有响应"),
    "no-route": (OSError(113, "No route to host"), "网络里找不到打印机"),
    "dns": (socket.gaierror(-2, "Name or service not known"), "打印机地址无法识别"),
    "serial-missing": (
        serial.SerialException(
            "could not open port /dev/ttyUSB0: [Errno 2] No such file or directory: '/dev/ttyUSB0'"
        ),
        "找不到打印机",
    ),
    "serial-busy": (
        serial.SerialException(
            "[Errno 16] could not open port /dev/ttyS0: Device or resource busy"
        ),
        "被其他程序占用",
    ),
    "usb-denied": (
        usb.core.USBError("Access denied (insufficient permissions)", errno=13),
        "无权使用打印机接口",
    ),
    "usb-missing": (USBNotFoundError("vendor 0x0416 product 0x5011"), "找不到打印机"),
    "usb-backend": (usb.core.NoBackendError("No backend available"), "缺少打印机驱动"),
    "io": (OSError(5, "Input/output error"), "通信中断"),
    "virtual-offline": (PrinterOffline("virtual printer is offline"), "打印机离线"),
    "anything": (RuntimeError("segfault in libfoo 0xdeadbeef"), "打印机出错"),
}

HQ_ERRORS = {
    "connect": (httpx.ConnectError("All connection attempts failed"), "连不上总部"),
    "refused": ("push: [Errno 111] Connection refused", "总部服务器拒绝连接"),
    "timeout": (httpx.ReadTimeout("timed out"), "连接总部超时"),
    "http-503": (
        "push: Server error '503 Service Unavailable' for url 'https://hq.example/api/v1/push'",
        "总部暂时无法处理（错误 503）",
    ),
    "tls": (
        ssl.SSLCertVerificationError(
            1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
        ),
        "安全证书无法验证",
    ),
    "dns": (
        "live: [Errno -3] Temporary failure in name resolution",
        "连不上总部",
    ),
    "websocket": ("live: ConnectionClosedError: no close frame received or sent", "连不上总部"),
    "anything": ("resync: KeyError: 'cursor'", "与总部同步出错"),
}


@pytest.mark.parametrize("name", DEVICE_ERRORS)
def test_device_errors_read_as_plain_chinese(name: str) -> None:
    """GIVEN what an OS or device library says when a printer's link fails
    THEN the zh_CN screen text says it in Chinese words, with no English in it, and the
    English screen has English words for it."""
    error, expected = DEVICE_ERRORS[name]
    text = system_text(Translator("zh_CN"), error)
    assert expected in text, text
    assert not ASCII_WORD.search(text), text
    assert ASCII_WORD.search(system_text(Translator("en"), error))


@pytest.mark.parametrize("name", HQ_ERRORS)
def test_link_errors_to_hq_read_as_plain_chinese(name: str) -> None:
    """GIVEN what httpx, websockets, ssl or the OS say when HQ cannot be reached
    THEN the sync details read it in Chinese words with no English in them."""
    error, expected = HQ_ERRORS[name]
    text = system_text(Translator("zh_CN"), error, about="hq")
    assert expected in text, text
    assert not ASCII_WORD.search(text), text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_printer_that_refuses_the_connection_is_explained_in_chinese(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN the manager pointing the till at a network printer whose port is closed
    WHEN she taps Print test page, then opens the device panel
    THEN the settings screen says the test page did not print because the printer cannot
    be reached, and the device panel's last error says so too, without one English word
    (the OS said "[Errno 111] Connection refused")."""
    sign_in(qtbot, window, "1004", "86420")
    tap(qtbot, window.settings_button)
    screen = window.settings_screen
    tap(qtbot, screen.backend_buttons["network"])
    type_text(qtbot, screen.host, "127.0.0.1", scan_clock)
    screen.port.setValue(_closed_port())
    tap(qtbot, screen.test_page)
    qtbot.waitUntil(lambda: "测试页未打印" in screen.banner.text(), timeout=WAIT)
    banner = screen.banner.text()
    assert "打印机连不上，请检查网线和电源" in banner, banner
    assert not ASCII_WORD.search(banner.replace("127.0.0.1", "")), banner
    tap(qtbot, screen.back)
    tap(qtbot, window.devices_button)
    panel = window.devices_screen
    rows = [
        [panel.device_table.item(r, c).text() for c in range(4)]
        for r in range(panel.device_table.rowCount())
    ]
    (printer,) = [row for row in rows if row[0] == "小票打印机"]
    assert "打印机连不上，请检查网线和电源" in printer[3], printer
    assert not ASCII_WORD.search(printer[2] + printer[3]), printer
    # The failed test page is not a receipt waiting: given up, so nothing is listed or
    # counted once the print queue has said so.
    qtbot.waitUntil(lambda: panel.job_table.rowCount() == 0, timeout=WAIT)
    assert not window.unprinted_button.isVisible()


def test_a_failed_test_page_never_holds_up_the_receipt_of_the_next_sale(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN the virtual printer out of paper and the manager's test page not printed
    WHEN a cashier then takes a cash sale
    THEN the paid screen says 已收款，小票未打印 (out of paper) with a Print again button,
    only that receipt waits in the queue; once the roll is changed the receipt prints by
    itself, first and once, and the test page is never printed late."""
    printer = terminal.virtual_printer
    printer.set_paper_out(True)
    sign_in(qtbot, window, "1004", "86420")
    tap(qtbot, window.settings_button)
    screen = window.settings_screen
    tap(qtbot, screen.test_page)
    qtbot.waitUntil(lambda: "测试页未打印" in screen.banner.text(), timeout=WAIT)
    assert "缺纸" in screen.banner.text()
    tap(qtbot, screen.back)
    tap(qtbot, window.sign_out_button)

    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    tap(qtbot, window.checkout.pay)
    tap(qtbot, window.tender.quick_buttons[0])
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done)
    qtbot.waitUntil(
        lambda: window.done.print_status.text().startswith("已收款，小票未打印（缺纸）"),
        timeout=WAIT,
    )
    assert window.done.print_again.isVisible()
    sale = terminal.checkout.last_sale()
    assert sale is not None
    qtbot.waitUntil(lambda: window.unprinted_button.isVisible(), timeout=WAIT)
    assert window.unprinted_button.text().startswith("未打印小票 1 张")
    assert [j.kind for j in terminal.printing.state.jobs] == ["receipt"]

    printer.set_paper_out(False)
    qtbot.waitUntil(lambda: window.done.print_status.text() == "小票已打印", timeout=WAIT)
    qtbot.waitUntil(lambda: not window.unprinted_button.isVisible(), timeout=WAIT)
    profile = terminal.device_settings.printer().printer_profile()
    from hardware import decode

    printed = [
        decode(job, profile.encoding, chinese_at_power_on=not profile.chinese_mode).text
        for job in printer.jobs
    ]
    receipts = [text for text in printed if text.strip()]
    assert len(receipts) == 1, receipts
    assert sale.receipt_no in receipts[0] and "打印测试" not in receipts[0]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("余额不足", "付款未成功：余额不足"),
        ("ACQ.BUYER_BALANCE_NOT_ENOUGH", "付款未成功：支付平台未说明原因"),
        ("", "付款未成功：支付平台未说明原因"),
        (None, "付款未成功：支付平台未说明原因"),
    ],
)
def test_a_declined_payment_code_reads_in_chinese(reason: str | None, expected: str) -> None:
    """GIVEN a provider's decline with its own message, a bare code, or nothing
    THEN the payment screen's text is Chinese words: the provider's Chinese message, or
    "the provider gave no reason" instead of its code."""
    from pos_app.ui.errors import code_text, provider_reason

    t = Translator("zh_CN")
    text = code_text(t, "paycode_declined", reason=provider_reason(t, reason))
    assert text == expected
    assert not ASCII_WORD.search(text)


class _Bridge(QObject):
    """What the sync details dialog reads: a status now, details when asked."""

    status_changed = Signal(object)
    details_loaded = Signal(object)

    def __init__(self, details: SyncDetails) -> None:
        super().__init__()
        self.details = details
        self.status = details.status

    def load_details(self) -> None:
        self.details_loaded.emit(self.details)


def test_refused_events_and_set_aside_changes_are_named_in_chinese(qtbot) -> None:
    """GIVEN a sale HQ refused and a promotion and a setting the till set aside
    WHEN the sync details open on a Chinese till
    THEN each is named in words (销售, 促销, 门店设置项), never by its wire name, and a kind
    a newer HQ sends that this till has no name for is shown as sent."""
    at = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    status = SyncStatus("online", "https://hq.example", "S001-T01")
    details = SyncDetails(
        status,
        "keyring",
        True,
        (RejectedEvent(7, "e1", "sale.completed", at, "not_authorised: no", "¥18.00"),),
        (
            Problem(1, 41, "promotion", "P-9", "{}", "invalid: bad", at, True),
            Problem(2, None, "setting", "rounding", "bogus", "bad_setting: no", at, False),
            Problem(3, 42, "coupon_wallet", "W-1", "{}", "unknown kind", at, False),
        ),
    )
    bridge = _Bridge(details)
    parent = QWidget()
    qtbot.addWidget(parent)
    dialog = SyncDetailsDialog(bridge, Translator("zh_CN"), parent)  # type: ignore[arg-type]
    rejected = dialog.rejected_list.item(0).text()
    problems = [dialog.problems_list.item(i).text() for i in range(3)]
    assert "销售" in rejected and "sale.completed" not in rejected
    assert "促销" in problems[0] and "promotion" not in problems[0]
    assert "门店设置项" in problems[1] and "setting" not in problems[1]
    assert "coupon_wallet" in problems[2]
