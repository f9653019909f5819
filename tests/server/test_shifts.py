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
        x["status"] if x["status"] != "rejected" else f"rejected:{x['code']}"
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
    cashier, supervisor = chain.staff(store, "cashier"), chain.staff(store, "supervisor")
    shift_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    base = {"shift_id": shift_id, "store": store, "terminal": dev.device_id, "staff": cashier}
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
                "staff": supervisor,
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
                "staff": supervisor,
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
    assert row.opened_by == cashier and row.approved_by == supervisor
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
        supervisor,
    )


def _shift_events(
    chain: Chain,
    dev,
    staff: str,
    *,
    opened_at: datetime,
    over_short_fen: int,
    card_fen: int = 0,
    closed: bool = True,
) -> tuple[str, list[dict]]:
    """A shift of ``dev`` opened with ¥500 and (unless ``closed`` is False) closed with
    cash expected ¥600 and the given over/short, plus a card tender of ``card_fen``."""
    shift_id = str(uuid.uuid4())
    base = {"shift_id": shift_id, "store": dev.store, "terminal": dev.device_id, "staff": staff}
    events = [
        chain.event(
            {
                **base,
                "type": "shift.opened",
                "opened_at": opened_at.isoformat(),
                "float_fen": 50_000,
                "shift_no": f"{dev.device_id}-S{shift_id[:5]}",
            }
        )
    ]
    if closed:
        closed_at = opened_at + timedelta(hours=4)
        tenders = [
            {
                "kind": "cash",
                "expected_fen": 60_000,
                "counted_fen": 60_000 + over_short_fen,
                "over_short_fen": over_short_fen,
                "count": 3,
            }
        ]
        if card_fen:
            tenders.append({"kind": "card", "expected_fen": card_fen, "count": 1})
        events.append(
            chain.event(
                {
                    **base,
                    "type": "shift.closed",
                    "closed_at": closed_at.isoformat(),
                    "expected_cash_fen": 60_000,
                    "counted_cash_fen": 60_000 + over_short_fen,
                    "over_short_fen": over_short_fen,
                    "business_date": closed_at.astimezone().date().isoformat(),
                    "tenders": tenders,
                    "sales_count": 3,
                    "sales_fen": 10_000 + card_fen,
                    "returns_count": 1,
                    "refunds_fen": 1_500,
                }
            )
        )
    return shift_id, events


def test_day_close_waits_for_every_till_then_answers_one_z_report(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a store with two tills: till 1 closed its shift ¥2 short, till 2 pushed only
    its shift's open
    WHEN the store's manager closes the day, then till 2's close arrives and the manager
    closes the day again, twice
    THEN the first close is refused 409 naming till 2; a cashier, or another store's
    till, is refused 403; then the Z report sums both shifts per tender, and the repeat
    answers the same report (200)."""
    store = chain.store()
    dev1, dev2 = chain.device(store), chain.device(store)
    manager = chain.staff(store, role="manager")
    cashier = chain.staff(store, role="cashier")
    today = datetime.now().astimezone().replace(hour=9, minute=0, second=0, microsecond=0)
    day = today.date().isoformat()
    _, first = _shift_events(
        chain, dev1, cashier, opened_at=today, over_short_fen=-200, card_fen=1_800
    )
    _, second = _shift_events(chain, dev2, cashier, opened_at=today, over_short_fen=100)
    assert _push(client, dev1, first) == ["applied"] * 2
    assert _push(client, dev2, second[:1]) == ["applied"]

    url = f"/v1/stores/{store}/day-close"
    r = client.post(url, json={"business_date": day, "staff": manager}, headers=dev1.headers)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "shifts_open"
    assert r.json()["detail"].endswith(dev2.device_id)
    r = client.post(url, json={"business_date": day, "staff": cashier}, headers=dev1.headers)
    assert (r.status_code, r.json()["code"]) == (403, "not_store_manager")
    other = chain.device(chain.store("别店"))
    r = client.post(url, json={"business_date": day, "staff": manager}, headers=other.headers)
    assert (r.status_code, r.json()["code"]) == (403, "wrong_store")

    assert _push(client, dev2, second[1:]) == ["applied"]
    r = client.post(url, json={"business_date": day, "staff": manager}, headers=dev1.headers)
    assert r.status_code == 201, r.text
    report = r.json()
    assert {s["terminal"] for s in report["shifts"]} == {dev1.device_id, dev2.device_id}
    assert [
        (t["kind"], t["expected_fen"], t["counted_fen"], t["over_short_fen"])
        for t in report["tenders"]
    ] == [
        ("cash", 120_000, 119_900, -100),
        ("card", 1_800, None, None),
    ]
    assert (report["sales_count"], report["sales_fen"]) == (6, 21_800)
    assert (report["returns_count"], report["refunds_fen"]) == (2, 3_000)
    assert report["over_short_fen"] == -100 and report["closed_by"] == manager
    again = client.post(url, json={"business_date": day, "staff": manager}, headers=dev2.headers)
    assert again.status_code == 200 and again.json() == report


def test_shift_reports_by_store_and_cashier(
    hq: RunningHQ, chain: Chain, client: httpx.Client, db_url: str, capsys
):
    """GIVEN two stores' shifts closed over/short by two cashiers
    WHEN HQ staff list the shifts and ask over/short by store and by cashier
    THEN each shift shows who, float, expected, counted and over/short per tender, and
    the sums split over (长款) from short (短款)."""
    from server_stub.cli import main

    a, b = chain.store(), chain.store()
    dev_a, dev_b = chain.device(a), chain.device(b)
    ann, bob = chain.staff(a, role="cashier"), chain.staff(b, role="cashier")
    start = datetime(2031, 3, 14, 9, tzinfo=UTC)
    for dev, who, diff in ((dev_a, ann, -200), (dev_a, ann, 300), (dev_b, bob, -50)):
        _, events = _shift_events(chain, dev, who, opened_at=start, over_short_fen=diff)
        assert _push(client, dev, events) == ["applied"] * 2
    day = (start + timedelta(hours=4)).astimezone().date().isoformat()

    assert main(["shifts", "list", "--store", a, "--date", day, "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert out.count(f"{a}\t{dev_a.device_id}\t") == 2
    assert f"\t{ann}\t" in out and "500.00\t600.00\t598.00\t-2.00" in out
    assert "cash\texpected 600.00\tcounted 603.00\tover/short +3.00" in out

    argv = ["shifts", "over-short", "--from", day, "--to", day, "--json", "--db", db_url]
    assert main([*argv, "--by", "cashier"]) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows[ann]["over_fen"], rows[ann]["short_fen"], rows[ann]["net_fen"]) == (300, -200, 100)
    assert (rows[bob]["shifts"], rows[bob]["net_fen"]) == (1, -50)
    assert main([*argv, "--by", "store"]) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows[a]["shifts"], rows[a]["net_fen"], rows[b]["net_fen"]) == (2, 100, -50)
