"""Errors services raise. ``code`` is a stable key the UI translates (``error.<code>``)."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


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
