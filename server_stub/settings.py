"""HQ's settings, built by the CLI (or a test) and handed to :func:`server_stub.app.create_app`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from server_stub.live import LiveSettings
from server_stub.member_keys import MemberKeys
from server_stub.ops_pages import OpsPages

MIB = 1 << 20


@dataclass(frozen=True)
class Settings:
    """Everything one HQ process needs to know.

    Attributes:
        db_url: SQLAlchemy URL: ``sqlite:///path`` or ``postgresql+psycopg://...``.
        host, port: where to listen (port 0: any free port, printed at start).
        tls_cert, tls_key: PEM files; both or neither.
        hq_url: the URL terminals use to reach HQ, written into enrolment QR codes.
        max_body_bytes: larger HTTP bodies get 413.
        max_ws_frame_bytes: larger WebSocket frames close the connection with 1009.
        live: live channel timing and queue length.
        member_keys: phone encryption, phone hash and member code keys
            (:func:`server_stub.member_keys.resolve_keys`). None: keys made up for this
            process only (tests); the CLI always resolves real ones.
        hold_sweep_s: how often expired member holds, return authorisations and online
            stock reservations are given back (0: never; holds are still given back
            lazily when their member is next touched).
        phone_lookups_per_minute: per device, identifications by phone number.
        ops_pages: who may read ``/docs``, ``/redoc``, ``/openapi.json`` and ``/metrics``:
            ``on`` (public; development, demo, embedded HQ), ``token`` (an admin token)
            or ``off`` (404). Production: ``off`` or ``token``
            (:mod:`server_stub.ops_pages`).
    """

    db_url: str
    host: str = "127.0.0.1"
    port: int = 8000
    tls_cert: Path | None = None
    tls_key: Path | None = None
    hq_url: str | None = None
    max_body_bytes: int = 2 * MIB
    max_ws_frame_bytes: int = MIB
    live: LiveSettings = field(default_factory=LiveSettings)
    member_keys: MemberKeys | None = None
    hold_sweep_s: float = 30.0
    phone_lookups_per_minute: int = 30
    ops_pages: OpsPages = "on"
