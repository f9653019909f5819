"""HQ takes no staff member an event names on faith.

A device token once sufficed to record a sale, a return or a shift as cashier "nobody",
as another store's cashier or as someone HQ had deactivated. HQ now checks the staff
member every event names against its own staff list, at the time the till says it acted:

* what already happened at the counter (a sale, a return, a shift, cash moved) is kept —
  refusing it would lose the sale, its stock and its money — but not believed: it is
  audited (``event.unverified_staff``) and raised as an ``unverified_staff`` discrepancy
  that ``chainpos-hq discrepancies list`` shows a manager;
* a booking the right person can make again (goods received, a stock count) is refused
  ``not_authorised``, audited and raised as a ``refused_money_event`` discrepancy;
* a staff member deactivated at HQ after they acted offline is no forgery.

Runs over real HTTP against a real HQ on SQLite and, with ``CHAINPOS_TEST_PG_URL``, on
PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from server_stub import audit, operations, returns
from server_stub import models as m
from server_stub.cli import main
from tests.server.conftest import Chain, RunningHQ
from tests.server.helpers import level
from tests.server.return_helpers import returned
from tests.server.stock_helpers import request
from tests.server.support import Device
from tests.support import error_code


@pytest.fixture(scope="module")
def shop(chain: Chain) -> dict[str, Any]:
    """Store a with a device, its cashier and supervisor; store b with its cashier; an
    HQ admin; two cashiers of a deactivated before anything was sold, one of them before
    HQ recorded when (``deactivated_at`` null, as after the upgrade)."""
    a, b = chain.store(), chain.store()
    gone, long_gone = chain.staff(a, "cashier"), chain.staff(a, "cashier")
    for number in (gone, long_gone):
        operations.update_staff(chain.db, number, active=False)
    with chain.db.write() as tx:
        tx.conn.execute(
            update(m.staff).where(m.staff.c.number == long_gone).values(deactivated_at=None)
        )
    return {
        "a": a,
        "b": b,
        "dev": chain.device(a),
        "cashier": chain.cashier(a),
        "supervisor": chain.staff(a, "supervisor"),
        "other_cashier": chain.cashier(b),
        "hq_admin": chain.staff(None, "hq_admin"),
        "inactive": gone,
        "long_inactive": long_gone,
        "sku": chain.item(),
    }


def _push(client: httpx.Client, dev: Device, *events: dict[str, Any]) -> list[dict[str, Any]]:
    r = client.post("/v1/sync/push", json={"events": list(events)}, headers=dev.headers)
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def _status(result: dict[str, Any]) -> str:
    if result["status"] == "rejected":
        return f"rejected:{error_code(result)}"
    return str(result["status"])


def _audited(hq: RunningHQ, action: str, event_id: str) -> list[dict[str, Any]]:
    with hq.db.read() as conn:
        details = [
            json.loads(r.detail)
            for r in conn.execute(
                select(m.audit_log.c.detail).where(m.audit_log.c.action == action)
            )
        ]
    return [d for d in details if d.get("event") == event_id]


def _flags(hq: RunningHQ, store: str, event_id: str) -> list[returns.Discrepancy]:
    return [d for d in returns.list_discrepancies(hq.db, store=store) if d.ref == event_id]


def _kept_and_flagged(hq: RunningHQ, client: httpx.Client, dev: Device, ev: dict) -> str:
    """Pushes ``ev`` twice: applied, then duplicate; one audit entry and one open
    ``unverified_staff`` discrepancy. Returns the discrepancy's text."""
    assert [_status(r) for r in _push(client, dev, ev)] == ["applied"]
    assert [_status(r) for r in _push(client, dev, ev)] == ["duplicate"]
    [entry] = _audited(hq, "event.unverified_staff", ev["id"])
    assert entry["type"] == ev["payload"]["type"]
    [flag] = _flags(hq, dev.store, ev["id"])
    assert (flag.kind, flag.resolved_at) == ("unverified_staff", None)
    assert flag.detail.startswith(f"{ev['payload']['type']} kept, staff not verified: ")
    assert entry["problems"] and all(x in flag.detail for x in entry["problems"])
    return flag.detail


