"""No double spend under contention: many terminals of several stores spending one
member's points and stored value at the same instant, over real HTTP on real uvicorn
(SQLite and PostgreSQL).

Afterwards, whatever order the races went in: no balance went below zero, each hold's
ledger rows net to what it finally took (its amount if captured, nothing otherwise), and
the ledger's sums equal the balances.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from server_stub import bulk, ingest, members
from server_stub import models as m
from server_stub.auth import DeviceIdentity
from server_stub.ingest_members import MemberPlanner
from sync_client.contract import protocol as p
from tests.server.conftest import Chain, Device, RunningHQ
from tests.server.member_helpers import (
    add_member,
    app_code,
    balances,
    hold,
    hold_status,
    ledger_for,
    ledger_mismatches,
    new_phone,
    split_tenders,
    with_member,
)

REQUESTS = 50
POINTS_EACH = 100  # 25 requests, 1,000 points: 10 can win
VALUE_EACH = 3000  # 25 requests, 500 yuan: 16 can win


def _together(jobs: list[Any]) -> list[Any]:
    """Runs the callables on threads released at the same instant; their results."""
    results: list[Any] = [None] * len(jobs)
    go = threading.Barrier(len(jobs))

    def run(i: int) -> None:
        go.wait()
        results[i] = jobs[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_fifty_simultaneous_spends_never_overdraw(hq: RunningHQ, chain: Chain):
    """GIVEN a member with 1,000 points and ¥500 of stored value, and five terminals in
    three stores WHEN 25 redemptions of 100 points and 25 payments of ¥30 arrive at once
    THEN exactly 10 and 16 succeed, the rest are refused for want of funds, and the
    balances are 0 points and ¥20.

    WHEN the successful holds are then settled concurrently — some captured by their sale
    (each sale pushed twice at once), some released, some released and captured at the
    same moment, the rest left to expire while a sweep races late releases — THEN each hold
    takes its value exactly once or not at all, and the books balance."""
    stores = [chain.store() for _ in range(3)]
    devices = [chain.device(stores[i % 3]) for i in range(5)]
    sku = chain.item()
    number, _ = add_member(hq.db, hq.keys, points=1000, balance_fen=50_000)
    code = app_code(hq.keys, number)
    clients = [httpx.Client(base_url=hq.url, timeout=60) for _ in range(REQUESTS)]
    try:
        plan: list[tuple[Device, str, int]] = []
        for i in range(REQUESTS):
            kind, amount = ("points", POINTS_EACH) if i % 2 == 0 else ("stored_value", VALUE_EACH)
            plan.append((devices[i % len(devices)], kind, amount))

        def spender(i: int) -> Any:
            device, kind, amount = plan[i]
            return lambda: hold(clients[i], device, number, kind, amount, proof=code, ttl_s=60)

        answers = _together([spender(i) for i in range(REQUESTS)])
        outcome = Counter((plan[i][1], a.status_code) for i, a in enumerate(answers))
        assert outcome == {
            ("points", 201): 10,
            ("points", 409): 15,
            ("stored_value", 201): 16,
            ("stored_value", 409): 9,
        }, [a.text for a in answers if a.status_code not in (201, 409)]
        for i, a in enumerate(answers):
            if a.status_code == 409:
                expected = (
                    "insufficient_points" if plan[i][1] == "points" else "insufficient_balance"
                )
                assert a.json()["code"] == expected
        assert balances(hq.db, number) == (0, 50_000 - 16 * VALUE_EACH)
        assert ledger_mismatches(hq.db) == []

        won = [(plan[i][0], a.json()) for i, a in enumerate(answers) if a.status_code == 201]
        random.Random(6).shuffle(won)
        captured, released, raced, expiring = won[:8], won[8:14], won[14:20], won[20:]
        sales: dict[str, dict[str, Any]] = {}
        for device, h in captured + raced:
            value = h["value_fen"]
            sale = chain.sale(device, [(sku, 1000)], price_fen=value)
            spent = {h["kind"]: value}
            sales[h["hold_id"]] = with_member(
                sale, number, holds=[h["hold_id"]], tenders=split_tenders(value, **spent)
            )

        def push(i: int, device: Device, event: dict[str, Any]) -> Any:
            return lambda: clients[i].post(
                "/v1/sync/push", json={"events": [event]}, headers=device.headers
            )

        def release(i: int, device: Device, hold_id: str) -> Any:
            return lambda: clients[i].post(
                f"/v1/members/holds/{hold_id}/release", headers=device.headers
            )

        jobs: list[Any] = []
        for device, h in captured:
            jobs.append(push(len(jobs), device, sales[h["hold_id"]]))
            jobs.append(push(len(jobs), device, sales[h["hold_id"]]))
        for device, h in released:
            jobs.append(release(len(jobs), device, h["hold_id"]))
        for device, h in raced:
            jobs.append(release(len(jobs), device, h["hold_id"]))
            jobs.append(push(len(jobs), device, sales[h["hold_id"]]))
        later = datetime.now(UTC) + timedelta(seconds=61)
        jobs.append(lambda: members.sweep_expired(hq.db, now=later))
        for device, h in expiring[:4]:
            jobs.append(release(len(jobs), device, h["hold_id"]))
        results = _together(jobs)
        for r in results:
            if isinstance(r, httpx.Response):
                assert r.status_code in (200, 409), r.text
                if r.status_code == 409:
                    assert r.json()["code"] == "hold_captured"
                elif r.request.url.path == "/v1/sync/push":
                    assert r.json()["results"][0]["status"] in ("applied", "duplicate")
        # Every sale was applied exactly once, however its two pushes raced.
        for device, h in captured:
            again = clients[0].post(
                "/v1/sync/push", json={"events": [sales[h["hold_id"]]]}, headers=device.headers
            )
            assert again.json()["results"][0]["status"] == "duplicate"
        members.sweep_expired(hq.db, now=later)

        taken = {"points": 0, "stored_value": 0}
        for _device, h in won:
            hold_id, amount = h["hold_id"], h["amount"]
            status = hold_status(hq.db, hold_id)
            net = sum(delta for _kind, delta in ledger_for(hq.db, hold_id))
            if status == "captured":
                assert net == -amount, (hold_id, ledger_for(hq.db, hold_id))
                taken[h["kind"]] += amount
            else:
                assert status in ("released", "expired") and net == 0, (hold_id, status)
        for _device, h in captured:
            assert hold_status(hq.db, h["hold_id"]) == "captured"
        for _device, h in released + expiring:
            assert hold_status(hq.db, h["hold_id"]) in ("released", "expired")
        # Earned: 1 point per yuan paid in stored value (points earn nothing), once per sale.
        earned = 0
        for hold_id, sale in sales.items():
            rows = ledger_for(hq.db, sale["payload"]["sale_id"])
            expected = (
                VALUE_EACH // 100 if sale["payload"]["tenders"][0]["kind"] == "stored_value" else 0
            )
            assert rows == ([("earn", expected)] if expected else []), (hold_id, rows)
            earned += expected
        points, balance = balances(hq.db, number)
        assert points == 1000 - taken["points"] + earned
        assert balance == 50_000 - taken["stored_value"]
        assert points >= 0 and balance >= 0
        assert ledger_mismatches(hq.db) == []
    finally:
        for c in clients:
            c.close()


def test_the_same_hold_sent_from_many_threads_is_held_once(hq: RunningHQ, chain: Chain):
    """GIVEN a terminal retrying one hold request on ten connections at once (a flaky
    network) THEN HQ holds the amount once and every answer names the same hold."""
    device = chain.device(chain.store())
    number, _ = add_member(hq.db, hq.keys, points=500)
    code = app_code(hq.keys, number)
    hold_id = uuid.uuid4()
    clients = [httpx.Client(base_url=hq.url, timeout=60) for _ in range(10)]
    try:
        answers = _together(
            [
                (lambda c=c: hold(c, device, number, "points", 300, proof=code, hold_id=hold_id))
                for c in clients
            ]
        )
    finally:
        for c in clients:
            c.close()
    assert sorted(a.status_code for a in answers) == [200] * 9 + [201]
    assert {a.json()["hold_id"] for a in answers} == {str(hold_id)}
    assert balances(hq.db, number) == (200, 0)
    assert ledger_for(hq.db, str(hold_id)) == [("redeem", -300)]


def test_a_member_sale_pushed_on_many_connections_at_once_counts_once(hq: RunningHQ, chain: Chain):
    """GIVEN a terminal whose push of a member sale is retried on eight connections at once
    (five times over) THEN each sale is applied once and every other answer is duplicate —
    never sale_exists — and the points it earned are credited once."""
    device = chain.device(chain.store())
    sku = chain.item()
    number, _ = add_member(hq.db, hq.keys)
    clients = [httpx.Client(base_url=hq.url, timeout=60) for _ in range(8)]
    try:
        for _ in range(5):
            sale = with_member(chain.sale(device, [(sku, 1000)], price_fen=1000), number)
            answers = _together(
                [
                    (
                        lambda c=c, sale=sale: c.post(
                            "/v1/sync/push", json={"events": [sale]}, headers=device.headers
                        )
                    )
                    for c in clients
                ]
            )
            statuses = sorted(a.json()["results"][0]["status"] for a in answers)
            assert statuses == ["applied"] + ["duplicate"] * 7, [a.text for a in answers]
    finally:
        for c in clients:
            c.close()
    assert balances(hq.db, number) == (5 * 10, 0)


def test_a_push_committed_between_the_lookups_is_answered_duplicate(
    hq: RunningHQ, chain: Chain, backend: str, monkeypatch
):
    """GIVEN a push of a member sale that reads HQ's state statement by statement WHEN a
    retry of the same push commits between two of its lookups THEN it answers duplicate
    (not sale_exists), and the points are credited once."""
    if backend == "sqlite":
        pytest.skip("SQLite push transactions hold the write lock from the start: no interleaving")
    device = chain.device(chain.store())
    sku = chain.item()
    number, _ = add_member(hq.db, hq.keys)
    sale = with_member(chain.sale(device, [(sku, 1000)], price_fen=1000), number)
    who = DeviceIdentity(device.device_id, device.store)
    among = bulk.among
    inner: list[Any] = []

    def among_with_a_retry_committing(conn: Any, column: Any, values: Any) -> Any:
        if column is m.sales.c.sale_id and not inner:
            inner.append(None)
            t = threading.Thread(target=lambda: inner.append(ingest.push(hq.db, who, [sale])))
            t.start()
            t.join(30)
        return among(conn, column, values)

    monkeypatch.setattr(bulk, "among", among_with_a_retry_committing)
    outer = ingest.push(hq.db, who, [sale])
    assert inner[1].response.results[0].status == "applied"
    assert outer.response.results[0].status == "duplicate"
    assert balances(hq.db, number) == (10, 0)


def test_a_sale_pushed_while_its_members_sign_up_commits_earns_its_points(
    hq: RunningHQ, chain: Chain, backend: str, monkeypatch
):
    """GIVEN a sale naming a sign-up HQ has not seen yet (the customer joined offline)
    WHEN the sign-up reaches HQ while the sale's push is being ingested, after the push
    looked for the sign-up
    THEN the sale's points are credited to the new member all the same, once."""
    if backend == "sqlite":
        pytest.skip("SQLite push transactions hold the write lock from the start: no interleaving")
    assert hq.keys is not None
    device = chain.device(chain.store())
    sku = chain.item()
    signup_id = uuid.uuid4()
    sale = with_member(chain.sale(device, [(sku, 1000)], price_fen=1000), signup_id=signup_id)
    who = DeviceIdentity(device.device_id, device.store)
    request = p.SignUpRequest(
        signup_id=signup_id,
        phone=new_phone(),
        name="张伟",
        consent=True,
        consent_version="privacy-2025-06",
        signed_up_at=datetime.now(UTC),
    )
    signed_up: list[Any] = []
    threads: list[threading.Thread] = []
    plan_sale = MemberPlanner.plan_sale

    def plan_while_the_sign_up_commits(self: MemberPlanner, *args: Any, **kw: Any) -> Any:
        if not threads:
            t = threading.Thread(
                target=lambda: signed_up.append(members.sign_up(hq.db, hq.keys, who, request))
            )
            threads.append(t)
            t.start()
            t.join(3)  # done, or waiting for this push to commit
        return plan_sale(self, *args, **kw)

    monkeypatch.setattr(MemberPlanner, "plan_sale", plan_while_the_sign_up_commits)
    outcome = ingest.push(hq.db, who, [sale])
    threads[0].join(30)
    assert outcome.response.results[0].status == "applied"
    ((created, panel),) = signed_up
    assert created
    assert balances(hq.db, panel.number) == (10, 0)
