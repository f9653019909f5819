"""Device settings: what a manager may set, what is refused, and that it is kept."""

from __future__ import annotations

import dataclasses
import queue
from collections.abc import Iterator

import pytest
import serial
from sqlalchemy import text

from hardware import FileConnection, NetworkConnection, SerialConnection, UsbConnection
from pos_app.app import Terminal
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.store import set_setting
from pos_app.services.auth import StaffMember
from pos_app.services.device_settings import PrinterSettings, ScannerSettings
from pos_app.services.devices import DeviceBoard, DeviceState
from pos_app.services.errors import SettingsError
from pos_app.services.scanners import WEDGE, ScannerHub
from tests.services.conftest import audit_actions
from tests.support import FakeClock


@pytest.fixture
def manager(terminal: Terminal) -> StaffMember:
    return terminal.auth.sign_in("1004", "86420")


def test_defaults_are_the_virtual_printer_and_a_35_ms_wedge(terminal: Terminal) -> None:
    printer = terminal.device_settings.printer()
    assert printer.backend == "virtual" and printer.connection() is None
    assert printer.printer_profile().name == "generic-80-gb18030"
    assert terminal.device_settings.scanners() == ScannerSettings()


def test_a_manager_saves_a_network_printer_on_58_mm_paper(
    terminal: Terminal, manager: StaffMember
) -> None:
    """GIVEN a manager WHEN she sets a network printer at 192.168.1.50:9100 with the
    generic 80 mm profile narrowed to 58 mm paper, 32 columns, no cutter, raster QR
    THEN it is saved, read back equal, gives that profile and is audited."""
    wanted = dataclasses.replace(
        PrinterSettings.from_profile(
            "generic-80-gb18030", backend="network", host="192.168.1.50", port=9100
        ),
        paper_mm=58,
        columns=32,
        cutter=False,
        qr="raster",
    )
    terminal.device_settings.save_printer(wanted, manager)
    again = terminal.device_settings.printer()
    assert again == wanted
    assert again.connection() == NetworkConnection("192.168.1.50", 9100)
    profile = again.printer_profile()
    assert (profile.paper_mm, profile.dots, profile.columns) == (58, 384, 32)
    assert (profile.cutter, profile.qr, profile.encoding) == (False, "raster", "gb18030")
    assert profile.name == "generic-80-gb18030+custom"
    assert audit_actions(terminal)[-1] == ("1004", "settings.printer")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"backend": "network", "host": "not a host!"}, "bad_host"),
        ({"backend": "network", "host": "10.0.0.9", "port": 0}, "bad_port"),
        ({"backend": "serial", "serial_device": " "}, "bad_device"),
        ({"backend": "serial", "serial_device": "/dev/ttyS0", "baudrate": 1234}, "bad_baudrate"),
        ({"backend": "usb", "usb_vendor_id": "acme", "usb_product_id": "0x1"}, "bad_usb_id"),
        ({"backend": "file", "path": ""}, "bad_path"),
        ({"backend": "carrier-pigeon"}, "bad_backend"),
        ({"paper_mm": 58, "columns": 48}, "bad_profile"),
        ({"paper_mm": 76}, "bad_profile"),
    ],
)
def test_settings_that_cannot_work_are_refused(
    terminal: Terminal, manager: StaffMember, fields: dict[str, object], code: str
) -> None:
    bad = PrinterSettings(**fields)  # type: ignore[arg-type]
    with pytest.raises(SettingsError) as err:
        terminal.device_settings.save_printer(bad, manager)
    assert err.value.code == code
    assert terminal.device_settings.printer().backend == "virtual"


def test_every_backend_gives_its_connection() -> None:
    assert PrinterSettings(
        backend="serial", serial_device="/dev/ttyUSB0", baudrate=19200
    ).connection() == SerialConnection("/dev/ttyUSB0", 19200)
    assert PrinterSettings(
        backend="usb", usb_vendor_id="0x0416", usb_product_id="5011"
    ).connection() == UsbConnection(0x0416, 0x5011)
    assert PrinterSettings(backend="file", path="/dev/usb/lp0").connection() == FileConnection(
        "/dev/usb/lp0"
    )


def test_a_cashier_may_not_change_devices(terminal: Terminal, cashier: StaffMember) -> None:
    with pytest.raises(SettingsError) as err:
        terminal.device_settings.save_scanners(ScannerSettings(prefix="#"), cashier)
    assert err.value.code == "not_manager"
    assert audit_actions(terminal)[-1] == ("1001", "settings.scanner.refused")
    assert terminal.device_settings.scanners().prefix == ""


def test_chainpos_config_profile_change_wins_over_saved_profile_fields(
    terminal: Terminal, manager: StaffMember
) -> None:
    """GIVEN a saved network printer on the 80 mm profile
    WHEN `chainpos config printer_profile xprinter-58` changes the model
    THEN the connection is kept and the 58 mm profile's fields apply."""
    terminal.device_settings.save_printer(
        PrinterSettings.from_profile("generic-80-gbk", backend="network", host="10.0.0.5"),
        manager,
    )
    with write_session(terminal.engine) as session:
        set_setting(session, "printer_profile", "xprinter-58")
        session.commit()
    settings = terminal.device_settings.printer()
    assert (settings.backend, settings.host) == ("network", "10.0.0.5")
    assert settings.printer_profile().name == "xprinter-58"


