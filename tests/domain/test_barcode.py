"""Tests of barcode parsing: GTINs, scale labels, GS1 element strings and scan routing.

Check digits in the property tests are computed by reference implementations written
here from the GS1 definitions, not by the module under test, so a wrong algorithm in
the module cannot agree with itself.
"""

from __future__ import annotations

import dataclasses
import datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pos_app.domain.barcode import (
    DEFAULT_SCALE_LAYOUTS,
    GS,
    BarcodeError,
    GS1Element,
    GS1Message,
    MultipliedScan,
    ScaleLayout,
    VariableMeasure,
    gtin_check_digit,
    normalize_gtin,
    parse_gs1,
    parse_scan,
    price_check_digit,
    split_multiplier,
    validate_gtin,
)

DIGITS = "0123456789"
# GS1 AI encodable character set 82.
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


# ------------------------------------------------------------ reference algorithms


def ref_mod10(body: str) -> str:
    """GS1 mod-10 check digit, weights 3,1,3... counted from the right of the body."""
    weights = [3 if (len(body) - i) % 2 == 1 else 1 for i in range(len(body))]
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return str(-total % 10)


def _weight_2_minus(d: int) -> int:
    product = 2 * d
    return (product % 10 - product // 10) % 10


def _weight_3(d: int) -> int:
    return 3 * d % 10


def _weight_5_plus(d: int) -> int:
    product = 5 * d
    return (product % 10 + product // 10) % 10


def _weight_5_minus(d: int) -> int:
    product = 5 * d
    return (product % 10 - product // 10) % 10


def ref_price_check(price: str) -> str:
    """GS1 General Specifications 7.9.3 / 7.9.4, from the weighting-factor definitions."""
    d = [int(c) for c in price]
    if len(d) == 4:
        total = _weight_2_minus(d[0]) + _weight_2_minus(d[1]) + _weight_3(d[2])
        total += _weight_5_minus(d[3])
        return str(total * 3 % 10)
    total = _weight_5_plus(d[0]) + _weight_2_minus(d[1]) + _weight_5_minus(d[2])
    total += _weight_5_plus(d[3]) + _weight_2_minus(d[4])
    target = -total % 10
    return str(next(c for c in range(10) if _weight_5_minus(c) == target))


def error_code(call: object, *args: object) -> str:
    """Runs ``call(*args)`` expecting a BarcodeError and returns its code."""
    assert callable(call)
    with pytest.raises(BarcodeError) as info:
        call(*args)
    return info.value.code


# ------------------------------------------------------------------------- GTIN


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("690123456789", 2),  # EAN-13, GS1 China prefix 690
        ("690253800514", 1),  # EAN-13, prefix 690
        ("400638133393", 1),  # EAN-13 4006381333931
        ("03600029145", 2),  # UPC-A 036000291452
        ("9638507", 4),  # EAN-8 96385074
        ("0950110153000", 3),  # GTIN-14 09501101530003 (GS1 example)
        ("629104150021", 3),  # GS1 reference values
        ("950110153100", 0),
        ("10614141123456789", 7),  # SSCC 106141411234567897 (GS1 example)
    ],
)
def test_gtin_check_digit_matches_published_codes(body: str, expected: int) -> None:
    assert gtin_check_digit(body) == expected


@pytest.mark.parametrize(
    "code", ["6901234567892", "4006381333931", "036000291452", "96385074", "09501101530003"]
)
def test_validate_gtin_accepts_real_codes(code: str) -> None:
    assert validate_gtin(code) == code


def test_validate_gtin_names_found_and_expected_check_digit() -> None:
    with pytest.raises(BarcodeError) as info:
        validate_gtin("6901234567893")
    assert info.value.code == "bad_check_digit"
    assert "check digit is 3, expected 2" in str(info.value)


@pytest.mark.parametrize(
    ("code", "expected_code"),
    [
        ("", "empty"),
        ("69012345678X2", "bad_char"),
        ("６９０１２３４５６７８９２", "bad_char"),  # full-width digits from a Chinese IME
        ("690123456789", "bad_check_digit"),  # 12 digits read as UPC-A
        ("6901234567", "bad_length"),
        ("690123456789212", "bad_length"),
        ("96385075", "bad_check_digit"),
    ],
)
def test_validate_gtin_rejects(code: str, expected_code: str) -> None:
    assert error_code(validate_gtin, code) == expected_code


def test_validate_gtin_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="8, 12, 13 or 14 digits, not 10"):
        validate_gtin("6901234567")


