"""One error vocabulary: every code is registered, every registered code has text in
both languages, and the UI turns any error into the cashier's language."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pytest

from pos_app.domain.barcode import BarcodeError, parse_scan
from pos_app.domain.cart import CartError
from pos_app.domain.ids import SaleRefError, parse_sale_ref
from pos_app.domain.tender import Payment, PaymentError
from pos_app.i18n import LANGUAGES, Translator, catalogue
from pos_app.services.errors import ServiceError
from pos_app.services.members import HQ_ERRORS, MemberError
from pos_app.ui.errors import code_text, error_text
from sync_client import EnrollmentError, HQRefused, HQUnavailable, SyncError
from sync_client.contract.errors import ChainPosError, ErrorCode, is_registered
from sync_client.contract.membercode import MemberCodeError, verify_member_code
from sync_client.contract.money import MoneyParseError, parse_yuan
from sync_client.contract.pin import PinFormatError, validate_pin
from sync_client.contract.protocol import RejectReason

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")

# Calls whose first string argument is an error code (HQ's ApiError: the second).
_RAISERS = re.compile(r"(Error|Required|Refused|Revoked)$")
_CODE_LITERAL = re.compile(r"[a-z][a-z0-9_]*")
_MESSAGE_ONLY = {"MoneyParseError", "HQUnavailable", "CredentialsError", "ResyncNeeded"}
_BUILTIN = {"ValueError", "TypeError", "RuntimeError", "KeyError", "LookupError", "OSError"}
_PREFIXED = {"MemberCodeError": "member_code_"}  # its reason becomes member_code_<reason>


def _raised_codes(*roots: str) -> dict[str, str]:
    """``code -> where`` for every literal code passed to an error constructor."""
    found: dict[str, str] = {}
    for root in roots:
        for path in sorted((ROOT / root).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name in ("ApiError", "HQRefused", "DeviceRevoked"):
                    args = node.args[1:2]
                elif name == "unauthorised" or (
                    _RAISERS.search(name) and name not in _MESSAGE_ONLY | _BUILTIN
                ):
                    args = node.args[:1]
                else:
                    continue
                for arg in args:
                    literal = arg.value if isinstance(arg, ast.Constant) else None
                    if isinstance(literal, str) and _CODE_LITERAL.fullmatch(literal):
                        where = f"{path.relative_to(ROOT)}:{node.lineno}"
                        found.setdefault(_PREFIXED.get(name, "") + literal, where)
    return found


def test_every_code_raised_or_answered_is_registered() -> None:
    """A new code must be named in ErrorCode (and so given text), wherever it is raised."""
    codes = _raised_codes("pos_app", "sync_client", "server_stub")
    assert {"card_over", "bad_discount", "wrong_pin", "enroll_code_used"} <= set(codes)
    unregistered = {code: where for code, where in codes.items() if not is_registered(code)}
    assert unregistered == {}


def test_hq_refusals_and_push_reasons_are_registered() -> None:
    reasons = set(RejectReason.__args__)  # type: ignore[attr-defined]
    assert {"unknown_sku", "sale_exists"} <= reasons
    assert sorted(r for r in reasons | HQ_ERRORS if not is_registered(r)) == []
    spend_refusals = {"offline", "needs_code", "code_stale", "no_member"}
    assert all(is_registered(code) for code in spend_refusals)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_registered_code_has_text(language: str) -> None:
    texts = catalogue(language)
    assert sorted(code.value for code in ErrorCode if f"error.{code.value}" not in texts) == []


def test_every_error_text_names_a_registered_code() -> None:
    keys = [k.removeprefix("error.") for k in catalogue("zh_CN") if k.startswith("error.")]
    assert sorted(k for k in keys if not is_registered(k)) == []


@pytest.mark.parametrize("code", list(ErrorCode))
def test_zh_cn_text_of_every_code_is_chinese_even_without_params(code: ErrorCode) -> None:
    text = code_text(Translator("zh_CN"), code)
    assert CJK.search(text), text
    assert "{" not in text


def _domain_errors() -> list[ChainPosError]:
    caught: list[ChainPosError] = []
    attempts = [
        lambda: Payment(1500).add_card(2000),
        lambda: parse_yuan("abc"),
        lambda: validate_pin("12"),
        lambda: parse_scan("6954321100015"),
        lambda: parse_sale_ref("nonsense"),
        lambda: verify_member_code("nonsense", [b"k" * 32], 0),
    ]
    for attempt in attempts:
        with pytest.raises(ChainPosError) as info:
            attempt()
        caught.append(info.value)
    return caught


def test_domain_and_contract_errors_share_the_base_and_stay_value_errors() -> None:
    errors = _domain_errors()
    kinds = (PaymentError, MoneyParseError, PinFormatError, BarcodeError, SaleRefError)
    assert [type(e) for e in errors[:5]] == list(kinds)
    assert isinstance(errors[5], MemberCodeError) and errors[5].reason == "malformed"
    for exc in errors:
        assert isinstance(exc, ValueError)
        assert is_registered(exc.code), exc.code
    for cls in (CartError, ServiceError, MemberError, SyncError):
        assert issubclass(cls, ChainPosError)


def test_hq_refusal_carries_hq_code_and_params() -> None:
    refused = HQRefused(409, "insufficient_points", "only 10 points", {"available": 10})
    assert (refused.code, refused.params) == (
        "insufficient_points",
        {"available": 10, "detail": "only 10 points"},
    )
    assert EnrollmentError("enroll_code_used", "used").code == "enroll_code_used"
    assert HQUnavailable("timed out").code == "hq_unavailable"


def test_card_over_reads_in_chinese_with_both_amounts_in_yuan() -> None:
    with pytest.raises(PaymentError) as info:
        Payment(1500).add_card(2000)
    assert info.value.params == {"amount_fen": 2000, "remaining_fen": 1500}
    zh = error_text(Translator("zh_CN"), info.value)
    assert zh == "银行卡金额 ¥20.00 不能超过剩余应收 ¥15.00"
    en = error_text(Translator("en"), info.value)
    assert "¥20.00" in en and "¥15.00" in en


def test_a_bad_barcode_names_its_reason_in_chinese() -> None:
    exc = ServiceError("bad_barcode", "wrong check digit", raw="123", reason="bad_check_digit")
    assert error_text(Translator("zh_CN"), exc) == "条码无法识别：123（条码校验位错误）"


def test_an_hq_refusal_passed_on_generically_is_still_named() -> None:
    exc = MemberError("hq_refused", "HQ refused: unknown_sku", error="unknown_sku", detail="x")
    assert error_text(Translator("zh_CN"), exc) == "总部没有这个商品"


def test_anything_else_is_generic_text_and_the_details_go_to_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    zh = Translator("zh_CN")
    with caplog.at_level(logging.WARNING, logger="chainpos.ui.errors"):
        texts = [
            error_text(zh, RuntimeError("database is locked")),
            error_text(zh, ChainPosError("brand_new_code", "from a newer HQ")),
        ]
    assert texts == ["操作失败", "操作失败"]
    assert "database is locked" in caplog.text and "brand_new_code" in caplog.text
    assert error_text(Translator("en"), KeyError("x")) == "Failed"