def test_stored_garbage_falls_back_to_defaults(terminal: Terminal) -> None:
    with write_session(terminal.engine) as session:
        set_setting(session, "printer", {"backend": 7, "port": "nine"})
        set_setting(session, "scanner", ["not", "a", "dict"])
        session.commit()
    assert terminal.device_settings.printer().backend == "virtual"
    assert terminal.device_settings.printer().port == 9100
    assert terminal.device_settings.scanners() == ScannerSettings()


@pytest.mark.parametrize(
    ("settings", "code"),
    [
        (ScannerSettings(wedge_threshold_ms=2), "bad_threshold"),
        (ScannerSettings(prefix="\x02"), "bad_affix"),
        (ScannerSettings(suffix="123456789"), "bad_affix"),
        (ScannerSettings(serial_device="/dev/ttyACM0", serial_baudrate=300), "bad_baudrate"),
    ],
)
def test_bad_scanner_settings_are_refused(
    terminal: Terminal, manager: StaffMember, settings: ScannerSettings, code: str
) -> None:
    with pytest.raises(SettingsError) as err:
        terminal.device_settings.save_scanners(settings, manager)
    assert err.value.code == code


def test_saved_scanner_settings_reach_the_listeners(
    terminal: Terminal, manager: StaffMember
) -> None:
    heard: list[ScannerSettings] = []
    terminal.device_settings.on_scanners_saved(heard.append)
    wanted = ScannerSettings(wedge_threshold_ms=50, prefix="]E0", serial_device="/dev/ttyACM0")
    terminal.device_settings.save_scanners(wanted, manager)
    assert heard == [wanted] and terminal.device_settings.scanners() == wanted
    with read_session(terminal.engine) as session:
        detail = session.execute(
            text("SELECT detail FROM audit_log WHERE action = 'settings.scanner'")
        ).scalar_one()
    assert '"prefix": "]E0"' in detail


# -- the device board and the serial scanner hub ---------------------------------------


def test_the_board_keeps_the_last_error_after_recovery(clock: FakeClock) -> None:
    from datetime import timedelta

    board = DeviceBoard(clock)
    heard: list[tuple[DeviceState, ...]] = []
    board.subscribe(heard.append)
    board.register("printer", "printer", "network 10.0.0.5:9100")
    board.report_problem("printer", "paper_out", "the printer is out of paper")
    failed_at = clock.now()
    clock.advance(timedelta(minutes=2))
    board.report_ok("printer", used=True)
    state = board.get("printer")
    assert state is not None and state.online is True and state.problem is None
    assert state.error == "the printer is out of paper" and state.error_at == failed_at
    assert state.changed_at == state.used_at == clock.now()
    assert [s[0].online for s in heard] == [None, False, True]
    board.report_ok("printer")
    assert len(heard) == 3  # nothing changed, nobody is told


class _Cable:
    def __init__(self) -> None:
        self.ports: queue.Queue[serial.SerialBase] = queue.Queue()

    def open(self, _config: object) -> serial.SerialBase:
        port = serial.serial_for_url("loop://", timeout=0.05)
        self.ports.put(port)
        return port


@pytest.fixture
def hub(clock: FakeClock) -> Iterator[tuple[ScannerHub, DeviceBoard, _Cable]]:
    board = DeviceBoard(clock)
    cable = _Cable()
    hub = ScannerHub(board, opener=cable.open, reconnect_interval=0.05)
    yield hub, board, cable
    hub.stop()


def test_the_hub_runs_the_configured_serial_scanner(
    hub: tuple[ScannerHub, DeviceBoard, _Cable],
) -> None:
    """GIVEN a serial scanner on /dev/ttyACM0 with prefix '#'
    WHEN it sends a code THEN subscribers get it without the prefix, the board shows the
    scanner online; WHEN the settings drop it THEN it leaves the board."""
    scanners, board, cable = hub
    codes: queue.Queue[tuple[str, str]] = queue.Queue()
    scanners.subscribe(lambda code, key: codes.put((code, key)))
    scanners.configure(ScannerSettings(prefix="#", serial_device="/dev/ttyACM0"))
    port = cable.ports.get(timeout=5)
    port.write(b"#6954321100014\r\n")
    assert codes.get(timeout=5) == ("6954321100014", "scanner:/dev/ttyACM0")
    state = board.get("scanner:/dev/ttyACM0")
    assert state is not None and state.online is True and state.used_at is not None
    assert scanners.devices == ("/dev/ttyACM0",)
    offline: queue.Queue[DeviceState] = queue.Queue()
    board.subscribe(
        lambda states: [offline.put(s) for s in states if s.key != WEDGE and s.online is False]
    )
    port.close()
    lost = offline.get(timeout=5)
    assert lost.problem == "unplugged" and lost.error_at is not None
    scanners.configure(ScannerSettings())
    assert board.get("scanner:/dev/ttyACM0") is None
    assert [s.key for s in board.snapshot()] == [WEDGE]
