"""What can go wrong between a terminal and HQ."""

from __future__ import annotations


class SyncError(Exception):
    """Base of every sync_client error."""


class HQUnavailable(SyncError):
    """HQ could not be reached or answered with its own fault (5xx, broken answer).

    Always worth retrying later: pushes and pulls are idempotent."""


class HQRefused(SyncError):
    """HQ refused the request (4xx) with a stable machine ``error`` and a ``detail``."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


class DeviceRevoked(HQRefused):
    """The device token is unknown or revoked: this terminal may no longer talk to HQ."""


class ResyncNeeded(SyncError):
    """HQ cannot serve changes from the cursor: reload a snapshot."""

    def __init__(self, detail: str, snapshot_path: str) -> None:
        super().__init__(detail)
        self.snapshot_path = snapshot_path


class EnrollmentError(SyncError):
    """Enrolment failed; ``error`` is HQ's code (or ``unreachable``), ``detail`` says why."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail


class CredentialsError(SyncError):
    """The stored device credentials are missing or unreadable."""
