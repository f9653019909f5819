"""The sale event's invariants are the protocol's: the till cannot build, and HQ does not
take, a sale whose amounts do not add up."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from sync_client.contract import protocol as p

WHEN = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def _line(n: int, amount: int = 1600, discount: int = 0, **over: Any) -> dict[str, Any]:
    return {
        "line_no": n,
        "sku": "MT001",
        "name": "奶茶",
        "unit": "piece",
        "qty_milli": 1000,
        "unit_price_fen": amount,
        "price_version": 1,
        "list_amount_fen": amount,
        "discount_fen": discount,
        "amount_fen": amount - discount,
        **over,
    }


def _sale(**over: Any) -> dict[str, Any]:
    sale: dict[str, Any] = {
        "sale_id": str(uuid.uuid4()),
        "receipt_no": "T1-000001",
        "store": "S001",
        "terminal": "T1",
        "cashier": "1001",
        "started_at": WHEN.isoformat(),
        "completed_at": WHEN.isoformat(),
        "lines": [_line(1), _line(2, discount=100)],
        "subtotal_fen": 3200,
        "discount_fen": 100,
        "rounding_fen": 0,
        "total_fen": 3100,
        "tenders": [{"kind": "cash", "amount_fen": 3100, "tendered_fen": 5000}],
        "change_fen": 1900,
    }
    sale.update(over)
    return sale


def test_a_consistent_sale_is_taken() -> None:
    sale = p.SaleCompleted.model_validate(_sale())
    assert sale.tenders[0].change_fen == 1900


@pytest.mark.parametrize(
    ("over", "says"),
    [
        ({"lines": [_line(1), _line(2, discount=100, amount_fen=1600)]}, "amount_fen"),
        ({"lines": [_line(1), _line(1, discount=100)]}, "numbered"),
        ({"lines": [_line(2), _line(3, discount=100)]}, "numbered"),
        ({"total_fen": 3000}, "total_fen"),
        ({"change_fen": 0}, "change_fen"),
        ({"tenders": [{"kind": "cash", "amount_fen": 3000}]}, "tenders"),
        ({"tenders": [{"kind": "cash", "amount_fen": 3100, "tendered_fen": 3000}]}, "tendered"),
        ({"tenders": [{"kind": "points", "amount_fen": 3100}], "change_fen": 0}, "member"),
        ({"completed_at": "2026-03-01T02:00:00"}, "timezone"),
    ],
)
def test_a_sale_that_does_not_add_up_is_refused(over: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        p.SaleCompleted.model_validate(_sale(**over))


def test_a_push_body_carries_the_protocol_version() -> None:
    body = p.PushRequest(protocol=p.PROTOCOL_VERSION, events=[]).model_dump(mode="json")
    assert body == {"protocol": p.PROTOCOL_VERSION, "events": []}