def _believed(hq: RunningHQ, client: httpx.Client, dev: Device, ev: dict) -> None:
    assert [_status(r) for r in _push(client, dev, ev)] == ["applied"]
    assert _audited(hq, "event.unverified_staff", ev["id"]) == []
    assert _flags(hq, dev.store, ev["id"]) == []


def _refused(hq: RunningHQ, client: httpx.Client, dev: Device, ev: dict) -> str:
    """Pushes ``ev`` twice: refused both times, audited each time, alerted once."""
    for _ in range(2):
        [result] = _push(client, dev, ev)
        assert _status(result) == "rejected:not_authorised", result
        assert result["retryable"] is False
    assert len(_audited(hq, "event.refused", ev["id"])) == 2
    [flag] = _flags(hq, dev.store, ev["id"])
    assert flag.kind == "refused_money_event"
    return str(result["detail"])


def _sale_at_hq(hq: RunningHQ, sale: dict) -> tuple[str, str] | None:
    with hq.db.read() as conn:
        row = conn.execute(
            select(m.sales.c.cashier, m.sales.c.store_code).where(
                m.sales.c.sale_id == uuid.UUID(sale["payload"]["sale_id"])
            )
        ).first()
    return None if row is None else (row.cashier, row.store_code)


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("forged", "staff S-0404 is not known at HQ"),
        ("other_cashier", "belongs to store {b}, not {a}"),
        ("inactive", "staff {inactive} was deactivated at "),
        ("long_inactive", "staff {long_inactive} is not active"),
        ("hq_admin", "HQ admins do not act at a store's till"),
    ],
)
def test_a_sale_by_a_cashier_hq_does_not_accept_is_kept_audited_and_raised(
    hq: RunningHQ, chain: Chain, shop, client, who: str, expected: str
):
    """GIVEN a store's till WHEN it pushes a sale whose cashier HQ does not know, who
    belongs to another store, who was deactivated before (or at a time HQ did not
    record), or who is an HQ admin
    THEN the sale is recorded (the customer paid and left with the goods: its stock
    leaves the store) but flagged: one audit entry, one open discrepancy naming why; a
    replay adds neither."""
    dev, sku = shop["dev"], shop["sku"]
    cashier = "S-0404" if who == "forged" else shop[who]
    before = level(hq.db, dev.store, sku) or 0
    sale = chain.sale(dev, [(sku, 2000)], cashier=cashier)
    detail = _kept_and_flagged(hq, client, dev, sale)
    assert expected.format(**shop) in detail
    assert _sale_at_hq(hq, sale) == (cashier, dev.store)
    assert level(hq.db, dev.store, sku) == before - 2000
    with hq.db.read() as conn:
        [flag_sale] = conn.execute(
            select(m.discrepancies.c.sale_id).where(m.discrepancies.c.ref == sale["id"])
        ).scalars()
    assert str(flag_sale) == sale["payload"]["sale_id"]
    assert audit.verify(hq.db).problem is None


def test_a_sale_by_the_store_s_own_cashier_is_believed(hq: RunningHQ, chain: Chain, shop, client):
    """GIVEN the store's active cashier WHEN a sale names them THEN no audit entry and no
    discrepancy: the check does not cry wolf."""
    dev = shop["dev"]
    _believed(hq, client, dev, chain.sale(dev, [(shop["sku"], 1000)], cashier=shop["cashier"]))


def test_a_cashier_deactivated_after_an_offline_sale_is_not_a_forgery(
    hq: RunningHQ, chain: Chain, shop, client, db_url: str, capsys: pytest.CaptureFixture[str]
):
    """GIVEN a cashier who sold offline two hours ago and was deactivated at HQ since
    WHEN the till comes back online and pushes that sale, and then one dated after the
    deactivation THEN the first is believed; the second is kept and flagged as made after
    the deactivation, and the operator's ``discrepancies list`` shows it."""
    dev = shop["dev"]
    leaver = chain.staff(dev.store, "cashier")
    offline = chain.sale(
        dev, [(shop["sku"], 1000)], cashier=leaver, when=datetime.now(UTC) - timedelta(hours=2)
    )
    operations.update_staff(hq.db, leaver, active=False)
    _believed(hq, client, dev, offline)
    late = chain.sale(
        dev, [(shop["sku"], 1000)], cashier=leaver, when=datetime.now(UTC) + timedelta(minutes=1)
    )
    detail = _kept_and_flagged(hq, client, dev, late)
    assert f"staff {leaver} was deactivated at " in detail
    assert main(["discrepancies", "list", "--open", "--store", dev.store, "--db", db_url]) == 0
    listed = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [(row[3], row[4], row[5]) for row in listed if row[5] == detail] == [
        ("unverified_staff", "open", detail)
    ]


