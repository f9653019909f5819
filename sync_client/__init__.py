"""The terminal's link to HQ: outbox pusher, live channel, catch-up pull, change apply.

No Qt here: :class:`SyncClient` runs on an asyncio loop in a thread owned by
:class:`SyncRunner`; the application turns its callbacks into whatever its UI needs. The
wire contract and the rules both sides share are in :mod:`sync_client.contract`.

The public names load on first use (PEP 562), so that importing the pure contract
(``sync_client.contract.*``) never pulls in httpx, websockets or the client.
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
    from sync_client._local import (
        AckSummary,
        ApplySummary,
        LocalReplica,
        OutboxItem,
        RejectedEvent,
    )
    from sync_client._runner import SyncRunner

_EXPORTS: dict[str, str] = {
    "AckSummary": "sync_client._local",
    "ApplySummary": "sync_client._local",
    "Backoff": "sync_client._client",
    "CredentialStore": "sync_client._credentials",
    "Credentials": "sync_client._credentials",
    "CredentialsError": "sync_client._errors",
    "DeviceRevoked": "sync_client._errors",
    "EnrollmentError": "sync_client._errors",
    "HQClient": "sync_client._http",
    "HQRefused": "sync_client._errors",
    "HQUnavailable": "sync_client._errors",
    "LocalReplica": "sync_client._local",
    "OutboxItem": "sync_client._local",
    "RejectedEvent": "sync_client._local",
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
    "LocalReplica",
    "OutboxItem",
    "RejectedEvent",
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
