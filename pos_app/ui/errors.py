"""The one place that turns an error into the words a cashier reads.

Any :class:`~sync_client.contract.errors.ChainPosError` becomes ``error.<code>`` in the
cashier's language, filled with its ``params``: ``*_fen`` amounts as ``¥12.50`` (under the
name without ``_fen`` as well), ``*_bp`` shares as percent, times as local ``HH:MM``. A
parameter the text names but the error lacks reads as empty. Anything else (a bug, a code
without text, a newer HQ's code) shows the plain generic text; its details go to the log,
never on screen, so a zh_CN cashier never reads English.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pos_app.i18n import Translator
from sync_client.contract.errors import ChainPosError
from sync_client.contract.money import format_yuan

log = logging.getLogger("chainpos.ui.errors")

GENERIC_KEY = "error.generic"


class _Params(dict[str, Any]):
    """Format parameters where a missing name reads as empty text."""

    def __missing__(self, key: str) -> str:
        return ""


def _display_params(params: Mapping[str, Any]) -> _Params:
    out = _Params()
    for key, value in params.items():
        if isinstance(value, bool):
            out[key] = value
        elif key.endswith("_fen") and isinstance(value, int):
            out[key] = out[key.removesuffix("_fen")] = format_yuan(value)
        elif key.endswith("_bp") and isinstance(value, int):
            out[key] = out[key.removesuffix("_bp")] = f"{value / 100:.1f}"
        elif isinstance(value, datetime):
            out[key] = value.astimezone().strftime("%H:%M")
        else:
            out[key] = value
    return out


def _render(translator: Translator, key: str, params: Mapping[str, Any]) -> str:
    template = translator.t(key)
    return string.Formatter().vformat(template, (), _display_params(params))


def error_text(translator: Translator, exc: BaseException) -> str:
    """``exc`` in the translator's language, for a banner or a dialog.

    Runs on any thread (pure string work); the log line says what the screen does not.
    """
    if isinstance(exc, ChainPosError):
        params = dict(exc.params)
        code = exc.code
        if code == "hq_refused" and translator.has(f"error.{params.get('error', '')}"):
            # A refusal the service passed on generically, which the UI can still name.
            code = str(params["error"])
        if code == "bad_barcode":
            reason = str(params.get("reason", ""))
            params["detail"] = (
                translator.t(f"error.{reason}") if translator.has(f"error.{reason}") else ""
            )
        key = f"error.{code}"
        if translator.has(key):
            try:
                return _render(translator, key, params)
            except (IndexError, ValueError) as fault:
                log.error("error text %s does not format with %r: %s", key, params, fault)
        else:
            log.error("no text for error code %r (%s)", exc.code, exc.message)
        return translator.t(GENERIC_KEY)
    log.warning("unexpected error shown as the generic text: %r", exc, exc_info=exc)
    return translator.t(GENERIC_KEY)


def code_text(translator: Translator, code: str, /, **params: Any) -> str:
    """The text of an error known only by its code (a refusal a value object reports)."""
    return error_text(translator, ChainPosError(code, **params))
