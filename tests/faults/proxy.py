"""A fault-injecting TCP proxy for sync tests.

:class:`FaultProxy` listens on a loopback port and forwards every connection it accepts
to one upstream address (HQ), byte for byte, until a test tells it to misbehave. Point
terminals at :attr:`FaultProxy.url` instead of HQ's URL; HTTP and WebSocket traffic both
pass through, since the proxy only sees bytes.

The proxy runs its own asyncio loop in its own thread, so synchronous test code drives
it while terminals and HQ run in other threads or processes. Every control method is
thread-safe and returns once the fault is in force (``partition()`` returns after the
port refuses connections and every open connection has been reset). If HQ is killed and
restarted on another port, :meth:`FaultProxy.set_upstream` points new connections at it
while terminals keep the proxy's URL::

    with FaultProxy(upstream=("127.0.0.1", hq_port)) as proxy:
        terminal = make_terminal(hq_url=proxy.url)
        proxy.cut_next_response(after_bytes=37, request=b"POST /v1/sync/push")
        sell_and_push(terminal)      # HQ commits the batch; its answer is cut mid-header
        proxy.partition()            # connects refused, open connections reset
        sell_offline(terminal)
        proxy.heal()                 # normal forwarding again
        wait_until_converged(terminal)
        print(proxy.stats.summary())  # "faults injected: partitions=1 drops=0 ..."

The faults:

* **partition / heal**: the port stops listening, so connects fail with
  ``ECONNREFUSED`` (on platforms without ``SO_REUSEPORT`` it accepts and resets them
  instead), and every open connection is reset in both directions. ``heal()`` listens
  again on the same port and turns every other fault off as well. A *silent* partition
  (``partition(silent=True)``) holds every byte instead, closing nothing, so only the
  peers' own timeouts and heartbeats can notice it.
* **drop**: a new connection is accepted and then black-holed: nothing is forwarded and
  nothing comes back, as behind a dead router, until ``heal()``, ``reset_all()``,
  ``stop()`` or the hold time given to :meth:`FaultProxy.set_drop` resets it.
* **delay**: each chunk read from either side is held before it is forwarded; chunks in
  one direction keep their order, so a burst of *n* chunks takes about *n* delays.
  Lowering the delay releases held chunks early.
* **cut**: :meth:`FaultProxy.cut_next_response` forwards the first *N* bytes of the next
  upstream-to-client bytes (an HTTP answer or a WebSocket frame) and then resets both
  sides; :meth:`FaultProxy.cut_next_request` does the same to what a client sends. A cut
  can be aimed at the answer to one request (``request=b"POST /v1/sync/push"``) or at
  one kind of connection (``connection=b"GET /v1/sync/live"``, the live channel).
* **reset**: :meth:`FaultProxy.reset_all` resets every open connection at once, or only
  those of one kind (``connection=...``).
* **chaos**: :meth:`FaultProxy.random_faults` drops, delays and cuts at random, from a
  seeded generator.

Resets are real TCP RSTs (``SO_LINGER`` set to ``(1, 0)`` before the socket is closed), so
the peer sees ``ECONNRESET`` rather than a clean end of stream; httpx raises
``ReadError``/``RemoteProtocolError``/``ConnectError`` and websockets
``ConnectionClosedError`` without a close frame. Before a cut resets a connection, the
proxy waits (up to a second, on Linux) until the kernel has delivered the bytes it let
through, so the peer receives exactly those bytes and then the reset.

:attr:`FaultProxy.stats` counts connections, bytes and every fault injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Literal, TypeVar

if sys.platform == "linux":
    import fcntl
    import termios

__all__ = ["FaultProxy", "ProxyStats"]

_T = TypeVar("_T")
Direction = Literal["up", "down"]

_CHUNK = 64 * 1024
_LINGER_RST = struct.pack("ii", 1, 0)
_MAX_PATTERN = 256
_OPENING = 4096
_CONTROL_TIMEOUT_S = 30.0
_FLUSH_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class ProxyStats:
    """What a proxy has done since it started (a snapshot; safe to keep and compare).

    Attributes:
        connections: client connections accepted.
        open: client connections open at the time of the snapshot (forwarding or
            black-holed).
        bytes_up: bytes forwarded from clients to the upstream.
        bytes_down: bytes forwarded from the upstream to clients.
        upstream_failures: accepted connections reset because the upstream could not be
            reached (not a fault the proxy injected).
        partitions: partitions started (refusing or silent).
        refused: connections accepted and reset during a partition; on Linux the kernel
            refuses connects while partitioned and the proxy never sees them, so this
            counts only the few accepted just as the partition began.
        drops: connections black-holed.
        delays: chunks held back by a delay.
        held: chunks and new connections held by a silent partition.
        cuts: streams cut mid-frame (one count per cut connection).
        resets: open connections reset by ``reset_all()`` or ``partition()``.
    """

    connections: int = 0
    open: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    upstream_failures: int = 0
    partitions: int = 0
    refused: int = 0
    drops: int = 0
    delays: int = 0
    held: int = 0
    cuts: int = 0
    resets: int = 0

    @property
    def faults(self) -> int:
        """Every fault injected, of every kind."""
        return sum(self.fault_counts().values())

    def fault_counts(self) -> dict[str, int]:
        """Each kind of fault and how often it was injected (zeros included), e.g. for a
        scenario's convergence report: ``Report(faults=proxy.stats.fault_counts())``."""
        return {
            "partitions": self.partitions,
            "refused": self.refused,
            "drops": self.drops,
            "delays": self.delays,
            "held": self.held,
            "cuts": self.cuts,
            "resets": self.resets,
        }

    def summary(self) -> str:
        """One line for a test's output, e.g. ``faults injected: partitions=1 drops=2 …``."""
        return (
            f"faults injected: partitions={self.partitions} refused={self.refused} "
            f"drops={self.drops} delays={self.delays} held={self.held} cuts={self.cuts} "
            f"resets={self.resets} "
            f"(connections={self.connections}, bytes up={self.bytes_up} "
            f"down={self.bytes_down})"
        )


