"""A sale's coupon on its return, at HQ over real HTTP (SQLite and PostgreSQL).

The coupon's value is spread over the sale's lines as a discount, so a partial return
refunds net of it and keeps the coupon used. Once the whole sale is back (in one return
or several, in any store) and the coupon is still valid, HQ gives it back to the member,
once, in the transaction of the return that completes the sale; ``returns.coupon_back =
never`` keeps it used.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from server_stub import members, operations
from server_stub import models as m
from server_stub.cli import main
from server_stub.errors import ApiError
from tests.server.conftest import Chain, RunningHQ
from tests.server.member_helpers import (
    ADMIN,
    add_member,
    app_code,
    hold,
    hold_status,
    ledger_mismatches,
    with_member,
)
from tests.server.return_helpers import authorise, push, ref_of, returned


@dataclass
class CouponSale:
    """A member's sale of two lines (¥32 and ¥16 before the coupon) with a ¥5 coupon."""

    event: dict[str, Any]
    number: str
    coupon_id: uuid.UUID
    hold_id: str


def coupon_sale(
    hq: RunningHQ,
    chain: Chain,
    client: httpx.Client,
    dev: Any,
    *,
    push_it: bool = True,
    valid_days: int = 7,
) -> CouponSale:
    """GIVEN a member with a ¥5 coupon, a sale at ``dev``'s store of 2 × ¥16 and 1 × ¥16
    whose coupon hold it captures (the ¥5 spread over the lines: -¥3.33 and -¥1.67)."""
    number, _ = add_member(hq.db, hq.keys)
    coupon = members.issue_coupon(
        hq.db,
        ADMIN,
        number,
        name="满30减5",
        value_fen=500,
        min_spend_fen=3000,
        valid_until=datetime.now(UTC) + timedelta(days=valid_days),
    )
    h = hold(
        client,
        dev,
        number,
        "coupon",
        proof=app_code(hq.keys, number),
        coupon_id=str(coupon.coupon_id),
    )
    assert h.status_code == 201, h.text
    sale = chain.sale(dev, [(chain.item(), 2000), (chain.item(), 1000)])
    lines = sale["payload"]["lines"]
    for line, off in zip(lines, (333, 167), strict=True):
        line["discount_fen"] = off
        line["amount_fen"] = line["list_amount_fen"] - off
    sale["payload"]["discount_fen"] = 500
    sale["payload"]["total_fen"] = 4300
    with_member(
        sale,
        number,
        holds=[h.json()["hold_id"]],
        tenders=[{"kind": "cash", "amount_fen": 4300, "tendered_fen": 4300}],
    )
    if push_it:
        assert push(client, dev, sale)[0]["status"] == "applied"
    return CouponSale(sale, number, coupon.coupon_id, h.json()["hold_id"])


def coupon_row(hq: RunningHQ, coupon_id: uuid.UUID) -> tuple[str, uuid.UUID | None]:
    """(status, sale_id) of the coupon at HQ."""
    c = m.member_coupons
    with hq.db.read() as conn:
        row = conn.execute(select(c.c.status, c.c.sale_id).where(c.c.id == coupon_id)).one()
    return str(row.status), row.sale_id


def coupons_back(hq: RunningHQ, sale: dict[str, Any]) -> list[uuid.UUID | None]:
    """The coupon each return of the sale gave back (None: none), in return order."""
    r = m.returns
    with hq.db.read() as conn:
        return list(
            conn.execute(
                select(r.c.coupon_id)
                .where(r.c.sale_id == uuid.UUID(sale["payload"]["sale_id"]))
                .order_by(r.c.returned_at, r.c.return_id)
            ).scalars()
        )


def member_version(hq: RunningHQ, number: str) -> int:
    with hq.db.read() as conn:
        return int(
            conn.execute(
                select(m.members.c.version).where(m.members.c.number == number)
            ).scalar_one()
        )


def member_alert_kinds(hq: RunningHQ, ref: str) -> list[str]:
    with hq.db.read() as conn:
        return list(
            conn.execute(
                select(m.member_alerts.c.kind).where(m.member_alerts.c.ref == ref)
            ).scalars()
        )


def usable_coupons(client: httpx.Client, hq: RunningHQ, dev: Any, number: str) -> list[str]:
    """The coupons the member may use now, as a till identifying her sees them."""
    r = client.post(
        "/v1/members/identify", json={"code": app_code(hq.keys, number)}, headers=dev.headers
    )
    assert r.status_code == 200, r.text
    return [c["coupon_id"] for c in r.json()["coupons"]]


