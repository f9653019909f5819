"""Telling the wallet from a payment code, by the prefixes the providers document."""

from __future__ import annotations

import pytest

from pos_app.domain.paycode import PaycodeError, PaycodeKind, classify, looks_like_paycode


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("101234567890123456", PaycodeKind.WECHAT_PAY),
        ("151234567890123456", PaycodeKind.WECHAT_PAY),
        ("2512345678901234", PaycodeKind.ALIPAY),
        ("301234567890123456789012", PaycodeKind.ALIPAY),
        ("6212345678901234567", PaycodeKind.UNIONPAY),
    ],
)
def test_each_wallet_is_told_from_its_prefix_and_length(code: str, kind: PaycodeKind) -> None:
    paycode = classify(code)
    assert paycode.kind is kind
    assert paycode.tail == code[-4:]
    assert code not in repr(paycode)


@pytest.mark.parametrize(
    "code",
    [
        "161234567890123456",  # WeChat length, prefix 16
        "10123456789012345",  # 17 digits
        "251234567890123",  # Alipay prefix, 15 digits
        "3112345678901234",  # prefix 31
        "621234567890123456",  # UnionPay prefix, 18 digits
        "6954321100014",  # an EAN-13: an item, not a payment code
        "1012345678901234５6",  # a full-width digit
        "",
    ],
)
def test_unknown_codes_are_refused_with_a_code(code: str) -> None:
    with pytest.raises(PaycodeError) as exc:
        classify(code)
    assert exc.value.code == "paycode_unknown"
    assert not looks_like_paycode(code)