@dataclass
class _Counts:
    connections: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    upstream_failures: int = 0
    partitions: int = 0
    refused: int = 0
    drops: int = 0
    delays: int = 0
    held: int = 0
    cuts: int = 0
    resets: int = 0


@dataclass(frozen=True)
class _Cut:
    direction: Direction
    after_bytes: int
    request: bytes | None
    connection: bytes | None


@dataclass(frozen=True)
class _Chaos:
    rate: float
    max_delay: float
    hold: float


def _reset(writer: asyncio.StreamWriter) -> None:
    """Closes ``writer``'s socket with an RST, dropping anything not yet sent."""
    transport = writer.transport
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    transport.abort()


def _unsent_bytes(writer: asyncio.StreamWriter) -> int:
    """Bytes the kernel holds for ``writer``'s peer, not yet acknowledged (0 if unknown)."""
    if sys.platform != "linux":
        return 0
    sock = writer.transport.get_extra_info("socket")
    if sock is None or sock.fileno() < 0:  # closed meanwhile (the peer reset it)
        return 0
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (OSError, ValueError):
        return 0
    return int(struct.unpack("i", raw)[0])


class _Conn:
    """One client connection and, once connected, its upstream connection.

    Lives on the proxy's loop thread.
    """

    def __init__(self, client: asyncio.StreamWriter, on_reset: Callable[[], None]) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.dead = False
        self.black_holed = False
        self.budget: dict[Direction, int | None] = {"up": None, "down": None}
        self.opening = b""
        self.tail = b""
        self._on_reset = on_reset

    def reset(self) -> None:
        """Resets both sides now; the pumps notice and end."""
        self.dead = True
        _reset(self.client)
        if self.upstream is not None:
            _reset(self.upstream)
        self._on_reset()

    async def close(self) -> None:
        """Closes both sides gracefully (a no-op for a side already reset)."""
        writers = [w for w in (self.client, self.upstream) if w is not None]
        for writer in writers:
            writer.close()
        for writer in writers:
            try:
                async with asyncio.timeout(_FLUSH_TIMEOUT_S):
                    await writer.wait_closed()
            except (OSError, TimeoutError):
                _reset(writer)
                with contextlib.suppress(OSError):
                    await writer.wait_closed()


