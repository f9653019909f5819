"""Receipts, slips and test pages, checked by decoding what would reach the printer.

Nothing here compares bytes with bytes the layout wrote before: every assertion
goes through the independent reader (:func:`hardware.decode`), Python's own
GB18030/GBK codecs, or zxing-cpp reading the QR code off the rendered preview.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import zxingcpp

from hardware import (
    PROFILES,
    Align,
    Amount,
    Columns,
    Decoded,
    Document,
    HandoverSlip,
    Item,
    PrinterProfile,
    QRCode,
    Receipt,
    Rule,
    Text,
    decode,
    display_width,
    handover_document,
    receipt_document,
    receipt_test_page,
    render,
    render_preview,
)

from .conftest import SALE_QR
from .test_text import four_byte_sequences

ALL_PROFILES = list(PROFILES.values())
GB18030_80 = PROFILES["generic-80-gb18030"]
GBK_58 = PROFILES["generic-58-gbk"]


def read(data: bytes, profile: PrinterProfile) -> Decoded:
    """Decode as the profile's printer would, starting from its power-on state."""
    return decode(data, profile.encoding, chinese_at_power_on=not profile.chinese_mode)


@pytest.fixture(params=ALL_PROFILES, ids=lambda p: p.name)
def profile(request: pytest.FixtureRequest) -> PrinterProfile:
    return request.param


def test_receipt_text_survives_the_printer_character_set(
    sample_receipt: Receipt, profile: PrinterProfile
) -> None:
    decoded = read(render(receipt_document(sample_receipt), profile), profile)
    text = decoded.text
    assert decoded.problems == []
    assert decoded.unknown == []
    for expected in ("茶饮铺·静安店", "芋泥波波", "杨枝甘露(大)", "合计", "找零", "第二杯半价"):
        assert expected in text
    assert "会员折扣：95折" in text
    assert "谢谢惠顾，欢迎再次光临！" in text  # full-width ， and ！
    assert "138****1234" in text and "积分余额" in text and "1,208" in text
    assert "S0012-T03-000123" in text
    # Wrapped on narrow paper, but every character is there, in order.
    assert "Jasmine Green Tea" in text.replace("\n", " ")
    assert "茉莉绿茶（少冰，半糖）" in "".join(decoded.text_lines)


def test_yuan_sign_per_character_set(sample_receipt: Receipt) -> None:
    gb = read(render(receipt_document(sample_receipt), GB18030_80), GB18030_80)
    gbk = read(render(receipt_document(sample_receipt), GBK_58), GBK_58)
    assert "¥52.25" in gb.text
    assert "￥52.25" in gbk.text and "¥" not in gbk.text


def test_gbk_receipt_has_no_four_byte_sequences(sample_receipt: Receipt) -> None:
    receipt = dataclasses.replace(sample_receipt, store_name="𠀀记茶饮😀")
    for profile in (p for p in ALL_PROFILES if p.encoding == "gbk"):
        data = render(receipt_document(receipt), profile)
        decoded = read(data, profile)
        assert four_byte_sequences(data) == []
        assert decoded.problems == []  # the GBK reader met nothing it could not read
        assert decoded.lines[0].text == "?记茶饮?"  # the defined fallback, not garbage


def test_gb18030_receipt_keeps_four_byte_characters(sample_receipt: Receipt) -> None:
    receipt = dataclasses.replace(sample_receipt, store_name="𠀀记茶饮")
    decoded = read(render(receipt_document(receipt), GB18030_80), GB18030_80)
    assert decoded.lines[0].text == "𠀀记茶饮"


def test_every_line_fits_the_paper(sample_receipt: Receipt, profile: PrinterProfile) -> None:
    long_name = (
        "超级无敌芝士奶盖厚乳芋泥波波鲜奶茶 Super Cheese Foam Taro Boba Milk Tea（加椰果，加布丁）"
    )
    receipt = dataclasses.replace(
        sample_receipt,
        lines=(*sample_receipt.lines, dataclasses.replace(sample_receipt.lines[0], name=long_name)),
    )
    decoded = read(render(receipt_document(receipt), profile), profile)
    for line in decoded.lines:
        assert line.cells <= profile.columns, line.text
        # The printer width bounds the screen width too (CJK = 2 on both).
        assert display_width(line.text) * (2 if line.double else 1) <= profile.columns
    assert "Super Cheese" in decoded.text and "加布丁）" in decoded.text


