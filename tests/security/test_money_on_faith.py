"""HQ takes no money movement or approval on faith.

A device token once sufficed to add ¥10,000,000 of stored value as cashier "nobody" and to
void a sale naming a made-up supervisor. HQ now checks every top-up and void against its
own staff data and limits; each refusal is answered ``not_authorised``, audited, and
raised as a ``refused_money_event`` discrepancy a manager sees. (Sales, returns and shifts
naming staff HQ does not accept are kept and flagged: ``test_staff_on_faith.py``.) Runs on
SQLite and, with ``CHAINPOS_TEST_PG_URL``, on PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from server_stub import models as m
from server_stub import operations, returns
from tests.server.conftest import Chain, RunningHQ
from tests.server.member_helpers import add_member, balances
from tests.server.support import Device


@pytest.fixture(scope="module")
def shop(chain: Chain) -> dict[str, Any]:
    """Two stores; store a has a device, a cashier, a supervisor; b has a supervisor."""
    a, b = chain.store(), chain.store()
    return {
        "a": a,
        "b": b,
        "dev": chain.device(a),
        "cashier": chain.staff(a, "cashier"),
        "supervisor": chain.staff(a, "supervisor"),
        "other_supervisor": chain.staff(b, "supervisor"),
        "sku": chain.item(),
    }


def _push(client: httpx.Client, dev: Device, *events: dict[str, Any]) -> list[dict[str, Any]]:
    r = client.post("/v1/sync/push", json={"events": list(events)}, headers=dev.headers)
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def _status(result: dict[str, Any]) -> str:
    if result["status"] == "rejected":
        return f"rejected:{result['code']}"
    return str(result["status"])


def _refused(hq: RunningHQ, client: httpx.Client, dev: Device, ev: dict[str, Any]) -> str:
    """Pushes ``ev`` twice, checks it is refused, audited and alerted (once); the detail."""
    for _ in range(2):
        [result] = _push(client, dev, ev)
        assert _status(result) == "rejected:not_authorised", result
        assert result["retryable"] is False
    with hq.db.read() as conn:
        audited = [
            json.loads(r.detail)
            for r in conn.execute(
                select(m.audit_log.c.detail).where(m.audit_log.c.action == "event.refused")
            )
        ]
    assert sum(1 for d in audited if d["event"] == ev["id"]) == 2
    alerts = [d for d in returns.list_discrepancies(hq.db, store=dev.store) if d.ref == ev["id"]]
    assert [(d.kind, d.store) for d in alerts] == [("refused_money_event", dev.store)]
    assert alerts[0].detail == f"{ev['payload']['type']} refused: {result['detail']}"[:300]
    return str(result["detail"])


def _topup(chain: Chain, dev: Device, number: str, cashier: str, amount_fen: int, **kw: Any):
    return chain.event(
        {
            "type": "member.topped_up",
            "topup_id": str(uuid.uuid4()),
            "receipt_no": f"T{uuid.uuid4().hex[:8]}",
            "store": dev.store,
            "terminal": dev.device_id,
            "cashier": cashier,
            "completed_at": kw.get("at", datetime.now(UTC)).isoformat(),
            "number": number,
            "amount_fen": amount_fen,
            "tenders": [{"kind": "cash", "amount_fen": amount_fen, "tendered_fen": amount_fen}],
        }
    )


def test_a_ten_million_top_up_by_nobody_is_refused_audited_and_alerted(
    hq: RunningHQ, chain: Chain, shop, client
):
    """GIVEN a member WHEN a device pushes a ¥10,000,000 top-up by cashier "nobody"
    THEN HQ refuses it (not_authorised), audits each attempt, raises one alert, and the
    balance does not move; a ¥100 top-up by the store's own cashier is applied."""
    number, _ = add_member(hq.db, hq.keys)
    dev = shop["dev"]
    forged = _topup(chain, dev, number, "nobody", 1_000_000_000)
    assert _refused(hq, client, dev, forged) == "staff nobody is not known at HQ"
    assert balances(hq.db, number) == (0, 0)
    [ok] = _push(client, dev, _topup(chain, dev, number, shop["cashier"], 10_000))
    assert _status(ok) == "applied"
    assert balances(hq.db, number) == (0, 10_000)