@pytest.mark.parametrize(
    ("code", "key"),
    [
        ("036000291452", "0036000291452"),  # UPC-A -> EAN-13
        ("09501101530003", "9501101530003"),  # GTIN-14 indicator 0 -> EAN-13
        ("19501101530000", "19501101530000"),  # case GTIN-14 keeps its indicator
        ("96385074", "96385074"),  # EAN-8 is not padded
        ("6901234567892", "6901234567892"),
    ],
)
def test_normalize_gtin_gives_one_key_per_product(code: str, key: str) -> None:
    assert normalize_gtin(code) == key


def test_normalize_gtin_validates_first() -> None:
    assert error_code(normalize_gtin, "036000291453") == "bad_check_digit"


@given(
    st.sampled_from([7, 11, 12, 13]).flatmap(
        lambda n: st.text(alphabet=DIGITS, min_size=n, max_size=n)
    ),
    st.data(),
)
def test_check_digit_validates_and_any_single_digit_change_fails(
    body: str, data: st.DataObject
) -> None:
    code = body + str(gtin_check_digit(body))
    assert code[-1] == ref_mod10(body)
    assert validate_gtin(code) == code
    position = data.draw(st.integers(0, len(code) - 1))
    delta = data.draw(st.integers(1, 9))
    corrupted = code[:position] + str((int(code[position]) + delta) % 10) + code[position + 1 :]
    with pytest.raises(BarcodeError) as info:
        validate_gtin(corrupted)
    assert info.value.code == "bad_check_digit"


@given(st.text(alphabet=DIGITS, min_size=11, max_size=11))
def test_upc_a_ean13_and_gtin14_forms_share_a_key(body: str) -> None:
    upc = body + ref_mod10(body)
    assert normalize_gtin(upc) == normalize_gtin("0" + upc) == normalize_gtin("00" + upc)


# ------------------------------------------------------------ price check digit


@pytest.mark.parametrize(("price", "expected"), [("2875", 9), ("14685", 6)])
def test_price_check_digit_matches_gs1_examples(price: str, expected: int) -> None:
    assert price_check_digit(price) == expected


@given(st.sampled_from([4, 5]).flatmap(lambda n: st.text(alphabet=DIGITS, min_size=n, max_size=n)))
def test_price_check_digit_agrees_with_weighting_factor_definitions(price: str) -> None:
    assert str(price_check_digit(price)) == ref_price_check(price)


def test_price_check_digit_needs_four_or_five_digits() -> None:
    assert error_code(price_check_digit, "123") == "bad_length"
    assert error_code(price_check_digit, "12a4") == "bad_char"


# ----------------------------------------------------------------- scale layouts


def test_default_layouts_are_the_documented_ones() -> None:
    by_name = {layout.name: layout for layout in DEFAULT_SCALE_LAYOUTS}
    assert by_name["ean13-price"].pattern == "FFIIIIIPPPPPC"
    assert by_name["ean13-price"].prefixes == ("20", "21", "22", "23", "24")
    assert by_name["ean13-weight"].pattern == "FFIIIIIWWWWWC"
    assert by_name["ean13-weight"].prefixes == ("25", "26", "27", "28")
    # PLU + amount + weight, as Chinese retail scales print their 18-digit labels.
    assert by_name["ean18-price-weight"].pattern == "FFIIIIIPPPPPWWWWWC"
    assert by_name["ean18-price-weight"].prefixes == tuple(str(n) for n in range(20, 30))