def test_amounts_are_flush_right(sample_receipt: Receipt, profile: PrinterProfile) -> None:
    decoded = read(render(receipt_document(sample_receipt), profile), profile)
    (total,) = [line for line in decoded.lines if line.text.startswith("合计")]
    assert total.cells == profile.columns
    assert total.text.endswith("52.25")
    assert total.bold


def test_cut_once_at_the_end_when_the_printer_has_a_cutter(
    sample_receipt: Receipt, profile: PrinterProfile
) -> None:
    decoded = read(render(receipt_document(sample_receipt), profile), profile)
    if profile.cutter:
        assert [c.kind for c in decoded.cuts] == ["partial"]
        assert decoded.elements[-1] is decoded.cuts[0]
    else:
        assert decoded.cuts == []
        assert decoded.text_lines[-3:] == ["", "", ""]  # fed past the tear bar


def test_no_cut_when_the_document_asks_for_none() -> None:
    doc = Document((Text("x"),), cut=False)
    assert read(render(doc, GB18030_80), GB18030_80).cuts == []


@pytest.mark.parametrize("pin", [2, 5])
def test_drawer_kick_only_on_cash_and_on_the_profile_pin(sample_receipt: Receipt, pin: int) -> None:
    profile = dataclasses.replace(GB18030_80, drawer_pin=pin)
    cash = read(render(receipt_document(sample_receipt), profile), profile)
    assert [(k.pin, k.on_ms) for k in cash.drawer_kicks] == [(pin, 50)]

    card = dataclasses.replace(sample_receipt, tenders=(), change=None)
    assert read(render(receipt_document(card), profile), profile).drawer_kicks == []

    reprint = dataclasses.replace(sample_receipt, reprint=True)
    decoded = read(render(receipt_document(reprint), profile), profile)
    assert decoded.drawer_kicks == []
    assert "** 重印 **" in decoded.text


def test_member_lines_only_when_a_member_is_present(sample_receipt: Receipt) -> None:
    anonymous = dataclasses.replace(sample_receipt, member=None)
    text = read(render(receipt_document(anonymous), GBK_58), GBK_58).text
    assert "会员" not in text.replace("会员折扣", "") and "积分" not in text


def test_chinese_mode_is_switched_on_before_any_chinese_text() -> None:
    doc = Document((Text("合计：¥16.00"),))
    for profile in ALL_PROFILES:
        data = render(doc, profile)
        # A printer that starts single-byte only reads the text if the job sent FS &.
        decoded = decode(data, profile.encoding, chinese_at_power_on=False)
        if profile.chinese_mode:
            assert decoded.text_lines[0].startswith("合计")
        else:
            assert not decoded.text_lines[0].startswith("合计")
            assert read(data, profile).text_lines[0].startswith("合计")


def test_native_qr_payload_equals_the_input(sample_receipt: Receipt) -> None:
    decoded = read(render(receipt_document(sample_receipt), GB18030_80), GB18030_80)
    (qr,) = decoded.qr_codes
    assert qr.payload == SALE_QR
    assert qr.error_level == "M" and qr.model == 2 and qr.align == Align.CENTER
    assert decoded.images == []


@pytest.mark.parametrize("profile", [p for p in ALL_PROFILES if p.qr == "raster"], ids=str)
def test_raster_qr_reads_back_from_the_preview(
    sample_receipt: Receipt, profile: PrinterProfile, font_path: Path
) -> None:
    data = render(receipt_document(sample_receipt), profile)
    decoded = read(data, profile)
    assert decoded.qr_codes == []
    (image,) = decoded.images
    assert image.image.width <= profile.dots
    preview = render_preview(data, profile, font_path)
    assert [r.text for r in zxingcpp.read_barcodes(preview)] == [SALE_QR]


def test_native_qr_reads_back_from_the_preview(sample_receipt: Receipt, font_path: Path) -> None:
    data = render(receipt_document(sample_receipt), GB18030_80)
    preview = render_preview(data, GB18030_80, font_path)
    assert preview.width == GB18030_80.dots
    assert [r.text for r in zxingcpp.read_barcodes(preview)] == [SALE_QR]