def test_a_cashier_reactivated_is_believed_again(hq: RunningHQ, chain: Chain, shop, client):
    """GIVEN a cashier deactivated and then reactivated at HQ WHEN they sell THEN the sale
    is believed (reactivating clears the deactivation time)."""
    dev = shop["dev"]
    back = chain.staff(dev.store, "cashier")
    operations.update_staff(hq.db, back, active=False)
    operations.update_staff(hq.db, back, active=True)
    with hq.db.read() as conn:
        since = conn.execute(
            select(m.staff.c.deactivated_at).where(m.staff.c.number == back)
        ).scalar_one()
    assert since is None
    _believed(hq, client, dev, chain.sale(dev, [(shop["sku"], 1000)], cashier=back))


@pytest.mark.parametrize("approver", ["cashier", "supervisor"])
def test_a_sale_whose_discount_approver_lacks_the_role_is_kept_and_flagged(
    hq: RunningHQ, chain: Chain, shop, client, approver: str
):
    """GIVEN a sale carrying a discount-over-limit approval WHEN the approval names a
    cashier THEN the sale is kept and flagged (the approver lacks the role); naming the
    store's supervisor it is believed."""
    dev = shop["dev"]
    sale = chain.sale(dev, [(shop["sku"], 1000)])
    sale["payload"]["approvals"] = [
        {
            "action": "discount_over_limit",
            "staff": shop[approver],
            "approved_at": datetime.now(UTC).isoformat(),
        }
    ]
    if approver == "supervisor":
        _believed(hq, client, dev, sale)
        return
    assert "discount_over_limit needs a supervisor" in _kept_and_flagged(hq, client, dev, sale)


def test_a_return_by_a_forged_cashier_is_kept_and_flagged(
    hq: RunningHQ, chain: Chain, shop, client
):
    """GIVEN a sale of the store WHEN a return of one unit names cashier "S-0405", unknown
    at HQ THEN the return is recorded (the goods came back and the money went out: the
    unit is back in stock) and flagged."""
    dev, sku = shop["dev"], shop["sku"]
    sale = chain.sale(dev, [(sku, 2000)])
    assert [_status(r) for r in _push(client, dev, sale)] == ["applied"]
    before = level(hq.db, dev.store, sku)
    back = returned(chain, dev, sale, {1: 1000})
    back["payload"]["cashier"] = "S-0405"
    assert "staff S-0405 is not known at HQ" in _kept_and_flagged(hq, client, dev, back)
    assert level(hq.db, dev.store, sku) == (before or 0) + 1000


def _shift(chain: Chain, dev: Device, staff: str, at: datetime) -> tuple[dict, dict, dict]:
    shift_id = str(uuid.uuid4())
    base = {"shift_id": shift_id, "store": dev.store, "terminal": dev.device_id, "staff": staff}
    opened = chain.event(
        {**base, "type": "shift.opened", "opened_at": at.isoformat(), "float_fen": 50_000}
    )
    moved = chain.event(
        {
            "type": "shift.cash_moved",
            "movement_id": str(uuid.uuid4()),
            "shift_id": shift_id,
            "store": dev.store,
            "terminal": dev.device_id,
            "staff": staff,
            "moved_at": (at + timedelta(hours=1)).isoformat(),
            "direction": "out",
            "amount_fen": 20_000,
            "reason": "存入保险柜",
        }
    )
    closed = chain.event(
        {
            **base,
            "type": "shift.closed",
            "closed_at": (at + timedelta(hours=2)).isoformat(),
            "expected_cash_fen": 30_000,
            "counted_cash_fen": 30_000,
            "over_short_fen": 0,
        }
    )
    return opened, moved, closed


