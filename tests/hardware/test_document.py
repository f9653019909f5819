"""Documents survive a round trip through their JSON form (kept in the print queue)."""

from __future__ import annotations

import json

import pytest

from hardware import (
    PROFILES,
    Align,
    Document,
    HandoverSlip,
    Receipt,
    Text,
    document_from_dict,
    document_to_dict,
    handover_document,
    receipt_document,
    receipt_test_page,
    render,
)
from hardware._receipt import Amount


def _slip() -> HandoverSlip:
    return HandoverSlip(
        store_name="茶语时光 人民广场店",
        terminal="S001-T01",
        cashier="1001 王芳",
        shift_start="2025-03-01 08:00",
        shift_end="2025-03-01 18:00",
        sale_count=142,
        totals=(Amount("销售额", "¥4,321.50"), Amount("退货", "-¥32.00")),
        tenders=(Amount("现金", "¥1,200.00"), Amount("银行卡", "¥3,089.50")),
        cash_expected="¥1,700.00",
        cash_counted="¥1,698.50",
        cash_difference="-¥1.50",
        next_cashier="1002 李强",
    )


@pytest.mark.parametrize("which", ["receipt", "handover", "test_page"])
def test_json_round_trip_gives_the_same_document_and_bytes(
    which: str, sample_receipt: Receipt
) -> None:
    profile = PROFILES["generic-58-gbk"]
    doc = {
        "receipt": lambda: receipt_document(sample_receipt),
        "handover": lambda: handover_document(_slip()),
        "test_page": lambda: receipt_test_page(profile),
    }[which]()
    stored = json.dumps(document_to_dict(doc), ensure_ascii=False)
    again = document_from_dict(json.loads(stored))
    assert again == doc
    assert render(again, profile) == render(doc, profile)


def test_alignment_and_flags_are_kept() -> None:
    doc = Document((Text("居中", align=Align.CENTER, bold=True),), cut=False, open_drawer=True)
    again = document_from_dict(document_to_dict(doc))
    assert again.blocks[0] == Text("居中", align=Align.CENTER, bold=True)
    assert (again.cut, again.open_drawer) == (False, True)


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"blocks": [{"type": "Barcode", "data": "123"}]},
        {"blocks": [{"type": "Text", "txt": "typo"}]},
        {"blocks": [{"type": "Text", "text": "x", "align": "middle"}]},
        {"blocks": ["Text"]},
    ],
)
def test_malformed_documents_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        document_from_dict(bad)
