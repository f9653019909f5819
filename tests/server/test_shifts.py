"""HQ records every shift of every till: opened with its counted float, cash moved in and
out, closed with per-tender figures and the over/short sign-off; replays change nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from server_stub import models as m
from tests.server.conftest import Chain, RunningHQ


def _push(client: httpx.Client, device, events) -> list[str]:
    r = client.post("/v1/sync/push", json={"events": events}, headers=device.headers)
    assert r.status_code == 200, r.text
    return [
        x["status"] if x["status"] != "rejected" else f"rejected:{x['reason']}"
        for x in r.json()["results"]
    ]


def test_a_whole_shift_reaches_hq_once(hq: RunningHQ, chain: Chain, client: httpx.Client):
    """GIVEN a shift opened with ¥500 by denomination, ¥200 taken to the safe and a close
    ¥2 short with a supervisor's sign-off
    WHEN the till pushes the three events, and then pushes them all again
    THEN HQ holds the shift with its float, counts, per-tender figures, the movement and
    the approval, and the replay is answered duplicate without changing anything."""
    store = chain.store()
    dev = chain.device(store)
    shift_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    base = {"shift_id": shift_id, "store": store, "terminal": dev.device_id, "staff": "1001"}
    opened = chain.event(
        {
            **base,
            "type": "shift.opened",
            "opened_at": now.isoformat(),
            "float_fen": 50_000,
            "shift_no": f"{dev.device_id}-S00001",
            "float_counts": [{"value_fen": 10000, "count": 5}],
        }
    )
    moved = chain.event(
        {
            **base,
            "type": "shift.cash_moved",
            "movement_id": str(uuid.uuid4()),
            "moved_at": (now + timedelta(hours=1)).isoformat(),
            "direction": "out",
            "amount_fen": 20_000,
            "reason": "存入保险柜",
            "approval": {
                "action": "cash_movement",
                "staff": "1003",
                "approved_at": (now + timedelta(hours=1)).isoformat(),
            },
        }
    )
    closed = chain.event(
        {
            **base,
            "type": "shift.closed",
            "closed_at": (now + timedelta(hours=8)).isoformat(),
            "expected_cash_fen": 32_350,
            "counted_cash_fen": 32_150,
            "over_short_fen": -200,
            "shift_no": f"{dev.device_id}-S00001",
            "business_date": now.date().isoformat(),
            "counts": [{"value_fen": 100, "count": 321}, {"value_fen": 50, "count": 1}],
            "tenders": [
                {
                    "kind": "cash",
                    "expected_fen": 32_350,
                    "counted_fen": 32_150,
                    "over_short_fen": -200,
                    "count": 1,
                },
                {"kind": "card", "expected_fen": 1_800, "count": 1},
            ],
            "sales_count": 2,
            "sales_fen": 4_150,
            "voids_count": 1,
            "reason": "找错零钱",
            "approval": {
                "action": "over_short",
                "staff": "1003",
                "approved_at": (now + timedelta(hours=8)).isoformat(),
            },
        }
    )
    assert _push(client, dev, [opened, moved, closed]) == ["applied"] * 3
    assert _push(client, dev, [opened, moved, closed]) == ["duplicate"] * 3
    sid = uuid.UUID(shift_id)
    with hq.db.read() as conn:
        row = conn.execute(select(m.shifts).where(m.shifts.c.shift_id == sid)).one()
        tenders = conn.execute(
            select(m.shift_tenders).where(m.shift_tenders.c.shift_id == sid)
        ).all()
        moves = conn.execute(select(m.cash_movements)).all()
        n_moves = conn.execute(select(func.count()).select_from(m.cash_movements)).scalar_one()
    assert (row.float_fen, row.counted_cash_fen, row.over_short_fen) == (50_000, 32_150, -200)
    assert row.shift_no == f"{dev.device_id}-S00001"
    assert row.opened_by == "1001" and row.approved_by == "1003"
    assert row.close_reason == "找错零钱"
    assert row.business_date == now.date()
    assert json.loads(row.float_counts) == [[10000, 5]]
    assert (row.sales_count, row.sales_fen) == (2, 4_150)
    assert json.loads(row.close_figures)["voids_count"] == 1
    assert {(t.kind, t.expected_fen, t.over_short_fen) for t in tenders} == {
        ("cash", 32_350, -200),
        ("card", 1_800, None),
    }
    assert n_moves == 1
    assert (moves[0].direction, moves[0].amount_fen, moves[0].approved_by) == (
        "out",
        20_000,
        "1003",
    )
