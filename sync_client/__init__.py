"""The terminal's link to HQ: outbox pusher, live channel, catch-up pull, change apply.

No Qt here: :class:`SyncClient` runs on an asyncio loop in a thread owned by
:class:`SyncRunner`; the application turns its callbacks into whatever its UI needs. The
wire contract and the rules both sides share are in :mod:`sync_client.contract`.

The client reaches the terminal database only through the :class:`Replica` port
(:mod:`sync_client.replica`); the application implements it and hands it to
:class:`SyncClient`. Nothing here imports the application.

The public names load on first use (PEP 562), so that importing the pure contract
(``sync_client.contract.*``) or the port (``sync_client.replica``) never pulls in httpx,
websockets or the client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync_client._client import Backoff, SyncClient, SyncConfig, SyncStatus
    from sync_client._credentials import Credentials, CredentialStore
    from sync_client._errors import (
        CredentialsError,
        DeviceRevoked,
        EnrollmentError,
        HQRefused,
        HQUnavailable,
        ResyncNeeded,
        SyncError,
    )
    from sync_client._http import HQClient, Verify, enroll
    from sync_client._runner import SyncRunner
    from sync_client.replica import (
        AckSummary,
        ApplySummary,
        OutboxItem,
        Problem,
        QuarantinedChange,
        RejectedEvent,
        Replica,
    )

_EXPORTS: dict[str, str] = {
    "AckSummary": "sync_client.replica",
    "ApplySummary": "sync_client.replica",
    "Problem": "sync_client.replica",
    "QuarantinedChange": "sync_client.replica",
    "Backoff": "sync_client._client",
    "CredentialStore": "sync_client._credentials",
    "Credentials": "sync_client._credentials",
    "CredentialsError": "sync_client._errors",
    "DeviceRevoked": "sync_client._errors",
    "EnrollmentError": "sync_client._errors",
    "HQClient": "sync_client._http",
    "HQRefused": "sync_client._errors",
    "HQUnavailable": "sync_client._errors",
    "OutboxItem": "sync_client.replica",
    "RejectedEvent": "sync_client.replica",
    "Replica": "sync_client.replica",
    "ResyncNeeded": "sync_client._errors",
    "SyncClient": "sync_client._client",
    "SyncConfig": "sync_client._client",
    "SyncError": "sync_client._errors",
    "SyncRunner": "sync_client._runner",
    "SyncStatus": "sync_client._client",
    "Verify": "sync_client._http",
    "enroll": "sync_client._http",
}

__all__ = [
    "AckSummary",
    "ApplySummary",
    "Backoff",
    "CredentialStore",
    "Credentials",
    "CredentialsError",
    "DeviceRevoked",
    "EnrollmentError",
    "HQClient",
    "HQRefused",
    "HQUnavailable",
    "OutboxItem",
    "Problem",
    "QuarantinedChange",
    "RejectedEvent",
    "Replica",
    "ResyncNeeded",
    "SyncClient",
    "SyncConfig",
    "SyncError",
    "SyncRunner",
    "SyncStatus",
    "Verify",
    "enroll",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sync_client' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
