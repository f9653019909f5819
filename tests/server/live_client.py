"""A minimal live-channel client for tests, written from docs/protocol.md: it keeps a
cursor, checks every message continues it, answers heartbeats, and records how the
connection ended."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


class LiveTerminal:
    """One terminal on ``WS /v1/sync/live``.

    Attributes:
        changes: every change received, in arrival order (repeats at or below the cursor
            are dropped, as the protocol allows).
        gaps: messages whose ``after`` was beyond the cursor (a terminal would pull).
        close_code: the code the server closed with, once closed.
    """

    def __init__(
        self,
        ws_url: str,
        token: str,
        after: int,
        *,
        stock: str = "all",
        ack: bool = True,
        hello: dict[str, Any] | None = None,
        **connect_kw: Any,
    ) -> None:
        self.ws_url = ws_url
        self.token = token
        self.cursor = after
        self.stock = stock
        self.ack = ack
        self.hello = hello
        self.connect_kw = connect_kw
        self.changes: list[dict[str, Any]] = []
        self.gaps = 0
        self.welcome: dict[str, Any] | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.messages: list[dict[str, Any]] = []
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> LiveTerminal:
        self._ws = await connect(
            self.ws_url,
            additional_headers={"Authorization": f"Bearer {self.token}"},
            proxy=None,
            open_timeout=30,
            **self.connect_kw,
        )
        hello = self.hello or {"type": "hello", "after": self.cursor, "stock": self.stock}
        await self._ws.send(json.dumps(hello))
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            await self._task

    @property
    def ws(self) -> ClientConnection:
        assert self._ws is not None
        return self._ws

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                msg = json.loads(text)
                self.messages.append(msg)
                kind = msg["type"]
                if kind == "welcome":
                    self.welcome = msg
                elif kind == "changes":
                    if msg["after"] > self.cursor:
                        self.gaps += 1
                    fresh = [c for c in msg["changes"] if c["seq"] > self.cursor]
                    self.changes.extend(fresh)
                    self.cursor = max(self.cursor, msg["next_after"])
                    if self.ack:
                        await self.ws.send(json.dumps({"type": "ack", "seq": self.cursor}))
                elif kind == "heartbeat":
                    self.cursor = max(self.cursor, msg["next_after"])
                    if self.ack:
                        await self.ws.send(json.dumps({"type": "ack", "seq": self.cursor}))
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            rcvd = self.ws.close_code
            self.close_code = rcvd
            self.close_reason = self.ws.close_reason or ""
            self._changed.set()

    async def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        """Waits until ``predicate(self)`` holds, re-checking after every message."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                if predicate(self):
                    return
                await self._changed.wait()

    def keys(self, kind: str) -> list[str]:
        return [c["key"] for c in self.changes if c["kind"] == kind]
