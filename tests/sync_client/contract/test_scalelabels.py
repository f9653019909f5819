"""Scale-label layouts as HQ publishes them (``scale.layouts``): each layout a store may
set reads its labels right, and a setting that cannot work is refused with a reason."""

from __future__ import annotations

import json

import pytest

from pos_app.domain.barcode import (
    VariableMeasure,
    gtin_check_digit,
    parse_scan,
    price_check_digit,
)
from sync_client.contract import settings as schema
from sync_client.contract.errors import ChainPosError
from sync_client.contract.scalelabels import (
    DEFAULT_SCALE_LAYOUTS,
    layouts_from_setting,
    layouts_problem,
)


def _label(body: str) -> str:
    return body + str(gtin_check_digit(body))


def _setting(*layouts: dict[str, object]) -> str:
    return json.dumps(list(layouts))


def test_empty_setting_means_the_built_in_layouts() -> None:
    assert layouts_from_setting("") == DEFAULT_SCALE_LAYOUTS
    assert layouts_from_setting(None) == DEFAULT_SCALE_LAYOUTS
    assert schema.validate("scale.layouts", "") == ""


def test_the_default_reads_an_18_digit_label_as_plu_amount_weight() -> None:
    """GIVEN no setting WHEN 21 00101 03489 00356 + check is scanned THEN PLU 00101,
    ¥34.89, 0.356 kg (not 3.489 kg and ¥3.56)."""
    scan = parse_scan(_label("21001010348900356"), DEFAULT_SCALE_LAYOUTS)
    assert scan.measure == VariableMeasure("ean18-price-weight", "00101", 3489, 356, None)


@pytest.mark.parametrize(
    ("layout", "body", "measure"),
    [
        # Weight before amount (an older scale's order), on prefix 22 only.
        (
            {"name": "w-then-p", "pattern": "FFIIIIIWWWWWPPPPPC", "prefixes": "22"},
            "22001010035603489",
            VariableMeasure("w-then-p", "00101", 3489, 356, None),
        ),
        # A 6-digit PLU and a price with a GS1 price check digit.
        (
            {"name": "plu6-price", "pattern": "FIIIIIIVPPPPC", "prefixes": "2"},
            "2001234" + "9" + "1250",
            None,  # the V digit is checked: computed below
        ),
        # Count labels: 2 pieces at ¥12.00 in all.
        (
            {"name": "count", "pattern": "FFIIIIQQPPPPC", "prefixes": "23"},
            "230077021200",
            VariableMeasure("count", "0077", 1200, None, 2),
        ),
    ],
)
def test_each_layout_a_store_sets_reads_its_labels(
    layout: dict[str, object], body: str, measure: VariableMeasure | None
) -> None:
    layouts = layouts_from_setting(_setting(layout))
    assert [x.name for x in layouts] == [layout["name"]]
    if measure is None:
        body = body[:7] + str(price_check_digit(body[8:])) + body[8:]
        measure = VariableMeasure("plu6-price", "001234", 1250, None, None)
    assert parse_scan(_label(body), layouts).measure == measure


def test_decimals_of_a_layout_are_applied() -> None:
    layouts = layouts_from_setting(
        _setting(
            {
                "name": "jiao-10g",
                "pattern": "FFIIIIIIWWWWPPPPPC",
                "prefixes": "26",
                "price_decimals": 1,
                "weight_decimals": 2,
            }
        )
    )
    # 26 | 001010 | 0036 (0.36 kg) | 00349 (¥34.9) | check
    scan = parse_scan(_label("26001010003600349"), layouts)
    assert scan.measure == VariableMeasure("jiao-10g", "001010", 3490, 360, None)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("not json", "JSON list"),
        ("[]", "non-empty"),
        ('[{"name": "x"}]', "name, pattern, prefixes"),
        (_setting({"name": "x", "pattern": "FFIIIIIPPPPP", "prefixes": "20"}), "not 13 or 18"),
        (_setting({"name": "x", "pattern": "FFIIIIIPPPPPC", "prefixes": "2"}), "2 digits"),
        (_setting({"name": "x", "pattern": "FFIIIIIXPPPPC", "prefixes": "20"}), "unknown"),
        (
            _setting(
                {"name": "x", "pattern": "FFIIIIIPPPPPC", "prefixes": "20"},
                {"name": "x", "pattern": "FFIIIIIWWWWWC", "prefixes": "25"},
            ),
            "unique",
        ),
        (
            _setting(
                {"name": "x", "pattern": "FFIIIIIPPPPPC", "prefixes": "20", "price_decimals": "2"}
            ),
            "whole number",
        ),
    ],
)
def test_a_setting_that_cannot_work_is_refused_with_its_reason(value: str, why: str) -> None:
    problem = layouts_problem(value)
    assert problem is not None and why in problem
    with pytest.raises(ChainPosError) as refused:
        schema.validate("scale.layouts", value)
    assert refused.value.code == "bad_setting"
    assert refused.value.params["key"] == "scale.layouts"
