"""The fault proxy between real peers on loopback: a small Starlette app on uvicorn as the
upstream, real httpx and websockets clients, and raw sockets where a test needs to see
the exact bytes and the TCP reset.

Fixtures:

* ``upstream`` serves the app for the whole module; it records what it received, so a
  test can tell what reached "HQ" from what the client saw.
* ``proxy`` is a fresh :class:`FaultProxy` in front of it for each test, stopped after
  (stopping raises if a proxy task failed, so a proxy bug fails the test that hit it).

No test asserts on elapsed time: a delay is shown by what has not happened yet while the
proxy holds the data, and by what happens once it lets go.
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from tests.faults import FaultProxy
from tests.support import DEADLINE_S, wait_until

pytestmark = pytest.mark.slow  # drives the fault proxy over real sockets

HELLO_REQUEST = b"GET /hello HTTP/1.1\r\nHost: proxy\r\n\r\n"


# -- the upstream -------------------------------------------------------------------------


@dataclass
class Upstream:
    """Where the app listens, and what it received (appended on uvicorn's thread)."""

    port: int
    hello: int = 0
    bodies: list[bytes] = field(default_factory=list)
    truncated: list[int] = field(default_factory=list)
    messages: list[str | bytes] = field(default_factory=list)

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def forget(self) -> None:
        self.hello = 0
        self.bodies.clear()
        self.truncated.clear()
        self.messages.clear()


def build_app(seen: Upstream) -> Starlette:
    async def hello(request: Request) -> Response:
        seen.hello += 1
        return PlainTextResponse("hello")

    async def echo(request: Request) -> Response:
        body = b""
        try:
            async for chunk in request.stream():
                body += chunk
        except ClientDisconnect:
            seen.truncated.append(len(body))
            return Response(status_code=400)
        seen.bodies.append(body)
        return Response(body, media_type="application/octet-stream")

    async def live(ws: WebSocket) -> None:
        """Echoes every message; ``push N`` makes it send a text of N bytes instead."""
        await ws.accept()
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    text: str = message["text"]
                    seen.messages.append(text)
                    if text.startswith("push "):
                        await ws.send_text("x" * int(text.split()[1]))
                    else:
                        await ws.send_text(text)
                else:
                    data: bytes = message["bytes"]
                    seen.messages.append(data)
                    await ws.send_bytes(data)
        except WebSocketDisconnect:
            return

    return Starlette(
        routes=[
            Route("/hello", hello),
            Route("/echo", echo, methods=["POST"]),
            WebSocketRoute("/ws", live),
        ]
    )


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    seen = Upstream(sock.getsockname()[1])
    config = uvicorn.Config(
        build_app(seen),
        log_level="warning",
        ws_per_message_deflate=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        # Keep-alive connections outlive any test, so connection counts are exact.
        timeout_keep_alive=int(DEADLINE_S * 2),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn to start")
    assert server.started
    yield seen
    server.should_exit = True
    thread.join(DEADLINE_S)
    sock.close()
    assert not thread.is_alive()


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[FaultProxy]:
    upstream.forget()
    with FaultProxy(upstream.address, seed=20240501) as running:
        yield running
        print(running.stats.summary())


@pytest.fixture
def client(proxy: FaultProxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=DEADLINE_S) as c:
        yield c


def one_connection_per_request(proxy: FaultProxy) -> httpx.Client:
    """A client that opens a new connection for every request (and keeps none)."""
    return httpx.Client(
        base_url=proxy.url,
        trust_env=False,
        timeout=DEADLINE_S,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def open_ws(proxy: FaultProxy) -> ClientConnection:
    ws = ws_connect(
        proxy.ws_url + "/ws", compression=None, proxy=None, open_timeout=DEADLINE_S, legacy=True
    )
    ws.send("ready")
    assert ws.recv(timeout=DEADLINE_S) == "ready"
    return ws


def raw_connection(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(proxy.address, timeout=DEADLINE_S)


def read_until_closed(sock: socket.socket) -> tuple[bytes, OSError | None]:
    """Everything the peer sent, and the error that ended the stream (None for EOF)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError as exc:
        return received, exc
    return received, None


NO_FAULTS = {
    "partitions": 0,
    "refused": 0,
    "drops": 0,
    "delays": 0,
    "held": 0,
    "cuts": 0,
    "resets": 0,
}


# -- forwarding ---------------------------------------------------------------------------


def test_forwards_a_large_http_body_byte_for_byte(
    proxy: FaultProxy, client: httpx.Client, upstream: Upstream
) -> None:
    body = random.Random(1).randbytes(4 * 1024 * 1024)

    response = client.post("/echo", content=body)

    assert response.status_code == 200
    assert response.content == body
    assert upstream.bodies == [body]
    stats = proxy.stats
    assert stats.connections == 1
    assert stats.bytes_up > len(body)
    assert stats.bytes_down > len(body)
    assert stats.fault_counts() == NO_FAULTS
    assert stats.faults == 0


def test_forwards_websocket_messages_both_ways(proxy: FaultProxy, upstream: Upstream) -> None:
    blob = random.Random(2).randbytes(1024 * 1024)
    with open_ws(proxy) as ws:
        ws.send(blob)
        assert ws.recv(timeout=DEADLINE_S) == blob
        ws.send("push 70000")
        assert ws.recv(timeout=DEADLINE_S) == "x" * 70000
    assert upstream.messages == ["ready", blob, "push 70000"]
    assert proxy.stats.faults == 0


def test_unreachable_upstream_resets_the_client_without_counting_a_fault() -> None:
    # A bound socket that never listens: connects to its port are refused, and no one
    # else can take the port while the test runs.
    with socket.socket() as nobody:
        nobody.bind(("127.0.0.1", 0))
        with FaultProxy(nobody.getsockname()) as proxy:
            with (
                httpx.Client(base_url=proxy.url, trust_env=False) as c,
                pytest.raises(httpx.TransportError),
            ):
                c.get("/hello")
            stats = proxy.stats
    assert stats.upstream_failures == 1
    assert stats.faults == 0


# -- delay --------------------------------------------------------------------------------


def test_delay_holds_a_request_until_it_is_lowered(
    proxy: FaultProxy, client: httpx.Client, upstream: Upstream
) -> None:
    proxy.set_delay(DEADLINE_S * 2)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.get, "/hello")
        wait_until(lambda: proxy.stats.delays >= 1, what="the proxy to hold the request")

        assert not pending.done()
        assert upstream.hello == 0, "the upstream saw a request the proxy was holding"

        proxy.set_delay(0)
        assert pending.result(DEADLINE_S).text == "hello"
    assert upstream.hello == 1
    assert proxy.stats.delays == 1  # the answer came after the delay was lifted


def test_jittered_delay_keeps_the_order_of_messages(proxy: FaultProxy) -> None:
    proxy.set_delay(0.01, jitter=0.005)
    with open_ws(proxy) as ws:
        for i in range(40):
            ws.send(f"m{i}")
        received = [ws.recv(timeout=DEADLINE_S) for _ in range(40)]
    assert received == [f"m{i}" for i in range(40)]
    assert proxy.stats.delays >= 4  # "ready" both ways and the burst both ways


# -- cuts ---------------------------------------------------------------------------------


def test_cut_response_fails_the_client_after_the_upstream_received_everything(
    proxy: FaultProxy, client: httpx.Client, upstream: Upstream
) -> None:
    body = random.Random(3).randbytes(256 * 1024)
    assert client.get("/hello").text == "hello"  # a keep-alive connection, not cut
    proxy.cut_next_response(after_bytes=37, request=b"POST /echo")

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/echo", content=body)

    assert upstream.bodies == [body], "the upstream must have received the whole request"
    assert client.get("/hello").text == "hello", "the next request goes through"
    stats = proxy.stats
    assert stats.cuts == 1
    assert stats.connections == 2


def test_cut_delivers_exactly_n_bytes_then_a_tcp_reset(proxy: FaultProxy) -> None:
    with raw_connection(proxy) as sock:
        sock.sendall(HELLO_REQUEST)
        whole = b""
        while not whole.endswith(b"hello"):  # a keep-alive answer: the server stays open
            chunk = sock.recv(65536)
            assert chunk, "the server closed before answering"
            whole += chunk
    assert whole.startswith(b"HTTP/1.1 200 OK\r\n")

    proxy.cut_next_response(after_bytes=12)
    with raw_connection(proxy) as sock:
        sock.sendall(HELLO_REQUEST)
        received, error = read_until_closed(sock)

    assert received == whole[:12] == b"HTTP/1.1 200"
    assert isinstance(error, ConnectionResetError), "a cut must be a reset, not an EOF"
    assert proxy.stats.cuts == 1


def test_cut_response_splits_a_websocket_frame(proxy: FaultProxy, upstream: Upstream) -> None:
    with open_ws(proxy) as ws:
        proxy.cut_next_response(after_bytes=5)  # a 4-byte header and 1 byte of payload
        ws.send("push 1000")
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=DEADLINE_S)
    assert closed.value.rcvd is None, "the client must not have seen a close frame"
    assert upstream.messages == ["ready", "push 1000"]
    assert proxy.stats.cuts == 1


def test_cut_request_leaves_the_upstream_with_a_truncated_body(
    proxy: FaultProxy, client: httpx.Client, upstream: Upstream
) -> None:
    body = bytes(200 * 1024)
    proxy.cut_next_request(after_bytes=1000, request=b"POST /echo")

    with pytest.raises(httpx.TransportError):
        client.post("/echo", content=body)

    wait_until(lambda: upstream.truncated, what="the upstream to notice the cut")
    assert upstream.bodies == []
    assert upstream.truncated[0] < len(body)
    assert proxy.stats.cuts == 1


def test_cut_aimed_at_the_websocket_leaves_http_alone(
    proxy: FaultProxy, client: httpx.Client, upstream: Upstream
) -> None:
    with open_ws(proxy) as ws:
        proxy.cut_next_response(after_bytes=2, connection=b"GET /ws ")

        assert client.get("/hello").text == "hello"
        ws.send("push 300")
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=DEADLINE_S)
    assert closed.value.rcvd is None
    assert client.get("/hello").text == "hello"
    stats = proxy.stats
    assert stats.cuts == 1
    assert stats.connections == 2  # the WebSocket and one keep-alive HTTP connection


# -- partition, resets, drops -------------------------------------------------------------


def test_partition_refuses_connects_and_closes_websockets_until_healed(
    proxy: FaultProxy, client: httpx.Client
) -> None:
    port = proxy.port
    ws = open_ws(proxy)
    assert client.get("/hello").text == "hello"

    proxy.partition()

    with pytest.raises(ConnectionClosedError):
        ws.recv(timeout=DEADLINE_S)
    ws.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.address, timeout=DEADLINE_S)
    with pytest.raises(httpx.ConnectError):
        client.get("/hello")
    with pytest.raises(ConnectionRefusedError):
        ws_connect(proxy.ws_url + "/ws", proxy=None, open_timeout=DEADLINE_S, legacy=True)

    proxy.heal()

    assert proxy.port == port
    assert client.get("/hello").text == "hello"
    with open_ws(proxy) as again:
        again.send("after heal")
        assert again.recv(timeout=DEADLINE_S) == "after heal"
    stats = proxy.stats
    assert stats.partitions == 1
    assert stats.resets == 2  # the WebSocket and the keep-alive HTTP connection


def test_silent_partition_holds_everything_until_heal_delivers_it(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    ws = open_ws(proxy)
    proxy.partition(silent=True)

    ws.send("during")
    wait_until(lambda: proxy.stats.held == 1, what="the proxy to hold the message")
    late = raw_connection(proxy)  # the port still accepts
    late.sendall(HELLO_REQUEST)
    wait_until(lambda: proxy.stats.held == 2, what="the proxy to hold the new connection")
    assert upstream.messages == ["ready"]
    assert upstream.hello == 0
    with pytest.raises(TimeoutError):
        ws.recv(timeout=0.2)  # neither an answer nor a close

    proxy.heal()

    assert ws.recv(timeout=DEADLINE_S) == "during"
    ws.close()
    with late:
        answer = b""
        while not answer.endswith(b"hello"):
            chunk = late.recv(65536)
            assert chunk, "the held connection closed before its answer"
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK")
    stats = proxy.stats
    assert (stats.partitions, stats.resets, stats.cuts) == (1, 0, 0)


def test_reset_all_resets_every_open_connection(proxy: FaultProxy, client: httpx.Client) -> None:
    ws = open_ws(proxy)
    sock = raw_connection(proxy)
    sock.sendall(HELLO_REQUEST[:20])  # half a request: the upstream keeps waiting
    wait_until(lambda: proxy.stats.open == 2, what="the proxy to register both connections")

    proxy.reset_all()

    with sock:
        received, error = read_until_closed(sock)
    assert received == b""
    assert isinstance(error, ConnectionResetError)
    with pytest.raises(ConnectionClosedError) as closed:
        ws.recv(timeout=DEADLINE_S)
    assert closed.value.rcvd is None
    ws.close()
    assert client.get("/hello").text == "hello", "new connections are forwarded again"
    assert proxy.stats.resets == 2


def test_reset_all_can_pick_the_websockets(proxy: FaultProxy, client: httpx.Client) -> None:
    assert client.get("/hello").text == "hello"
    with open_ws(proxy) as ws:
        proxy.reset_all(connection=b"GET /ws ")
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=DEADLINE_S)
    assert client.get("/hello").text == "hello"
    stats = proxy.stats
    assert stats.resets == 1
    assert stats.connections == 2, "the keep-alive HTTP connection must have survived"


def test_set_upstream_moves_new_connections(proxy: FaultProxy, upstream: Upstream) -> None:
    with socket.socket() as nobody, one_connection_per_request(proxy) as c:
        nobody.bind(("127.0.0.1", 0))  # bound, never listening: connects are refused
        proxy.set_upstream(nobody.getsockname())
        with pytest.raises(httpx.TransportError):
            c.get("/hello")
        proxy.set_upstream(upstream.address)
        assert c.get("/hello").text == "hello"
    assert proxy.stats.upstream_failures == 1


def test_drop_black_holes_new_connections_until_heal(
    proxy: FaultProxy, client: httpx.Client, upstream: Upstream
) -> None:
    proxy.set_drop(1.0)
    with raw_connection(proxy) as sock:
        sock.sendall(HELLO_REQUEST)
        wait_until(lambda: proxy.stats.drops == 1, what="the proxy to black-hole the connection")
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # neither an answer nor a close
        assert upstream.hello == 0
        assert proxy.stats.bytes_up == 0

        proxy.heal()

        sock.settimeout(DEADLINE_S)
        received, error = read_until_closed(sock)
    assert received == b""
    assert isinstance(error, ConnectionResetError)
    assert client.get("/hello").text == "hello"
    assert proxy.stats.drops == 1


def test_drop_with_hold_resets_the_connection_by_itself(proxy: FaultProxy) -> None:
    proxy.set_drop(1.0, hold=0.05)
    with raw_connection(proxy) as sock:
        sock.sendall(HELLO_REQUEST)
        received, error = read_until_closed(sock)
    assert received == b""
    assert isinstance(error, ConnectionResetError)
    assert proxy.stats.drops == 1


def dropped_pattern(upstream: Upstream, seed: int) -> list[bool]:
    """Which of 16 one-request connections a half-dropping proxy lost."""
    lost = []
    with FaultProxy(upstream.address, seed=seed) as proxy:
        proxy.set_drop(0.5, hold=0.0)
        with one_connection_per_request(proxy) as c:
            for _ in range(16):
                try:
                    lost.append(c.get("/hello").text != "hello")
                except httpx.TransportError:
                    lost.append(True)
        assert proxy.stats.drops == sum(lost)
    return lost


def test_drops_follow_the_seed(upstream: Upstream) -> None:
    first = dropped_pattern(upstream, seed=7)
    assert 0 < sum(first) < len(first)
    assert dropped_pattern(upstream, seed=7) == first


# -- chaos, stats, shutdown ---------------------------------------------------------------


def test_random_faults_fail_some_requests_and_never_corrupt_one(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    proxy.random_faults(0.2, seed=3, max_delay=0.01, hold=0.02)
    outcomes = []
    with one_connection_per_request(proxy) as c:
        for i in range(30):
            body = f"request {i} ".encode() * 500
            try:
                response = c.post("/echo", content=body)
            except httpx.TransportError:
                outcomes.append("failed")
                continue
            assert response.status_code == 200
            assert response.content == body, "a cut must never look like a short answer"
            outcomes.append("ok")
    assert "failed" in outcomes
    assert "ok" in outcomes
    chaos = proxy.stats
    assert chaos.drops + chaos.cuts >= outcomes.count("failed")

    proxy.random_faults(0)
    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=DEADLINE_S) as c:
        for _ in range(10):
            assert c.post("/echo", content=b"calm").content == b"calm"
    calm = proxy.stats
    assert calm.fault_counts() == chaos.fault_counts()


def test_stats_count_each_fault_and_summarise_them(proxy: FaultProxy, client: httpx.Client) -> None:
    proxy.set_delay(0.001)
    assert client.get("/hello").text == "hello"
    proxy.set_delay(0)
    proxy.cut_next_response(after_bytes=3)
    with pytest.raises(httpx.TransportError):
        client.get("/hello")
    proxy.set_drop(1.0, hold=0.0)
    with pytest.raises(httpx.TransportError):
        client.get("/hello")
    proxy.set_drop(0.0)
    ws = open_ws(proxy)
    proxy.reset_all()
    ws.close()
    ws = open_ws(proxy)
    proxy.partition()
    ws.close()
    proxy.heal()

    stats = proxy.stats
    # The request is one chunk; uvicorn may write the answer's head and body apart.
    assert stats.delays in (2, 3)
    assert stats.fault_counts() == {
        "partitions": 1,
        "refused": 0,
        "drops": 1,
        "delays": stats.delays,
        "held": 0,
        "cuts": 1,
        "resets": 2,
    }
    assert stats.faults == 5 + stats.delays
    assert stats.summary().startswith(
        "faults injected: partitions=1 refused=0 drops=1 "
        f"delays={stats.delays} held=0 cuts=1 resets=2"
    )


def test_stop_resets_open_connections_and_joins_its_thread(upstream: Upstream) -> None:
    with FaultProxy(upstream.address) as proxy:
        ws = open_ws(proxy)
        proxy.set_delay(DEADLINE_S * 2)
        ws.send("held")
        wait_until(lambda: proxy.stats.delays >= 1, what="the proxy to hold the message")
        proxy.set_drop(1.0)
        held = raw_connection(proxy)
        wait_until(lambda: proxy.stats.drops == 1, what="the proxy to black-hole a connection")

        proxy.stop()

        assert not any(t.name == f"FaultProxy:{proxy.port}" for t in threading.enumerate())
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=DEADLINE_S)
        ws.close()
        with held:
            assert read_until_closed(held)[1] is not None
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(proxy.address, timeout=DEADLINE_S)
        assert proxy.stats.open == 0
        assert proxy.stats.connections == 2
        proxy.stop()  # idempotent
        with pytest.raises(RuntimeError):
            proxy.partition()
