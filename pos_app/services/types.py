"""Values the UI shows that come from the libraries the services wrap.

The UI imports services only (an import-linter contract keeps ``hardware`` and the sync
client's internals out of it); what it needs of them by name is re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardware import PROFILES, PrinterProfile
from sync_client import EnrollmentError

if TYPE_CHECKING:
    from sync_client import SyncStatus

__all__ = ["PROFILES", "EnrollmentError", "PrinterProfile", "SyncStatus"]


def __getattr__(name: str) -> Any:
    # SyncStatus lives with the sync client (httpx, websockets): loaded on first use, so
    # the first screen does not wait for it.
    if name == "SyncStatus":
        from sync_client import SyncStatus

        return SyncStatus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
