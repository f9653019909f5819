"""The live channel: ``WS /v1/sync/live`` pushes feed changes to terminals as they commit.

One :class:`Hub` per process runs on the server's event loop. It keeps the newest seq it
has distributed (``head``). A wake-up, whether from a local commit (any thread, through
:meth:`server_stub.db.Database.add_listener`), from PostgreSQL ``LISTEN`` (another HQ
process or the admin CLI committed) or from a periodic poll, makes it read the feed rows
after ``head`` from the database and offer each connection the ones it may see. The
feed table is the truth; wake-ups only say "look now", so a lost one costs at most one
poll interval.

Each connection has a bounded queue and its own sender task, so a slow terminal delays
nobody: when its queue is full, or one send (catch-up pages included) takes longer than
``send_timeout_s``, it is dropped (close 4409) and will reconnect and catch up. A
terminal that stays silent for three heartbeats is dropped (4408); a revoked one is
closed with 4401 at once, whatever it is doing (on another HQ process: within
``revoke_check_s``, or at once by PostgreSQL NOTIFY). A connection that ends for any
reason (dropped, revoked, its sender failed) and whose close handshake does not finish
within ``close_timeout_s`` (its peer does not read) has its TCP connection cut, also when
the server itself had already begun closing it (an unanswered keep-alive ping).

A new connection says ``hello`` with its cursor. The hub registers it and notes the
``head`` at that instant (``target``), all on the event loop and without awaiting in
between: the connection then reads ``(cursor, target]`` from the database itself while
everything after ``target`` queues up behind, so nothing is missed or reordered.

The hub keeps the newest feed rows it has read (``RECENT_ROWS``; read at start too). A
terminal whose cursor lies within them (one back after a short outage or an HQ restart)
gets its catch-up from memory with no database read at all, cursor check included: every
row after the window's floor up to ``head`` is in it. Reconnecting thousands of tills then
costs HQ their handshakes and little else.

Thread rules: everything here runs on the event loop except database reads (worker
threads via :func:`asyncio.to_thread`) and the PostgreSQL listener (its own thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from server_stub import feed
from server_stub import models as m
from server_stub.auth import DeviceIdentity
from server_stub.db import FEED_CHANNEL, REVOKE_CHANNEL, Database
from server_stub.metrics import Metrics
from sync_client.contract import protocol as p

log = logging.getLogger("chainpos.hq.live")

_CLIENT_MESSAGE: TypeAdapter[p.LiveHello | p.LiveAck] = TypeAdapter(p.LiveClientMessage)
_READ_PAGE = 2000
RECENT_ROWS = 4096
"""Feed rows the hub keeps in memory to serve reconnecting terminals' catch-up."""


@dataclass(frozen=True)
class LiveSettings:
    """Timing of the live channel (seconds) and the per-connection queue length."""

    heartbeat_s: float = 15.0
    queue_size: int = 256
    # How often the feed table is read without a wake-up; None: 0.25 s on SQLite (where
    # the admin CLI's commits arrive only this way), 1 s on PostgreSQL (NOTIFY wakes us).
    poll_interval_s: float | None = None
    hello_timeout_s: float = 10.0
    revoke_check_s: float = 1.0
    # One message (or the catch-up's page) must be handed to the peer's TCP stream within
    # this; a terminal that reads slower is dropped with CLOSE_TOO_SLOW.
    send_timeout_s: float = 10.0
    # How long a dropped connection's close handshake may take before the TCP connection
    # is cut (a peer that does not read never takes the close frame).
    close_timeout_s: float = 0.5


@dataclass(eq=False)
class LiveConnection:
    """One connected terminal. ``sent_through``: every change it may see with a seq at or
    below this has been queued for it."""

    ws: WebSocket
    device: DeviceIdentity
    stock: str
    queue: asyncio.Queue[str]
    sent_through: int
    last_heard: float
    connected_at: datetime
    killed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int = 1000
    close_reason: str = ""

    def offer(self, text: str) -> bool:
        """Queues a message; a full queue drops the connection (it reads too slowly)."""
        if self.killed.is_set():
            return False
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.kill(p.CLOSE_TOO_SLOW, "send queue overflowed; reconnect and pull")
            return False
        return True

    def kill(self, code: int, reason: str) -> None:
        if not self.killed.is_set():
            self.close_code, self.close_reason = code, reason
            self.killed.set()


