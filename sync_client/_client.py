"""The sync client: pushes the outbox up, keeps the local copy current, measures the clock.

One :class:`SyncClient` per terminal runs three tasks on an asyncio loop:

* **push**: sends pending outbox events oldest first in batches; a row leaves the outbox
  only with HQ's answer for it. No answer (network, timeout, a response cut half-way, an
  HQ fault) means "send the same events again later", which HQ deduplicates. Backoff is
  exponential with jitter, capped.
* **live**: a WebSocket to HQ. Right after the welcome HQ sends what the till missed (from
  its cursor to HQ's head); the till is online once that is applied, then applies what
  the stream brings; any gap (``after`` beyond the cursor, or a heartbeat announcing more
  than it has) triggers a pull over HTTP. Applying a change twice is harmless. A resync
  answer reloads a snapshot; the outbox is never touched by it. When a channel that was
  online drops, the first reconnect waits a random time up to ``reconnect_spread_s``
  (then the usual backoff): after an HQ restart the tills come back spread out, not all
  in the same instant.
* **clock**: measures HQ's clock offset over a few exchanges, keeps the one with the
  shortest round trip, and hands it to the terminal so prices switch at HQ's
  ``effective_at``.

A fault none of these loops expects (the terminal database refusing a write, a bug) is
logged, recorded as the status's ``last_error`` and the loop starts again after a backoff:
sync never stops without saying why.

Database work runs on an executor thread, never on the loop; checkout never waits on any of
this. Callbacks (``on_status``, ``on_changes``, ``on_clock``) are called on the loop's
thread with frozen values.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import TypeAdapter, ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from sync_client._credentials import Credentials
from sync_client._errors import DeviceRevoked, HQRefused, HQUnavailable, ResyncNeeded
from sync_client._feed import ChangeBatch, LenientChanges, drop_unknown_fields, read_changes
from sync_client._http import HQClient, Verify
from sync_client.contract import protocol as p
from sync_client.replica import OutboxItem, Problem, Replica

log = logging.getLogger("chainpos.sync")
T = TypeVar("T")

State = Literal["starting", "online", "offline", "revoked", "stopped"]
_SERVER_MESSAGE: TypeAdapter[Any] = TypeAdapter(p.LiveServerMessage)


def read_server_message(data: Any) -> Any:
    """A live message from HQ other than ``changes``; fields a newer HQ added are ignored,
    as in every other answer. Raises ``ValidationError`` when it still does not fit."""
    try:
        return _SERVER_MESSAGE.validate_python(data)
    except ValidationError as unknown:
        if not drop_unknown_fields(data, unknown):
            raise
        return _SERVER_MESSAGE.validate_python(data)


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """Tuning. The defaults suit a store; tests shorten the waits."""

    push_batch: int = 200
    pull_limit: int = 1000
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 30.0
    reconnect_spread_s: float = 3.0
    """After a live channel that was online drops, the first reconnect waits a random time
    up to this (at most ``backoff_cap_s``), so tills do not all come back at once."""
    idle_push_check_s: float = 5.0
    """How often the pusher looks at the outbox without being told of a new event."""
    heartbeat_misses: float = 3.0
    """The live channel is dead after this many heartbeat intervals of silence."""
    connect_timeout_s: float = 10.0
    request_timeout_s: float = 15.0
    clock_samples: int = 4
    clock_every_s: float = 600.0
    stock: Literal["own", "all"] = "own"
    problems_every_s: float = 60.0
    """How often unreported problems are offered to HQ again after a failed report."""
    stock_page_limit: int = p.MAX_STOCK_PAGE
    """Levels per page when fetching every store's levels after a snapshot (``stock``
    ``"all"`` only: a till that follows its own store's levels only has them all)."""


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """What the status bar and its details show. ``last_change_at`` is when the local copy
    last took a change from HQ or was last confirmed current by it (wall clock, UTC)."""

    state: State
    hq_url: str
    device_id: str
    outbox_pending: int = 0
    outbox_rejected: int = 0
    cursor: int = 0
    head: int = 0
    last_change_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    clock_offset_ms: float = 0.0
    pushed: int = 0
    changes_applied: int = 0
    resyncs: int = 0
    quarantined: int = 0
    """Changes quarantined since start (kept, not applied; see the sync details)."""
    skipped_changes: int = 0
    """Changes of kinds this till does not know, skipped since start."""
    problems_unreported: int = 0
    """Quarantined changes and refused settings HQ has not yet been told of."""

    @property
    def online(self) -> bool:
        return self.state == "online"


