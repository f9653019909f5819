"""Item 6: terminals that never read are dropped, even mid catch-up, and a revoked
device's stuck connection is cut at once.

Real uvicorn on loopback; the clients are raw sockets with a tiny receive buffer that do
the WebSocket handshake, say hello from cursor 0 and then never read, while the feed
holds several megabytes (far more than the kernel buffers of both ends take), so HQ's
sends block exactly as they did for the audit's stuck terminals.
"""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import Iterator

import pytest

from server_stub import operations
from server_stub.live import LiveSettings
from server_stub.schemas import ItemIn
from tests.server.conftest import RunningHQ, start_hq_thread
from tests.server.support import Chain, Device, wait_until

pytestmark = pytest.mark.slow

_ITEMS = 4000  # about 2.5 kB of feed each: some 10 MB to catch up on


def _fill_feed(chain: Chain) -> None:
    name = "超大杯芝士奶盖杨枝甘露" * 18
    for start in range(0, _ITEMS, 500):
        operations.import_catalog(
            chain.db,
            [
                ItemIn(
                    sku=f"BIG{n:06d}",
                    name_zh=name,
                    name_en="x" * 200,
                    unit="piece",
                    barcodes=[f"{690000000000 + n * 50 + b:013d}" for b in range(50)],
                    price_fen=1000,
                )  # type: ignore[call-arg]
                for n in range(start, min(start + 500, _ITEMS))
            ],
        )


def _never_reading_client(port: int, token: str) -> socket.socket:
    """Connects, upgrades to WebSocket, sends hello from cursor 0, and returns the socket
    (which the test never reads: a stuck terminal)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /v1/sync/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "HQ closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    payload = json.dumps({"type": "hello", "after": 0}).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    return sock


def _port(hq: RunningHQ) -> int:
    return int(hq.url.rsplit(":", 1)[1])


def _open_connections(hq: RunningHQ) -> int:
    return len(hq.server.server_state.connections)


@pytest.fixture(scope="module")
def filled(db_url: str) -> Iterator[tuple[str, Chain]]:
    """The module's database with a feed of some 10 MB."""
    with_feed = start_hq_thread(db_url)
    try:
        chain = Chain(with_feed.db, with_feed.url)
        _fill_feed(chain)
    finally:
        with_feed.stop()
        with_feed.db.dispose()
    yield db_url, chain


def _serve(
    db_url: str, live: LiveSettings, ws_ping: tuple[float, float] | None = None
) -> RunningHQ:
    return start_hq_thread(db_url, live=live, ws_ping=ws_ping)


def test_terminals_that_never_read_are_dropped_during_catch_up(
    filled: tuple[str, Chain],
) -> None:
    """GIVEN 10 terminals that say hello from cursor 0 and never read
    WHEN HQ's catch-up sends to them block (send bound 1 s)
    THEN each is dropped as too slow and every TCP connection is gone, long before the
    three missed heartbeats (3 x 60 s) could have dropped them."""
    db_url, chain = filled
    hq = _serve(db_url, LiveSettings(heartbeat_s=60, send_timeout_s=1.0, queue_size=8))
    clients: list[socket.socket] = []
    try:
        chain = Chain(hq.db, hq.url)
        devices: list[Device] = [chain.device(chain.store()) for _ in range(10)]
        # The enrolments' HTTP connections close on their own time: wait them out.
        wait_until(lambda: _open_connections(hq) == 0, what="enrolment connections closed")
        baseline = 0
        clients = [_never_reading_client(_port(hq), d.token) for d in devices]
        wait_until(lambda: _open_connections(hq) >= baseline + 10, what="all connected")
        wait_until(
            lambda: _open_connections(hq) <= baseline, timeout=45, what="slow readers dropped"
        )
        assert not hq.app.state.hub.connections
        assert hq.app.state.metrics.live_dropped.get("too_slow", 0) >= 10
    finally:
        for c in clients:
            c.close()
        hq.stop()
        hq.db.dispose()


def test_a_revoked_devices_stuck_connection_closes_at_once(filled: tuple[str, Chain]) -> None:
    """GIVEN a terminal stuck mid catch-up (it never reads; HQ would wait 120 s per send
    and 3 x 60 s for heartbeats)
    WHEN HQ revokes the device
    THEN its live connection is cut (the revocation is the only thing that can have)."""
    db_url, chain = filled
    hq = _serve(db_url, LiveSettings(heartbeat_s=60, send_timeout_s=120, queue_size=8))
    client: socket.socket | None = None
    try:
        chain = Chain(hq.db, hq.url)
        device = chain.device(chain.store())
        hub = hq.app.state.hub
        # The enrolments' HTTP connections close on their own time: wait them out.
        wait_until(lambda: _open_connections(hq) == 0, what="enrolment connections closed")
        baseline = 0
        client = _never_reading_client(_port(hq), device.token)
        wait_until(lambda: hub.connections, what="registered")
        operations.revoke_device(hq.db, device.device_id)
        wait_until(lambda: _open_connections(hq) <= baseline, timeout=10, what="cut")
        assert not hub.connections, [(c.device, c.connected_at) for c in hub.connections]
        assert hq.app.state.metrics.live_dropped.get("revoked", 0) == 1
    finally:
        if client is not None:
            client.close()
        hq.stop()
        hq.db.dispose()


def test_a_revoked_devices_connection_is_cut_after_the_server_gave_up_on_its_pings(
    filled: tuple[str, Chain],
) -> None:
    """GIVEN a terminal stuck mid catch-up that also leaves the server's keep-alive pings
    unanswered, so the server has begun closing its connection (which cannot finish: the
    peer takes none of the megabytes buffered for it)
    WHEN HQ revokes the device
    THEN its TCP connection is cut all the same, at once."""
    db_url, chain = filled
    live = LiveSettings(heartbeat_s=60, send_timeout_s=120, queue_size=8)
    hq = _serve(db_url, live, ws_ping=(0.5, 0.5))
    client: socket.socket | None = None
    try:
        chain = Chain(hq.db, hq.url)
        device = chain.device(chain.store())
        hub = hq.app.state.hub
        wait_until(lambda: _open_connections(hq) == 0, what="enrolment connections closed")
        client = _never_reading_client(_port(hq), device.token)
        wait_until(lambda: hub.connections, what="registered")
        wait_until(
            lambda: all(c.transport.is_closing() for c in hq.server.server_state.connections),
            what="the server gave up on the pings",
        )
        operations.revoke_device(hq.db, device.device_id)
        wait_until(lambda: _open_connections(hq) == 0, timeout=10, what="cut")
        assert not hub.connections
        assert hq.app.state.metrics.live_dropped.get("revoked", 0) == 1
    finally:
        if client is not None:
            client.close()
        hq.stop()
        hq.db.dispose()
