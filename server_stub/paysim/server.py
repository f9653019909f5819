"""Runs the simulator under uvicorn: in this process (:func:`serve`, the command line) or
on a thread (:class:`EmbeddedPaysim`, for a demo that hosts it)."""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

import uvicorn

from server_stub.paysim.app import create_app


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def serve(args: argparse.Namespace) -> int:
    sock = _bind(args.host, args.port)
    url = f"http://{args.host}:{sock.getsockname()[1]}"
    app = create_app(Path(args.data), hold_s=args.hold_s)
    config = uvicorn.Config(app, log_level=args.log_level, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    print(f"paysim listening on {url}", flush=True)
    server.run(sockets=[sock])
    return 0


class EmbeddedPaysim:
    """The simulator on a loopback port of this process (``port`` 0: any free one)."""

    def __init__(self, data_dir: Path, *, port: int = 0, hold_s: float = 20.0) -> None:
        self.data_dir = data_dir
        self._port = port
        self._hold_s = hold_s
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> EmbeddedPaysim:
        sock = _bind("127.0.0.1", self._port)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = create_app(self.data_dir, hold_s=self._hold_s)
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="paysim", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the payment gateway simulator did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
