"""Running the app on uvicorn: one place for the server options HQ relies on."""

from __future__ import annotations

import socket

import uvicorn
from fastapi import FastAPI

from server_stub.settings import Settings


def bind(settings: Settings) -> socket.socket:
    """The listening socket (port 0 picks a free port; read it with ``getsockname``)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: FastAPI, settings: Settings, log_level: str = "info") -> uvicorn.Config:
    """The uvicorn settings HQ needs.

    ``ws_max_size`` makes a client's oversized frame close its connection with 1009.
    Per-message deflate is off: the live hub sends one text to thousands of connections,
    and compressing it once per connection would cost more CPU than the feed's small
    messages save in bytes.
    """
    return uvicorn.Config(
        app,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        ws_max_size=settings.max_ws_frame_bytes,
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=5,
        log_level=log_level,
        access_log=False,
        backlog=4096,
    )
