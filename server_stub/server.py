"""Running the app on uvicorn: one place for the server options HQ relies on."""

from __future__ import annotations

import ipaddress
import socket

import uvicorn
from fastapi import FastAPI

from server_stub import redact
from server_stub.settings import Settings


def bind(settings: Settings) -> socket.socket:
    """The listening socket (port 0 picks a free port; read it with ``getsockname``)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host, settings.port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def uvicorn_config(
    app: FastAPI, settings: Settings, log_level: str = "info", *, access_log: bool = False
) -> uvicorn.Config:
    """The uvicorn settings HQ needs.

    ``ws_max_size`` makes a client's oversized frame close its connection with 1009.
    Per-message deflate is off: the live hub sends one text to thousands of connections,
    and compressing it once per connection would cost more CPU than the feed's small
    messages save in bytes.
    """
    config = uvicorn.Config(
        app,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        ws_max_size=settings.max_ws_frame_bytes,
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=5,
        log_level=log_level,
        access_log=access_log,
        backlog=4096,
    )
    # After the Config: creating it (re)configures uvicorn's loggers and handlers.
    redact.install()
    return config


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address) only ever means this machine."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plaintext_warning(settings: Settings) -> str | None:
    """The warning for serving without TLS where others can listen in, or None."""
    if settings.tls_cert is not None or is_loopback(settings.host):
        return None
    return (
        f"WARNING: HQ is serving plain HTTP on {settings.host}, which is reachable from "
        "the network: device tokens, admin tokens and PIN hashes travel unencrypted. Use "
        "--tls-cert/--tls-key (or a TLS-terminating proxy on this machine with "
        "--host 127.0.0.1). Terminals refuse http:// HQ addresses unless their lab flag "
        "CHAINPOS_ALLOW_INSECURE_HQ=1 is set."
    )
