"""What can go wrong between a terminal and HQ.

Every error here is a :class:`~sync_client.contract.errors.ChainPosError`: ``code`` is
HQ's machine code for a refusal, or the client's own (``hq_unavailable``,
``resync_needed``, ``credentials_unavailable``, ``unreachable``...).
"""

from __future__ import annotations

from typing import Any

from sync_client.contract.errors import ChainPosError


class SyncError(ChainPosError):
    """Base of every sync_client error."""


class HQUnavailable(SyncError):
    """HQ could not be reached or answered with its own fault (5xx, broken answer).

    Always worth retrying later: pushes and pulls are idempotent."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__("hq_unavailable", message, **params)


class HQRefused(SyncError):
    """HQ refused the request (4xx) with a stable machine ``code``, a ``detail`` and the
    ``params`` its answer gave (in :attr:`params` beside ``detail``)."""

    def __init__(
        self, status: int, code: str, detail: str, params: dict[str, Any] | None = None
    ) -> None:
        # ``detail`` is always the answer's explanation; ``code`` and ``message`` are
        # the error's own, not parameters.
        kept = {k: v for k, v in (params or {}).items() if k not in ("code", "message")}
        super().__init__(code, f"{status} {code}: {detail}", **{**kept, "detail": detail})
        self.status = status
        self.detail = detail


class DeviceRevoked(HQRefused):
    """The device token is unknown or revoked: this terminal may no longer talk to HQ."""


class ResyncNeeded(SyncError):
    """HQ cannot serve changes from the cursor: reload a snapshot."""

    def __init__(self, detail: str, snapshot_path: str) -> None:
        super().__init__("resync_needed", detail)
        self.snapshot_path = snapshot_path


class EnrollmentError(SyncError):
    """Enrolment failed; ``code`` is HQ's code (or the client's: ``unreachable``,
    ``bad_address``, ``bad_answer``, ``invalid_request``), ``detail`` says why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, f"{code}: {detail}", detail=detail)
        self.detail = detail


class CredentialsError(SyncError):
    """The stored device credentials are missing or unreadable."""

    def __init__(self, message: str) -> None:
        super().__init__("credentials_unavailable", message)
