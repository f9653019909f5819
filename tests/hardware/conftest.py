"""Fixtures for the hardware tests.

Why they exist:

* ``font_path``: the preview needs a CJK font: the one the project ships under
  ``resources/fonts/``, so the tests draw exactly what the app draws on a machine
  without any CJK font installed.
* ``sample_receipt``: one realistic milk-tea receipt (mixed Chinese, ASCII, ¥,
  full-width punctuation, discounts, member points, cash tender) reused across
  the layout, decoding and preview tests.
* ``virtual_printer``: a :class:`hardware.VirtualPrinter` listening on a real
  loopback port, stopped after the test so no thread outlives it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware import Amount, Receipt, SaleLine, Tender, VirtualPrinter

ROOT = Path(__file__).resolve().parents[2]
SALE_QR = "CP1:S0012-T03-20240601-000123:3q2+7w8K9xYzAbCdEfGh"


@pytest.fixture(scope="session")
def font_path() -> Path:
    """The CJK font the project ships (resources/fonts), as the app's preview uses."""
    path = ROOT / "resources" / "fonts" / "WenQuanYiMicroHei-GB2312.ttf"
    assert path.is_file(), f"the shipped CJK font is missing: {path}"
    return path


@pytest.fixture
def sample_receipt() -> Receipt:
    return Receipt(
        store_name="茶饮铺·静安店",
        store_address="上海市静安区南京西路1266号",
        store_phone="021-6288 1234",
        sale_reference="S0012-T03-000123",
        printed_at="2024-06-01 14:32:05",
        cashier="王小明",
        terminal="03",
        lines=(
            SaleLine("芋泥波波", "1", "¥16.00", "¥16.00"),
            SaleLine("杨枝甘露(大)", "2", "¥18.00", "¥36.00"),
            SaleLine("Jasmine Green Tea 茉莉绿茶（少冰，半糖）", "1", "¥12.00", "¥12.00"),
        ),
        subtotal="¥64.00",
        discounts=(Amount("第二杯半价", "-¥9.00"), Amount("会员折扣：95折", "-¥2.75")),
        total="¥52.25",
        tenders=(Tender("现金", "¥60.00", cash=True),),
        change="¥7.75",
        member="138****1234",
        points_earned="+52",
        points_balance="1,208",
        qr_payload=SALE_QR,
        footer="谢谢惠顾，欢迎再次光临！",
    )


@pytest.fixture
def virtual_printer() -> Iterator[VirtualPrinter]:
    printer = VirtualPrinter()
    try:
        yield printer
    finally:
        printer.stop()
