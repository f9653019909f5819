"""One error vocabulary for the till, the sync client and HQ.

Every error the product raises on purpose derives from :class:`ChainPosError` and carries
a machine ``code`` (a stable snake_case key, never shown as such) and ``params`` (the values
a message needs: amounts in fen, item names, dates). HQ's answers carry the same ``code``
and ``params`` on the wire, so a refusal reads the same whichever side found it. The UI
turns ``code`` + ``params`` into zh_CN or en text in one place; a test fails when a code
has no text in either language.

Pure standard library: the domain imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ChainPosError(Exception):
    """Base of every deliberate error.

    Args:
        code: the machine key (``error.<code>`` in the translations).
        message: an English explanation for logs and developers, never for a cashier.
        **params: the values the translated text may use.
    """

    def __init__(self, code: str, message: str = "", **params: Any) -> None:
        super().__init__(message or code)
        self.code = code
        self.params: dict[str, Any] = dict(params)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code

    def as_wire(self) -> dict[str, Any]:
        """The ``{"code", "detail", "params"}`` shape HQ's error bodies use."""
        return {"code": self.code, "detail": self.message, "params": _plain(self.params)}


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        out[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
    return out
