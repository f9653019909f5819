"""The menu on the wire: the till's lenient reader knows the ``menu`` change kind, drops
fields a newer HQ adds, and sale lines without options stay valid (older tills)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from sync_client._feed import read_changes
from sync_client.contract import protocol as p

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC).isoformat()


def _menu_change(**extra_data: object) -> dict[str, object]:
    return {
        "seq": 7,
        "kind": "menu",
        "key": "3",
        "store": None,
        "created_at": NOW,
        "data": {
            "version": 3,
            "store": None,
            "effective_at": NOW,
            "categories": [{"code": "tea", "name_zh": "奶茶"}],
            "groups": [
                {
                    "code": "ice",
                    "name_zh": "温度",
                    "min_choices": 1,
                    "choices": [{"code": "less", "name_zh": "少冰", "future": 1}],
                }
            ],
            "tiles": [{"sku": "MT001", "category": "tea", "groups": ["ice"]}],
            **extra_data,
        },
    }


def test_a_menu_change_is_read_and_unknown_fields_from_a_newer_hq_are_dropped():
    batch = read_changes([_menu_change(promotion_banner="满30减5")])
    assert (batch.skipped, batch.quarantine) == (0, [])
    (change,) = batch.changes
    assert isinstance(change, p.MenuChange)
    assert change.data.groups[0].choices[0].name_zh == "少冰"
    assert "menu" in p.CHANGE_KINDS


def test_a_menu_change_that_cannot_be_read_is_quarantined_not_fatal():
    bad = _menu_change()
    bad["data"]["tiles"] = [{"sku": "MT001", "category": "tea", "colour": "orange"}]  # type: ignore[index]
    good = {**_menu_change(), "seq": 8, "key": "4"}
    good["data"] = {**good["data"], "version": 4}  # type: ignore[dict-item]
    batch = read_changes([bad, good])
    assert [c.seq for c in batch.changes] == [8]
    assert [(q.seq, q.kind, q.key) for q in batch.quarantine] == [(7, "menu", "3")]


def test_sale_lines_without_options_are_still_valid_and_options_are_checked():
    base = {
        "line_no": 1,
        "sku": "MT001",
        "name": "芋泥波波",
        "unit": "piece",
        "qty_milli": 1000,
        "unit_price_fen": 1800,
        "price_version": 1,
        "list_amount_fen": 1800,
        "discount_fen": 0,
        "amount_fen": 1800,
    }
    plain = p.SaleLine.model_validate(base)
    assert plain.options is None and plain.menu_version is None
    drink = p.SaleLine.model_validate(
        {
            **base,
            "options": [{"group": "size", "code": "large", "name": "大杯", "price_fen": 300}],
            "menu_version": 2,
        }
    )
    assert drink.options is not None and drink.options[0].price_fen == 300
    with pytest.raises(ValidationError):
        p.SaleLine.model_validate(
            {**base, "options": [{"group": "size", "code": "l", "name": "大杯", "price_fen": 9000}]}
        )
