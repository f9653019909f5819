"""The paper preview drawn from decoded bytes (hardware._preview)."""

from __future__ import annotations

from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from hardware import (
    PROFILES,
    Align,
    Document,
    PrinterProfile,
    QRCode,
    Text,
    render,
    render_preview,
)

PROFILE = PROFILES["generic-80-gb18030"]


def ink_columns(image: Image.Image, top: int, bottom: int) -> tuple[int, int]:
    """Leftmost and rightmost column with dark pixels between two rows."""
    box = (
        image.convert("L")
        .crop((0, top, image.width, bottom))
        .point(lambda v: 255 if v < 128 else 0)
    )
    left, _, right, _ = box.getbbox() or (0, 0, 0, 0)
    return left, right


@pytest.mark.parametrize("profile", PROFILES.values(), ids=lambda p: p.name)
def test_preview_is_as_wide_as_the_print_head(profile: PrinterProfile, font_path: Path) -> None:
    short = render_preview(render(Document((Text("一"),)), profile), profile, font_path)
    long = render_preview(render(Document((Text("一\n二\n三"),)), profile), profile, font_path)
    assert short.width == long.width == profile.dots
    assert long.height > short.height


def test_alignment_moves_the_ink(font_path: Path) -> None:
    def ink(align: Align) -> tuple[int, int]:
        doc = Document((Text("合计", align=align),), cut=False)
        image = render_preview(render(doc, PROFILE), PROFILE, font_path)
        return ink_columns(image, 0, image.height)

    left, center, right = ink(Align.LEFT), ink(Align.CENTER), ink(Align.RIGHT)
    assert left[0] < 12
    assert abs((center[0] + center[1]) / 2 - PROFILE.dots / 2) < 12
    assert right[1] > PROFILE.dots - 12


def test_double_size_text_is_wider(font_path: Path) -> None:
    def width(double: bool) -> int:
        doc = Document((Text("芋泥波波", double=double),), cut=False)
        image = render_preview(render(doc, PROFILE), PROFILE, font_path)
        left, right = ink_columns(image, 0, image.height)
        return right - left

    assert width(True) > 1.8 * width(False)


def test_cjk_payload_qr_reads_back(font_path: Path) -> None:
    payload = "退货码：S0012-T03-000123"
    for profile in (PROFILES["generic-80-gbk"], PROFILES["xprinter-58"]):
        image = render_preview(render(Document((QRCode(payload),)), profile), profile, font_path)
        assert [r.text for r in zxingcpp.read_barcodes(image)] == [payload]
