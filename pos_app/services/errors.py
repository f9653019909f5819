"""Errors services raise. ``code`` is a registered :class:`ErrorCode` the UI translates
(``error.<code>``); ``params`` carry what the text needs (amounts in fen)."""

from __future__ import annotations

from sync_client.contract.errors import ChainPosError


class ServiceError(ChainPosError):
    """Base of the services' refusals: ``ServiceError(code, message, **params)``."""


class SignInError(ServiceError):
    pass


class ScanError(ServiceError):
    pass


class ApprovalRequired(ServiceError):
    """The action needs a supervisor's PIN; retry with an approver."""


class CheckoutError(ServiceError):
    pass


class SettingsError(ServiceError):
    """Settings that cannot work, or a user who may not change them."""


class PrintError(ServiceError):
    """A print or drawer request the queue refuses (``not_supervisor``)."""
