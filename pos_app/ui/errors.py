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
import re
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


# -- what the operating system or a library said --------------------------------------
# Device and sync messages are kept as the system wrote them (for the log and for HQ's
# support), e.g. "192.168.1.50:9100: [Errno 111] Connection refused". On screen they are
# read for what happened and shown as a registered code's text, never as they are.

_ERRNO = re.compile(r"\[errno (-?\d+)\]|\berrno[ =:]+(-?\d+)|\bwinerror (\d+)\]?")
_HTTP_STATUS = re.compile(r"(?:\bhttp\b|\bstatus\b|error ')\D{0,12}([45]\d\d)\b")
_PRINTER_REPORTS = re.compile(r"(?:the printer reports (?:itself )?|printer is )(\w+)")

# errno -> what happened, for the errno values a till meets (Linux numbering, and the
# Windows socket codes of the same faults).
_ERRNO_KIND = {
    111: "refused",
    10061: "refused",
    110: "timeout",
    10060: "timeout",
    113: "unreachable",
    101: "unreachable",
    112: "unreachable",
    10065: "unreachable",
    10051: "unreachable",
    -2: "bad_address",
    -3: "bad_address",
    -5: "bad_address",
    11001: "bad_address",
    2: "not_found",
    19: "not_found",
    6: "not_found",
    13: "permission",
    1: "permission",
    16: "busy",
    5: "io",
    32: "io",
    104: "io",
    10054: "io",
}

# Words of library messages without an errno (httpx, websockets, pyserial, pyusb, ssl).
_PHRASES = (
    ("connection refused", "refused"),
    ("all connection attempts failed", "unreachable"),
    ("timed out", "timeout"),
    ("timeout", "timeout"),
    ("no route to host", "unreachable"),
    ("network is unreachable", "unreachable"),
    ("name or service not known", "bad_address"),
    ("temporary failure in name resolution", "bad_address"),
    ("nodename nor servname", "bad_address"),
    ("getaddrinfo", "bad_address"),
    ("no backend available", "driver"),
    ("nobackenderror", "driver"),
    ("access denied", "permission"),
    ("permission denied", "permission"),
    ("insufficient permissions", "permission"),
    ("resource busy", "busy"),
    ("could not open port", "not_found"),
    ("no such file or directory", "not_found"),
    ("no such device", "not_found"),
    ("device not found", "not_found"),
    ("not found", "not_found"),
    ("closed the connection", "io"),
    ("connection reset", "io"),
    ("broken pipe", "io"),
    ("server disconnected", "io"),
    ("input/output error", "io"),
    ("connection closed", "io"),
    ("connectionclosed", "io"),
)

_DEVICE_CODES = {
    "refused": "device_refused",
    "timeout": "device_timeout",
    "unreachable": "device_unreachable",
    "bad_address": "device_bad_address",
    "not_found": "device_not_found",
    "permission": "device_permission",
    "busy": "device_busy",
    "io": "device_io",
    "driver": "device_driver",
}
_HQ_CODES = {
    "refused": "hq_link_refused",
    "timeout": "hq_link_timeout",
    "unreachable": "hq_link_down",
    "bad_address": "hq_link_down",
    "io": "hq_link_down",
    "tls": "hq_link_tls",
}


def _message(error: BaseException | str) -> str:
    if isinstance(error, str):
        return error
    parts = [f"{type(error).__name__}: {error}"]
    cause = error.__cause__ or error.__context__
    if cause is not None and cause is not error:
        parts.append(_message(cause))
    errno = getattr(error, "errno", None)
    if isinstance(errno, int):
        parts.append(f"[Errno {errno}]")
    return " | ".join(parts)


def system_code(error: BaseException | str, about: str = "device") -> tuple[str, dict[str, Any]]:
    """The registered code (and its params) for what a system or library message says.

    ``about`` is ``device`` (a printer, drawer or port) or ``hq`` (the link to HQ): the
    same "connection refused" is the printer's cable in one and HQ's server in the other.
    """
    text = _message(error).lower()
    # A certificate error carries errno 1 (EPERM) from OpenSSL: its words decide.
    kind = "tls" if "certificate" in text or "ssl" in text else ""
    found = None if kind else _ERRNO.search(text)
    if found:
        number = int(next(g for g in found.groups() if g is not None))
        kind = _ERRNO_KIND.get(number, "")
    if not kind:
        kind = next((k for phrase, k in _PHRASES if phrase in text), "")
    if about == "hq":
        status = _HTTP_STATUS.search(text)
        if status and kind not in ("refused", "timeout", "unreachable", "bad_address", "tls"):
            return "hq_link_http", {"status": int(status.group(1))}
        return _HQ_CODES.get(kind, "hq_link_fault"), {}
    return _DEVICE_CODES.get(kind, "device_fault"), {}


def system_text(
    translator: Translator, error: BaseException | str | None, about: str = "device"
) -> str:
    """What the operating system or a library said, in the cashier's words (empty for
    ``None``). A printer's own status report reads as its problem (``缺纸``)."""
    if error is None or error == "":
        return ""
    if isinstance(error, ChainPosError):
        return error_text(translator, error)
    reported = _PRINTER_REPORTS.search(str(error).lower()) if about == "device" else None
    if reported and translator.has(f"printer.problem.{reported.group(1)}"):
        return translator.t(f"printer.problem.{reported.group(1)}")
    code, params = system_code(error, about)
    return code_text(translator, code, **params)


_CJK = re.compile(r"[\u4e00-\u9fff]")


def provider_reason(translator: Translator, reason: str | None) -> str:
    """A payment provider's own reason for a decline, when it is words the cashier reads
    (WeChat's and Alipay's messages are Chinese); a bare code such as
    ``ACQ.BUYER_BALANCE_NOT_ENOUGH`` reads as "the provider gave no reason" in Chinese."""
    text = (reason or "").strip()
    if translator.language == "zh_CN" and not _CJK.search(text):
        return translator.t("tender.paycode.no_reason")
    return text or translator.t("tender.paycode.no_reason")