def lookup_coupon(client: httpx.Client, dev: Any, ref: str) -> dict[str, Any] | None:
    r = client.post("/v1/returns/lookup", json={"ref": ref}, headers=dev.headers)
    assert r.status_code == 200, r.text
    coupon: dict[str, Any] | None = r.json()["sales"][0]["coupon"]
    return coupon


def test_a_partial_return_keeps_the_coupon_and_the_rest_returned_elsewhere_gives_it_back_once(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a member's two-line sale at A that used a ¥5 coupon
    WHEN A returns one of the two pieces of line 1 (offline, net of the coupon's share),
    then B returns the rest with HQ's authorisation, naming the coupon, and the event is
    replayed 5 times, shuffled with other events
    THEN after A's return the coupon is still used; B's return gives it back once: the
    coupon is available to the member again, the hold refunded, the member's version
    moved (tills drop their cached copy), the return records the coupon, the lookup shows
    it back, and the replays change nothing."""
    a, b = chain.store(), chain.store()
    dev_a, dev_b = chain.device(a), chain.device(b)
    sale = coupon_sale(hq, chain, client, dev_a)
    ref = ref_of(dev_a, sale.event)
    shown = lookup_coupon(client, dev_b, ref)
    assert shown is not None
    assert (shown["coupon_id"], shown["name"], shown["value_fen"], shown["back"]) == (
        str(sale.coupon_id),
        "满30减5",
        500,
        False,
    )

    first = returned(chain, dev_a, sale.event, {1: 1000})
    assert first["payload"]["refund_fen"] == 1433  # half of ¥28.67, net of the coupon
    assert push(client, dev_a, first)[0]["status"] == "applied"
    assert coupon_row(hq, sale.coupon_id) == ("used", uuid.UUID(sale.event["payload"]["sale_id"]))
    assert usable_coupons(client, hq, dev_a, sale.number) == []

    before = member_version(hq, sale.number)
    auth = authorise(client, dev_b, sale.event, {1: 1000, 2: 1000}).json()["auth_id"]
    rest = returned(
        chain, dev_b, sale.event, {1: 1000, 2: 1000}, auth_id=auth, returned_before={1: 1000}
    )
    rest["payload"]["coupon_back"] = str(sale.coupon_id)
    assert push(client, dev_b, rest)[0]["status"] == "applied"

    assert coupon_row(hq, sale.coupon_id) == ("available", None)
    assert hold_status(hq.db, sale.hold_id) == "refunded"
    assert member_version(hq, sale.number) > before
    assert coupons_back(hq, sale.event) == [None, sale.coupon_id]
    assert usable_coupons(client, hq, dev_b, sale.number) == [str(sale.coupon_id)]
    assert lookup_coupon(client, dev_b, ref)["back"] is True  # type: ignore[index]
    assert member_alert_kinds(hq, rest["payload"]["return_id"]) == []

    other = chain.count(dev_b, chain.item(), 5000)
    batch = [rest, other, rest]
    for _ in range(5):
        random.shuffle(batch)
        results = push(client, dev_b, *batch)
        assert {r["status"] for r in results if r["id"] == rest["id"]} == {"duplicate"}
        assert push(client, dev_a, first)[0]["status"] == "duplicate"
    assert coupon_row(hq, sale.coupon_id) == ("available", None)
    assert coupons_back(hq, sale.event) == [None, sale.coupon_id]
    assert ledger_mismatches(hq.db) == []


def test_a_whole_sale_returned_offline_at_its_store_gets_the_coupon_back_on_ingest(
    hq: RunningHQ, chain: Chain, client: httpx.Client, db_url: str, capsys
):
    """GIVEN a till that sold with a coupon and returned the whole sale while offline
    WHEN the sale and its return reach HQ in one push
    THEN HQ gives the coupon back as it applies the return, and ``chainpos-hq returns
    show`` names it."""
    store = chain.store()
    dev = chain.device(store)
    sale = coupon_sale(hq, chain, client, dev, push_it=False)
    back = returned(chain, dev, sale.event, {1: 2000, 2: 1000})
    back["payload"]["coupon_back"] = str(sale.coupon_id)
    assert [r["status"] for r in push(client, dev, sale.event, back)] == ["applied", "applied"]
    assert coupon_row(hq, sale.coupon_id) == ("available", None)
    assert coupons_back(hq, sale.event) == [sale.coupon_id]
    assert usable_coupons(client, hq, dev, sale.number) == [str(sale.coupon_id)]
    capsys.readouterr()
    assert main(["returns", "show", back["payload"]["return_id"], "--db", db_url]) == 0
    assert f'"coupon_back": "{sale.coupon_id}"' in capsys.readouterr().out


def test_an_expired_coupon_stays_used_and_a_promise_the_till_made_is_raised(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN a coupon sale whose coupon expired since
    WHEN the whole sale is returned by a till that (wrongly) told the customer the coupon
    goes back
    THEN the coupon stays used and a member alert tells HQ staff what was promised."""
    store = chain.store()
    dev = chain.device(store)
    sale = coupon_sale(hq, chain, client, dev)
    with hq.db.write() as tx:
        tx.conn.execute(
            update(m.member_coupons)
            .where(m.member_coupons.c.id == sale.coupon_id)
            .values(valid_until=datetime.now(UTC) - timedelta(minutes=1))
        )
    back = returned(chain, dev, sale.event, {1: 2000, 2: 1000})
    back["payload"]["coupon_back"] = str(sale.coupon_id)
    assert push(client, dev, back)[0]["status"] == "applied"
    assert coupon_row(hq, sale.coupon_id)[0] == "used"
    assert hold_status(hq.db, sale.hold_id) == "captured"
    assert coupons_back(hq, sale.event) == [None]
    assert member_alert_kinds(hq, back["payload"]["return_id"]) == ["coupon_not_back"]


def test_coupon_back_never_keeps_the_coupon_used_after_a_full_return(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN ``returns.coupon_back = never`` at a store WHEN a coupon sale of that store
    is returned in full THEN the coupon stays used; the setting is refused when it is not
    one of its choices."""
    store = chain.store()
    operations.set_config(hq.db, store, "returns.coupon_back", "never")
    dev = chain.device(store)
    sale = coupon_sale(hq, chain, client, dev)
    back = returned(chain, dev, sale.event, {1: 2000, 2: 1000})
    assert push(client, dev, back)[0]["status"] == "applied"
    assert coupon_row(hq, sale.coupon_id)[0] == "used"
    assert coupons_back(hq, sale.event) == [None]
    with pytest.raises(ApiError) as refused:
        operations.set_config(hq.db, store, "returns.coupon_back", "sometimes")
    assert refused.value.code == "bad_setting"


def test_two_stores_finishing_a_sale_at_the_same_moment_give_the_coupon_back_once(
    hq: RunningHQ, chain: Chain, client: httpx.Client
):
    """GIVEN coupon sales whose two lines are authorised for return at two stores
    WHEN both returns are pushed at the same moment, for several sales
    THEN for each sale exactly one of the two returns gives the coupon back, and the
    coupon is available once."""
    a, b, c = chain.store(), chain.store(), chain.store()
    dev_a, dev_b, dev_c = chain.device(a), chain.device(b), chain.device(c)
    for _ in range(4):
        sale = coupon_sale(hq, chain, client, dev_a)
        auth_b = authorise(client, dev_b, sale.event, {1: 2000}).json()["auth_id"]
        auth_c = authorise(client, dev_c, sale.event, {2: 1000}).json()["auth_id"]
        events = [
            (dev_b, returned(chain, dev_b, sale.event, {1: 2000}, auth_id=auth_b)),
            (dev_c, returned(chain, dev_c, sale.event, {2: 1000}, auth_id=auth_c)),
        ]
        start = threading.Barrier(2)
        statuses: list[str] = []
        threads = [
            threading.Thread(target=_push_together, args=(hq, start, statuses, *pair))
            for pair in events
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert statuses == ["applied", "applied"]
        assert coupon_row(hq, sale.coupon_id) == ("available", None)
        assert sorted(coupons_back(hq, sale.event), key=str) == sorted(
            [None, sale.coupon_id], key=str
        )
    assert ledger_mismatches(hq.db) == []


def _push_together(
    hq: RunningHQ, start: threading.Barrier, statuses: list[str], dev: Any, ev: dict[str, Any]
) -> None:
    """Pushes ``ev`` on its own connection once every other pusher is ready too."""
    with httpx.Client(base_url=hq.url, timeout=30) as own:
        start.wait()
        statuses.append(push(own, dev, ev)[0]["status"])