@pytest.mark.parametrize(
    ("pattern", "prefixes", "reason"),
    [
        ("FFIIIIIPPPPP", ("20",), "not 13 or 18"),
        ("FFIIIIIPPPPXC", ("20",), "unknown pattern letters 'X'"),
        ("FFIIIIIPPPPPP", ("20",), "end with exactly one 'C'"),
        ("IIIIIIIPPPPPC", ("20",), "start with the 'F' prefix"),
        ("FFPPPPPPPPPPC", ("20",), "item digits 'I'"),
        ("FFIIIIIIIIIIC", ("20",), "'P', 'W' or 'Q'"),
        ("FFIIPPIIPPPPC", ("20",), "one run"),
        ("FFIIIIIIVPPPC", ("20",), "'V' must be one digit"),
        ("FFIIIIIPPPPVC", ("20",), "'V' must be one digit"),
        ("FFIIIIVWWWWWC", ("20",), "'V' must be one digit"),
        ("FFIIIIIPPPPPC", ("2",), "must be 2 digits"),
        ("FFIIIIIPPPPPC", ("2a",), "must be 2 digits"),
        ("FFIIIIIPPPPPC", (), "at least one prefix"),
    ],
)
def test_scale_layout_rejects_invalid_patterns(
    pattern: str, prefixes: tuple[str, ...], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        ScaleLayout("bad", pattern, prefixes)


def test_scale_layout_rejects_negative_decimals() -> None:
    with pytest.raises(ValueError, match="decimals"):
        ScaleLayout("bad", "FFIIIIIPPPPPC", ("20",), price_decimals=-1)


def test_scale_layout_is_immutable() -> None:
    layout = DEFAULT_SCALE_LAYOUTS[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.pattern = "FFIIIIIWWWWWC"  # type: ignore[misc]


# ------------------------------------------------------------------ scale labels


def test_ean13_price_label() -> None:
    scan = parse_scan("2000123012506")
    assert scan.kind == "variable_measure"
    assert scan.lookup_key == "PLU:00123"
    assert scan.measure == VariableMeasure("ean13-price", "00123", 1250, None, None)


def test_ean13_weight_label() -> None:
    scan = parse_scan("2500456003504\r\n")
    assert scan.lookup_key == "PLU:00456"
    assert scan.measure == VariableMeasure("ean13-weight", "00456", None, 350, None)


def test_ean18_label_from_chinese_scale_reads_plu_amount_weight() -> None:
    """28 | PLU 00789 | amount 01560 (¥15.60) | weight 00520 (0.520 kg) | check 7."""
    scan = parse_scan("280078901560005207")
    assert scan.kind == "variable_measure"
    assert scan.measure == VariableMeasure("ean18-price-weight", "00789", 1560, 520, None)
    assert scan.raw == "280078901560005207"


def test_scale_label_with_wrong_check_digit() -> None:
    with pytest.raises(BarcodeError) as info:
        parse_scan("2000123012501")
    assert info.value.code == "bad_check_digit"
    assert "check digit is 1, expected 6" in str(info.value)


def test_scale_label_price_check_digit_is_validated() -> None:
    layout = ScaleLayout("price-check", "FFIIIIVPPPPPC", ("20",))
    scan = parse_scan("2012346146852", [layout])
    assert scan.measure == VariableMeasure("price-check", "1234", 14685, None, None)
    with pytest.raises(BarcodeError) as info:
        parse_scan("2012347146851", [layout])
    assert info.value.code == "bad_price_check"
    assert "price check digit is 7, expected 6" in str(info.value)


def test_scale_label_decimals_and_count() -> None:
    # Price in jiao (1 decimal), weight in decagrams (2 decimals), piece count.
    layout = ScaleLayout("odd", "FIIIIPPPWWQQC", ("2",), price_decimals=1, weight_decimals=2)
    body = "2" + "0042" + "125" + "35" + "07"
    scan = parse_scan(body + ref_mod10(body), [layout])
    assert scan.measure == VariableMeasure("odd", "0042", 1250, 350, 7)


def test_scale_price_finer_than_a_fen_rounds_half_up() -> None:
    layout = ScaleLayout("mil", "FFIIIIIPPPPPC", ("20",), price_decimals=3)
    body = "20" + "00001" + "12345"
    scan = parse_scan(body + ref_mod10(body), [layout])
    assert scan.measure is not None
    assert scan.measure.price_fen == 1235


def test_first_matching_layout_wins() -> None:
    first = ScaleLayout("first", "FFIIIIIPPPPPC", ("20",))
    second = ScaleLayout("second", "FFIIIIIWWWWWC", ("20",))
    scan = parse_scan("2000123012506", [first, second])
    assert scan.measure is not None
    assert scan.measure.layout == "first"


def test_prefix_without_layout_is_a_plain_gtin() -> None:
    # Prefix 29 on 13 digits is not a default scale layout: a store-internal GTIN.
    body = "290000123456"
    scan = parse_scan(body + ref_mod10(body))
    assert scan.kind == "gtin"
    assert scan.lookup_key == body + ref_mod10(body)


@st.composite
def scale_layouts(draw: st.DrawFn) -> ScaleLayout:
    """Any valid layout: 1-3 prefix digits, item code, and some of price/weight/count."""
    length = draw(st.sampled_from([13, 18]))
    f_count = draw(st.integers(1, 3))
    budget = length - f_count - 2  # minus the check digit and the first item digit
    blocks: list[str] = []
    for letter in draw(st.permutations(["P", "W", "Q"])):
        if budget < 1 or not draw(st.booleans()):
            continue
        if letter == "P" and budget >= 5 and draw(st.booleans()):
            size = draw(st.sampled_from([n for n in (4, 5) if n + 1 <= budget]))
            blocks.append("V" + "P" * size)
            budget -= size + 1
        else:
            size = draw(st.integers(1, min(6, budget)))
            blocks.append(letter * size)
            budget -= size
    if not blocks:
        size = min(5, budget)
        blocks.append("P" * size)
        budget -= size
    blocks.append("I" * (budget + 1))
    ordered = draw(st.permutations(blocks))
    pattern = "F" * f_count + "".join(ordered) + "C"
    prefixes = draw(
        st.lists(
            st.text(alphabet=DIGITS, min_size=f_count, max_size=f_count),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    return ScaleLayout(
        name=f"random-{pattern}",
        pattern=pattern,
        prefixes=tuple(prefixes),
        price_decimals=draw(st.integers(0, 4)),
        weight_decimals=draw(st.integers(0, 5)),
    )


def compose_label(layout: ScaleLayout, fields: dict[str, str], prefix: str) -> str:
    """Builds label digits from field values, computing V and C with the reference code."""
    digits = list(prefix)
    positions = {letter: iter(value) for letter, value in fields.items()}
    for letter in layout.pattern[len(prefix) : -1]:
        digits.append("?" if letter == "V" else next(positions[letter]))
    text = "".join(digits)
    if "V" in layout.pattern:
        text = text.replace("?", ref_price_check(fields["P"]))
    return text + ref_mod10(text)


def to_unit(value: str, decimals: int, unit_decimals: int) -> int:
    """Reference conversion to fen or grams with Decimal, rounding half up."""
    amount = Decimal(int(value)).scaleb(-decimals).scaleb(unit_decimals)
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(st.one_of(st.sampled_from(DEFAULT_SCALE_LAYOUTS), scale_layouts()), st.data())
def test_scale_labels_round_trip(layout: ScaleLayout, data: st.DataObject) -> None:
    fields = {
        letter: data.draw(st.text(alphabet=DIGITS, min_size=n, max_size=n), label=f"field {letter}")
        for letter in "IPWQ"
        if (n := layout.pattern.count(letter))
    }
    prefix = data.draw(st.sampled_from(layout.prefixes), label="prefix")
    label = compose_label(layout, fields, prefix)

    scan = parse_scan(label, [layout])

    assert scan.kind == "variable_measure"
    assert scan.lookup_key == "PLU:" + fields["I"]
    assert scan.measure == VariableMeasure(
        layout=layout.name,
        item_code=fields["I"],
        price_fen=to_unit(fields["P"], layout.price_decimals, 2) if "P" in fields else None,
        weight_g=to_unit(fields["W"], layout.weight_decimals, 3) if "W" in fields else None,
        count=int(fields["Q"]) if "Q" in fields else None,
    )


@given(scale_layouts(), st.data())
def test_corrupted_scale_label_is_rejected(layout: ScaleLayout, data: st.DataObject) -> None:
    fields = {
        letter: data.draw(st.text(alphabet=DIGITS, min_size=n, max_size=n))
        for letter in "IPWQ"
        if (n := layout.pattern.count(letter))
    }
    label = compose_label(layout, fields, layout.prefixes[0])
    # Any one digit after the prefix changed breaks the final check digit.
    position = data.draw(st.integers(len(layout.prefixes[0]), len(label) - 1))
    bad = label[:position] + str((int(label[position]) + 1) % 10) + label[position + 1 :]
    assert error_code(parse_scan, bad, [layout]) == "bad_check_digit"
    if "V" in layout.pattern:
        v = layout.pattern.index("V")
        wrong_v = label[:v] + str((int(label[v]) + 1) % 10) + label[v + 1 : -1]
        assert error_code(parse_scan, wrong_v + ref_mod10(wrong_v), [layout]) == ("bad_price_check")


# -------------------------------------------------------------------------- GS1


def test_gs1_128_with_aim_prefix_and_weight() -> None:
    scan = parse_scan("]C10109501101530003" + "3103000356")
    assert scan.kind == "gs1"
    assert scan.symbology == "]C1"
    assert scan.raw == "0109501101530003" + "3103000356"
    assert scan.lookup_key == "9501101530003"
    assert scan.gs1 is not None
    assert scan.gs1.elements == (
        GS1Element("01", "09501101530003"),
        GS1Element("3103", "000356"),
    )
    assert scan.gs1.net_weight_g == 356


def test_gs1_variable_fields_end_at_group_separator() -> None:
    data = "01095011015300031725063010AB-123" + GS + "21SN/42" + GS + "3922" + "1250"
    message = parse_gs1(data)
    assert message.gtin == "09501101530003"
    assert message.expiry == datetime.date(2025, 6, 30)
    assert message.batch == "AB-123"
    assert message.get("21") == "SN/42"
    assert message.price_fen == 1250
    assert message.get("99") is None


def test_gs1_leading_fnc1_and_redundant_separators_are_ignored() -> None:
    message = parse_gs1(GS + "0109501101530003" + GS + "10LOT7" + GS)
    assert message.elements == (GS1Element("01", "09501101530003"), GS1Element("10", "LOT7"))


def test_gs1_parenthesised_form() -> None:
    message = parse_gs1("(01)09501101530003(3103)000356(17)240200(10)A(B)")
    assert message.net_weight_g == 356
    assert message.expiry == datetime.date(2024, 2, 29)  # DD=00: last day, leap year
    assert message.batch == "A(B)"


@pytest.mark.parametrize(
    ("symbology", "data"),
    [
        ("]C1", "0109501101530003"),
        ("]e0", "0109501101530003"),
        ("]d2", "010950110153000310LOT" + GS + "17251231"),
        ("]Q3", "0109501101530003"),
    ],
)
def test_gs1_symbologies(symbology: str, data: str) -> None:
    scan = parse_scan(symbology + data)
    assert scan.kind == "gs1"
    assert scan.symbology == symbology
    assert scan.lookup_key == "9501101530003"


def test_gs1_without_aim_prefix_is_recognised_by_its_separator() -> None:
    scan = parse_scan("0109501101530003" + "10LOT1" + GS + "3102000125")
    assert scan.kind == "gs1"
    assert scan.symbology is None
    assert scan.gs1 is not None
    assert scan.gs1.net_weight_g == 1250


def test_gs1_all_digits_without_aim_prefix() -> None:
    # A scanner with AIM identifiers off sends predefined-length AIs as bare digits.
    scan = parse_scan("01195011015300003103001500")
    assert scan.kind == "gs1"
    assert scan.lookup_key == "19501101530000"
    assert scan.gs1 is not None
    assert scan.gs1.net_weight_g == 1500


def test_gs1_typed_in_parenthesised_form() -> None:
    scan = parse_scan("(01)09501101530003(3922)990")
    assert scan.kind == "gs1"
    assert scan.gs1 is not None
    assert scan.gs1.price_fen == 990


@pytest.mark.parametrize(
    ("elements", "grams"),
    [
        ((GS1Element("3100", "000002"),), 2000),
        ((GS1Element("3102", "000356"),), 3560),
        ((GS1Element("3104", "000356"),), 36),  # 35.6 g rounds half up
        ((GS1Element("3105", "000355"),), 4),  # 3.55 g rounds half up
        ((GS1Element("3203", "000356"),), None),  # pounds are not read
    ],
)
def test_gs1_net_weight_in_grams(elements: tuple[GS1Element, ...], grams: int | None) -> None:
    assert GS1Message(elements).net_weight_g == grams


@pytest.mark.parametrize(
    ("data", "fen"),
    [
        ("39220001250", 1250),
        ("3921125", 1250),
        ("392312345", 1235),
        ("3932156" + "1999", 1999),
        ("3932840" + "1999", None),  # US dollars are not a CNY price
        ("3930156" + "7", 700),
        ("3922100" + GS + "39321560001", 100),  # 392n wins over 393n
    ],
)
def test_gs1_price_in_fen(data: str, fen: int | None) -> None:
    assert parse_gs1(data).price_fen == fen


@pytest.mark.parametrize(
    ("data", "count"),
    [("3012", 12), ("37000048", 48), ("30" + "5" + GS + "3799", 5), ("10X", None)],
)
def test_gs1_count(data: str, count: int | None) -> None:
    assert parse_gs1(data).count == count


@pytest.mark.parametrize(
    ("value", "expiry"),
    [
        ("251231", datetime.date(2025, 12, 31)),
        ("250200", datetime.date(2025, 2, 28)),
        ("490101", datetime.date(2049, 1, 1)),
        ("991231", datetime.date(1999, 12, 31)),
    ],
)
def test_gs1_expiry_century_window_and_day_zero(value: str, expiry: datetime.date) -> None:
    assert parse_gs1("17" + value).expiry == expiry


def test_gs1_message_without_fields_gives_none() -> None:
    message = parse_gs1("00106141411234567897")
    assert (message.gtin, message.net_weight_g, message.price_fen) == (None, None, None)
    assert (message.count, message.batch, message.expiry) == (None, None, None)


def test_gs1_gtin_falls_back_to_ai_02() -> None:
    assert parse_gs1("0209501101530003" + "3712").gtin == "09501101530003"


def test_gs1_expiry_of_hand_built_message_is_checked() -> None:
    assert error_code(lambda: GS1Message((GS1Element("17", "25AB01"),)).expiry) == ("bad_ai_value")


@pytest.mark.parametrize(
    ("data", "expected_code", "phrase"),
    [
        ("", "empty", "empty"),
        (GS, "empty", "empty"),
        ("0109501101530004", "bad_check_digit", "check digit is 4, expected 3"),
        ("0409501101530003", "unknown_ai", "'0409'"),
        ("(04)123", "unknown_ai", "(04)"),
        ("01095011015300", "truncated", "needs 14 characters, only 12"),
        ("0109501101" + GS + "10A", "truncated", "only 8"),
        ("010950110153000331", "truncated", "'31'"),
        ("10", "truncated", "right after AI 10"),
        ("(10)", "truncated", "right after (10)"),
        ("10" + "A" * 21, "too_long", "at most 20"),
        ("(10)" + "A" * 21, "too_long", "at most 20"),
        ("3103ABCDEF", "bad_ai_value", "digits only"),
        ("10AB#1", "bad_ai_value", "'#'"),
        ("17251301", "bad_ai_value", "month 13"),
        ("17250230", "bad_ai_value", "day 30"),
        ("70032506302460", "bad_ai_value", "time 2460"),
        ("70032506002300", "bad_ai_value", "day 00"),
        ("3932156", "bad_ai_value", "currency code and an amount"),
        ("10" + GS + "21X", "bad_ai_value", "empty value"),
        ("(01)0950110153000", "bad_ai_value", "needs 14 characters, got 13"),
        ("01095011015300031", "truncated", "'1'"),
        ("0109501101530003x", "unknown_ai", "'x'"),
        ("(01)09501101530003x(10)1", "bad_ai_value", "got 15"),
        ("10A" + GS + "10B", "duplicate_ai", "'A' and 'B'"),
    ],
)
def test_gs1_errors(data: str, expected_code: str, phrase: str) -> None:
    with pytest.raises(BarcodeError) as info:
        parse_gs1(data)
    assert info.value.code == expected_code
    assert phrase in str(info.value)


def test_gs1_same_ai_twice_with_same_value_is_accepted() -> None:
    assert parse_gs1("10A" + GS + "10A").batch == "A"


def test_gs1_scan_without_gtin_has_nothing_to_sell() -> None:
    assert error_code(parse_scan, "]C100106141411234567897") == "no_gtin"


# GS1 predefined-length table: AIs starting with these may be followed directly by the
# next AI; every other AI needs a separator unless it is last.
PREDEFINED_PREFIXES = {"00", "01", "02", "03", "04", "11", "12", "13", "14", "15", "16"}
PREDEFINED_PREFIXES |= {"17", "18", "19", "20", "31", "32", "33", "34", "35", "36", "41"}


def _mod10_value(size: int) -> st.SearchStrategy[str]:
    body = st.text(alphabet=DIGITS, min_size=size - 1, max_size=size - 1)
    return body.map(lambda b: b + ref_mod10(b))


def _date_value(day_zero: bool) -> st.SearchStrategy[str]:
    dates = st.dates(datetime.date(1950, 1, 1), datetime.date(2049, 12, 31))
    if day_zero:
        return dates.map(lambda d: d.strftime("%y%m") + "00")
    return dates.map(lambda d: d.strftime("%y%m%d"))


def _numeric(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=DIGITS, min_size=min_size, max_size=max_size)


def _text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=CSET82, min_size=1, max_size=max_size)


def _gs1_value(ai: str) -> st.SearchStrategy[str]:
    if ai == "00":
        return _mod10_value(18)
    if ai in ("01", "02", "03"):
        return _mod10_value(14)
    if ai in ("410", "411", "412", "413", "414", "415", "416", "417"):
        return _mod10_value(13)
    if ai in ("11", "12", "13", "15", "16", "17"):
        return st.booleans().flatmap(_date_value)
    if ai == "7003":
        hours = st.integers(0, 23).map(lambda h: f"{h:02d}")
        minutes = st.integers(0, 59).map(lambda m: f"{m:02d}")
        return st.tuples(_date_value(False), hours, minutes).map("".join)
    if ai == "20":
        return _numeric(2, 2)
    if ai in ("30", "37"):
        return _numeric(1, 8)
    if len(ai) == 4 and ai[:2] in ("31", "32", "33", "34", "35", "36"):
        return _numeric(6, 6)
    if ai.startswith("392"):
        return _numeric(1, 15)
    if ai.startswith("393"):
        return st.tuples(_numeric(3, 3), _numeric(1, 15)).map("".join)
    if ai in ("10", "21", "22"):
        return _text(20)
    if ai in ("240", "241", "250", "400", "90"):
        return _text(30)
    if ai == "8200":
        return _text(70)
    assert ai in {str(n) for n in range(91, 100)}
    return _text(90)


SUPPORTED_AIS = [
    "00", "01", "02", "03", "10", "11", "12", "13", "15", "16", "17", "20", "21", "22",
    "30", "37", "240", "241", "250", "400", "7003", "8200", "90", "91", "95", "99",
    "3100", "3103", "3105", "3202", "3301", "3455", "3560", "3695", "3920", "3922", "3929",
    "3930", "3932", "410", "414", "417",
]  # fmt: skip

gs1_elements = st.lists(
    st.sampled_from(SUPPORTED_AIS).flatmap(lambda ai: _gs1_value(ai).map(lambda v: (ai, v))),
    min_size=1,
    max_size=6,
    unique_by=lambda element: element[0],
)


def join_separated(elements: list[tuple[str, str]]) -> str:
    """Encodes elements as a scanner transmits them, GS only where GS1 requires one."""
    parts = []
    for index, (ai, value) in enumerate(elements):
        parts.append(ai + value)
        if ai[:2] not in PREDEFINED_PREFIXES and index < len(elements) - 1:
            parts.append(GS)
    return "".join(parts)


@given(gs1_elements)
def test_gs1_element_strings_round_trip(elements: list[tuple[str, str]]) -> None:
    expected = tuple(GS1Element(ai, value) for ai, value in elements)
    data = join_separated(elements)
    assert parse_gs1(data).elements == expected
    assert parse_gs1(GS + data).elements == expected


@given(gs1_elements)
def test_gs1_parenthesised_strings_round_trip(elements: list[tuple[str, str]]) -> None:
    assume(all("(" not in value for _, value in elements))
    data = "".join(f"({ai}){value}" for ai, value in elements)
    assert parse_gs1(data).elements == tuple(GS1Element(ai, v) for ai, v in elements)


@given(_mod10_value(14), gs1_elements)
def test_gs1_scans_round_trip(gtin: str, rest: list[tuple[str, str]]) -> None:
    elements = [("01", gtin), *[(ai, v) for ai, v in rest if ai not in ("01", "02")]]
    data = join_separated(elements)
    assume(len(data) + 3 <= 128)
    scan = parse_scan("]C1" + data + "\r\n")
    assert scan.kind == "gs1"
    assert scan.lookup_key == (gtin[1:] if gtin[0] == "0" else gtin)
    assert scan.gs1 is not None
    assert scan.gs1.elements == tuple(GS1Element(ai, v) for ai, v in elements)


# ------------------------------------------------------------------- scan routing


@pytest.mark.parametrize(
    ("data", "symbology", "key"),
    [
        ("6901234567892", None, "6901234567892"),
        ("]E06901234567892", "]E0", "6901234567892"),
        ("036000291452\n", None, "0036000291452"),
        ("]E4" + "96385074", "]E4", "96385074"),
        ("  6901234567892 ", None, "6901234567892"),
        ("09501101530003", None, "9501101530003"),
    ],
)
def test_gtin_scans(data: str, symbology: str | None, key: str) -> None:
    scan = parse_scan(data)
    assert (scan.kind, scan.symbology, scan.lookup_key) == ("gtin", symbology, key)
    assert scan.measure is None and scan.gs1 is None


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ("1234", "1234"),
        ("000042", "000042"),
        ("SKU-2024/A_1.5", "SKU-2024/A_1.5"),
        (" tea-01 \r\n", "tea-01"),
        ("]C0ABC123", "ABC123"),
        ("A" * 64, "A" * 64),
    ],
)
def test_code_scans(data: str, key: str) -> None:
    scan = parse_scan(data)
    assert (scan.kind, scan.lookup_key) == ("code", key)


def test_raw_keeps_data_without_aim_prefix() -> None:
    scan = parse_scan("]C0 ab-1\r\n")
    assert (scan.raw, scan.symbology, scan.lookup_key) == (" ab-1", "]C0", "ab-1")


@pytest.mark.parametrize(
    ("data", "expected_code"),
    [
        ("", "empty"),
        ("\r\n", "empty"),
        ("   ", "empty"),
        ("]E0", "empty"),
        ("6901234\t", "bad_char"),
        ("69012\x00", "bad_char"),
        ("珍珠奶茶", "bad_char"),
        ("ABC DEF", "bad_char"),
        ("abc:1", "bad_char"),
        ("]x", "bad_char"),
        ("1234567", "bad_length"),
        ("6901234567", "bad_length"),
        ("69012345678", "bad_length"),
        ("690123456789012", "bad_length"),
        ("6901234567890123", "bad_length"),
        ("0109501101530004", "bad_length"),  # looks like AI 01 but the GTIN is bad
        ("6901234567890123456", "bad_length"),
        ("301234567890123456", "bad_length"),  # 18 digits, no layout prefix
        ("6901234567893", "bad_check_digit"),
        ("A" * 65, "too_long"),
        ("1" * 129, "too_long"),
        ("]C1" + "10ABC", "no_gtin"),
        ("]C1" + "6901234567892", "unknown_ai"),
    ],
)
def test_scan_errors(data: str, expected_code: str) -> None:
    assert error_code(parse_scan, data) == expected_code


def test_bad_char_names_the_character() -> None:
    with pytest.raises(BarcodeError, match=r"U\+0009 at position 7"):
        parse_scan("6901234\t")


@given(st.text())
def test_parse_scan_raises_only_barcode_errors_on_any_text(text: str) -> None:
    try:
        scan = parse_scan(text)
    except BarcodeError as exc:
        assert exc.code
        assert str(exc)
    else:
        assert scan.lookup_key


@given(st.text(alphabet=DIGITS + GS + "()]CdeQ13 \r\nA-", max_size=60))
def test_parse_scan_raises_only_barcode_errors_on_scanner_like_text(text: str) -> None:
    try:
        scan = parse_scan(text)
    except BarcodeError as exc:
        assert exc.code
    else:
        assert scan.lookup_key
        assert (scan.gs1 is not None) == (scan.kind == "gs1")
        assert (scan.measure is not None) == (scan.kind == "variable_measure")


@given(st.text(alphabet=DIGITS + GS + "()" + CSET82[:20], max_size=60))
def test_parse_gs1_raises_only_barcode_errors(text: str) -> None:
    try:
        message = parse_gs1(text)
    except BarcodeError as exc:
        assert exc.code
    else:
        assert message.elements


# ----------------------------------------------------------------- N* multiplier


@pytest.mark.parametrize(
    ("entry", "count", "code"),
    [
        ("6*6954321100014", 6, "6954321100014"),
        ("6*", 6, ""),
        (" 12 × 00101 ", 12, "00101"),
        ("99*A-1", 99, "A-1"),
    ],
)
def test_split_multiplier_reads_the_count_and_the_code(entry: str, count: int, code: str) -> None:
    assert split_multiplier(entry) == MultipliedScan(count, code)


def test_split_multiplier_leaves_a_plain_scan_alone() -> None:
    assert split_multiplier("6954321100014") is None


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        ("999*6954321100014", "multiplier_too_big"),
        ("100*6954321100014", "multiplier_too_big"),
        ("0*6954321100014", "bad_multiplier"),
        ("*6954321100014", "bad_multiplier"),
        ("a*6954321100014", "bad_multiplier"),
        ("1.5*6954321100014", "bad_multiplier"),
    ],
)
def test_split_multiplier_refuses_counts_out_of_bounds(entry: str, code: str) -> None:
    with pytest.raises(BarcodeError) as caught:
        split_multiplier(entry)
    assert caught.value.code == code