class FaultProxy:
    """A TCP proxy on loopback that forwards to ``upstream`` and injects faults on command.

    Control methods may be called from any thread except the proxy's own, between
    :meth:`start` and :meth:`stop`; each returns once its fault is in force. Faults apply
    to connections already open as well as new ones, except ``set_drop`` (new connections
    only).

    Args:
        upstream: ``(host, port)`` every accepted connection is forwarded to.
        host: the address to listen on.
        port: the port to listen on; 0 picks a free one (read it from :attr:`port`).
        seed: seeds the generator behind drops, jitter and chaos, so a run's sequence of
            random decisions repeats (their timing still depends on the traffic).
        connect_timeout: seconds to wait for the upstream before resetting the client.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.upstream = upstream
        self.host = host
        self._port = port
        self.connect_timeout = connect_timeout
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._rng = random.Random(seed)
        self._holder: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stopped = False
        self._errors: list[BaseException] = []
        self._final: ProxyStats | None = None
        # Loop-thread state from here on.
        self._stop_event = asyncio.Event()
        self._changed = asyncio.Event()
        self._accept_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._conns: set[_Conn] = set()
        self._counts = _Counts()
        self._partitioned = False
        self._silent = False
        self._drop = 0.0
        self._drop_hold: float | None = None
        self._delay = 0.0
        self._jitter = 0.0
        self._cuts: list[_Cut] = []
        self._chaos: _Chaos | None = None

    # -- life cycle (caller's thread) ---------------------------------------------------

    @property
    def port(self) -> int:
        """The port the proxy listens on (known once started)."""
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self._port)

    @property
    def url(self) -> str:
        """``http://host:port`` of the proxy, for an HTTP client's base URL."""
        host = f"[{self.host}]" if self._family == socket.AF_INET6 else self.host
        return f"http://{host}:{self._port}"

    @property
    def ws_url(self) -> str:
        """``ws://host:port`` of the proxy; append the WebSocket path."""
        return "ws" + self.url[len("http") :]

    def start(self) -> FaultProxy:
        """Binds the port and starts forwarding; returns once the port accepts."""
        if self._thread is not None:
            raise RuntimeError("FaultProxy already started")
        if hasattr(socket, "SO_REUSEPORT"):
            # A bound, never-listening socket keeps the port while a partition closes the
            # listener, so the kernel refuses connects and nobody else can take the port.
            holder = socket.socket(self._family, socket.SOCK_STREAM)
            try:
                holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                holder.bind((self.host, self._port))
            except BaseException:
                holder.close()
                raise
            self._holder = holder
            self._port = holder.getsockname()[1]
        try:
            self._listener = self._bind_listener()
        except BaseException:
            if self._holder is not None:
                self._holder.close()
            raise
        self._port = self._listener.getsockname()[1]
        self._thread = threading.Thread(
            target=self._thread_main, name=f"FaultProxy:{self._port}", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._loop is None:
            self._thread.join()
            self._close_sockets()
            raise RuntimeError("FaultProxy failed to start") from (
                self._errors[0] if self._errors else None
            )
        return self

    def stop(self, timeout: float = _CONTROL_TIMEOUT_S) -> None:
        """Resets every open connection, closes the port and joins the proxy's thread.

        Idempotent. Raises the first unexpected error the proxy's tasks met, if any, so a
        bug in the proxy fails the test that used it.
        """
        if self._thread is None or self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive() and self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("FaultProxy thread did not stop")
        self._close_sockets()
        if self._errors:
            raise RuntimeError("FaultProxy failed") from self._errors[0]

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control (caller's thread) ------------------------------------------------------

    @property
    def stats(self) -> ProxyStats:
        """Counts so far; after :meth:`stop`, the final counts."""
        if self._final is not None:
            return self._final
        if self._thread is None:
            return ProxyStats()
        return self._call(self._snapshot)

    def partition(self, *, silent: bool = False) -> None:
        """Cuts the link until :meth:`heal`.

        By default the port refuses new connections and every open one is reset, as when
        HQ's host is down. With ``silent``, bytes vanish instead, as when a router dies:
        open connections stop forwarding in both directions (end of stream included)
        without closing, and new ones are accepted but get no further; ``heal()`` then
        delivers what was held, in order, as when a link returns before TCP gives up.
        Only a client's own timeouts notice a silent partition.
        """
        if silent:
            self._call(self._partition_silently)
        else:
            self._call_async(self._partition)

    def heal(self) -> None:
        """Back to normal forwarding: ends a partition (a silent one delivers what it
        held), resets black-holed connections, and turns off drops, delays, pending cuts
        and chaos. Connections that were forwarding stay open."""
        self._call_async(self._heal)

    def set_delay(self, seconds: float, jitter: float = 0.0) -> None:
        """Holds each chunk, in both directions, ``seconds`` ± ``jitter`` (uniform, never
        below 0) before forwarding it. Applies to chunks already held: lowering the delay
        releases them early."""
        if seconds < 0 or jitter < 0:
            raise ValueError("delay and jitter must be >= 0")

        def apply() -> None:
            self._delay, self._jitter = seconds, jitter
            self._poke()

        self._call(apply)

    def set_drop(self, probability: float, *, hold: float | None = None) -> None:
        """Black-holes each new connection with ``probability``: accepted, then nothing
        forwarded either way. It stays open until ``heal()``, ``reset_all()``, ``stop()``,
        or for ``hold`` seconds if given, and then is reset."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")

        def apply() -> None:
            self._drop, self._drop_hold = probability, hold

        self._call(apply)

    def cut_next_response(
        self,
        after_bytes: int = 0,
        *,
        request: bytes | None = None,
        connection: bytes | None = None,
    ) -> None:
        """Cuts the next upstream-to-client stream mid-frame: forwards ``after_bytes``
        bytes of it, then resets both sides.

        Which stream:

        * by default, the next bytes the upstream sends on any connection (an HTTP
          response, or a frame on an open WebSocket);
        * with ``request``, the answer to the next request containing those bytes (for
          example ``b"POST /v1/sync/push"``): HQ has received the whole request and
          committed, and the client never learns it;
        * with ``connection``, the next bytes sent down a connection whose opening request
          contains those bytes (for example ``b"GET /v1/sync/live"`` for the live channel,
          while HTTP traffic passes untouched).

        If the stream is shorter than ``after_bytes``, later bytes on that connection are
        cut. Calls queue: each arms one more cut.
        """
        self._arm(_Cut("down", after_bytes, _pattern(request), _pattern(connection)))

    def cut_next_request(
        self,
        after_bytes: int = 0,
        *,
        request: bytes | None = None,
        connection: bytes | None = None,
    ) -> None:
        """Cuts the next client-to-upstream stream: forwards ``after_bytes`` bytes of it,
        then resets both sides, so the upstream sees a truncated request. With ``request``
        the bytes are counted from the start of the next request containing it;
        ``connection`` chooses the connection as in :meth:`cut_next_response`."""
        self._arm(_Cut("up", after_bytes, _pattern(request), _pattern(connection)))

    def reset_all(self, *, connection: bytes | None = None) -> None:
        """Resets every open connection now (forwarding or black-holed), or with
        ``connection``, those whose opening request contains these bytes."""
        _pattern(connection)

        def apply() -> None:
            for conn in list(self._conns):
                if not conn.dead and (connection is None or connection in conn.opening):
                    conn.reset()
                    self._counts.resets += 1

        self._call(apply)

    def set_upstream(self, upstream: tuple[str, int]) -> None:
        """Forwards new connections to ``upstream`` from now on (HQ restarted elsewhere);
        open connections stay with the old one."""

        def apply() -> None:
            self.upstream = upstream

        self._call(apply)

    def random_faults(
        self,
        rate: float,
        *,
        seed: int | None = None,
        max_delay: float = 0.05,
        hold: float = 0.25,
    ) -> None:
        """Chaos mode: with probability ``rate`` each new connection is black-holed for
        ``hold`` seconds, and each chunk forwarded, in either direction, is held up to
        ``max_delay`` seconds longer with probability ``rate`` and cut at a random byte
        (a reset mid-frame) with probability ``rate``.
        ``rate=0`` turns chaos off (so does ``heal()``). ``seed`` reseeds the proxy's
        generator."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")

        def apply() -> None:
            if seed is not None:
                self._rng.seed(seed)
            self._chaos = _Chaos(rate, max_delay, hold) if rate > 0 else None
            self._poke()

        self._call(apply)

    # -- plumbing between threads -------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._stopped or self._loop.is_closed():
            raise RuntimeError("FaultProxy is not running")
        if threading.current_thread() is self._thread:
            raise RuntimeError("FaultProxy control methods block: call them from another thread")
        return self._loop

    def _call(self, fn: Callable[[], _T]) -> _T:
        async def run() -> _T:
            return fn()

        return self._call_async(run)

    def _call_async(self, fn: Callable[[], Awaitable[_T]]) -> _T:
        loop = self._running_loop()

        async def run() -> _T:
            return await fn()

        coro = run()
        try:
            future = asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:  # the loop closed under us
            coro.close()
            raise RuntimeError("FaultProxy is not running") from None
        return future.result(_CONTROL_TIMEOUT_S)

    def _arm(self, cut: _Cut) -> None:
        if cut.after_bytes < 0:
            raise ValueError("after_bytes must be >= 0")
        if cut.request is not None and cut.connection is not None:
            raise ValueError("give request or connection, not both")
        self._call(lambda: self._cuts.append(cut))

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._errors.append(exc)
        finally:
            self._ready.set()

    def _close_sockets(self) -> None:
        for sock in (self._listener, self._holder):
            if sock is not None:
                sock.close()
        self._listener = self._holder = None

    # -- the loop thread ----------------------------------------------------------------

    async def _main(self) -> None:
        self._start_accepting()
        self._loop = asyncio.get_running_loop()
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        await self._stop_accepting()
        for conn in list(self._conns):
            conn.reset()
        pending = set(self._tasks)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=_FLUSH_TIMEOUT_S * 2)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._final = self._snapshot()

    def _snapshot(self) -> ProxyStats:
        return ProxyStats(open=len(self._conns), **asdict(self._counts))

    def _poke(self) -> None:
        """Wakes every held chunk to re-read the settings."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _bind_listener(self) -> socket.socket:
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self._holder is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self.host, self._port))
            sock.listen(128)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def _start_accepting(self) -> None:
        if self._listener is None:
            self._listener = self._bind_listener()
        self._accept_task = asyncio.create_task(self._accept(self._listener))
        self._accept_task.add_done_callback(self._record_error)

    async def _stop_accepting(self) -> None:
        task, self._accept_task = self._accept_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _ = await loop.sock_accept(listener)
            except ConnectionAbortedError:  # the client gave up while queued
                continue
            task = asyncio.create_task(self._serve(sock))
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._record_error(task)

    def _record_error(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._errors.append(exc)

    async def _partition(self) -> None:
        if not self._partitioned:
            self._partitioned = True
            self._counts.partitions += 1
            if self._holder is not None:
                await self._stop_accepting()
        for conn in list(self._conns):
            if not conn.dead:
                conn.reset()
                self._counts.resets += 1

    def _partition_silently(self) -> None:
        if not self._silent:
            self._silent = True
            self._counts.partitions += 1

    async def _heal(self) -> None:
        self._silent = False
        self._drop, self._drop_hold = 0.0, None
        self._delay = self._jitter = 0.0
        self._cuts.clear()
        self._chaos = None
        for conn in list(self._conns):
            conn.budget = {"up": None, "down": None}
            if conn.black_holed and not conn.dead:
                conn.reset()
        if self._partitioned:
            if self._accept_task is None:
                self._start_accepting()
            self._partitioned = False
        self._poke()

    async def _serve(self, sock: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise
        writer.transport.set_write_buffer_limits(0)
        conn = _Conn(writer, self._poke)
        self._conns.add(conn)
        self._counts.connections += 1
        try:
            if self._partitioned:
                self._counts.refused += 1
                conn.reset()
                return
            await self._wait_out_silence(conn)
            if conn.dead:
                return
            hold = self._roll_drop()
            if hold is not False:
                await self._black_hole(conn, reader, hold)
                return
            try:
                async with asyncio.timeout(self.connect_timeout):
                    up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except (OSError, TimeoutError):
                self._counts.upstream_failures += 1
                conn.reset()
                return
            up_writer.transport.set_write_buffer_limits(0)
            conn.upstream = up_writer
            if conn.dead:
                conn.reset()
                return
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pump(conn, reader, up_writer, "up"))
                group.create_task(self._pump(conn, up_reader, writer, "down"))
        finally:
            self._conns.discard(conn)
            await conn.close()

    def _roll_drop(self) -> float | Literal[False] | None:
        """``False`` to forward a new connection, else how long to black-hole it."""
        if self._drop and self._rng.random() < self._drop:
            return self._drop_hold
        if self._chaos is not None and self._rng.random() < self._chaos.rate:
            return self._chaos.hold
        return False

    async def _black_hole(
        self, conn: _Conn, reader: asyncio.StreamReader, hold: float | None
    ) -> None:
        conn.black_holed = True
        self._counts.drops += 1
        try:
            async with asyncio.timeout(hold):
                while await reader.read(_CHUNK):
                    pass
        except (OSError, TimeoutError):
            conn.reset()

    async def _pump(
        self,
        conn: _Conn,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        direction: Direction,
    ) -> None:
        """Forwards ``src`` to ``dst`` until end of stream, applying the faults."""
        try:
            while True:
                data = await src.read(_CHUNK)
                await self._wait_out_silence(conn)
                if conn.dead:
                    return
                if not data:
                    if dst.can_write_eof():
                        dst.write_eof()
                    return
                if direction == "up":
                    if not conn.opening:
                        conn.opening = data[:_OPENING]
                    self._match_requests(conn, data)
                await self._hold(conn)
                if conn.dead:
                    return
                limit = self._cut_limit(conn, direction, data)
                if limit is not None:
                    data = data[:limit]
                if data:
                    dst.write(data)
                    await dst.drain()
                    self._count_bytes(direction, len(data))
                if limit is not None:
                    # Let the peer receive what was let through before the reset drops it.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(_FLUSH_TIMEOUT_S):
                            while _unsent_bytes(dst) and not conn.dead:
                                await asyncio.sleep(0.001)
                    self._counts.cuts += 1
                    conn.reset()
                    return
        except (OSError, TimeoutError):
            # One side failed or reset: pass it on as a reset, as a dead link would.
            if not conn.dead:
                conn.reset()

    def _count_bytes(self, direction: Direction, n: int) -> None:
        if direction == "up":
            self._counts.bytes_up += n
        else:
            self._counts.bytes_down += n

    async def _wait_out_silence(self, conn: _Conn) -> None:
        """Holds a chunk (or a new connection) while a silent partition lasts."""
        if not self._silent or conn.dead:
            return
        self._counts.held += 1
        while self._silent and not conn.dead:
            await self._changed.wait()

    async def _hold(self, conn: _Conn) -> None:
        """Waits out the delay for one chunk, re-reading the settings whenever they change."""
        if not (self._delay or self._jitter or self._chaos):
            return
        loop = asyncio.get_running_loop()
        start = loop.time()
        spread = self._rng.uniform(-1.0, 1.0)
        extra = 0.0
        if self._chaos is not None and self._rng.random() < self._chaos.rate:
            extra = self._rng.uniform(0.0, self._chaos.max_delay)

        def due() -> float:
            held = max(0.0, self._delay + spread * self._jitter)
            return held + (extra if self._chaos is not None else 0.0)

        if due() <= 0:
            return
        self._counts.delays += 1
        while not conn.dead and (wait := start + due() - loop.time()) > 0:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await changed.wait()

    def _match_requests(self, conn: _Conn, data: bytes) -> None:
        """Binds cuts waiting for a request pattern to ``conn`` when ``data`` holds it."""
        if not any(cut.request is not None for cut in self._cuts):
            conn.tail = (conn.tail + data[-_MAX_PATTERN:])[-_MAX_PATTERN:]
            return
        window = conn.tail + data
        for cut in list(self._cuts):
            if cut.request is None or conn.budget[cut.direction] is not None:
                continue
            # Only matches that reach into the new data: the tail was searched before.
            at = window.find(cut.request, max(0, len(conn.tail) - len(cut.request) + 1))
            if at < 0:
                continue
            self._cuts.remove(cut)
            if cut.direction == "down":
                conn.budget["down"] = cut.after_bytes
            else:
                conn.budget["up"] = max(0, at - len(conn.tail) + cut.after_bytes)
        conn.tail = window[-_MAX_PATTERN:]

    def _cut_limit(self, conn: _Conn, direction: Direction, data: bytes) -> int | None:
        """How many bytes of ``data`` to forward before cutting, or None not to cut."""
        budget = conn.budget[direction]
        if budget is None:
            for cut in self._cuts:
                if (
                    cut.direction == direction
                    and cut.request is None
                    and (cut.connection is None or cut.connection in conn.opening)
                ):
                    self._cuts.remove(cut)
                    budget = cut.after_bytes
                    break
        if budget is None:
            if self._chaos is not None and self._rng.random() < self._chaos.rate:
                return self._rng.randrange(len(data))
            return None
        if len(data) >= budget:
            conn.budget[direction] = None
            return budget
        conn.budget[direction] = budget - len(data)
        return None


def _pattern(pattern: bytes | None) -> bytes | None:
    if pattern is not None and not 0 < len(pattern) <= _MAX_PATTERN:
        raise ValueError(f"a pattern must be 1 to {_MAX_PATTERN} bytes")
    return pattern
