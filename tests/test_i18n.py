"""Translations: every text the code asks for exists in Chinese and in English, with the
same placeholders, so no screen or receipt ever shows a raw key or crashes on format()."""

from __future__ import annotations

import re
import string
import typing
from pathlib import Path

import pytest

from pos_app.domain.barcode import BarcodeError
from pos_app.domain.roles import Role
from pos_app.domain.tender import TenderKind
from pos_app.i18n import LANGUAGES, Translator, catalogue

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "pos_app").rglob("*.py"))

# t("key"), self.t('key'), tr.t("key", n=1) ... whose whole first argument is a literal
# (f-strings and "tender." + kind are built keys, checked below from their values).
LITERAL_KEY = re.compile(r"""\bt\(\s*(?P<q>["'])(?P<key>[A-Za-z0-9_.]+)(?P=q)\s*[,)]""")
# Error codes the services and the domain raise; the UI shows them as "error.<code>".
RAISED_CODE = re.compile(
    r"""\b(?:ScanError|CheckoutError|SignInError|ApprovalRequired|CartError|PaymentError"""
    r"""|SettingsError|PrintError|MemberError|ReturnError)"""
    r"""\(\s*["'](?P<code>[a-z_]+)["']"""
)


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def _keys_in_code(pattern: re.Pattern[str], group: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in SOURCES:
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(group), str(path.relative_to(ROOT)))
    return found


def test_both_languages_have_the_same_keys() -> None:
    zh, en = catalogue("zh_CN"), catalogue("en")
    assert sorted(set(zh) - set(en)) == []
    assert sorted(set(en) - set(zh)) == []
    assert all(value.strip() for value in zh.values())
    assert all(value.strip() for value in en.values())


def test_placeholders_match_between_languages() -> None:
    zh, en = catalogue("zh_CN"), catalogue("en")
    mismatched = {
        key: (_placeholders(zh[key]), _placeholders(en[key]))
        for key in zh
        if key in en and _placeholders(zh[key]) != _placeholders(en[key])
    }
    assert mismatched == {}


def test_the_key_scan_sees_the_code() -> None:
    """The regex must find the keys the receipt uses, or the next test proves nothing."""
    keys = _keys_in_code(LITERAL_KEY, "key")
    assert {"receipt.title", "receipt.total", "receipt.change"} <= set(keys)
    assert len(keys) > 20


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_literal_key_in_the_code_exists(language: str) -> None:
    texts = catalogue(language)
    missing = {k: where for k, where in _keys_in_code(LITERAL_KEY, "key").items() if k not in texts}
    assert missing == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_error_code_raised_has_a_message(language: str) -> None:
    texts = catalogue(language)
    codes = _keys_in_code(RAISED_CODE, "code")
    assert "commit_failed" in codes and "wrong_pin" in codes
    missing = {c: where for c, where in codes.items() if f"error.{c}" not in texts}
    assert missing == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_member_error_code_has_a_message(language: str) -> None:
    """Member errors pass HQ's refusal codes on as they are (built, not literal): every
    code the MemberError docstring lists, HQ's included, has a text."""
    from pos_app.services.members import HQ_ERRORS, MemberError

    texts = catalogue(language)
    codes = set(re.findall(r"``([a-z_]+)``", MemberError.__doc__ or "")) - {"code", "detail"}
    assert {"offline", "insufficient_points", "unknown_offline"} <= codes
    assert codes >= HQ_ERRORS
    assert sorted(c for c in codes if f"error.{c}" not in texts) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_keys_built_from_values_exist(language: str) -> None:
    """Tender kinds, roles and barcode rejection reasons are shown via f"...{value}" keys."""
    texts = catalogue(language)
    wanted = [f"tender.{kind.value}" for kind in TenderKind]
    wanted += [f"role.{role.value}" for role in Role]
    reasons = re.findall(r"'([a-z_]+)'", BarcodeError.__doc__ or "")
    assert "bad_check_digit" in reasons
    wanted += [f"error.{reason}" for reason in reasons]
    assert [key for key in wanted if key not in texts] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_device_keys_built_from_values_exist(language: str) -> None:
    """Printer problems, print job kinds and states, device kinds and printer backends
    are shown via f"...{value}" keys."""
    from pos_app.localdb.print_jobs import KINDS
    from pos_app.services.device_settings import BACKENDS

    texts = catalogue(language)
    problems = re.findall(
        r'return "([a-z_]+)"', (ROOT / "pos_app/services/printing.py").read_text("utf-8")
    )
    assert {"paper_out", "cover_open", "offline", "timeout", "error"} <= set(problems)
    problems += ["bad_document", "unplugged", "paper_near_end"]
    wanted = [f"printer.problem.{p}" for p in problems]
    wanted += [f"jobs.kind.{k}" for k in KINDS]
    wanted += [f"jobs.state.{s}" for s in ("pending", "printed", "failed", "cancelled")]
    wanted += [f"devices.kind.{k}" for k in ("printer", "drawer", "scanner", "wedge")]
    wanted += [f"settings.backend.{b}" for b in BACKENDS]
    assert [key for key in wanted if key not in texts] == []


def _union_members(annotation: object) -> list[type]:
    found: list[type] = []
    for arg in typing.get_args(annotation):
        found += [arg] if isinstance(arg, type) else _union_members(arg)
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_event_type_and_change_kind_has_a_name(language: str) -> None:
    """The sync details name refused events and set-aside changes by ``sync.event.<type>``
    and ``sync.change.<kind>``: a type or kind the protocol adds needs its words too."""
    from sync_client.contract import protocol as p

    texts = catalogue(language)
    types: set[str] = set()
    for model in _union_members(p.EventPayload):
        field = model.model_fields["type"]
        default = field.default
        types |= {default} if isinstance(default, str) else set(typing.get_args(field.annotation))
    kinds = {m.model_fields["kind"].default for m in _union_members(p.FeedChange)}
    assert {"sale.completed", "transfer.shipped"} <= types and {"price", "stock"} <= kinds
    wanted = [f"sync.event.{t}" for t in sorted(types)]
    wanted += [f"sync.change.{k}" for k in sorted(kinds)]
    assert [key for key in wanted if key not in texts] == []


def test_translator_formats_and_shows_missing_keys_as_themselves() -> None:
    zh, en = Translator("zh_CN"), Translator("en")
    assert en.t("error.wrong_pin", remaining=3) == catalogue("en")["error.wrong_pin"].format(
        remaining=3
    )
    assert "3" in zh.t("error.wrong_pin", remaining=3)
    assert en.t("no.such.key") == "no.such.key"
    with pytest.raises(ValueError):
        Translator("fr")
