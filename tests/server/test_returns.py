"""Returns at HQ over real HTTP (SQLite and PostgreSQL): finding the sale, authorising
quantities against what is left of each line, and the ``sale.returned`` event that
captures them, with stock, member ledger, approvals and discrepancies."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from server_stub import models as m
from server_stub import operations, returns
from server_stub.cli import main
from server_stub.errors import ApiError
from tests.server.conftest import Chain, RunningHQ
from tests.server.helpers import level
from tests.server.member_helpers import (
    add_member,
    app_code,
    balances,
    hold,
    ledger_for,
    ledger_mismatches,
)
from tests.server.return_helpers import (
    auth_status,
    authorise,
    line_counts,
    push,
    ref_of,
    returned,
    sold,
)


def _lookup(client: httpx.Client, dev, **body) -> httpx.Response:
    return client.post("/v1/returns/lookup", json=body, headers=dev.headers)


# -- lookup -------------------------------------------------------------------------------


def test_receipt_qr_finds_the_sale_in_any_store_with_what_is_left(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a sale at store A WHEN store B scans its receipt QR THEN HQ answers the sale
    with each line's returnable quantity."""
    a, b = chain.store(), chain.store()
    dev_a, dev_b = chain.device(a), chain.device(b)
    sku = chain.item()
    sale = sold(client, chain, dev_a, [(sku, 3000)])
    r = _lookup(client, dev_b, ref=ref_of(dev_a, sale))
    assert r.status_code == 200, r.text
    [found] = r.json()["sales"]
    assert found["sale_id"] == sale["payload"]["sale_id"]
    assert found["store"] == a
    assert found["lines"][0]["returnable_milli"] == 3000
    assert found["returns"] == []


