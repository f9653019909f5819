"""Widths, wrapping and the printer character set rules (hardware._text)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware import FALLBACK, display_width, encode_text, print_width, to_printable, wrap

MIXED = "合计：¥16.00，谢谢！Milk Tea（大）【会员】"


def four_byte_sequences(data: bytes) -> list[bytes]:
    """GB18030 four-byte sequences in ``data``, found by walking the GB lead bytes."""
    found, i = [], 0
    while i < len(data):
        if 0x81 <= data[i] <= 0xFE and i + 1 < len(data):
            if 0x30 <= data[i + 1] <= 0x39:
                found.append(data[i : i + 4])
                i += 4
            else:
                i += 2
        else:
            i += 1
    return found


@pytest.mark.parametrize(
    ("text", "width"),
    [
        ("", 0),
        ("abc", 3),
        ("芋泥波波", 8),
        ("，。！：", 8),
        ("¥16.00", 6),  # U+00A5 is narrow on screen
        ("￥16.00", 7),  # U+FFE5 is full-width
        ("e\u0301", 1),  # combining acute accent takes no cell
        ("a\u200db", 2),  # zero-width joiner takes no cell
    ],
)
def test_display_width_counts_wide_as_two_and_combining_as_zero(text: str, width: int) -> None:
    assert display_width(text) == width


def test_print_width_counts_every_double_byte_character_as_two_cells() -> None:
    # Ambiguous-width characters are narrow on screen but print with a Chinese glyph.
    assert display_width("·×“”") == 4
    assert print_width("·×“”") == 8
    assert print_width("¥16.00") == 7
    assert print_width("Tea 茶") == 6


def test_gb18030_keeps_every_character_of_a_mixed_line() -> None:
    data = encode_text(MIXED, "gb18030")
    assert data.decode("gb18030") == MIXED
    # The yen sign is one of GB18030's four-byte sequences.
    assert four_byte_sequences(data) == [bytes.fromhex("81308436")]


def test_gbk_prints_the_yen_sign_as_fullwidth_yuan_and_nothing_else_changes() -> None:
    data = encode_text(MIXED, "gbk")
    assert data.decode("gbk") == MIXED.replace("¥", "￥")
    assert "￥".encode("gbk") in data  # A3 A4
    assert four_byte_sequences(data) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("𠀀", FALLBACK),  # CJK Extension B: four bytes in GB18030, absent from GBK
        ("奶茶😀", "奶茶?"),  # emoji
        ("€5", "EUR5"),
        ("•糖", "·糖"),
        ("©®™", "(C)(R)TM"),
        ("❤️", "?"),  # the variation selector is dropped, the heart is not in GBK
    ],
)
def test_gbk_fallback_rules(text: str, expected: str) -> None:
    assert to_printable(text, "gbk") == expected
    assert encode_text(text, "gbk").decode("gbk") == expected


def test_gb18030_encodes_four_byte_characters_that_gbk_cannot() -> None:
    assert encode_text("𠀀", "gb18030").decode("gb18030") == "𠀀"
    assert len(encode_text("𠀀", "gb18030")) == 4


@pytest.mark.parametrize("encoding", ["gb18030", "gbk"])
def test_control_characters_never_reach_the_printer(encoding: str) -> None:
    # ESC @ inside a product name would reset the printer mid-receipt.
    data = encode_text("奶茶\x1b@\x1dV\x00\t大杯\u00a0\ue000", encoding)
    assert all(b >= 0x20 for b in data)
    assert data.decode(encoding) == "奶茶?@?V? 大杯 ?"


def test_decomposed_accents_are_composed_before_encoding() -> None:
    # "é" as e + U+0301 is composed to U+00E9, which GBK has (pinyin row).
    assert encode_text("cafe\u0301", "gbk").decode("gbk") == "café"


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="gb18030 or gbk"):
        encode_text("abc", "utf-8")


def test_wrap_breaks_ascii_at_spaces_and_cjk_anywhere() -> None:
    assert wrap("Jasmine Green Tea", 10) == ["Jasmine", "Green Tea"]
    assert wrap("茉莉绿茶少冰半糖", 6) == ["茉莉绿", "茶少冰", "半糖"]
    assert wrap("", 10) == [""]
    assert wrap("一\n二", 10) == ["一", "二"]


def test_wrap_never_starts_a_line_with_closing_punctuation() -> None:
    assert wrap("芋泥波波，好喝。", 8) == ["芋泥波", "波，好", "喝。"]


def test_wrap_rejects_widths_that_cannot_hold_a_chinese_character() -> None:
    with pytest.raises(ValueError):
        wrap("中", 1)


# -- properties ---------------------------------------------------------------------------

RECEIPT_CHARS = st.sampled_from(
    list("芋泥波波杨枝甘露大杯合计找零会员积分")
    + list("，。！：；？（）【】“”、·…")
    + list("abcXYZ0123456789-.:/()")
    + [" ", " ", " ", "¥", "￥", "𠀀", "😀", "\u0301", "\n"]
)


@given(st.text(RECEIPT_CHARS, max_size=200), st.integers(min_value=2, max_value=60))
def test_wrap_fits_the_width_and_loses_no_character(text: str, width: int) -> None:
    lines = wrap(text, width)
    assert all(display_width(line) <= width for line in lines)

    def visible(s: str) -> str:
        return s.replace(" ", "").replace("\n", "")

    assert visible("".join(lines)) == visible(text)


@given(st.text(RECEIPT_CHARS, max_size=200), st.integers(min_value=2, max_value=60))
def test_wrap_by_print_width_fits_the_paper(text: str, width: int) -> None:
    printable = to_printable(text.replace("\n", " "), "gbk")
    lines = wrap(printable, width, measure=print_width)
    assert all(print_width(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == printable.replace(" ", "")


BMP_TEXT = st.text(
    st.characters(
        max_codepoint=0xFFFF,
        exclude_categories=("Cc", "Cs", "Co", "Cn", "Cf"),
        exclude_characters="\u00a0" + "".join(chr(c) for c in range(0xFE00, 0xFE10)),
    )
)


@given(BMP_TEXT)
def test_gb18030_round_trips_any_bmp_text(text: str) -> None:
    assert encode_text(text, "gb18030").decode("gb18030") == unicodedata.normalize("NFC", text)


@given(st.text())
def test_gbk_output_is_always_valid_gbk_without_four_byte_sequences(text: str) -> None:
    data = encode_text(text, "gbk")
    assert data.decode("gbk") == to_printable(text, "gbk")
    assert four_byte_sequences(data) == []
    assert all(b >= 0x20 for b in data)
