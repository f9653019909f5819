"""Runs the simulator under uvicorn: in this process (:func:`serve`, the command line) or
on a thread (:class:`EmbeddedPaysim`, for a demo that hosts it).

It listens twice, with one app and one ledger: plain HTTP (Alipay, UnionPay, and WeChat Pay
for clients without a certificate) and HTTPS with the simulator's test CA (WeChat Pay, whose
``/secapi/`` calls need the merchant's client certificate). The HTTPS listener asks every
client for a certificate and hands a verified one to the app as the ASGI TLS extension
(``scope["extensions"]["tls"]["client_cert_chain"]``).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from uvicorn.protocols.http.h11_impl import H11Protocol

from server_stub.paysim.app import create_app
from server_stub.paysim.tls import server_files


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


class _ClientCertProtocol(H11Protocol):
    """HTTP/1.1 over TLS that passes the client's verified certificate to the app."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            pem = (
                x509.load_der_x509_certificate(der)
                .public_bytes(serialization.Encoding.PEM)
                .decode()
            )
            self.app = _with_client_cert(self.app, pem)


def _with_client_cert(app: Any, pem: str) -> Any:
    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = dict(scope)
            scope["extensions"] = {
                **scope.get("extensions", {}),
                "tls": {
                    "client_cert_chain": [pem],
                },
            }
        await app(scope, receive, send)

    return wrapped


def _tls_config(app: Any, data_dir: Path, log_level: str) -> uvicorn.Config:
    files = server_files(data_dir)
    return uvicorn.Config(
        app,
        log_level=log_level,
        timeout_graceful_shutdown=2,
        http=_ClientCertProtocol,
        ssl_certfile=str(files.cert_file),
        ssl_keyfile=str(files.key_file),
        ssl_ca_certs=str(files.ca_file),
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
    )


def serve(args: argparse.Namespace) -> int:
    sock = _bind(args.host, args.port)
    tls_sock = _bind(args.host, args.tls_port)
    url = f"http://{args.host}:{sock.getsockname()[1]}"
    tls_url = f"https://{args.host}:{tls_sock.getsockname()[1]}"
    app = create_app(Path(args.data), hold_s=args.hold_s)
    tls_server = uvicorn.Server(_tls_config(app, Path(args.data), args.log_level))
    threading.Thread(
        target=tls_server.run, kwargs={"sockets": [tls_sock]}, name="paysim-tls", daemon=True
    ).start()
    config = uvicorn.Config(app, log_level=args.log_level, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    print(f"paysim listening on {url} tls {tls_url}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        tls_server.should_exit = True
    return 0


class EmbeddedPaysim:
    """The simulator on loopback ports of this process (``port`` 0: any free one; the
    HTTPS one is always any free port)."""

    def __init__(self, data_dir: Path, *, port: int = 0, hold_s: float = 20.0) -> None:
        self.data_dir = data_dir
        self._port = port
        self._hold_s = hold_s
        self.url = ""
        self.tls_url = ""
        self._servers: list[uvicorn.Server] = []
        self._threads: list[threading.Thread] = []

    def start(self, timeout: float = 30.0) -> EmbeddedPaysim:
        sock = _bind("127.0.0.1", self._port)
        tls_sock = _bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.tls_url = f"https://127.0.0.1:{tls_sock.getsockname()[1]}"
        app = create_app(self.data_dir, hold_s=self._hold_s)
        configs = [
            (uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2), sock),
            (_tls_config(app, self.data_dir, "warning"), tls_sock),
        ]
        for config, s in configs:
            server = uvicorn.Server(config)
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [s]}, name="paysim", daemon=True
            )
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        deadline = time.monotonic() + timeout
        for server, thread in zip(self._servers, self._threads, strict=True):
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError("the payment gateway simulator did not start")
                time.sleep(0.02)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        for thread in self._threads:
            thread.join(10)
