"""The terminal's sync with HQ as the rest of the application sees it (no Qt).

:class:`SyncService` owns the sync thread (a :class:`sync_client.SyncRunner`) and the
terminal's :class:`sync_client.SyncClient`. Checkout only ever calls
:meth:`SyncService.notify_outbox`, which returns at once. Listeners are called on the sync
thread with frozen values; a UI bridge re-emits them on its own thread.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from sqlalchemy import Engine

from pos_app.localdb.replica import LocalReplica
from pos_app.services.clock import HqClock
from sync_client import (
    Credentials,
    CredentialStore,
    Problem,
    RejectedEvent,
    SyncClient,
    SyncConfig,
    SyncRunner,
    SyncStatus,
    Verify,
)
from sync_client.contract import protocol as p

log = logging.getLogger("chainpos.sync")

StatusListener = Callable[[SyncStatus], None]
ChangeListener = Callable[[frozenset[str]], None]


@dataclass(frozen=True, slots=True)
class SyncDetails:
    """What the details panel shows beyond the status."""

    status: SyncStatus
    credentials_storage: str
    credentials_encrypted: bool
    rejected: tuple[RejectedEvent, ...]
    problems: tuple[Problem, ...] = ()
    """Changes from HQ quarantined and settings refused, newest first."""


class SyncService:
    """One terminal's sync. ``start`` after the database is open; ``stop`` before closing.

    Args:
        engine: the terminal database.
        creds: the device's identity at HQ.
        store: where the credentials live (shown in the details).
        clock: set to HQ's time as the client measures it.
        runner: share one sync thread between terminals (the demo's two windows); default:
            a thread of its own.
        executor: where the client's database work runs (shared by many headless
            terminals); default: a thread of the client's own.
    """

    def __init__(
        self,
        engine: Engine,
        creds: Credentials,
        credential_store: CredentialStore,
        clock: HqClock,
        *,
        config: SyncConfig | None = None,
        verify: Verify = True,
        runner: SyncRunner | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.creds = creds
        self.credential_store = credential_store
        self.replica = LocalReplica(engine, creds.store)
        self._clock = clock
        self._own_runner = runner is None
        self.runner = runner or SyncRunner(f"sync-{creds.device_id}")
        self._status_listeners: list[StatusListener] = []
        self._change_listeners: list[ChangeListener] = []
        self.client = SyncClient(
            self.replica,
            creds,
            config=config,
            verify=verify,
            executor=executor,
            on_status=self._status,
            on_changes=self._changes,
            on_clock=clock.set_offset,
            wall_clock=clock.base.now,
        )
        self._started = False
        self._task: concurrent.futures.Future[None] | None = None

    @property
    def status(self) -> SyncStatus:
        return self.client.status

    def subscribe(
        self, on_status: StatusListener | None = None, on_changes: ChangeListener | None = None
    ) -> None:
        """Adds listeners (called on the sync thread)."""
        if on_status is not None:
            self._status_listeners.append(on_status)
        if on_changes is not None:
            self._change_listeners.append(on_changes)

    def _status(self, status: SyncStatus) -> None:
        for fn in list(self._status_listeners):
            try:
                fn(status)
            except Exception:
                log.exception("sync status listener failed")

    def _changes(self, kinds: frozenset[str]) -> None:
        for fn in list(self._change_listeners):
            try:
                fn(kinds)
            except Exception:
                log.exception("sync change listener failed")

    def start(self) -> None:
        if self._started:
            return
        if self._own_runner:
            self.runner.start()
        self._task = self.runner.submit(self.client.run())
        self._started = True

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the client (and the thread, if it is this service's own)."""
        if not self._started:
            return
        self._started = False
        if self._task is not None:
            self._task.cancel()  # cancels the client's task on the sync thread
            self.client.finished.wait(timeout)
        if self._own_runner:
            self.runner.stop(timeout)

    def notify_outbox(self) -> None:
        """A sale (or another event) just committed: push soon. Never blocks."""
        if self._started:
            self.runner.call_soon(self.client.notify_outbox)

    def stock_lookup(self, sku: str) -> concurrent.futures.Future[p.StockLookup]:
        """Every store's level of ``sku`` from HQ; the future fails with HQUnavailable
        offline."""
        return self.runner.submit(self.client.stock_lookup(sku))

    def pull_now(self) -> concurrent.futures.Future[None]:
        return self.runner.submit(self.client.pull_now())

    def details(self) -> SyncDetails:
        """Status plus refused events (reads the database: not on the GUI thread)."""
        return SyncDetails(
            self.client.status,
            self.credential_store.describe(),
            self.credential_store.encrypted,
            tuple(self.replica.rejected()),
            tuple(self.replica.problems(limit=50)),
        )

    def retry_rejected(self, seq: int) -> bool:
        """A manager puts a refused event back in the queue (after fixing its cause)."""
        ok = self.replica.retry_rejected(seq)
        if ok:
            self.notify_outbox()
        return ok
