"""The ESC/POS reader on hand-written byte streams (hardware._decode).

The streams here are typed from the ESC/POS command reference, not produced by the
layout engine, so the reader is checked on its own before it checks the layout.
"""

from __future__ import annotations

from hardware import Align, decode

ESC, GS, FS, DLE = b"\x1b", b"\x1d", b"\x1c", b"\x10"


def test_chinese_mode_text_decodes_through_the_printer_character_set() -> None:
    data = ESC + b"@" + FS + b"&" + "芋泥波波 ￥16".encode("gbk") + b"\n" + FS + b"."
    decoded = decode(data, "gbk", chinese_at_power_on=False)
    assert decoded.text_lines == ["芋泥波波 ￥16"]
    assert decoded.lines[0].cells == 8 + 1 + 2 + 2
    assert decoded.problems == [] and decoded.unknown == []


def test_double_byte_text_outside_chinese_mode_prints_as_code_page_characters() -> None:
    # A printer that powers on single-byte and never got FS & prints garbage.
    data = ESC + b"@" + "合计".encode("gbk") + b"\n"
    decoded = decode(data, "gbk", chinese_at_power_on=False)
    assert decoded.text_lines[0] != "合计"
    assert decoded.text_lines[0] == "合计".encode("gbk").decode("cp437")


def test_fs_dot_leaves_chinese_mode() -> None:
    data = FS + b"." + "中".encode("gb18030") + b"\n"
    assert decode(data, "gb18030").text_lines[0] != "中"


def test_gbk_printer_cannot_read_four_byte_sequences() -> None:
    data = "¥".encode("gb18030") + b"\n"
    gbk = decode(data, "gbk")
    assert gbk.text_lines == ["\ufffd"]
    assert "81 30 84 36" in gbk.problems[0]
    assert decode(data, "gb18030").text_lines == ["¥"]


def test_styles_and_alignment_are_kept_per_line() -> None:
    data = (
        ESC + b"a\x01" + ESC + b"E\x01" + GS + b"!\x11" + "店名".encode("gbk") + b"\n"
        + GS + b"!\x00" + ESC + b"E\x00" + ESC + b"a\x00" + b"plain\n"
        + ESC + b"a\x02" + b"right\n"
    )  # fmt: skip
    first, second, third = decode(data, "gbk").lines
    assert (first.text, first.align, first.bold, first.double) == ("店名", Align.CENTER, True, True)
    assert first.cells == 8  # two characters, two cells each, double width
    assert (second.text, second.align, second.bold, second.double) == (
        "plain",
        Align.LEFT,
        False,
        False,
    )
    assert third.align == Align.RIGHT


def test_alignment_changed_mid_line_applies_to_the_next_line() -> None:
    data = b"ab" + ESC + b"a\x01" + b"cd\nef\n"
    first, second = decode(data, "gbk").lines
    assert (first.text, first.align) == ("abcd", Align.LEFT)
    assert second.align == Align.CENTER


def test_cuts_of_every_function_are_recognised() -> None:
    data = (
        GS + b"V\x00" + GS + b"V\x31" + GS + b"V\x41\x05" + GS + b"V\x42\x00"
        + ESC + b"i" + ESC + b"m"
    )  # fmt: skip
    cuts = decode(data, "gbk").cuts
    assert [(c.kind, c.feed) for c in cuts] == [
        ("full", None),
        ("partial", None),
        ("full", 5),
        ("partial", 0),
        ("full", None),
        ("partial", None),
    ]


def test_drawer_kicks_report_pin_and_pulse_times() -> None:
    data = ESC + b"p\x00\x19\xfa" + ESC + b"p\x01\x32\x32" + DLE + b"\x14\x01\x00\x03"
    kicks = decode(data, "gbk").drawer_kicks
    assert [(k.pin, k.on_ms, k.off_ms) for k in kicks] == [
        (2, 50, 500),
        (5, 100, 100),
        (2, 300, 300),
    ]


def test_native_qr_payload_is_read_from_the_store_command() -> None:
    payload = "S0012-T03-000123 签名".encode()

    def gs_k(body: bytes) -> bytes:
        return GS + b"(k" + len(body).to_bytes(2, "little") + body

    data = (
        ESC + b"a\x01"
        + gs_k(b"1A2\x00") + gs_k(b"1C\x06") + gs_k(b"1E1") + gs_k(b"1P0" + payload)
        + gs_k(b"1Q0")
    )  # fmt: skip
    (qr,) = decode(data, "gbk").qr_codes
    assert (qr.payload, qr.module_size, qr.error_level, qr.model, qr.align) == (
        "S0012-T03-000123 签名",
        6,
        "M",
        2,
        Align.CENTER,
    )


def test_raster_image_bits_become_black_pixels() -> None:
    # 16 x 2 dots: first row 10000000 00000001, second row all black.
    data = GS + b"v0\x00" + b"\x02\x00\x02\x00" + b"\x80\x01\xff\xff"
    (image,) = decode(data, "gbk").images
    img = image.image
    assert img.size == (16, 2)
    assert [img.getpixel((x, 0)) for x in (0, 1, 14, 15)] == [0, 255, 255, 0]
    assert all(img.getpixel((x, 1)) == 0 for x in range(16))


def test_raster_data_is_not_mistaken_for_commands() -> None:
    # The image bytes contain DLE EOT 1 and GS V 0; both are image data here.
    data = GS + b"v0\x00" + b"\x03\x00\x01\x00" + b"\x10\x04\x01" + b"after\n"
    decoded = decode(data, "gbk")
    assert decoded.status_requests == []
    assert decoded.cuts == []
    assert decoded.text_lines == ["after"]


def test_unknown_commands_are_listed_not_ignored() -> None:
    data = ESC + b"Z" + b"ok\n" + b"\x07" + GS + b"(L\x02\x00\x30\x45"
    decoded = decode(data, "gbk")
    assert decoded.text_lines == ["ok"]
    assert [(u.offset, u.data) for u in decoded.unknown] == [
        (0, ESC + b"Z"),
        (5, b"\x07"),
        (6, GS + b"(L\x02\x00\x30\x45"),
    ]


def test_truncated_command_at_the_end_is_reported() -> None:
    decoded = decode(GS + b"v0\x00\x10\x00\x10\x00\xff", "gbk")
    assert decoded.images == []
    assert decoded.unknown[0].offset == 0


def test_text_dropped_by_initialise_and_left_unprinted_is_reported() -> None:
    decoded = decode(b"lost" + ESC + b"@" + b"pending", "gbk")
    assert decoded.text_lines == ["pending"]
    assert any("discards" in p and "lost" in p for p in decoded.problems)
    assert any("without a line feed" in p for p in decoded.problems)


def test_status_requests_are_collected() -> None:
    assert decode(DLE + b"\x04\x01" + DLE + b"\x04\x04", "gbk").status_requests == [1, 4]


def test_esc_d_prints_the_line_and_feeds() -> None:
    assert decode(b"x" + ESC + b"d\x03", "gbk").text_lines == ["x", "", ""]