def test_top_ups_past_the_per_top_up_and_daily_caps_are_refused(
    hq: RunningHQ, chain: Chain, shop, client
):
    """GIVEN the default caps (¥5,000 a top-up, ¥20,000 a member a store a day)
    WHEN the store's cashier tops up ¥5,000.01, then four times ¥5,000 and once more ¥0.01
    THEN the first and last are refused, the four applied; the next day's is applied."""
    number, _ = add_member(hq.db, hq.keys)
    dev, cashier = shop["dev"], shop["cashier"]
    at = datetime.now(UTC).astimezone().replace(hour=12, minute=0) - timedelta(days=3)
    over = _topup(chain, dev, number, cashier, 500_001, at=at)
    assert "at most 500000 fen" in _refused(hq, client, dev, over)
    fours = [_topup(chain, dev, number, cashier, 500_000, at=at) for _ in range(4)]
    assert [_status(r) for r in _push(client, dev, *fours)] == ["applied"] * 4
    daily = _topup(chain, dev, number, cashier, 1, at=at)
    assert "passes the day's cap of 2000000" in _refused(hq, client, dev, daily)
    next_day = _topup(chain, dev, number, cashier, 1, at=at + timedelta(days=1))
    assert [_status(r) for r in _push(client, dev, next_day)] == ["applied"]
    assert balances(hq.db, number) == (0, 2_000_001)


def test_a_store_s_own_lower_cap_applies(hq: RunningHQ, chain: Chain, client):
    """GIVEN a store whose top-up cap is ¥100 WHEN its cashier tops up ¥100.01 THEN refused."""
    store = chain.store()
    dev, cashier = chain.device(store), chain.staff(store, "cashier")
    operations.set_config(hq.db, store, "member.topup_max_fen", 10_000)
    number, _ = add_member(hq.db, hq.keys)
    assert "at most 10000 fen" in _refused(
        hq, client, dev, _topup(chain, dev, number, cashier, 10_001)
    )
    [ok] = _push(client, dev, _topup(chain, dev, number, cashier, 10_000))
    assert _status(ok) == "applied"


@pytest.mark.parametrize(
    "who", ["made_up", "cashier", "other_supervisor", "past_window", "supervisor"]
)
def test_voids_need_a_real_supervisor_of_the_store_within_the_window(
    hq: RunningHQ, chain: Chain, shop, client, who: str
):
    """GIVEN a sale of the store WHEN it is voided naming a made-up supervisor, a cashier,
    another store's supervisor, or 25 hours after the sale (window 24 h)
    THEN HQ refuses, audits and alerts; the store's supervisor within the window voids."""
    dev = shop["dev"]
    when = datetime.now(UTC) - timedelta(hours=25 if who == "past_window" else 1)
    sale = chain.sale(dev, [(shop["sku"], 1000)], when=when)
    assert [_status(r) for r in _push(client, dev, sale)] == ["applied"]
    supervisor = {"made_up": "S-9999", "cashier": shop["cashier"]}.get(who) or shop.get(
        who, shop["supervisor"]
    )
    void = chain.void(dev, sale, supervisor)
    if who == "supervisor":
        assert [_status(r) for r in _push(client, dev, void)] == ["applied"]
        return
    detail = _refused(hq, client, dev, void)
    expected = {
        "made_up": "staff S-9999 is not known at HQ",
        "cashier": "is a cashier; a void needs a supervisor or above",
        "other_supervisor": f"belongs to store {shop['b']}, not {shop['a']}",
        "past_window": "may be voided within 24 hours",
    }[who]
    assert expected in detail
    with hq.db.read() as conn:
        voided_at = conn.execute(
            select(m.sales.c.voided_at).where(
                m.sales.c.sale_id == uuid.UUID(sale["payload"]["sale_id"])
            )
        ).scalar_one()
    assert voided_at is None
