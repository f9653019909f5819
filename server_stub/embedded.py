"""HQ served by uvicorn on a background thread: for the demo and for tests.

The same app, settings and server options as ``chainpos-hq serve``; only the process
differs. :meth:`EmbeddedHQ.start` returns once uvicorn accepts connections.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import uvicorn

from server_stub import server as server_options
from server_stub.app import create_app
from server_stub.db import Database, migrate
from server_stub.member_keys import KeysError, MemberKeys, resolve_keys
from server_stub.settings import Settings


class EmbeddedHQ:
    """One HQ app on a loopback port (``settings.port`` 0: any free port)."""

    def __init__(self, settings: Settings, *, log_level: str = "warning") -> None:
        self.settings = settings
        self.log_level = log_level
        self.db = Database(settings.db_url)
        self.url = ""
        self.keys: MemberKeys | None = None
        """The member keys in use once started (the demo and tests sign codes with them)."""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> EmbeddedHQ:
        migrate(self.db)
        # The member keys the admin CLI finds for the same database (beside a SQLite file),
        # so that members outlive a restart and the printed CLI commands work on them. On
        # PostgreSQL without a keys file (tests), the app makes keys for this process only.
        keys = self.settings.member_keys
        if keys is None:
            try:
                keys = resolve_keys(self.settings.db_url)
            except KeysError:
                keys = MemberKeys.generate()
        self.keys = keys
        sock = server_options.bind(self.settings)
        port = sock.getsockname()[1]
        scheme = "https" if self.settings.tls_cert else "http"
        self.url = f"{scheme}://{self.settings.host}:{port}"
        settings = replace(
            self.settings, port=port, hq_url=self.settings.hq_url or self.url, member_keys=keys
        )
        app = create_app(settings, self.db)
        config = server_options.uvicorn_config(app, settings, self.log_level)
        config.timeout_graceful_shutdown = 2
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="hq", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("HQ did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(20)
        self.db.dispose()