class Backoff:
    """Exponential backoff with "equal jitter": half fixed, half random; capped."""

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        self.base, self.cap = base, cap
        self.failures = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        delay = min(self.cap, self.base * (2**self.failures))
        self.failures = min(self.failures + 1, 30)
        return float(delay / 2 + self._rng.uniform(0, delay / 2))

    def reset(self) -> None:
        self.failures = 0


@dataclass
class _Counters:
    pushed: int = 0
    applied: int = 0
    resyncs: int = 0
    pending: int = 0
    rejected: int = 0
    head: int = 0
    quarantined: int = 0
    skipped: int = 0
    unreported: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def _drop(task: asyncio.Task[Any]) -> None:
    """Cancels a task whose result is no longer wanted (and reads a failure it already
    had, so that it is not reported as never retrieved)."""
    if task.done():
        if not task.cancelled():
            task.exception()
    else:
        task.cancel()


def _ws_url(http_url: str) -> str:
    if http_url.startswith("https://"):
        return "wss://" + http_url[len("https://") :] + "/v1/sync/live"
    if http_url.startswith("http://"):
        return "ws://" + http_url[len("http://") :] + "/v1/sync/live"
    raise ValueError(f"HQ address must start with http:// or https://, not {http_url!r}")


def _wire_problem(x: Problem) -> p.SyncProblem:
    return p.SyncProblem(
        id=x.id,
        seq=x.seq,
        kind=x.kind[:32] or "?",
        key=x.key[:200],
        body=x.body[:100_000],
        error=x.error[:1000] or "?",
        at=x.at,
    )


def _ssl_context(url: str, verify: Verify) -> ssl.SSLContext | None:
    if not url.startswith("wss://"):
        return None
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return ssl.create_default_context()


