"""Keeping secrets out of HQ's logs.

uvicorn writes each WebSocket handshake's path *with its query string* to the
``uvicorn.error`` logger (and each HTTP request's to ``uvicorn.access`` when the access log
is on), whatever the app does. A client that puts its token in the URL would have it
written to disk. :class:`RedactSecrets` rewrites such records: device and admin tokens
(``cpd_…``, ``cpa_…``), ``token=``/``access_token=`` query values and ``Bearer`` values
become ``***``.
"""

from __future__ import annotations

import logging
import re

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(cp[da]_)[A-Za-z0-9_\-]+"), r"\1***"),
    (re.compile(r"((?:access_)?token=)[^&\s\"']+", re.IGNORECASE), r"\1***"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=\-]+", re.IGNORECASE), r"\1***"),
)

LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "chainpos")


def redact(text: str) -> str:
    """``text`` with every token-looking value replaced by ``***``."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactSecrets(logging.Filter):
    """A logging filter that lets every record through with its secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record: leave it to the handler's own error path
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = RedactSecrets()


def install() -> None:
    """Masks secrets in what HQ's and uvicorn's loggers, and every handler of them and of
    the root logger, emit. Idempotent; call after uvicorn configured its logging (a
    ``uvicorn.Config`` does so when created), since that replaces its handlers."""
    targets: list[logging.Filterer] = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        targets.append(logger)
        targets.extend(logger.handlers)
    targets.extend(logging.getLogger().handlers)
    for target in targets:
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
