"""A dedicated thread with its own asyncio loop, for sync clients.

The GUI (or a headless program) talks to the loop only through this object: coroutines go
in with :meth:`SyncRunner.submit` (``asyncio.run_coroutine_threadsafe``), plain calls
with :meth:`SyncRunner.call_soon`. Shutdown is explicit: :meth:`stop` cancels every task,
waits for them to finish their clean-up, closes the loop and joins the thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger("chainpos.sync")
T = TypeVar("T")


class SyncRunner:
    """Owns the sync thread and its event loop."""

    def __init__(self, name: str = "chainpos-sync") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "runner not started"
        return self._loop

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("runner already started")
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            # Whatever is still running (a task spawned during shutdown, one slow to
            # cancel) finishes its clean-up here, on its own loop, before the loop closes.
            leftover = asyncio.all_tasks(loop)
            for task in leftover:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> None:
        """Runs ``coro`` as a long-lived task until it ends or :meth:`stop` cancels it."""

        def create() -> None:
            task = self.loop.create_task(coro, name=name)
            self._tasks.add(task)
            task.add_done_callback(self._done)

        self.loop.call_soon_threadsafe(create)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sync task %s failed", task.get_name(), exc_info=task.exception())

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Runs ``coro`` on the loop; the future resolves on the loop's thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancels every task, lets them clean up, stops the loop and joins the thread."""
        if self._thread is None or self._loop is None:
            return

        async def cancel_all() -> None:
            tasks = [t for t in self._tasks if not t.done()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if not self._loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(timeout)
            except (concurrent.futures.TimeoutError, RuntimeError):
                log.warning("sync tasks did not finish within %.1fs", timeout)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None
