"""The printer driver against real sockets, a serial URL and files (hardware._backends).

Network printing goes through a real loopback TCP connection to the virtual
printer; what it received is decoded, not compared with what was sent.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from escpos.printer import Usb

from hardware import (
    PROFILES,
    CoverOpen,
    Decoded,
    FileConnection,
    NetworkConnection,
    PaperOut,
    Printer,
    PrinterConfigError,
    PrinterError,
    PrinterOffline,
    PrinterProfile,
    PrinterStatus,
    PrinterTimeout,
    Receipt,
    SerialConnection,
    StatusUnavailable,
    UsbConnection,
    VirtualPrinter,
    connection_from_settings,
    decode,
    get_profile,
    receipt_document,
)
from hardware._status import status_from_bytes

from .conftest import SALE_QR

PROFILE = PROFILES["generic-80-gb18030"]


def read(data: bytes, profile: PrinterProfile = PROFILE) -> Decoded:
    return decode(data, profile.encoding, chinese_at_power_on=not profile.chinese_mode)


@pytest.fixture
def network_printer(virtual_printer: VirtualPrinter) -> Printer:
    host, port = virtual_printer.serve_tcp()
    return Printer(NetworkConnection(host, port, timeout=2.0), PROFILE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_receipt_prints_over_a_loopback_socket(
    network_printer: Printer, virtual_printer: VirtualPrinter, sample_receipt: Receipt
) -> None:
    network_printer.print_document(receipt_document(sample_receipt))
    assert virtual_printer.wait_for_jobs(1)
    (received,) = virtual_printer.jobs
    decoded = read(received)
    assert "杨枝甘露(大)" in decoded.text and "¥52.25" in decoded.text
    assert [q.payload for q in decoded.qr_codes] == [SALE_QR]
    assert len(decoded.cuts) == 1 and [k.pin for k in decoded.drawer_kicks] == [2]
    assert decoded.problems == [] and decoded.unknown == []


def test_status_of_a_ready_printer(network_printer: Printer) -> None:
    assert network_printer.query_status() == PrinterStatus(
        online=True, paper_out=False, paper_near_end=False, cover_open=False
    )


def test_paper_near_end_is_reported_but_printing_goes_on(
    network_printer: Printer, virtual_printer: VirtualPrinter, sample_receipt: Receipt
) -> None:
    virtual_printer.set_paper_near_end(True)
    status = network_printer.query_status()
    assert status.paper_near_end and status.ready
    network_printer.print_document(receipt_document(sample_receipt))
    assert virtual_printer.wait_for_jobs(1)


@pytest.mark.parametrize(
    ("fault", "error", "field"),
    [
        (VirtualPrinter.set_paper_out, PaperOut, "paper_out"),
        (VirtualPrinter.set_cover_open, CoverOpen, "cover_open"),
        (VirtualPrinter.set_offline, PrinterOffline, None),
    ],
)
def test_faults_are_read_over_the_socket_and_stop_the_job(
    network_printer: Printer,
    virtual_printer: VirtualPrinter,
    sample_receipt: Receipt,
    fault: Callable[[VirtualPrinter, bool], None],
    error: type[PrinterError],
    field: str | None,
) -> None:
    fault(virtual_printer, True)
    status = network_printer.query_status()
    assert not status.online and not status.ready
    if field:
        assert getattr(status, field)
    with pytest.raises(error) as raised:
        network_printer.print_document(receipt_document(sample_receipt))
    assert not raised.value.during_job
    assert virtual_printer.jobs == [] and virtual_printer.rejected_bytes == 0  # nothing sent

    fault(virtual_printer, False)
    network_printer.print_document(receipt_document(sample_receipt))
    assert virtual_printer.wait_for_jobs(1)


def test_open_drawer_pulses_the_requested_pin(
    network_printer: Printer, virtual_printer: VirtualPrinter
) -> None:
    network_printer.open_drawer()
    network_printer.open_drawer(pin=5)
    assert virtual_printer.wait_for_jobs(2)
    kicks = [k for job in virtual_printer.jobs for k in read(job).drawer_kicks]
    # Each kick is its own connection; a loaded machine may accept them in either order.
    assert sorted(k.pin for k in kicks) == [2, 5]
    with pytest.raises(PrinterConfigError):
        network_printer.open_drawer(pin=3)


def test_unreachable_printer_is_offline(sample_receipt: Receipt) -> None:
    printer = Printer(NetworkConnection("127.0.0.1", free_port(), timeout=1.0), PROFILE)
    with pytest.raises(PrinterOffline):
        printer.print_document(receipt_document(sample_receipt))
    with pytest.raises(PrinterOffline):
        printer.query_status()


def test_silent_printer_times_out() -> None:
    # Accepts connections (kernel backlog) but never reads or answers.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        host, port = silent.getsockname()[:2]
        printer = Printer(NetworkConnection(host, port, timeout=0.3), PROFILE)
        with pytest.raises(PrinterTimeout):
            printer.query_status()


def test_serial_printer_through_a_pyserial_url(
    virtual_printer: VirtualPrinter, sample_receipt: Receipt
) -> None:
    host, port = virtual_printer.serve_tcp()
    connection = SerialConnection(f"socket://{host}:{port}", timeout=2.0, flow_control="none")
    printer = Printer(connection, PROFILE)
    assert printer.query_status().ready
    printer.print_document(receipt_document(sample_receipt))
    assert virtual_printer.wait_for_jobs(1)
    assert "芋泥波波" in read(virtual_printer.jobs[0]).text
    virtual_printer.set_paper_out(True)
    with pytest.raises(PaperOut):
        printer.print_document(receipt_document(sample_receipt))


def test_missing_serial_port_is_offline() -> None:
    printer = Printer(SerialConnection("/dev/ttyCHAINPOS-MISSING"), PROFILE)
    with pytest.raises(PrinterOffline):
        printer.open_drawer()


def test_file_printer_appends_jobs(tmp_path: Path, sample_receipt: Receipt) -> None:
    spool = tmp_path / "lp0.bin"
    profile = PROFILES["xprinter-58"]
    printer = Printer(FileConnection(str(spool)), profile)
    printer.print_document(receipt_document(sample_receipt))
    printer.print_document(receipt_document(sample_receipt))
    decoded = read(spool.read_bytes(), profile)
    assert decoded.text.count("杨枝甘露(大)") == 2
    assert decoded.text.count("￥52.25") == 2
    assert len(decoded.images) == 2  # raster QR on this profile
    with pytest.raises(StatusUnavailable):
        printer.query_status()


def test_file_printer_in_a_missing_directory_is_offline(tmp_path: Path) -> None:
    printer = Printer(FileConnection(str(tmp_path / "no" / "lp0")), PROFILE)
    with pytest.raises(PrinterOffline):
        printer.open_drawer()


def test_usb_printer_that_is_not_there_gives_a_clear_error() -> None:
    """GIVEN a USB printer configured by vendor and product id, and no such device
    WHEN the terminal asks for its status
    THEN it gets a printer error naming the USB printer (offline; or, on a machine
    without libusb, a configuration error saying what to install), never a crash."""
    assert Usb.is_usable()  # pyusb is a dependency
    printer = Printer(UsbConnection(0x0416, 0x5011), PROFILE)
    with pytest.raises((PrinterOffline, PrinterConfigError), match="USB printer 0416:5011"):
        printer.query_status()


def test_connection_settings_are_parsed_and_checked() -> None:
    assert connection_from_settings({"kind": "network", "host": "10.0.0.9"}) == NetworkConnection(
        "10.0.0.9", 9100, 5.0
    )
    usb = connection_from_settings({"kind": "usb", "vendor_id": "0x0416", "product_id": 20497})
    assert usb == UsbConnection(0x0416, 0x5011)
    serial = connection_from_settings({"kind": "serial", "device": "COM3", "baudrate": "19200"})
    assert serial == SerialConnection("COM3", 19200)
    assert connection_from_settings({"kind": "file", "path": "/dev/usb/lp0"}) == FileConnection(
        "/dev/usb/lp0"
    )
    for bad in (
        {"kind": "bluetooth"},
        {"kind": "network"},
        {"kind": "network", "host": "h", "port": "nine"},
        {"kind": "serial", "device": "COM3", "flow_control": "magic"},
    ):
        with pytest.raises(PrinterConfigError):
            connection_from_settings(bad)


def test_status_bytes_map_to_status() -> None:
    assert status_from_bytes({1: 0x12, 2: 0x12, 4: 0x12}).ready
    paper_end = status_from_bytes({1: 0x1A, 2: 0x32, 4: 0x7E})
    assert paper_end.paper_out and paper_end.paper_near_end and not paper_end.online
    assert status_from_bytes({1: 0x1A, 2: 0x16, 4: 0x12}).cover_open
    with pytest.raises(PrinterError, match="not a status byte"):
        status_from_bytes({1: 0xFF, 2: 0x12, 4: 0x12})
    with pytest.raises(PrinterError, match="no answer"):
        status_from_bytes({1: 0x12})


def test_profiles_are_validated() -> None:
    assert get_profile("xprinter-58").columns == 32
    with pytest.raises(PrinterConfigError, match="unknown printer profile"):
        get_profile("tm-unknown")
    with pytest.raises(PrinterConfigError):
        dataclasses.replace(PROFILE, columns=49)  # 49 x 12 dots > 576
    with pytest.raises(PrinterConfigError):
        dataclasses.replace(PROFILE, drawer_pin=3)  # type: ignore[arg-type]
    with pytest.raises(PrinterConfigError):
        dataclasses.replace(PROFILE, encoding="big5")  # type: ignore[arg-type]


def test_paper_running_out_during_a_job_is_reported_after_it(
    network_printer: Printer, virtual_printer: VirtualPrinter, sample_receipt: Receipt
) -> None:
    """GIVEN a printer whose roll ends 200 bytes into the next job
    WHEN a receipt is sent over the socket
    THEN the status read after the data says paper out, the driver raises PaperOut (the job
    may be incomplete), and the printer kept only the part before the roll ran out."""
    virtual_printer.set_paper_out_after(200)
    with pytest.raises(PaperOut, match="during the job") as raised:
        network_printer.print_document(receipt_document(sample_receipt))
    assert raised.value.during_job
    assert virtual_printer.wait_for_jobs(1)
    (partial,) = virtual_printer.jobs
    assert len(partial) == 200 and read(partial).cuts == []
    assert network_printer.query_status().paper_out