class SyncClient:
    """Keeps one terminal database in sync with HQ. Create and run it on one event loop.

    Args:
        replica: the terminal database, through the :class:`~sync_client.replica.Replica`
            port (the application's implementation, wired by its composition root).
        creds: the device's identity at HQ.
        config: tuning.
        verify: TLS verification for https/wss.
        executor: where database work runs; default: a private single thread. Many
            headless terminals in one process may share a pool.
        on_status / on_changes / on_clock: callbacks on the loop's thread: a new
            :class:`SyncStatus`; the set of change kinds just applied; HQ's clock offset in
            seconds, relative to ``wall_clock`` (default: the system clock).
    """

    def __init__(
        self,
        replica: Replica,
        creds: Credentials,
        *,
        config: SyncConfig | None = None,
        verify: Verify = True,
        executor: Executor | None = None,
        on_status: Callable[[SyncStatus], None] | None = None,
        on_changes: Callable[[frozenset[str]], None] | None = None,
        on_clock: Callable[[float], None] | None = None,
        wall_clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.replica = replica
        self.creds = creds
        self.config = config or SyncConfig()
        self.verify = verify
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="sync-db")
        self._on_status = on_status
        self._on_changes = on_changes
        self._on_clock = on_clock
        self._wall = wall_clock or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()
        self._http: HQClient | None = None
        self._wake: asyncio.Event | None = None
        self._cursor = 0
        self._counters = _Counters()
        self._status = SyncStatus("starting", creds.hq_url, creds.device_id)
        self._apply_lock: asyncio.Lock | None = None
        self._revoked: asyncio.Event | None = None
        self._live_ws: ClientConnection | None = None
        self._problems: asyncio.Event | None = None
        self._stock_wake: asyncio.Event | None = None
        self.finished = threading.Event()
        """Set when :meth:`run` has returned and cleaned up (for callers on other threads)."""

    # -- public ---------------------------------------------------------------------------

    @property
    def status(self) -> SyncStatus:
        return self._status

    @property
    def cursor(self) -> int:
        return self._cursor

    def notify_outbox(self) -> None:
        """A new event is in the outbox: push now. Call on the loop's thread."""
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        """Runs until cancelled (or until HQ revokes the device). Cleans up after itself."""
        self._wake = asyncio.Event()
        self._apply_lock = asyncio.Lock()
        self._revoked = asyncio.Event()
        self._problems = asyncio.Event()
        self._problems.set()  # problems left from before the start are reported too
        self._stock_wake = asyncio.Event()
        self._stock_wake.set()  # a fetch of every store's levels cut short resumes
        self._http = HQClient(
            self.creds.hq_url,
            self.creds.token,
            timeout=self.config.request_timeout_s,
            verify=self.verify,
        )
        try:
            self._cursor = await self._db(self.replica.cursor)
            offset_ms = await self._db(self.replica.clock_offset_ms)
            if self._on_clock is not None:
                self._on_clock(offset_ms / 1000)
            await self._refresh_counts()
            self._set(state="offline", clock_offset_ms=offset_ms)
            tasks: list[asyncio.Task[Any]] = [
                asyncio.create_task(self._supervise("push", self._push_loop), name="sync-push"),
                asyncio.create_task(
                    self._supervise("live", self._live_loop, offline=True), name="sync-live"
                ),
                asyncio.create_task(self._supervise("clock", self._clock_loop), name="sync-clock"),
                asyncio.create_task(
                    self._supervise("problems", self._problems_loop), name="sync-problems"
                ),
            ]
            if self.config.stock == "all":
                # Only a till that follows every store's levels fetches them all; one that
                # follows its own store's has them from the snapshot.
                tasks.append(asyncio.create_task(self._stock_pages_loop(), name="sync-stock-pages"))
            revoked = asyncio.create_task(self._revoked.wait())
            try:
                await asyncio.wait([*tasks, revoked], return_when=asyncio.FIRST_COMPLETED)
                for t in tasks:
                    if t.done() and not t.cancelled() and t.exception() is not None:
                        raise t.exception()  # type: ignore[misc]
            finally:
                for t in [*tasks, revoked]:
                    t.cancel()
                await asyncio.gather(*tasks, revoked, return_exceptions=True)
        except Exception as exc:
            # Could not start (the terminal database unreadable at start): say why sync
            # stopped. The loops' own faults are handled in _supervise.
            log.exception("sync client stopped")
            self._error(f"stopped: {type(exc).__name__}: {exc}")
            raise
        finally:
            try:
                self._set(state="revoked" if self._revoked.is_set() else "stopped")
                await self._http.aclose()
                if self._own_executor:
                    self._executor.shutdown(wait=False)
            finally:
                self.finished.set()

    @property
    def hq(self) -> HQClient:
        """The running client's connection to HQ, for other calls a till makes on this
        loop (members). Raises HQUnavailable when the client is not running."""
        if self._http is None or self.finished.is_set():
            raise HQUnavailable("the sync client is not running")
        return self._http

    async def stock_lookup(self, sku: str) -> p.StockLookup:
        """Every store's level of ``sku`` from HQ (raises HQUnavailable when offline)."""
        assert self._http is not None, "the client is not running"
        return await self._http.stock(sku)

    async def pull_now(self) -> None:
        """Catches up from the cursor over HTTP right now."""
        await self._catch_up()

    # -- internals --------------------------------------------------------------------

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _set(self, **kw: Any) -> None:
        c = self._counters
        status = replace(
            self._status,
            outbox_pending=c.pending,
            outbox_rejected=c.rejected,
            cursor=self._cursor,
            head=max(c.head, self._cursor),
            pushed=c.pushed,
            changes_applied=c.applied,
            resyncs=c.resyncs,
            quarantined=c.quarantined,
            skipped_changes=c.skipped,
            problems_unreported=c.unreported,
            **kw,
        )
        if status != self._status:
            self._status = status
            if self._on_status is not None:
                try:
                    self._on_status(status)
                except Exception:  # a listener's fault must not stop sync
                    log.exception("sync status listener failed")

    def _error(self, message: str) -> None:
        log.info("sync: %s", message)
        self._set(last_error=message, last_error_at=datetime.now(UTC))

    async def _refresh_counts(self) -> None:
        pending, rejected = await self._db(self.replica.counts)
        self._counters.pending, self._counters.rejected = pending, rejected
        self._set()

    def _revoke(self, exc: DeviceRevoked) -> None:
        self._error(f"HQ refused this device: {exc.code} ({exc.detail})")
        assert self._revoked is not None
        self._revoked.set()

    async def _supervise(
        self, name: str, loop: Callable[[], Awaitable[None]], *, offline: bool = False
    ) -> None:
        """Runs one of the client's loops until it returns (only on revocation).

        A fault the loop does not expect (the terminal database refusing a read or a
        write, a bug) is logged with its traceback and recorded as the last error, and the
        loop starts again after a backoff: sync never stops without saying why, and a
        fault that passes (a locked database, a full disk freed) heals by itself.
        ``offline``: the loop's failure also means the till is offline (the live channel).
        """
        backoff = Backoff(self.config.backoff_base_s, self.config.backoff_cap_s, self._rng)
        clock = asyncio.get_running_loop().time
        while True:
            started = clock()
            try:
                await loop()
                return
            except Exception as exc:
                if clock() - started > self.config.backoff_cap_s:
                    backoff.reset()  # it had been running well: a new fault, not the same
                log.exception("sync %s loop failed", name)
                self._error(f"{name}: {type(exc).__name__}: {exc}")
                if offline:
                    self._set(state="offline")
            await asyncio.sleep(backoff.next())

    # -- push ---------------------------------------------------------------------------

    async def _push_loop(self) -> None:
        assert self._wake is not None and self._http is not None
        backoff = Backoff(self.config.backoff_base_s, self.config.backoff_cap_s, self._rng)
        batch_limit = self.config.push_batch
        while True:
            self._wake.clear()
            batch = await self._db(self.replica.pending, batch_limit)
            self._counters.pending = max(self._counters.pending, len(batch))
            if not batch:
                await self._refresh_counts()
                await self._wait_wake(self.config.idle_push_check_s)
                continue
            try:
                answer = await self._http.push([it.wire() for it in batch])
            except DeviceRevoked as exc:
                self._revoke(exc)
                return
            except HQUnavailable as exc:
                await self._db(self.replica.record_push_failure, batch, str(exc))
                self._error(f"push: {exc}")
                await asyncio.sleep(backoff.next())
                continue
            except HQRefused as exc:
                # The batch as a whole was refused (shape, size, store). Find the event:
                # send one at a time; a single refused event is parked for a person.
                if len(batch) > 1:
                    batch_limit = 1
                    continue
                await self._park(batch[0], f"{exc.code}: {exc.detail}")
                continue
            batch_limit = self.config.push_batch
            summary = await self._db(self.replica.apply_push_answer, batch, answer)
            self._counters.pushed += summary.removed
            self._counters.head = max(self._counters.head, answer.head)
            await self._refresh_counts()
            if summary.retry_later:
                self._error(f"push: HQ asks to retry later: {summary.retry_errors[0]}")
            if summary.removed == 0 and summary.rejected == 0:
                # HQ asked to retry later (a top-up whose sign-up it has not seen yet): go
                # again after the backoff, or as soon as something may have changed that
                # (notify_outbox: a new event, or the sign-up accepted meanwhile).
                await self._wait_wake(backoff.next())
            else:
                backoff.reset()

    async def _wait_wake(self, timeout: float) -> None:
        """Waits until :meth:`notify_outbox` was called (since the loop last looked at the
        outbox) or ``timeout`` seconds passed."""
        assert self._wake is not None
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
        # that arrives together with the wake-up, and the client would not stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()

    async def _park(self, item: OutboxItem, error: str) -> None:
        answer = p.PushResponse(
            results=[
                p.EventResult(
                    index=0,
                    id=item.event_id,  # type: ignore[arg-type]
                    status="rejected",
                    code="invalid",
                    detail=error,
                )
            ],
            applied=0,
            duplicate=0,
            rejected=1,
        )
        await self._db(self.replica.apply_push_answer, [item], answer)
        self._error(f"push: event {item.seq} refused: {error}")
        await self._refresh_counts()

    # -- live and pull ------------------------------------------------------------------

    async def _live_loop(self) -> None:
        backoff = Backoff(self.config.backoff_base_s, self.config.backoff_cap_s, self._rng)
        while True:
            try:
                await self._live_session(backoff)
            except DeviceRevoked as exc:
                self._revoke(exc)
                return
            except ResyncNeeded as exc:
                try:
                    await self._resync(exc.snapshot_path, exc.args[0] if exc.args else "")
                    continue
                except DeviceRevoked as exc2:
                    self._revoke(exc2)
                    return
                except (HQUnavailable, HQRefused) as exc2:
                    self._error(f"resync: {exc2}")
            except HQRefused as exc:
                self._error(f"live: {exc}")
            except HQUnavailable as exc:
                self._error(f"live: {exc}")
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                self._error(f"live: {type(exc).__name__}: {exc}")
            finally:
                self._live_ws = None
            was_online = self._status.online
            self._set(state="offline")
            delay = backoff.next()
            if was_online:
                # Full jitter over a window: every till saw the same drop (an HQ restart).
                spread = min(self.config.reconnect_spread_s, self.config.backoff_cap_s)
                delay = self._rng.uniform(0, spread)
            await asyncio.sleep(delay)

    async def _live_session(self, backoff: Backoff) -> None:
        url = _ws_url(self.creds.hq_url)
        try:
            ws = await connect(
                url,
                additional_headers={"Authorization": f"Bearer {self.creds.token}"},
                open_timeout=self.config.connect_timeout_s,
                close_timeout=2,
                ping_interval=None,
                max_size=p.MAX_LIVE_FRAME_BYTES * 64,
                proxy=None,
                ssl=_ssl_context(url, self.verify),
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 401:
                raise DeviceRevoked(401, "token_revoked", "HQ refused the live channel") from None
            raise HQUnavailable(f"live channel refused with HTTP {status}") from None
        self._live_ws = ws
        async with ws:
            hello = p.LiveHello(after=self._cursor, stock=self.config.stock, store=self.creds.store)
            await ws.send(hello.model_dump_json())
            first = await self._receive(ws, self.config.connect_timeout_s)
            if isinstance(first, p.LiveResync):
                raise ResyncNeeded(first.detail, first.snapshot)
            if not isinstance(first, p.LiveWelcome):
                raise HQUnavailable(f"expected a welcome, got {type(first).__name__}")
            heartbeat = max(first.heartbeat_s, 0.05)
            self._counters.head = max(self._counters.head, first.head)
            # HQ sends everything after our cursor up to its head on this channel right
            # behind the welcome (in pages, each starting where the last ended): the
            # terminal is online once it has applied them, without a pull of its own. A
            # reconnect costs HQ one connection, not a connection and an HTTP request.
            online = False
            if self._cursor >= first.head:
                online = self._came_online(backoff)
            while True:
                msg = await self._receive(ws, heartbeat * self.config.heartbeat_misses)
                if isinstance(msg, LenientChanges):
                    if msg.after > self._cursor:
                        await self._catch_up()  # a gap: changes were missed
                        self._set(last_change_at=datetime.now(UTC))
                    else:
                        await self._apply(
                            read_changes(msg.changes),
                            msg.next_after,
                            last_change_at=datetime.now(UTC),
                        )
                elif isinstance(msg, p.LiveHeartbeat):
                    self._counters.head = max(self._counters.head, msg.head)
                    if msg.next_after > self._cursor:
                        await self._catch_up()
                    await ws.send(p.LiveAck(seq=self._cursor).model_dump_json())
                    self._set(last_change_at=datetime.now(UTC))
                elif isinstance(msg, p.LiveResync):
                    raise ResyncNeeded(msg.detail, msg.snapshot)
                elif msg is None:
                    # A message HQ should not have sent: do not trust the stream, pull.
                    await self._catch_up()
                if not online and self._cursor >= first.head:
                    online = self._came_online(backoff)

    def _came_online(self, backoff: Backoff) -> bool:
        backoff.reset()
        self._set(state="online", last_change_at=datetime.now(UTC))
        return True

    async def _receive(self, ws: ClientConnection, timeout: float) -> Any:
        try:
            async with asyncio.timeout(timeout):  # not wait_for: see _push_loop
                raw = await ws.recv()
        except TimeoutError:
            raise HQUnavailable(f"live channel silent for {timeout:.1f}s") from None
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            if code == p.CLOSE_UNAUTHORISED:
                raise DeviceRevoked(401, "token_revoked", "HQ closed the live channel") from None
            if code == p.CLOSE_RESYNC:
                raise ResyncNeeded("HQ closed the live channel for a resync", "") from None
            raise HQUnavailable(f"live channel closed ({code})") from None
        try:
            data = json.loads(raw)
        except ValueError:
            self._error("live: a message from HQ that is not JSON ignored")
            return None
        try:
            if isinstance(data, dict) and data.get("type") == "changes":
                # Read change by change like a pulled page: one change this till cannot
                # read must not drop the message (see sync_client._feed).
                return LenientChanges.model_validate(data)
            return read_server_message(data)
        except ValidationError as exc:
            self._error(f"live: unreadable message from HQ ignored ({exc.error_count()} errors)")
            return None

    async def _catch_up(self) -> None:
        assert self._http is not None
        while True:
            page = await self._http.pull(self._cursor, self.config.pull_limit, self.config.stock)
            self._counters.head = max(self._counters.head, page.head)
            if page.after != self._cursor:
                # Another task moved the cursor meanwhile; pull again from where it is.
                continue
            await self._apply(read_changes(page.changes), page.next_after)
            if not page.more or page.next_after <= page.after:
                break

    async def _apply(self, batch: ChangeBatch, next_after: int, **status: Any) -> None:
        """Applies a page or live message; ``status``: more fields for the same update.

        Changes the client could not read go to the replica's quarantine with the page,
        so the cursor moves past them too; HQ is then told (:meth:`_problems_loop`)."""
        assert self._apply_lock is not None and self._problems is not None
        kinds: frozenset[str] = frozenset()
        async with self._apply_lock:
            if next_after > self._cursor:
                summary = await self._db(
                    self.replica.apply_changes,
                    batch.changes,
                    next_after,
                    batch.quarantine,
                    batch.skipped,
                )
                self._cursor = summary.cursor
                self._counters.applied += summary.applied
                self._counters.skipped += summary.skipped
                if summary.quarantined:
                    self._counters.quarantined += summary.quarantined
                    self._counters.unreported += summary.quarantined
                    self._error(f"sync: {summary.quarantined} change(s) from HQ quarantined")
                    self._problems.set()
                kinds = summary.kinds
        if kinds:
            self._changed(kinds)
        self._set(**status)

    def _changed(self, kinds: frozenset[str]) -> None:
        if self._on_changes is not None:
            try:
                self._on_changes(kinds)
            except Exception:
                log.exception("sync change listener failed")

    async def _resync(self, path: str, detail: str) -> None:
        assert self._http is not None and self._apply_lock is not None
        log.warning("sync: resync from snapshot (%s)", detail)
        snap = await self._http.snapshot(path or "/v1/sync/snapshot")
        async with self._apply_lock:
            await self._db(self.replica.apply_snapshot, snap)
            self._cursor = snap.seq
        self._counters.resyncs += 1
        await self._refresh_counts()
        self._changed(frozenset(p.CHANGE_KINDS))
        assert self._stock_wake is not None
        self._stock_wake.set()

    # -- every store's levels after a snapshot --------------------------------------------

    async def _stock_pages_loop(self) -> None:
        """Fetches every store's levels a page at a time after a snapshot (enrolment or
        resync), from where the replica says the fetch stands, so a restart resumes it.

        Runs beside the live channel: a page and the feed may touch the same level in any
        order, and the replica keeps the newer (see :meth:`Replica.apply_stock_page`).
        Each page is one short transaction on the till, never the whole chain at once."""
        assert self._stock_wake is not None
        backoff = Backoff(self.config.backoff_base_s, self.config.backoff_cap_s, self._rng)
        while True:
            await self._stock_wake.wait()
            self._stock_wake.clear()
            if not await self._fetch_stock_pages(backoff):
                return  # revoked

    async def _fetch_stock_pages(self, backoff: Backoff) -> bool:
        """Fetches pages until the replica says there is nothing left; False when HQ
        revoked the device. The next page is fetched while the one before is written."""
        assert self._http is not None and self._apply_lock is not None
        http, limit = self._http, self.config.stock_page_limit
        fetched = 0
        ahead: tuple[str, asyncio.Task[p.StockPage]] | None = None
        try:
            while True:
                after = await self._db(self.replica.stock_pages_after)
                if after is None:
                    break
                if ahead is not None and ahead[0] == after:
                    task = ahead[1]
                else:
                    if ahead is not None:
                        _drop(ahead[1])
                    task = asyncio.create_task(http.stock_page(after, limit))
                ahead = None
                try:
                    page = await task
                except DeviceRevoked as exc:
                    self._revoke(exc)
                    return False
                except (HQUnavailable, HQRefused) as exc:
                    self._error(f"stock levels: {exc}")
                    await asyncio.sleep(backoff.next())
                    continue
                backoff.reset()
                if page.next_after is not None:
                    nxt = page.next_after
                    ahead = (nxt, asyncio.create_task(http.stock_page(nxt, limit)))
                async with self._apply_lock:
                    taken = await self._db(self.replica.apply_stock_page, page)
                if taken:
                    fetched += len(page.levels)
                    self._changed(frozenset({"stock"}))
        finally:
            if ahead is not None:
                _drop(ahead[1])
        if fetched:
            log.info("sync: every store's levels fetched (%d levels)", fetched)
        return True

    # -- problems -----------------------------------------------------------------------

    async def _problems_loop(self) -> None:
        """Tells HQ of quarantined changes and refused settings until it has them all."""
        assert self._http is not None and self._problems is not None
        backoff = Backoff(self.config.backoff_base_s, self.config.problems_every_s, self._rng)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.problems_every_s):  # see _push_loop
                    await self._problems.wait()
            self._problems.clear()
            while True:
                todo = await self._db(self._unreported)
                self._counters.unreported = len(todo)
                self._set()
                if not todo:
                    break
                try:
                    await self._http.report_problems([_wire_problem(x) for x in todo])
                except DeviceRevoked as exc:
                    self._revoke(exc)
                    return
                except (HQUnavailable, HQRefused) as exc:
                    log.info("sync: problems not reported yet: %s", exc)
                    await asyncio.sleep(backoff.next())
                    continue
                backoff.reset()
                await self._db(self.replica.mark_reported, [x.id for x in todo])

    def _unreported(self) -> list[Problem]:
        return self.replica.problems(unreported=True, limit=p.MAX_PROBLEMS)

    # -- clock --------------------------------------------------------------------------

    async def _clock_loop(self) -> None:
        assert self._http is not None
        backoff = Backoff(1.0, 60.0, self._rng)
        while True:
            try:
                samples = [
                    await self._http.time_sample(self._wall)
                    for _ in range(self.config.clock_samples)
                ]
            except DeviceRevoked as exc:
                self._revoke(exc)
                return
            except (HQUnavailable, HQRefused):
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            offset, _rtt = min(samples, key=lambda s: s[1])
            await self._db(self.replica.save_clock_offset_ms, offset * 1000)
            if self._on_clock is not None:
                self._on_clock(offset)
            self._set(clock_offset_ms=round(offset * 1000, 3))
            await asyncio.sleep(self.config.clock_every_s)