def test_a_shift_and_its_cash_by_another_store_s_cashier_are_kept_and_flagged(
    hq: RunningHQ, chain: Chain, shop, client
):
    """GIVEN store a's till WHEN it pushes a shift opened, cash taken out and the shift
    closed, all by store b's cashier THEN HQ records the shift and the cash movement (the
    drawer's figures stay whole) and flags each of the three events."""
    dev = shop["dev"]
    events = _shift(chain, dev, shop["other_cashier"], datetime.now(UTC))
    for ev in events:
        assert f"belongs to store {shop['b']}" in _kept_and_flagged(hq, client, dev, ev)
    shift_id = uuid.UUID(events[0]["payload"]["shift_id"])
    with hq.db.read() as conn:
        shift = conn.execute(select(m.shifts).where(m.shifts.c.shift_id == shift_id)).one()
        moved = conn.execute(
            select(m.cash_movements.c.amount_fen).where(m.cash_movements.c.shift_id == shift_id)
        ).scalars()
        assert list(moved) == [20_000]
    assert (shift.opened_by, shift.closed_by) == (shop["other_cashier"], shop["other_cashier"])


def test_a_shift_close_approved_by_an_unknown_staff_member_is_kept_and_flagged(
    hq: RunningHQ, chain: Chain, shop, client
):
    """GIVEN a shift of the store's cashier WHEN its close, ¥100 short, carries an
    over/short approval by "S-0000", whom HQ does not know THEN the close is recorded with
    its figures and the approver it names, and flagged."""
    dev = shop["dev"]
    opened, _, closed = _shift(chain, dev, shop["cashier"], datetime.now(UTC))
    _believed(hq, client, dev, opened)
    closed["payload"].update(
        counted_cash_fen=20_000,
        over_short_fen=-10_000,
        reason="找错零钱",
        approval={
            "action": "over_short",
            "staff": "S-0000",
            "approved_at": closed["payload"]["closed_at"],
        },
    )
    closed["payload"]["expected_cash_fen"] = 30_000
    detail = _kept_and_flagged(hq, client, dev, closed)
    assert detail.endswith("staff S-0000 is not known at HQ")
    with hq.db.read() as conn:
        row = conn.execute(
            select(m.shifts.c.over_short_fen, m.shifts.c.approved_by).where(
                m.shifts.c.shift_id == uuid.UUID(closed["payload"]["shift_id"])
            )
        ).one()
    assert tuple(row) == (-10_000, "S-0000")


def _received(chain: Chain, dev: Device, sku: str, staff: str, at: datetime) -> dict:
    return chain.event(
        {
            "type": "stock.received",
            "receipt_id": str(uuid.uuid4()),
            "store": dev.store,
            "terminal": dev.device_id,
            "staff": staff,
            "received_at": at.isoformat(),
            "document": "DN-7",
            "lines": [{"sku": sku, "qty_milli": 6000}],
        }
    )


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("forged", "staff S-0406 is not known at HQ"),
        ("other_cashier", "belongs to store {b}, not {a}"),
        ("inactive", "staff {inactive} was deactivated at "),
        ("long_inactive", "staff {long_inactive} is not active"),
        ("hq_admin", "HQ admins do not act at a store's till"),
    ],
)
def test_goods_received_or_counted_by_staff_hq_does_not_accept_are_refused(
    hq: RunningHQ, chain: Chain, shop, client, who: str, expected: str
):
    """GIVEN a store's till WHEN it books goods received, or a count, naming staff HQ
    does not know, another store's cashier, an inactive cashier or an HQ admin
    THEN HQ refuses each (not_authorised: the store's own staff can book it again),
    audits every attempt and raises one alert; the level does not move."""
    dev, sku = shop["dev"], shop["sku"]
    staff = "S-0406" if who == "forged" else shop[who]
    before = level(hq.db, dev.store, sku)
    received = _received(chain, dev, sku, staff, datetime.now(UTC))
    assert expected.format(**shop) in _refused(hq, client, dev, received)
    counted = chain.count(dev, sku, 99_000)
    counted["payload"]["staff"] = staff
    assert expected.format(**shop) in _refused(hq, client, dev, counted)
    assert level(hq.db, dev.store, sku) == before