def test_long_qr_payload_still_fits_the_narrow_paper(font_path: Path) -> None:
    payload = "CP1:" + "x" * 600
    data = render(Document((QRCode(payload),)), GBK_58)
    (image,) = read(data, GBK_58).images
    assert image.image.width <= GBK_58.dots
    preview = render_preview(data, GBK_58, font_path)
    assert [r.text for r in zxingcpp.read_barcodes(preview)] == [payload]


def test_qr_payload_too_long_for_any_symbol_is_refused() -> None:
    with pytest.raises(ValueError, match="QR payload"):
        render(Document((QRCode("x" * 3000),)), GB18030_80)


def test_columns_put_a_long_value_on_its_own_line() -> None:
    profile = GBK_58
    doc = Document((Columns("会员卡号（实体卡）", "6222 0212 3456 7890"),), cut=False)
    lines = read(render(doc, profile), profile).lines
    assert [line.text.strip() for line in lines] == ["会员卡号（实体卡）", "6222 0212 3456 7890"]
    assert lines[1].cells == profile.columns  # flush right


def test_item_prints_name_then_detail_and_amount() -> None:
    doc = Document((Item("杨枝甘露(大)", "2 x ¥18.00", "¥36.00"),))
    lines = read(render(doc, GB18030_80), GB18030_80).text_lines
    assert lines[0] == "杨枝甘露(大)"
    assert lines[1].split() == ["2", "x", "¥18.00", "¥36.00"]


def test_rules_fill_the_width_with_wide_or_narrow_characters() -> None:
    doc = Document((Rule("-"), Rule("═")), cut=False)
    first, second = read(render(doc, GB18030_80), GB18030_80).lines
    assert first.text == "-" * 48 and first.cells == 48
    assert second.text == "═" * 24 and second.cells == 48


def test_double_text_wraps_at_half_the_columns() -> None:
    doc = Document((Text("芋泥波波杨枝甘露芋泥波波杨枝甘露", double=True, align=Align.CENTER),))
    lines = read(render(doc, GBK_58), GBK_58).lines
    assert [line.text for line in lines[:2]] == ["芋泥波波杨枝甘露", "芋泥波波杨枝甘露"]
    assert all(line.double and line.cells == 32 for line in lines[:2])


def test_test_page_shows_profile_sample_ruler_and_qr(
    profile: PrinterProfile, font_path: Path
) -> None:
    data = render(receipt_test_page(profile), profile)
    decoded = read(data, profile)
    assert decoded.problems == [] and decoded.unknown == []
    text = decoded.text
    assert profile.name in text
    yuan = "¥" if profile.encoding == "gb18030" else "￥"
    assert f"中文ABC 123 {yuan}16.00 ￥8.50，。！：" in text.replace("\n", "")
    ruler = "".join(str((i + 1) % 10) for i in range(profile.columns))
    assert ruler in decoded.text_lines
    preview = render_preview(data, profile, font_path)
    assert [r.text for r in zxingcpp.read_barcodes(preview)] == [f"CHAINPOS-TEST:{profile.name}"]


def test_handover_slip_uses_the_same_engine(profile: PrinterProfile) -> None:
    slip = HandoverSlip(
        store_name="茶饮铺·静安店",
        terminal="03",
        cashier="王小明",
        shift_start="2024-06-01 08:00",
        shift_end="2024-06-01 16:00",
        sale_count=128,
        totals=(Amount("销售总额", "¥4,321.50"), Amount("退货", "-¥32.00")),
        tenders=(Amount("现金", "¥1,200.00"), Amount("微信支付", "¥2,100.50")),
        cash_expected="¥1,700.00",
        cash_counted="¥1,698.00",
        cash_difference="-¥2.00",
        next_cashier="李华",
    )
    decoded = read(render(handover_document(slip), profile), profile)
    assert decoded.problems == []
    assert decoded.lines[0].text == "交班单" and decoded.lines[0].double
    for expected in ("销售笔数", "128", "微信支付", "差额", "接班人签字"):
        assert expected in decoded.text
    assert decoded.drawer_kicks == []
    assert all(line.cells <= profile.columns for line in decoded.lines)


def test_line_feeds_in_text_start_new_lines() -> None:
    doc = Document((Text("上海市静安区\n南京西路1266号", align=Align.CENTER),), cut=False)
    lines = read(render(doc, GBK_58), GBK_58).lines
    assert [(line.text, line.align) for line in lines] == [
        ("上海市静安区", Align.CENTER),
        ("南京西路1266号", Align.CENTER),
    ]
