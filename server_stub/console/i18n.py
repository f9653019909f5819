"""The console's texts: ``i18n/<language>.json`` (keys without prefix), plus the
``error.<code>`` texts of the one error vocabulary in ``resources/i18n``. Chinese first."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"
_HERE = Path(__file__).resolve().parent
_SHARED = _HERE.parents[1] / "resources" / "i18n"


@cache
def console_catalogue(language: str) -> dict[str, str]:
    """The console's own texts in ``language``."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}")
    data: dict[str, str] = json.loads((_HERE / "i18n" / f"{language}.json").read_text("utf-8"))
    return data


@cache
def catalogue(language: str) -> dict[str, str]:
    """Console texts plus the shared ``error.*`` texts."""
    out = dict(console_catalogue(language))
    shared_file = _SHARED / f"{language}.json"
    if shared_file.exists():
        shared: dict[str, str] = json.loads(shared_file.read_text("utf-8"))
        out.update({k: v for k, v in shared.items() if k.startswith("error.")})
    return out


def translator(language: str) -> Callable[..., str]:
    """``t(key, **params)`` in ``language``; a missing key shows as itself."""
    texts = catalogue(language)

    def t(key: str, /, **params: Any) -> str:
        text = texts.get(key, key)
        return text.format(**params) if params else text

    return t
