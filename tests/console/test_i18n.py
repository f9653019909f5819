"""Every console text exists in zh_CN and en, and every key a page names exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

from server_stub.console.i18n import LANGUAGES, catalogue, console_catalogue

CONSOLE = Path(__file__).resolve().parents[2] / "server_stub" / "console"
CJK = re.compile(r"[\u4e00-\u9fff]")
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']\s*[,)]""")


def test_both_languages_hold_the_same_keys_sorted_with_indent_one() -> None:
    zh, en = (console_catalogue(lang) for lang in LANGUAGES)
    assert sorted(set(zh) ^ set(en)) == []
    for lang in LANGUAGES:
        path = CONSOLE / "i18n" / f"{lang}.json"
        data = json.loads(path.read_text("utf-8"))
        expected = json.dumps(dict(sorted(data.items())), ensure_ascii=False, indent=1) + "\n"
        assert path.read_text("utf-8") == expected, lang


def test_every_key_named_by_a_template_or_route_has_text_in_both_languages() -> None:
    named: set[str] = set()
    for path in [*CONSOLE.glob("templates/*.html"), CONSOLE / "views.py"]:
        named |= set(LITERAL_KEY.findall(path.read_text("utf-8")))
    assert len(named) > 100
    for lang in LANGUAGES:
        assert sorted(k for k in named if k not in catalogue(lang)) == [], lang


def test_chinese_texts_are_chinese() -> None:
    zh = console_catalogue("zh_CN")
    latin_only = [
        k
        for k, v in zh.items()
        if not CJK.search(v) and k not in ("app.other_language", "members.find_hint")
    ]
    assert latin_only == []