def test_stock_booked_before_its_clerk_was_deactivated_is_applied(
    hq: RunningHQ, chain: Chain, shop, client
):
    """GIVEN a cashier who booked goods in offline an hour ago and was deactivated since
    WHEN the booking arrives THEN it is applied; the same booking dated after the
    deactivation is refused."""
    dev, sku = shop["dev"], shop["sku"]
    clerk = chain.staff(dev.store, "cashier")
    earlier = _received(chain, dev, sku, clerk, datetime.now(UTC) - timedelta(hours=1))
    operations.update_staff(hq.db, clerk, active=False)
    before = level(hq.db, dev.store, sku) or 0
    assert [_status(r) for r in _push(client, dev, earlier)] == ["applied"]
    assert level(hq.db, dev.store, sku) == before + 6000
    later = _received(chain, dev, sku, clerk, datetime.now(UTC) + timedelta(minutes=1))
    assert f"staff {clerk} was deactivated at " in _refused(hq, client, dev, later)


def test_a_void_approved_before_the_supervisor_was_deactivated_is_applied(
    hq: RunningHQ, chain: Chain, shop, client
):
    """GIVEN a sale voided offline by a supervisor who was deactivated at HQ afterwards
    WHEN the void arrives THEN it is applied (it was approved while they were active)."""
    dev = shop["dev"]
    boss = chain.staff(dev.store, "supervisor")
    sale = chain.sale(dev, [(shop["sku"], 1000)], when=datetime.now(UTC) - timedelta(hours=1))
    void = chain.void(dev, sale, boss)
    void["payload"]["voided_at"] = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    operations.update_staff(hq.db, boss, active=False)
    assert [_status(r) for r in _push(client, dev, sale, void)] == ["applied", "applied"]


def test_an_hq_admin_cannot_close_a_store_s_day_from_a_till(
    hq: RunningHQ, chain: Chain, shop, client
):
    """GIVEN a store with no open shift WHEN its till asks HQ to close the day naming an HQ
    admin THEN 403 not_store_manager (HQ admins never act at a till); naming the store's
    manager the day closes."""
    store = chain.store()
    dev = chain.device(store)
    url = f"/v1/stores/{store}/day-close"
    day = datetime.now().astimezone().date().isoformat()
    r = client.post(
        url, json={"business_date": day, "staff": shop["hq_admin"]}, headers=dev.headers
    )
    assert (r.status_code, error_code(r)) == (403, "not_store_manager")
    manager = chain.staff(store, "manager")
    r = client.post(url, json={"business_date": day, "staff": manager}, headers=dev.headers)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("who", ["hq_admin", "left_since", "left_before"])
def test_a_transfer_request_is_judged_by_its_manager_at_the_step_s_time(
    hq: RunningHQ, chain: Chain, shop, client, who: str
):
    """GIVEN store a's till WHEN it pushes a transfer request made by an HQ admin, an hour
    ago by a manager deactivated since, or by a manager deactivated before it
    THEN the HQ admin's and the earlier leaver's are refused (audited); the request of the
    manager who left since is applied."""
    dev = shop["dev"]
    manager = shop["hq_admin"] if who == "hq_admin" else chain.staff(dev.store, "manager")
    at = datetime.now(UTC) - timedelta(hours=1)
    if who == "left_before":
        at = datetime.now(UTC) + timedelta(minutes=1)
        operations.update_staff(hq.db, manager, active=False)
    _, ev = request(chain, dev, shop["b"], manager, [(shop["sku"], 5000)])
    ev["payload"]["at"] = at.isoformat()
    if who == "left_since":
        operations.update_staff(hq.db, manager, active=False)
        assert [_status(r) for r in _push(client, dev, ev)] == ["applied"]
        return
    [result] = _push(client, dev, ev)
    assert _status(result) == "rejected:not_authorised"
    expected = "HQ admins do not act" if who == "hq_admin" else f"staff {manager} was deactivated"
    assert expected in result["detail"]
    with hq.db.read() as conn:
        refused = [
            json.loads(d)
            for d in conn.execute(
                select(m.audit_log.c.detail).where(m.audit_log.c.action == "transfer.refused_step")
            ).scalars()
        ]
    assert [r["why"] for r in refused if r["staff"] == manager] == [result["detail"]]