class Hub:
    """Fans feed changes out to this process's live connections."""

    def __init__(self, db: Database, settings: LiveSettings, metrics: Metrics) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.head = 0
        self.connections: set[LiveConnection] = set()
        # Every feed row with floor < seq <= head, oldest first (see the module doc).
        self._recent: deque[feed.Row] = deque()
        self._recent_floor = 0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self._poll_interval = settings.poll_interval_s or (0.25 if db.is_sqlite else 1.0)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Starts the pump, heartbeats and (on PostgreSQL) the LISTEN thread."""
        self._loop = asyncio.get_running_loop()
        self.head, self._recent_floor, recent = await asyncio.to_thread(self._read_recent)
        self._recent.extend(recent)
        self.db.add_listener(self._on_db_signal)
        self._tasks = [
            asyncio.create_task(self._pump(), name="live-pump"),
            asyncio.create_task(self._heartbeats(), name="live-heartbeats"),
            asyncio.create_task(self._revocations(), name="live-revocations"),
        ]
        if not self.db.is_sqlite:
            self._listener = threading.Thread(target=self._listen, name="hq-pg-listen", daemon=True)
            self._listener.start()

    async def stop(self) -> None:
        """Closes every connection (1001) and stops the background work."""
        self.db.remove_listener(self._on_db_signal)
        for conn in list(self.connections):
            conn.kill(1001, "HQ is shutting down")
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._listener is not None:
            await asyncio.to_thread(self._listener.join, 5)

    # -- wake-ups -----------------------------------------------------------------------

    def _on_db_signal(self, channel: str, payload: str) -> None:
        # Runs on whichever thread committed; hop onto the loop.
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closing at shutdown
                loop.call_soon_threadsafe(self._handle_signal, channel, payload)

    def _handle_signal(self, channel: str, payload: str) -> None:
        if channel == FEED_CHANNEL:
            self._wake.set()
        elif channel == REVOKE_CHANNEL:
            self._close_revoked({payload})

    def _listen(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.db.psycopg_conninfo(), autocommit=True) as pg:
                    pg.execute(f"LISTEN {FEED_CHANNEL}")
                    pg.execute(f"LISTEN {REVOKE_CHANNEL}")
                    # Anything committed while we were not listening: look now.
                    self._on_db_signal(FEED_CHANNEL, "")
                    while not self._stop.is_set():
                        for note in pg.notifies(timeout=0.5):
                            self._on_db_signal(note.channel, note.payload)
            except psycopg.Error:
                log.warning("LISTEN connection lost; polling until it is back", exc_info=True)
                self._stop.wait(1.0)

    # -- distribution -------------------------------------------------------------------

    def _read_head(self) -> int:
        with self.db.read() as conn:
            return feed.state(conn).last_seq

    def _read_recent(self) -> tuple[int, int, list[feed.Row]]:
        """HQ's head, and the feed rows after ``floor`` up to it (at most ``RECENT_ROWS``;
        none below the retention floor)."""
        with self.db.read(consistent=True) as conn:
            st = feed.state(conn)
            floor = max(st.last_seq - RECENT_ROWS, st.pruned_through, 0)
            rows = feed.read_rows(conn, floor, st.last_seq, RECENT_ROWS)
        return st.last_seq, floor, rows

    def _remember(self, rows: list[feed.Row]) -> None:
        """Adds rows read right after ``head`` to the window, dropping the oldest."""
        self._recent.extend(rows)
        while len(self._recent) > RECENT_ROWS:
            self._recent_floor = self._recent.popleft().seq

    def _forget(self, head: int) -> None:
        """The head moved without its rows being read: the window starts again there."""
        self._recent.clear()
        self._recent_floor = head

    def _recent_visible(self, conn: LiveConnection, after: int) -> list[tuple[int, str]] | None:
        """The rows ``conn`` may see in ``(after, head]`` from memory; None when ``after``
        is outside the window (then the database answers)."""
        if not self._recent_floor <= after <= self.head:
            return None
        store, stock = conn.device.store, conn.stock
        out = []
        for row in reversed(self._recent):
            if row.seq <= after:
                break
            if row.visible_to(store, stock):
                out.append((row.seq, row.body))
        out.reverse()
        return out

    def _read_new(self, after: int) -> list[feed.Row]:
        with self.db.read() as conn:
            return feed.read_rows(conn, after, None, _READ_PAGE)

    async def _pump(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):  # not wait_for: see _send
                    await self._wake.wait()
            self._wake.clear()
            try:
                if not self.connections:
                    # Nobody to send to: move the head without reading the rows. A
                    # connection registering meanwhile takes the old head as its target,
                    # so then fall through and distribute from it.
                    head = await asyncio.to_thread(self._read_head)
                    if not self.connections:
                        if head > self.head:
                            self._forget(head)
                            self.head = head
                        continue
                while True:
                    rows = await asyncio.to_thread(self._read_new, self.head)
                    if rows:
                        self._distribute(rows)
                    if len(rows) < _READ_PAGE:
                        break
            except Exception:
                log.exception("reading the feed failed; retrying on the next wake-up")

    def _distribute(self, rows: list[feed.Row]) -> None:
        """Offers ``rows`` (seq order, right after ``head``) to every connection."""
        new_head = rows[-1].seq
        self.head = new_head
        self._remember(rows)
        chain_wide = all(r.store is None for r in rows)
        joined: dict[tuple[str, str] | None, str] = {}
        sent = 0
        for conn in list(self.connections):
            key = None if chain_wide else (conn.device.store, conn.stock)
            body = joined.get(key)
            if body is None:
                visible = [r.body for r in rows if r.visible_to(conn.device.store, conn.stock)]
                body = ",".join(visible)
                joined[key] = body
            if not body:
                continue  # nothing for it; its next message starts from sent_through
            text = (
                f'{{"type":"changes","after":{conn.sent_through},'
                f'"next_after":{new_head},"changes":[{body}]}}'
            )
            if conn.offer(text):
                conn.sent_through = new_head
                sent += 1
        if sent:
            self.metrics.live_sent(sent)

    async def _heartbeats(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            now = loop.time()
            server_time = datetime.now(UTC)
            beat = p.LiveHeartbeat(
                head=self.head, next_after=self.head, server_time=server_time
            ).model_dump_json()
            for conn in list(self.connections):
                if now - conn.last_heard > 3 * self.settings.heartbeat_s:
                    conn.kill(p.CLOSE_HEARTBEAT_TIMEOUT, "no message for three heartbeats")
                    continue
                if conn.offer(beat):
                    conn.sent_through = self.head

    async def _revocations(self) -> None:
        # Revocations by another process on SQLite (the admin CLI) arrive only this way.
        while True:
            await asyncio.sleep(self.settings.revoke_check_s)
            if not self.connections:
                continue
            since = min(c.connected_at for c in self.connections) - timedelta(minutes=1)
            try:
                revoked = await asyncio.to_thread(self._read_revoked, since)
            except Exception:
                log.exception("checking revocations failed")
                continue
            self._close_revoked(revoked)

    def _read_revoked(self, since: datetime) -> set[str]:
        with self.db.read() as conn:
            return set(
                conn.execute(
                    select(m.devices.c.id).where(m.devices.c.revoked_at >= since)
                ).scalars()
            )

    def _close_revoked(self, device_ids: set[str]) -> None:
        for conn in list(self.connections):
            if conn.device.device_id in device_ids:
                conn.kill(p.CLOSE_UNAUTHORISED, "device revoked")

    # -- one connection -----------------------------------------------------------------

    async def serve(self, ws: WebSocket, device: DeviceIdentity) -> None:
        """Runs an accepted connection until it closes."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.settings.hello_timeout_s):  # not wait_for: _send
                hello = await self._receive_hello(ws)
        except TimeoutError:
            await _close(ws, p.CLOSE_BAD_MESSAGE, "no hello")
            return
        except _BadMessage as exc:
            await _close(ws, p.CLOSE_BAD_MESSAGE, str(exc)[:120])
            return
        except WebSocketDisconnect:
            return
        if hello.store is not None and hello.store != device.store:
            log.warning("device %s said hello for store %s", device.device_id, hello.store)
            await _close(ws, p.CLOSE_FORBIDDEN, f"device belongs to store {device.store}")
            return
        conn = LiveConnection(
            ws=ws,
            device=device,
            stock=hello.stock,
            queue=asyncio.Queue(self.settings.queue_size),
            sent_through=0,
            last_heard=loop.time(),
            connected_at=datetime.now(UTC),
        )
        # From memory when the cursor is within the window, taken with the target below
        # without awaiting in between; else the cursor is checked against the database.
        recent = self._recent_visible(conn, hello.after)
        try:
            if recent is None:
                st = await asyncio.to_thread(self._state)
                feed.check_cursor(hello.after, st)
                recent = self._recent_visible(conn, hello.after)
        except feed.ResyncNeeded as exc:
            self.metrics.resync()
            msg = p.LiveResync(detail=exc.detail, snapshot=feed.SNAPSHOT_PATH)
            with contextlib.suppress(Exception):
                await ws.send_text(msg.model_dump_json())
            await _close(ws, p.CLOSE_RESYNC, "resync")
            return
        # Register and note the target without awaiting in between (see module doc).
        target = conn.sent_through = self.head
        self.connections.add(conn)
        self.metrics.acked(device.device_id, hello.after)
        tasks: list[asyncio.Task[Any]] = []
        try:
            welcome = p.LiveWelcome(
                device_id=device.device_id,
                store=device.store,
                head=target,
                heartbeat_s=self.settings.heartbeat_s,
            )
            # Welcome, catch-up and the queue are one sender task, so a kill (revocation,
            # heartbeat, a too-slow send) stops it wherever it is.
            tasks = [
                asyncio.create_task(self._send_loop(conn, welcome, hello.after, target, recent)),
                asyncio.create_task(self._receive_loop(conn)),
                asyncio.create_task(conn.killed.wait()),
            ]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the peer went away
        finally:
            self.connections.discard(conn)
            for task in tasks:
                task.cancel()
            # Bounded: the close and the cut below must not wait on a task that does not
            # end (they also end a send that is still blocked).
            if tasks:
                _, stuck = await asyncio.wait(tasks, timeout=self.settings.close_timeout_s)
                if stuck:
                    log.error("live: %s: %d task(s) did not stop", device.device_id, len(stuck))
            for task in tasks:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: the close below is the answer to it
            if conn.killed.is_set():
                reason = {
                    p.CLOSE_TOO_SLOW: "too_slow",
                    p.CLOSE_HEARTBEAT_TIMEOUT: "heartbeat",
                    p.CLOSE_UNAUTHORISED: "revoked",
                    p.CLOSE_BAD_MESSAGE: "bad_message",
                }.get(conn.close_code)
                if reason:
                    self.metrics.live_drop(reason)
                    log.warning(
                        "live: dropped %s (%d %s)",
                        device.device_id,
                        conn.close_code,
                        conn.close_reason,
                    )
                code, why = conn.close_code, conn.close_reason
            else:
                # The peer left, or a task ended (a failed send, a database error): the
                # same bounded close, so a peer that does not read is never left half-open.
                code, why = 1000, ""
            await _close(ws, code, why, self.settings.close_timeout_s)
            await _cut_unless_closed(ws, self.settings.close_timeout_s)

    def _state(self) -> feed.FeedState:
        with self.db.read() as conn:
            return feed.state(conn)

    async def _receive_hello(self, ws: WebSocket) -> p.LiveHello:
        msg = _parse_client(await _receive_text(ws))
        if not isinstance(msg, p.LiveHello):
            raise _BadMessage("the first message must be a hello")
        return msg

    async def _catch_up(
        self,
        conn: LiveConnection,
        after: int,
        target: int,
        recent: list[tuple[int, str]] | None,
    ) -> None:
        """Sends ``(after, target]`` in pages: from ``recent`` (the window's rows, taken
        with ``target``) when given, else read from the database."""
        cursor = after
        while cursor < target and not conn.killed.is_set():
            if recent is not None:
                page, recent = recent[:_READ_PAGE], recent[_READ_PAGE:]
                if len(page) < _READ_PAGE:
                    recent = []  # the last page ends at the target
            else:
                page = await asyncio.to_thread(self._read_visible, conn, cursor, target)
            next_after = page[-1][0] if len(page) == _READ_PAGE else target
            msg = (
                f'{{"type":"changes","after":{cursor},"next_after":{next_after},'
                f'"changes":[{",".join(body for _, body in page)}]}}'
            )
            if page or next_after == target:
                await self._send(conn, msg)
                self.metrics.live_sent()
            cursor = next_after

    def _read_visible(self, conn: LiveConnection, after: int, upto: int) -> list[tuple[int, str]]:
        with self.db.read() as db_conn:
            rows = db_conn.execute(
                select(m.feed.c.seq, m.feed.c.body)
                .where(
                    m.feed.c.seq > after,
                    m.feed.c.seq <= upto,
                    feed.visibility(conn.device.store, conn.stock),
                )
                .order_by(m.feed.c.seq)
                .limit(_READ_PAGE)
            )
            return [(int(r.seq), r.body) for r in rows]

    async def _send(self, conn: LiveConnection, text: str) -> None:
        """Sends one message within ``send_timeout_s``, else drops the connection."""
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that arrives as the send completes, and the sender would then wait on its
            # queue forever, holding up the close of a revoked or dropped connection.
            async with asyncio.timeout(self.settings.send_timeout_s):
                await conn.ws.send_text(text)
        except TimeoutError:
            conn.kill(
                p.CLOSE_TOO_SLOW,
                f"a send took over {self.settings.send_timeout_s:g}s; reconnect and pull",
            )
            await asyncio.Event().wait()  # the kill ends the connection; wait for that

    async def _send_loop(
        self,
        conn: LiveConnection,
        welcome: p.LiveWelcome,
        after: int,
        target: int,
        recent: list[tuple[int, str]] | None,
    ) -> None:
        await self._send(conn, welcome.model_dump_json())
        await self._catch_up(conn, after, target, recent)
        while True:
            text = await conn.queue.get()
            await self._send(conn, text)

    async def _receive_loop(self, conn: LiveConnection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                msg = _parse_client(await _receive_text(conn.ws))
            except _BadMessage as exc:
                conn.kill(p.CLOSE_BAD_MESSAGE, str(exc)[:120])
                return
            conn.last_heard = loop.time()
            if isinstance(msg, p.LiveAck):
                # An ack past anything this process has seen is a lie (or a clock from
                # another process's pull, not yet polled here): ignored, never recorded.
                if msg.seq <= self.head:
                    self.metrics.acked(conn.device.device_id, msg.seq)
            else:
                conn.kill(p.CLOSE_BAD_MESSAGE, "hello sent twice")
                return


class _BadMessage(Exception):
    pass


async def _receive_text(ws: WebSocket) -> str:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise _BadMessage("messages are JSON text frames")
    return str(text)


def _parse_client(text: str) -> p.LiveHello | p.LiveAck:
    try:
        return _CLIENT_MESSAGE.validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "message"
        raise _BadMessage(f"{where}: {first['msg']}") from None
    except json.JSONDecodeError:
        raise _BadMessage("not JSON") from None


async def _close(ws: WebSocket, code: int, reason: str, timeout: float = 2.0) -> bool:
    """Closes ``ws`` with ``code``; whether that finished within ``timeout`` seconds."""
    if ws.application_state == WebSocketState.DISCONNECTED:
        return True
    try:
        async with asyncio.timeout(timeout):  # not wait_for: see Hub._send
            await ws.close(code, reason)
    except Exception:
        return False
    return True


async def _cut_unless_closed(ws: WebSocket, timeout: float) -> None:
    """Gives the peer ``timeout`` seconds to answer our close frame, then cuts the TCP
    connection (:func:`_abort`): a peer that does not read never answers.

    A transport that is merely *closing* is not closed: ``close()`` waits until the peer
    has taken everything still buffered, which a peer that does not read never does. The
    server calls it itself, for example when the peer left its keep-alive ping unanswered
    (uvicorn, after 40 s); such a connection used to stay open however it was dropped,
    revoked included. Only a transport that is closing with nothing left to send closes
    by itself; any other is cut."""
    transport = _find_transport(getattr(ws, "_send", None))
    if transport is None:
        return
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not _closes_by_itself(transport):
        if loop.time() >= end:
            _abort(ws)
            return
        await asyncio.sleep(0.02)


def _closes_by_itself(transport: Any) -> bool:
    try:
        return bool(transport.is_closing()) and transport.get_write_buffer_size() == 0
    except Exception:  # a transport without these: as before, closing is enough
        return bool(transport.is_closing())


def _abort(ws: WebSocket) -> None:
    """Cuts the TCP connection under ``ws`` (a peer that does not read never takes our
    close frame, and the server would otherwise wait for it). The ASGI interface has no
    such call: this reaches uvicorn's protocol object through the send callable, and does
    nothing when it is not there (the server then ends the connection after its own close
    timeout)."""
    transport = _find_transport(getattr(ws, "_send", None))
    if transport is not None:
        with contextlib.suppress(Exception):
            transport.abort()


def _find_transport(send: Any, depth: int = 8) -> Any:
    # Middleware wraps the server's send in closures; uvicorn's is a bound method of its
    # protocol object, which holds the transport.
    if send is None or depth == 0:
        return None
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if callable(getattr(transport, "abort", None)):  # asyncio's or uvloop's transport
        return transport
    for cell in getattr(send, "__closure__", None) or ():
        with contextlib.suppress(ValueError):  # an empty cell
            found = (
                _find_transport(cell.cell_contents, depth - 1)
                if callable(cell.cell_contents)
                else None
            )
            if found is not None:
                return found
    return None
