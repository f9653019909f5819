"""Translations for screens and receipts: ``resources/i18n/<language>.json``.

Chinese first, English second. A missing key shows as the key itself (and a test checks
both catalogues hold the same keys), so a gap is visible, never a crash.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"
_DIR = Path(__file__).resolve().parents[1] / "resources" / "i18n"


@cache
def catalogue(language: str) -> dict[str, str]:
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}")
    data: dict[str, str] = json.loads((_DIR / f"{language}.json").read_text(encoding="utf-8"))
    return data


class Translator:
    """Looks up texts in one language; switch with :meth:`set_language`."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        self.language = language
        catalogue(language)

    def set_language(self, language: str) -> None:
        catalogue(language)
        self.language = language

    def t(self, key: str, /, **params: Any) -> str:
        text = catalogue(self.language).get(key, key)
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return key in catalogue(self.language)
