"""Pinyin keys for catalogue search: ``芋泥波波奶茶 -> initials "ynbbnc", full "yunibobonaicha"``.

Computed when items are written, never at search time. Non-Chinese letters and digits are
kept (lower-cased) so ``杨枝甘露 550ml`` has initials ``yzgl550ml``.
"""

from __future__ import annotations

import re

_KEEP = re.compile(r"[^0-9a-z]+")


def _clean(parts: list[str]) -> str:
    return _KEEP.sub("", "".join(parts).lower())


_OTHER = "\x00"


def _mark_other(chunk: str) -> str:
    return _OTHER + chunk


def pinyin_keys(name: str) -> tuple[str, str]:
    """Returns ``(initials, full)`` for a product name."""
    # pypinyin loads its phrase dictionary (~0.2 s) on import: only writers of the
    # catalogue pay for it, never a terminal starting up.
    from pypinyin import lazy_pinyin

    # One conversion: hanzi become syllables (initial = first letter); anything else
    # comes back marked and is kept whole in both keys.
    parts = lazy_pinyin(name, errors=_mark_other)
    initials = [p[1:] if p.startswith(_OTHER) else p[:1] for p in parts]
    full = [p[1:] if p.startswith(_OTHER) else p for p in parts]
    return _clean(initials), _clean(full)
