"""Values the UI shows that come from the libraries the services wrap.

The UI imports services only (an import-linter contract keeps ``hardware`` and the sync
client's internals out of it); what it needs of them by name is re-exported here.
"""

from __future__ import annotations

from hardware import PROFILES, PrinterProfile
from sync_client import EnrollmentError, SyncStatus

__all__ = ["PROFILES", "EnrollmentError", "PrinterProfile", "SyncStatus"]
