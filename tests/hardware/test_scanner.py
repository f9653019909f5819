"""Serial barcode scanners read through pyserial's ``loop://`` port (hardware._scanner).

A ``loop://`` port hands back whatever is written to it, so the test writes the bytes a
scanner would send and the scanner's own reader thread reads them, as from a cable.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pytest
import serial

from hardware import ScannerState, SerialScanner, SerialScannerConfig

WAIT = 5.0


class LoopCable:
    """Hands the scanner a ``loop://`` port the test also writes to; ``unplug`` closes it
    and makes the next open fail until ``plug`` is called."""

    def __init__(self) -> None:
        self.ports: list[serial.SerialBase] = []
        self.plugged = threading.Event()
        self.plugged.set()
        self.opened = threading.Semaphore(0)

    def open(self, config: SerialScannerConfig) -> serial.SerialBase:
        if not self.plugged.is_set():
            raise serial.SerialException(f"could not open port {config.device}: no such device")
        port = serial.serial_for_url("loop://", timeout=0.05)
        self.ports.append(port)
        self.opened.release()
        return port

    def send(self, data: bytes) -> None:
        self.ports[-1].write(data)

    def unplug(self) -> None:
        self.plugged.clear()
        self.ports[-1].close()

    def plug(self) -> None:
        self.plugged.set()


@pytest.fixture
def cable() -> LoopCable:
    return LoopCable()


@pytest.fixture
def scans() -> queue.Queue[str]:
    return queue.Queue()


@pytest.fixture
def states() -> queue.Queue[ScannerState]:
    return queue.Queue()


def _running(
    cable: LoopCable,
    scans: queue.Queue[str],
    states: queue.Queue[ScannerState],
    config: SerialScannerConfig,
) -> Iterator[SerialScanner]:
    scanner = SerialScanner(
        config,
        scans.put,
        states.put,
        opener=cable.open,
        reconnect_interval=0.05,
        read_timeout=0.05,
    )
    scanner.start()
    try:
        assert cable.opened.acquire(timeout=WAIT)
        yield scanner
    finally:
        scanner.stop()


@pytest.fixture
def scanner(
    cable: LoopCable, scans: queue.Queue[str], states: queue.Queue[ScannerState]
) -> Iterator[SerialScanner]:
    yield from _running(cable, scans, states, SerialScannerConfig("/dev/ttyACM0"))


def _next_state(states: queue.Queue[ScannerState], online: bool) -> ScannerState:
    while True:
        state = states.get(timeout=WAIT)
        if state.online is online:
            return state


def test_codes_end_at_cr_lf_or_crlf(
    cable: LoopCable, scanner: SerialScanner, scans: queue.Queue[str]
) -> None:
    """GIVEN a scanner on a serial cable
    WHEN it sends three codes ended by CR LF, CR and LF, one of them split in two writes
    THEN each code is reported once, in order, without terminators or empty codes."""
    cable.send(b"6954321100014\r\n")
    cable.send(b"69543211")
    cable.send(b"00137\r2500101003569\n")
    got = [scans.get(timeout=WAIT) for _ in range(3)]
    assert got == ["6954321100014", "6954321100137", "2500101003569"]
    assert scans.empty()


def test_gs1_separator_is_kept_and_prefix_suffix_removed(
    cable: LoopCable, scans: queue.Queue[str], states: queue.Queue[ScannerState]
) -> None:
    """GIVEN a scanner programmed to send ``#`` before and ``!`` after each code
    WHEN a GS1-128 code with an FNC1 separator (GS) arrives
    THEN the code keeps its GS and loses the prefix and suffix."""
    config = SerialScannerConfig("/dev/ttyACM0", prefix="#", suffix="!")
    for _ in _running(cable, scans, states, config):
        cable.send(b"#]C10106954321100014\x1d10ABC123!\r\n")
        assert scans.get(timeout=WAIT) == "]C10106954321100014\x1d10ABC123"


def test_unplugged_scanner_goes_offline_and_comes_back(
    cable: LoopCable,
    scanner: SerialScanner,
    scans: queue.Queue[str],
    states: queue.Queue[ScannerState],
) -> None:
    """GIVEN a scanner reading its port
    WHEN the cable is pulled and plugged back
    THEN it reports offline with the reason, then online again, and reads new codes."""
    assert _next_state(states, True).online
    cable.unplug()
    offline = _next_state(states, False)
    assert offline.error and "/dev/ttyACM0" in offline.error
    assert scanner.state.online is False
    cable.plug()
    assert cable.opened.acquire(timeout=WAIT)
    assert _next_state(states, True).error is None
    cable.send(b"6954321100014\r")
    assert scans.get(timeout=WAIT) == "6954321100014"


def test_missing_port_is_reported_offline(
    scans: queue.Queue[str], states: queue.Queue[ScannerState]
) -> None:
    """GIVEN a configured port that does not exist THEN the scanner says so and keeps
    trying; stop() ends it, and a scanner cannot be started twice."""
    scanner = SerialScanner(
        SerialScannerConfig("/dev/ttyCHAINPOS-NO-SCANNER"),
        scans.put,
        states.put,
        reconnect_interval=0.05,
    )
    scanner.start()
    try:
        state = _next_state(states, False)
        assert state.error and "ttyCHAINPOS-NO-SCANNER" in state.error
        with pytest.raises(RuntimeError):
            scanner.start()
    finally:
        scanner.stop()


def test_a_failing_callback_does_not_stop_the_reader(
    cable: LoopCable, states: queue.Queue[ScannerState]
) -> None:
    """GIVEN an application callback that raises on one code
    THEN the next code is still delivered."""
    got: queue.Queue[str] = queue.Queue()

    def on_scan(code: str) -> None:
        if code == "BAD1":
            raise ValueError("the app choked")
        got.put(code)

    scanner = SerialScanner(
        SerialScannerConfig("loop"), on_scan, states.put, opener=cable.open, read_timeout=0.05
    )
    scanner.start()
    try:
        assert cable.opened.acquire(timeout=WAIT)
        cable.send(b"BAD1\rGOOD2\r")
        assert got.get(timeout=WAIT) == "GOOD2"
    finally:
        scanner.stop()
