"""The terminal's link to HQ: outbox pusher, live channel, catch-up pull, change apply.

No Qt here: :class:`SyncClient` runs on an asyncio loop in a thread owned by
:class:`SyncRunner`; the application turns its callbacks into whatever its UI needs. The
wire contract is :mod:`sync_client.protocol`.
"""

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
from sync_client._local import AckSummary, ApplySummary, LocalReplica, OutboxItem, RejectedEvent
from sync_client._runner import SyncRunner

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