def test_forged_or_altered_receipt_code_is_refused(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    store = chain.store()
    dev, other = chain.device(store), chain.device(store)
    sale = sold(client, chain, dev, [(chain.item(), 1000)])
    good = ref_of(dev, sale)
    # Signed with another device's secret but naming this one: forged.
    forged = ref_of(other, sale).replace(other.device_id, dev.device_id)
    altered = good[:-3] + ("A" if good[-3] != "A" else "B") + good[-2:]
    for code in (forged, altered, "CPS1.NOTACODE", "hello"):
        r = _lookup(client, dev, ref=code)
        assert r.status_code == 422, (code, r.text)
        assert r.json()["code"] == "bad_receipt"


def test_lookup_by_receipt_number_and_by_member(hq: RunningHQ, chain: Chain, client: httpx.Client):
    store = chain.store()
    dev = chain.device(store)
    sale = sold(client, chain, dev, [(chain.item(), 1000)])
    receipt = sale["payload"]["receipt_no"]
    r = _lookup(client, dev, receipt_no=receipt, store=store)
    assert [s["sale_id"] for s in r.json()["sales"]] == [sale["payload"]["sale_id"]]
    r = _lookup(client, dev, receipt_no="NOPE", store=store)
    assert r.status_code == 404 and r.json()["code"] == "sale_not_found"

    number, _ = add_member(hq.db, hq.keys)
    sku = chain.item()
    old = chain.sale(dev, [(sku, 1000)], when=datetime.now(UTC) - timedelta(days=30))
    first = chain.sale(dev, [(sku, 1000)], when=datetime.now(UTC) - timedelta(hours=2))
    second = chain.sale(dev, [(sku, 1000)])
    for ev in (old, first, second):
        ev["payload"]["member"] = {"number": number, "holds": []}
        assert push(client, dev, ev)[0]["status"] == "applied"
    r = _lookup(client, dev, member=number)
    ids = [s["sale_id"] for s in r.json()["sales"]]
    assert ids == [second["payload"]["sale_id"], first["payload"]["sale_id"]]


# -- authorisations -----------------------------------------------------------------------


def test_authorisation_grants_what_is_left_and_refuses_the_rest_saying_where(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    a, b = chain.store(), chain.store()
    dev_a, dev_b = chain.device(a), chain.device(b)
    sale = sold(client, chain, dev_a, [(chain.item(), 2000), (chain.item(), 1000)])
    r = authorise(client, dev_b, sale, {1: 2000})
    assert r.status_code == 201, r.text
    auth = r.json()
    assert auth["status"] == "held" and auth["store"] == b
    assert line_counts(hq.db, sale) == (0, 2000, 0)
    # Capture it, then another store asks for the same line: a plain refusal.
    ev = returned(chain, dev_b, sale, {1: 2000}, auth_id=auth["auth_id"])
    assert push(client, dev_b, ev)[0]["status"] == "applied"
    r = authorise(client, dev_a, sale, {1: 1000, 2: 1000})
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "not_returnable"
    assert "line 1" in body["detail"] and b in body["detail"]
    # The params name the line, what is left and where and when it went back.
    params = body["params"]
    assert (params["line_no"], params["left_milli"], params["asked_milli"]) == (1, 0, 1000)
    assert (params["returned_store"], params["returned_terminal"]) == (b, dev_b.device_id)
    sent_at = datetime.fromisoformat(ev["payload"]["returned_at"])
    assert datetime.fromisoformat(params["returned_at"]) == sent_at
    # Whole or nothing: line 2 was not held either.
    assert line_counts(hq.db, sale, 2) == (0, 0, 0)
    assert line_counts(hq.db, sale) == (2000, 0, 3200)


def test_same_auth_id_answers_the_same_and_other_lines_are_refused(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    store = chain.store()
    dev = chain.device(store)
    sale = sold(client, chain, dev, [(chain.item(), 3000)])
    auth_id = uuid.uuid4()
    first = authorise(client, dev, sale, {1: 1000}, auth_id=auth_id)
    again = authorise(client, dev, sale, {1: 1000}, auth_id=auth_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert line_counts(hq.db, sale) == (0, 1000, 0)
    other = authorise(client, dev, sale, {1: 2000}, auth_id=auth_id)
    assert other.status_code == 409 and other.json()["code"] == "auth_id_reused"


def test_voided_unknown_outside_window_and_non_returnable_are_refused(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    store = chain.store()
    dev = chain.device(store)
    sup = chain.staff(store)
    sale = sold(client, chain, dev, [(chain.item(), 1000)])
    assert push(client, dev, chain.void(dev, sale, sup))[0]["status"] == "applied"
    assert authorise(client, dev, sale, {1: 1000}).json()["code"] == "sale_voided"

    ghost = chain.sale(dev, [(chain.item(), 1000)])
    r = authorise(client, dev, ghost, {1: 1000})
    assert r.status_code == 404 and r.json()["code"] == "sale_not_found"

    when = datetime.now(UTC) - timedelta(days=8)
    late = sold(client, chain, dev, [(chain.item(), 1000)], when=when)
    r = authorise(client, dev, late, {1: 1000})
    assert r.status_code == 409 and r.json()["code"] == "outside_window"
    assert when.date().isoformat() in r.json()["detail"]

    drink = chain.item()
    operations.set_config(hq.db, store, "returns.non_returnable_skus", f"X1,{drink}")
    made = sold(client, chain, dev, [(drink, 1000)])
    r = authorise(client, dev, made, {1: 1000})
    assert r.status_code == 409 and r.json()["code"] == "not_returnable_item"


def test_release_and_expiry_give_the_quantity_back_once(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    store = chain.store()
    dev = chain.device(store)
    other = chain.device(chain.store())
    sale = sold(client, chain, dev, [(chain.item(), 2000)])
    a1 = authorise(client, dev, sale, {1: 1000}).json()["auth_id"]
    a2 = authorise(client, dev, sale, {1: 1000}, ttl_s=60).json()["auth_id"]
    assert line_counts(hq.db, sale) == (0, 2000, 0)
    r = client.post(f"/v1/returns/authorisations/{a1}/release", headers=other.headers)
    assert r.status_code == 403
    for _ in range(2):
        r = client.post(f"/v1/returns/authorisations/{a1}/release", headers=dev.headers)
        assert r.status_code == 200 and r.json()["status"] == "released"
    assert line_counts(hq.db, sale) == (0, 1000, 0)
    later = datetime.now(UTC) + timedelta(seconds=61)
    assert returns.sweep_expired_auths(hq.db, later) >= 1
    assert returns.sweep_expired_auths(hq.db, later) == 0
    assert line_counts(hq.db, sale) == (0, 0, 0)
    assert auth_status(hq.db, a2) == "expired"
    r = client.post(f"/v1/returns/authorisations/{a2}/release", headers=dev.headers)
    assert r.status_code == 409 and r.json()["code"] == "auth_expired"
    r = client.get(f"/v1/returns/authorisations/{uuid.uuid4()}", headers=dev.headers)
    assert r.status_code == 404 and r.json()["code"] == "unknown_auth"


# -- the return event ---------------------------------------------------------------------


def test_return_with_authorisation_captures_it_restocks_and_replays_change_nothing(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a sale at A returned at B with HQ's authorisation WHEN the return event is
    pushed, then replayed 5 times out of order with other events THEN it is applied once:
    the line returned, the stock back in B's ledger, the authorisation captured."""
    a, b = chain.store(), chain.store()
    dev_a, dev_b = chain.device(a), chain.device(b)
    sku = chain.item()
    sale = sold(client, chain, dev_a, [(sku, 3000)])
    auth = authorise(client, dev_b, sale, {1: 2000}).json()["auth_id"]
    ev = returned(chain, dev_b, sale, {1: 1000}, auth_id=auth)
    assert push(client, dev_b, ev)[0]["status"] == "applied"
    # Held 2, returned 1: the other one goes back.
    assert line_counts(hq.db, sale) == (1000, 0, 1600)
    assert auth_status(hq.db, auth) == "captured"
    assert level(hq.db, b, sku) == 1000
    second = returned(chain, dev_b, sale, {1: 1000}, returned_before={1: 1000})
    # A second return at B without authorisation of A's sale: refused.
    assert push(client, dev_b, second)[0]["code"] == "not_authorised"
    count = chain.count(dev_b, sku, 5000)
    batch = [ev, count, ev, ev]
    for _ in range(5):
        random.shuffle(batch)
        results = push(client, dev_b, *batch)
        assert {r["status"] for r in results if r["id"] == ev["id"]} == {"duplicate"}
    assert line_counts(hq.db, sale) == (1000, 0, 1600)
    with hq.db.read() as conn:
        n = conn.execute(
            select(m.returns.c.return_id).where(
                m.returns.c.sale_id == uuid.UUID(sale["payload"]["sale_id"])
            )
        ).all()
    assert len(n) == 1
    # Lookup shows where and when it was returned.
    found = _lookup(client, dev_a, ref=ref_of(dev_a, sale)).json()["sales"][0]
    assert found["lines"][0]["returnable_milli"] == 2000
    assert [(r["store"], r["refund_fen"]) for r in found["returns"]] == [(b, 1600)]


def test_offline_same_store_return_of_goods_returned_elsewhere_is_a_discrepancy(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a one-piece sale at A returned at B with HQ's authorisation WHEN A's till,
    offline, returned it too THEN HQ applies A's return (money and goods moved) and
    records a discrepancy for a manager, never refusing it."""
    a, b = chain.store(), chain.store()
    dev_a, dev_b = chain.device(a), chain.device(b)
    sku = chain.item()
    sale = sold(client, chain, dev_a, [(sku, 1000)])
    auth = authorise(client, dev_b, sale, {1: 1000}).json()["auth_id"]
    assert (
        push(client, dev_b, returned(chain, dev_b, sale, {1: 1000}, auth_id=auth))[0]["status"]
        == "applied"
    )
    offline = returned(chain, dev_a, sale, {1: 1000})
    assert push(client, dev_a, offline)[0]["status"] == "applied"
    assert line_counts(hq.db, sale) == (2000, 0, 3200)
    [d] = returns.list_discrepancies(hq.db, store=a, open_only=True)
    assert d.kind == "double_return" and d.line_no == 1 and b in d.detail
    manager = chain.staff(a, role="manager")
    cashier = chain.staff(a, role="cashier")
    with pytest.raises(ApiError) as refused:
        returns.resolve_discrepancy(hq.db, d.id, cashier, "no")
    assert refused.value.code == "not_manager"
    done = returns.resolve_discrepancy(hq.db, d.id, manager, "refund recovered")
    assert done.resolved_by == manager
    assert returns.list_discrepancies(hq.db, store=a, open_only=True) == []


def test_offline_same_store_return_within_what_is_left_is_clean(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    store = chain.store()
    dev = chain.device(store)
    sku = chain.item()
    sale = chain.sale(dev, [(sku, 2000)])
    back = returned(chain, dev, sale, {1: 1000}, restock="damaged")
    # Sale and its return pushed together (offline till catching up).
    assert [r["status"] for r in push(client, dev, sale, back)] == ["applied", "applied"]
    assert line_counts(hq.db, sale) == (1000, 0, 1600)
    assert level(hq.db, store, sku) == -2000  # damaged goods do not go back on the shelf
    assert returns.list_discrepancies(hq.db, store=store) == []


def test_refund_beyond_the_contract_is_refused(hq: RunningHQ, chain: Chain, client: httpx.Client):
    store = chain.store()
    dev = chain.device(store)
    sale = sold(client, chain, dev, [(chain.item(), 3000)])
    ev = returned(chain, dev, sale, {1: 1000})
    ev["payload"]["lines"][0]["refund_fen"] = 2000
    ev["payload"]["refund_fen"] = 2000
    ev["payload"]["refunds"] = [{"kind": "cash", "amount_fen": 2000}]
    [res] = push(client, dev, ev)
    assert res["status"] == "rejected" and res["code"] == "invalid"
    card = returned(chain, dev, sale, {1: 1000}, refunds=[{"kind": "card", "amount_fen": 1600}])
    assert push(client, dev, card)[0]["code"] == "invalid"
    assert line_counts(hq.db, sale) == (0, 0, 0)


def _flagged(hq: RunningHQ, store: str, event_id: str) -> list[str]:
    """The ``unverified_staff`` discrepancies raised for one event, and its audit entries."""
    with hq.db.read() as conn:
        flags = (
            conn.execute(
                select(m.discrepancies.c.detail).where(
                    m.discrepancies.c.kind == "unverified_staff",
                    m.discrepancies.c.store_code == store,
                    m.discrepancies.c.ref == event_id,
                )
            )
            .scalars()
            .all()
        )
        audited = conn.execute(
            select(m.audit_log.c.id).where(
                m.audit_log.c.action == "event.unverified_staff",
                m.audit_log.c.store_code == store,
            )
        ).all()
    assert len(audited) >= len(flags)
    return list(flags)


def test_approvals_are_checked_against_hq_staff(hq: RunningHQ, chain: Chain, client: httpx.Client):
    """GIVEN a refund above the approval limit WHEN the approver is unknown, inactive, of
    another store, too junior or an HQ admin (who cannot act at a till), or there is none
    THEN the return — the money already went out at the counter — is kept, audited and
    raised as an ``unverified_staff`` discrepancy naming the problem, once, however often
    it is pushed; a manager of the store approves it cleanly."""
    store, elsewhere = chain.store(), chain.store()
    dev = chain.device(store)
    sku = chain.item(price_fen=20000)
    sale = sold(client, chain, dev, [(sku, 10000)], price_fen=20000)
    inactive = chain.staff(store)
    operations.update_staff(hq.db, inactive, active=False)
    cases = {
        "unknown": "999999",
        "inactive": inactive,
        "wrong store": chain.staff(elsewhere),
        "too junior": chain.staff(store, role="cashier"),
        "HQ admin": chain.staff(None, role="hq_admin"),
    }
    now = datetime.now(UTC).isoformat()
    for what, staff in cases.items():
        ev = returned(
            chain,
            dev,
            sale,
            {1: 1000},
            approvals=[{"action": "refund_over_limit", "staff": staff, "approved_at": now}],
        )
        [res] = push(client, dev, ev)
        assert res["status"] == "applied", what
        assert push(client, dev, ev)[0]["status"] == "duplicate", what
        [flag] = _flagged(hq, store, ev["id"])
        assert "refund_over_limit" in flag or staff in flag, (what, flag)
    ev = returned(chain, dev, sale, {1: 1000})  # none given
    assert push(client, dev, ev)[0]["status"] == "applied"
    [flag] = _flagged(hq, store, ev["id"])
    assert "refund_over_limit needs an approval" in flag
    good = returned(
        chain,
        dev,
        sale,
        {1: 1000},
        approvals=[
            {
                "action": "refund_over_limit",
                "staff": chain.staff(store, role="manager"),
                "approved_at": now,
            }
        ],
    )
    assert push(client, dev, good)[0]["status"] == "applied"
    assert _flagged(hq, store, good["id"]) == []
    assert level(hq.db, store, sku) == -10000 + 7 * 1000


def test_return_without_receipt_needs_a_manager_and_stays_under_the_cap(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """A return without a receipt approved by a supervisor (not a manager), or above the
    cap, is kept (the cash went out) and flagged; a manager's under the cap is clean."""
    store = chain.store()
    dev = chain.device(store)
    sku = chain.item()
    now = datetime.now(UTC).isoformat()

    def no_receipt(staff: str, fen: int) -> dict:
        return chain.event(
            {
                "type": "sale.returned",
                "return_id": str(uuid.uuid4()),
                "receipt_no": "RT-NR",
                "store": store,
                "terminal": dev.device_id,
                "cashier": chain.cashier(store),
                "returned_at": now,
                "original": None,
                "lines": [
                    {
                        "line_no": 1,
                        "sku": sku,
                        "name": "x",
                        "unit": "piece",
                        "qty_milli": 1000,
                        "unit_price_fen": fen,
                        "refund_fen": fen,
                        "restock": "sellable",
                        "reason": "other",
                    }
                ],
                "refund_fen": fen,
                "refunds": [{"kind": "cash", "amount_fen": fen}],
                "approvals": [
                    {"action": "return_without_receipt", "staff": staff, "approved_at": now}
                ],
            }
        )

    supervisor, manager = chain.staff(store), chain.staff(store, role="manager")
    junior, over_cap = no_receipt(supervisor, 500), no_receipt(manager, 10001)
    clean = no_receipt(manager, 500)
    assert [push(client, dev, ev)[0]["status"] for ev in (junior, over_cap, clean)] == [
        "applied"
    ] * 3
    [flag] = _flagged(hq, store, junior["id"])
    assert supervisor in flag
    [flag] = _flagged(hq, store, over_cap["id"])
    assert "refunds at most 10000 fen, not 10001" in flag
    assert _flagged(hq, store, clean["id"]) == []
    assert level(hq.db, store, sku) == 3000


def test_member_points_come_back_and_earned_points_are_reversed_never_below_zero(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a member's sale that earned points, which the member then spent WHEN the sale
    is returned THEN the points are taken back only down to zero and the shortfall is
    recorded on the return and in the ledger note; stored value paid comes back."""
    store = chain.store()
    dev = chain.device(store)
    number, _ = add_member(hq.db, hq.keys, balance_fen=5000)
    sku = chain.item(price_fen=10000)
    sale = chain.sale(dev, [(sku, 1000)], price_fen=10000)
    h = hold(client, dev, number, "stored_value", 3000, proof=app_code(hq.keys, number))
    assert h.status_code == 201, h.text
    sale["payload"]["member"] = {"number": number, "holds": [h.json()["hold_id"]]}
    sale["payload"]["tenders"] = [
        {"kind": "stored_value", "amount_fen": 3000},
        {"kind": "cash", "amount_fen": 7000, "tendered_fen": 7000},
    ]
    assert push(client, dev, sale)[0]["status"] == "applied"
    points, balance = balances(hq.db, number)
    assert balance == 2000 and points > 0
    # The member spends all their points elsewhere.
    spend = hold(client, dev, number, "points", points, proof=app_code(hq.keys, number))
    assert spend.status_code == 201, spend.text
    ev = returned(
        chain,
        dev,
        sale,
        {1: 1000},
        refunds=[
            {"kind": "stored_value", "amount_fen": 3000},
            {"kind": "cash", "amount_fen": 7000},
        ],
    )
    assert push(client, dev, ev)[0]["status"] == "applied"
    after_points, after_balance = balances(hq.db, number)
    assert after_balance == 5000
    assert after_points == 0
    with hq.db.read() as conn:
        row = conn.execute(
            select(m.returns.c.points_reversed, m.returns.c.points_shortfall).where(
                m.returns.c.return_id == uuid.UUID(ev["payload"]["return_id"])
            )
        ).one()
    assert (row.points_reversed, row.points_shortfall) == (0, points)
    assert ("return_refund", 3000) in ledger_for(hq.db, ev["payload"]["return_id"])
    assert ledger_mismatches(hq.db) == []


def test_cli_lists_returns_and_settles_discrepancies(
    hq: RunningHQ, chain: Chain, client: httpx.Client, db_url: str, capsys
):
    store = chain.store()
    dev = chain.device(store)
    sale = sold(client, chain, dev, [(chain.item(), 1000)])
    first = returned(chain, dev, sale, {1: 1000})
    again = returned(chain, dev, sale, {1: 1000})
    assert [r["status"] for r in push(client, dev, first, again)] == ["applied", "applied"]
    capsys.readouterr()
    assert main(["returns", "list", "--store", store, "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert first["payload"]["return_id"] in out and "DISCREPANCY" in out
    assert main(["returns", "show", first["payload"]["return_id"], "--db", db_url]) == 0
    assert '"original_line_no": 1' in capsys.readouterr().out
    assert main(["discrepancies", "list", "--store", store, "--open", "--db", db_url]) == 0
    [line] = capsys.readouterr().out.splitlines()
    ident = line.split("\t")[0]
    manager = chain.staff(store, role="manager")
    argv = ["discrepancies", "resolve", ident, "--by", manager, "--note", "ok", "--db", db_url]
    assert main(argv) == 0
    assert f"resolved by {manager}" in capsys.readouterr().out
    assert main(["discrepancies", "list", "--store", store, "--open", "--db", db_url]) == 0
    assert capsys.readouterr().out == ""
