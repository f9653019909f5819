"""Members over real HTTP on real uvicorn: sign-up, identification, holds, capture by sale
events, voids, top-ups, expiry, the feed, the audit log (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from server_stub import members, operations
from server_stub import models as m
from server_stub.auth import DeviceIdentity
from server_stub.errors import ApiError
from server_stub.member_keys import MemberKeys
from sync_client.contract import protocol as p
from sync_client.contract.membercode import sign_member_code
from tests.server.conftest import Chain, RunningHQ
from tests.server.helpers import feed_changes
from tests.server.member_helpers import (
    ADMIN,
    add_member,
    alerts,
    app_code,
    audit_actions,
    balances,
    card_code,
    hold,
    hold_status,
    ledger_for,
    ledger_mismatches,
    new_phone,
    split_tenders,
    with_member,
)


def push(client: httpx.Client, device, *events) -> list[str]:
    r = client.post("/v1/sync/push", json={"events": list(events)}, headers=device.headers)
    assert r.status_code == 200, r.text
    return [
        x["status"] if x["status"] != "rejected" else f"rejected:{x['code']}"
        for x in r.json()["results"]
    ]


def identify(client: httpx.Client, device, **body) -> httpx.Response:
    return client.post("/v1/members/identify", json=body, headers=device.headers)


@pytest.fixture(scope="module")
def shop(chain: Chain):
    """Two stores, a device each, a supervisor, two items (one excluded from earning)."""
    s1, s2 = chain.store(), chain.store()
    return {
        "s1": s1,
        "s2": s2,
        "d1": chain.device(s1),
        "d2": chain.device(s2),
        "sup1": chain.staff(s1, "supervisor"),
        "cashier1": chain.staff(s1, "cashier"),
        "cashier2": chain.staff(s2, "cashier"),
        "sku": chain.item(),
        "cig": chain.item(category="烟草"),
    }


@pytest.fixture(autouse=True)
def books_balance(hq: RunningHQ):
    """After every test: every member's balances equal their ledger's sums."""
    yield
    assert ledger_mismatches(hq.db) == []


def test_sign_up_is_idempotent_and_keeps_the_phone_encrypted(hq: RunningHQ, shop, client):
    """GIVEN a customer joining at the till WHEN the sign-up is sent three times (a queued
    offline retry) THEN one member exists, the phone is stored only encrypted and hashed
    with a key, and a later sign-up with the same phone finds that member."""
    signup_id = uuid.uuid4()
    phone = new_phone()
    body = {
        "signup_id": str(signup_id),
        "phone": f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}",
        "name": "李雷",
        "consent": True,
        "consent_version": "privacy-2025-06",
        "signed_up_at": datetime.now(UTC).isoformat(),
    }
    first = client.post("/v1/members", json=body, headers=shop["d1"].headers)
    assert first.status_code == 201, first.text
    panel = first.json()["member"]
    assert first.json()["created"] is True
    assert panel["phone_masked"] == f"{phone[:3]}****{phone[-4:]}"
    assert (panel["name"], panel["tier"], panel["points"], panel["balance_fen"]) == (
        "李雷",
        "standard",
        0,
        0,
    )
    number = panel["number"]
    assert len(number) == 12 and members.luhn_digit(number[:-1]) == number[-1]
    for _ in range(2):
        again = client.post("/v1/members", json=body, headers=shop["d2"].headers)
        assert again.status_code == 200 and again.json()["member"]["number"] == number
        assert again.json()["created"] is False
    other = dict(body, signup_id=str(uuid.uuid4()), name="someone else")
    same_phone = client.post("/v1/members", json=other, headers=shop["d2"].headers)
    assert same_phone.status_code == 200
    assert same_phone.json()["member"]["number"] == number
    assert same_phone.json()["member"]["name"] == "李雷"

    with hq.db.read() as conn:
        row = conn.execute(select(m.members).where(m.members.c.number == number)).one()
        assert (
            conn.execute(
                select(m.member_signups.c.member_id).where(
                    m.member_signups.c.signup_id == signup_id
                )
            ).scalar_one()
            == row.id
        )
    stored = json.dumps([str(v) for v in row])
    assert phone not in stored and phone[-8:] not in stored
    assert row.phone_hash != hashlib.sha256(phone.encode()).hexdigest()
    assert row.consent_version == "privacy-2025-06"
    assert audit_actions(hq.db, number).count("member.sign_up") == 4

    refused = client.post(
        "/v1/members",
        json=dict(body, consent=False, signup_id=str(uuid.uuid4())),
        headers=shop["d1"].headers,
    )
    assert refused.status_code == 422 and refused.json()["code"] == "consent_required"
    bad = client.post(
        "/v1/members",
        json=dict(body, phone="12345", signup_id=str(uuid.uuid4())),
        headers=shop["d1"].headers,
    )
    assert bad.status_code == 422 and bad.json()["code"] == "bad_phone"


def test_identify_by_code_card_and_phone(hq: RunningHQ, shop, client):
    """GIVEN a member with points, stored value and a coupon WHEN identified by app code,
    by card and by phone THEN the till gets name, masked phone, tier, balances and usable
    coupons; spending needs the code unless the chain allows phone-only."""
    number, phone = add_member(hq.db, hq.keys, points=1280, balance_fen=5000, tier="gold")
    coupon = members.issue_coupon(
        hq.db,
        ADMIN,
        number,
        name="满30减5",
        value_fen=500,
        min_spend_fen=3000,
        valid_until=datetime.now(UTC) + timedelta(days=7),
    )
    by_code = identify(client, shop["d2"], code=app_code(hq.keys, number))
    assert by_code.status_code == 200, by_code.text
    j = by_code.json()
    assert (j["number"], j["name"], j["tier"], j["points"], j["balance_fen"]) == (
        number,
        "王芳",
        "gold",
        1280,
        5000,
    )
    assert j["phone_masked"] == f"{phone[:3]}****{phone[-4:]}"
    assert [c["coupon_id"] for c in j["coupons"]] == [str(coupon.coupon_id)]
    assert j["identified_by"] == "code" and j["spend_until"] is not None

    by_card = identify(client, shop["d1"], code=card_code(hq.keys, number))
    assert by_card.status_code == 200 and by_card.json()["identified_by"] == "card"

    by_phone = identify(client, shop["d1"], phone=f"{phone[:3]} {phone[3:7]} {phone[7:]}")
    assert by_phone.status_code == 200 and by_phone.json()["number"] == number
    assert by_phone.json()["spend_until"] is None
    no_code = hold(client, shop["d1"], number, "points", 100)
    assert no_code.status_code == 403 and no_code.json()["code"] == "member_code_required"

    operations.set_config(hq.db, shop["s1"], "member.spend_without_code", True)
    try:
        assert identify(client, shop["d1"], phone=phone).json()["spend_until"] is not None
        ok = hold(client, shop["d1"], number, "points", 100)
        assert ok.status_code == 201, ok.text
        assert ok.json()["points"] == 1180
        # The setting is the store's: the other store still needs a code.
        assert hold(client, shop["d2"], number, "points", 100).status_code == 403
    finally:
        operations.set_config(hq.db, shop["s1"], "member.spend_without_code", None)

    unknown = identify(client, shop["d1"], phone=new_phone())
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_member"
    metrics = client.get("/metrics").text
    assert 'chainpos_member_requests_total{op="identify",result="ok"}' in metrics
    assert 'chainpos_member_requests_total{op="identify",result="unknown_member"}' in metrics
    assert audit_actions(hq.db, number).count("member.identify") == 4


def test_forged_expired_and_replaced_codes_are_refused(hq: RunningHQ, shop, client):
    """GIVEN a member WHEN a till scans a forged code, an expired code, a code signed with
    another key, or an old card after a new one was issued THEN each is refused with a
    clear message and the refusal is audited; nothing about the member is revealed."""
    number, _ = add_member(hq.db, hq.keys, points=50)
    good = app_code(hq.keys, number)
    forged_number = good.replace(f".{number}.", f".{number[:-1]}{(int(number[-1]) + 1) % 10}.")
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    other_key = sign_member_code(
        number, int(time.time()) + 300, MemberKeys.generate().member_code[0]
    )
    expired = sign_member_code(number, int(time.time()) - 3600, hq.keys.member_code[0])
    cases = {
        forged_number: ("member_code_invalid", "not genuine"),
        tampered: ("member_code_invalid", "not genuine"),
        other_key: ("member_code_invalid", "not genuine"),
        "CPM1.123.456": ("member_code_invalid", "not a ChainPOS member code"),
        expired: ("member_code_expired", "expired"),
    }
    before = audit_actions(hq.db).count("member.identify_refused")
    for code, (error, words) in cases.items():
        r = identify(client, shop["d1"], code=code)
        assert r.status_code == 422, (code, r.text)
        assert r.json()["code"] == error and words in r.json()["detail"]
        spend = hold(client, shop["d1"], number, "points", 10, proof=code)
        assert spend.status_code == 422 and spend.json()["code"] == error
    assert audit_actions(hq.db).count("member.identify_refused") == before + len(cases)
    assert balances(hq.db, number) == (50, 0)

    new_card = members.member_code(hq.db, hq.keys, ADMIN, number, card=True, new_card=True)
    assert new_card.card_version == 2
    old = identify(client, shop["d1"], code=card_code(hq.keys, number, 1))
    assert old.status_code == 422 and old.json()["code"] == "card_replaced"
    assert identify(client, shop["d1"], code=new_card.code).status_code == 200

    someone_else, _ = add_member(hq.db, hq.keys, points=50)
    mismatch = hold(client, shop["d1"], number, "points", 10, proof=app_code(hq.keys, someone_else))
    assert mismatch.status_code == 422 and mismatch.json()["code"] == "member_code_mismatch"


def test_scenario_5_member_from_another_city_redeems_points(hq: RunningHQ, chain, shop, client):
    """GIVEN a member with 1,280 points who never visited S002 WHEN she scans her code
    there and redeems 500 points for ¥5 off a ¥16 drink THEN HQ's balance drops by exactly
    500, the sale captures the hold, and she earns points on the ¥11 she paid in cash."""
    number, _ = add_member(hq.db, hq.keys, points=1280)
    dev = shop["d2"]
    code = app_code(hq.keys, number)
    panel = identify(client, dev, code=code).json()
    assert panel["points"] == 1280
    r = hold(client, dev, number, "points", 500, proof=code)
    assert r.status_code == 201, r.text
    h = r.json()
    assert (h["value_fen"], h["points"], h["status"], h["store"]) == (500, 780, "held", dev.store)
    assert balances(hq.db, number) == (780, 0)

    sale = chain.sale(dev, [(shop["sku"], 1000)], price_fen=1600)
    with_member(sale, number, holds=[h["hold_id"]], tenders=split_tenders(1600, points=500))
    sale["payload"]["tenders"][0]["reference"] = h["hold_id"]
    assert push(client, dev, sale) == ["applied"]
    assert hold_status(hq.db, h["hold_id"]) == "captured"
    # 1 point per yuan on the ¥11 paid in cash; the points tender earns nothing.
    assert balances(hq.db, number) == (780 + 11, 0)
    assert ledger_for(hq.db, h["hold_id"]) == [("redeem", -500)]
    assert ledger_for(hq.db, sale["payload"]["sale_id"]) == [("earn", 11)]
    with hq.db.read() as conn:
        assert (
            conn.execute(
                select(m.sales.c.member_no).where(
                    m.sales.c.sale_id == uuid.UUID(sale["payload"]["sale_id"])
                )
            ).scalar_one()
            == number
        )
    # The hold cannot be released once spent.
    again = client.post(f"/v1/members/holds/{h['hold_id']}/release", headers=dev.headers)
    assert again.status_code == 409 and again.json()["code"] == "hold_captured"


def test_scenario_6_two_stores_one_balance_same_moment(hq: RunningHQ, shop, client):
    """GIVEN 780 points WHEN S001 and S002 each try to hold all 780 at once THEN one wins,
    the other is told plainly there are not enough points, and the balance is 0, not
    negative."""
    import threading

    number, _ = add_member(hq.db, hq.keys, points=780)
    code = app_code(hq.keys, number)
    answers: list[httpx.Response] = []
    go = threading.Barrier(2)

    def spend(device) -> None:
        with httpx.Client(base_url=hq.url, timeout=30) as c:
            go.wait()
            answers.append(hold(c, device, number, "points", 780, proof=code))

    threads = [threading.Thread(target=spend, args=(d,)) for d in (shop["d1"], shop["d2"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [201, 409]
    refused = next(a for a in answers if a.status_code == 409).json()
    assert refused["code"] == "insufficient_points"
    assert "0 available, 780 asked" in refused["detail"]
    # What the till needs to say it in words: the other store's hold has the 780.
    assert refused["params"] == {"available": 0, "held": 780, "asked": 780}
    assert balances(hq.db, number) == (0, 0)


def test_holds_are_idempotent_and_release_returns_value_once(hq: RunningHQ, shop, client):
    """GIVEN a hold request that is retried (the answer was lost) THEN HQ holds once; a
    release gives the value back once however often it is repeated; another store's
    device cannot release it."""
    number, _ = add_member(hq.db, hq.keys, points=1000, balance_fen=10_000)
    code = app_code(hq.keys, number)
    dev = shop["d1"]
    hold_id = uuid.uuid4()
    first = hold(client, dev, number, "stored_value", 3000, proof=code, hold_id=hold_id)
    assert first.status_code == 201
    retry = hold(client, dev, number, "stored_value", 3000, proof=code, hold_id=hold_id)
    assert retry.status_code == 200 and retry.json()["hold_id"] == str(hold_id)
    assert balances(hq.db, number) == (1000, 7000)
    clash = hold(client, dev, number, "stored_value", 4000, proof=code, hold_id=hold_id)
    assert clash.status_code == 409 and clash.json()["code"] == "hold_conflict"
    assert (
        hold(
            client, shop["d2"], number, "stored_value", 3000, proof=code, hold_id=hold_id
        ).status_code
        == 409
    )

    got = client.get(f"/v1/members/holds/{hold_id}", headers=dev.headers)
    assert got.status_code == 200 and got.json()["status"] == "held"
    assert client.get(f"/v1/members/holds/{hold_id}", headers=shop["d2"].headers).status_code == 403
    foreign = client.post(f"/v1/members/holds/{hold_id}/release", headers=shop["d2"].headers)
    assert foreign.status_code == 403 and foreign.json()["code"] == "wrong_store"
    for _ in range(3):
        r = client.post(f"/v1/members/holds/{hold_id}/release", headers=dev.headers)
        assert r.status_code == 200 and r.json()["status"] == "released"
    assert balances(hq.db, number) == (1000, 10_000)
    assert ledger_for(hq.db, str(hold_id)) == [("pay", -3000), ("release", 3000)]
    unknown = client.post(f"/v1/members/holds/{uuid.uuid4()}/release", headers=dev.headers)
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_hold"

    short = hold(client, dev, number, "stored_value", 10_001, proof=code)
    assert short.status_code == 409 and short.json()["code"] == "insufficient_balance"
    assert "100.00 yuan available" in short.json()["detail"]


def test_expiry_returns_value_once_and_a_late_sale_still_pays_once(
    hq: RunningHQ, chain, shop, client
):
    """GIVEN holds whose sale never came in time WHEN they expire (sweep, lazy expiry on
    the next identification) THEN the value comes back exactly once; WHEN the sale then
    arrives after all THEN it takes the value again if it is there (paid once), otherwise
    HQ records an alert."""
    number, _ = add_member(hq.db, hq.keys, points=600, balance_fen=2000)
    code = app_code(hq.keys, number)
    dev = shop["d1"]
    h_points = hold(client, dev, number, "points", 400, proof=code, ttl_s=60).json()
    h_value = hold(client, dev, number, "stored_value", 2000, proof=code, ttl_s=60).json()
    assert balances(hq.db, number) == (200, 0)
    later = datetime.now(UTC) + timedelta(seconds=61)
    assert members.sweep_expired(hq.db, now=later) >= 2
    assert members.sweep_expired(hq.db, now=later) == 0
    assert balances(hq.db, number) == (600, 2000)
    assert hold_status(hq.db, h_points["hold_id"]) == "expired"
    released = client.post(f"/v1/members/holds/{h_points['hold_id']}/release", headers=dev.headers)
    assert released.json()["status"] == "expired"
    assert balances(hq.db, number) == (600, 2000)

    # The member spends 500 points elsewhere meanwhile; then the late sale arrives.
    other = hold(client, shop["d2"], number, "points", 500, proof=code).json()
    assert other["points"] == 100
    sale = chain.sale(dev, [(shop["sku"], 2000)], price_fen=1200)
    with_member(
        sale,
        number,
        holds=[h_points["hold_id"], h_value["hold_id"]],
        tenders=split_tenders(2400, points=400, stored_value=2000),
    )
    assert push(client, dev, sale) == ["applied"]
    assert hold_status(hq.db, h_value["hold_id"]) == "captured"
    assert ledger_for(hq.db, h_value["hold_id"]) == [
        ("pay", -2000),
        ("release", 2000),
        ("late_capture", -2000),
    ]
    assert hold_status(hq.db, h_points["hold_id"]) == "expired"
    assert ledger_for(hq.db, h_points["hold_id"]) == [("redeem", -400), ("release", 400)]
    assert alerts(hq.db, h_points["hold_id"]) == ["hold_lost"]
    # Earned: ¥24 total, of which ¥4 in points: 20 points (stored value earns).
    assert balances(hq.db, number) == (100 + 20, 0)

    # Lazy expiry: identification gives back an expired hold without waiting for a sweep.
    h3 = hold(client, dev, number, "points", 100, proof=code, ttl_s=60).json()
    with hq.db.read() as conn:
        row = conn.execute(
            select(m.member_holds).where(m.member_holds.c.id == uuid.UUID(h3["hold_id"]))
        ).one()
    members.identify(
        hq.db,
        hq.keys,
        DeviceIdentity(dev.device_id, dev.store),
        p.IdentifyRequest(code=code),
        now=row.expires_at + timedelta(seconds=1),
    )
    assert hold_status(hq.db, h3["hold_id"]) == "expired"


def test_sale_replays_never_credit_twice(hq: RunningHQ, chain, shop, client):
    """GIVEN a member sale WHEN it is pushed again and again, and once more under a new
    event id THEN points are credited once and the hold captured once."""
    number, _ = add_member(hq.db, hq.keys, points=300)
    code = app_code(hq.keys, number)
    dev = shop["d1"]
    h = hold(client, dev, number, "points", 300, proof=code).json()
    sale = chain.sale(dev, [(shop["sku"], 3000)], price_fen=1000)
    with_member(sale, number, holds=[h["hold_id"]], tenders=split_tenders(3000, points=300))
    assert push(client, dev, sale) == ["applied"]
    for _ in range(3):
        assert push(client, dev, sale) == ["duplicate"]
    renamed = json.loads(json.dumps(sale))
    renamed["id"] = str(uuid.uuid4())
    assert push(client, dev, renamed) == ["rejected:sale_exists"]
    assert balances(hq.db, number) == (27, 0)
    assert ledger_for(hq.db, sale["payload"]["sale_id"]) == [("earn", 27)]
    assert ledger_for(hq.db, h["hold_id"]) == [("redeem", -300)]


def test_a_void_takes_back_earned_points_and_refunds_what_was_spent(
    hq: RunningHQ, chain, shop, client
):
    """GIVEN a sale paid partly with points, stored value and a coupon WHEN a supervisor
    voids it THEN the points it earned are taken back and the points, stored value and
    coupon come back to the member, once."""
    number, _ = add_member(hq.db, hq.keys, points=1000, balance_fen=5000)
    coupon = members.issue_coupon(
        hq.db,
        ADMIN,
        number,
        name="减5",
        value_fen=500,
        valid_until=datetime.now(UTC) + timedelta(days=1),
    )
    code = app_code(hq.keys, number)
    dev = shop["d1"]
    hp = hold(client, dev, number, "points", 200, proof=code).json()
    hs = hold(client, dev, number, "stored_value", 1000, proof=code).json()
    hc = hold(client, dev, number, "coupon", proof=code, coupon_id=str(coupon.coupon_id)).json()
    assert hc["value_fen"] == 500
    panel = identify(client, dev, code=code).json()
    assert panel["coupons"] == [] and (panel["points"], panel["balance_fen"]) == (800, 4000)

    sale = chain.sale(dev, [(shop["sku"], 5000)], price_fen=1000)  # ¥50, coupon is -¥5
    sale["payload"]["lines"][0]["discount_fen"] = 500
    sale["payload"]["lines"][0]["amount_fen"] = 4500
    sale["payload"]["discount_fen"] = 500
    sale["payload"]["total_fen"] = 4500
    with_member(
        sale,
        number,
        holds=[hp["hold_id"], hs["hold_id"], hc["hold_id"]],
        tenders=split_tenders(4500, points=200, stored_value=1000),
    )
    assert push(client, dev, sale) == ["applied"]
    earned = 43  # (4500 - 200) fen paid not in points -> 43 yuan
    assert balances(hq.db, number) == (800 + earned, 4000)
    with hq.db.read() as conn:
        status = conn.execute(
            select(m.member_coupons.c.status).where(m.member_coupons.c.id == coupon.coupon_id)
        ).scalar_one()
    assert status == "used"

    void = chain.void(dev, sale, shop["sup1"])
    assert push(client, dev, void) == ["applied"]
    assert push(client, dev, void) == ["duplicate"]
    assert balances(hq.db, number) == (1000, 5000)
    assert ledger_for(hq.db, sale["payload"]["sale_id"]) == [
        ("earn", earned),
        ("earn_reversal", -earned),
    ]
    assert ledger_for(hq.db, hp["hold_id"]) == [("redeem", -200), ("refund", 200)]
    assert {hold_status(hq.db, x["hold_id"]) for x in (hp, hs, hc)} == {"refunded"}
    coupons = identify(client, dev, code=code).json()["coupons"]
    assert [c["coupon_id"] for c in coupons] == [str(coupon.coupon_id)]


def test_sale_and_void_in_one_push(hq: RunningHQ, chain, shop, client):
    number, _ = add_member(hq.db, hq.keys, points=100)
    code = app_code(hq.keys, number)
    dev = shop["d1"]
    h = hold(client, dev, number, "points", 100, proof=code).json()
    sale = chain.sale(dev, [(shop["sku"], 1000)], price_fen=1000)
    with_member(sale, number, holds=[h["hold_id"]], tenders=split_tenders(1000, points=100))
    void = chain.void(dev, sale, shop["sup1"])
    assert push(client, dev, sale, void) == ["applied", "applied"]
    assert balances(hq.db, number) == (100, 0)
    assert hold_status(hq.db, h["hold_id"]) == "refunded"


def test_offline_sign_up_earns_once_whatever_arrives_first(hq: RunningHQ, chain, shop, client):
    """GIVEN a customer who joined at a till while HQ was unreachable and bought at once
    WHEN the sale reaches HQ before the queued sign-up THEN the points wait, and are
    credited once when the sign-up arrives (and not again when it is replayed)."""
    dev = shop["d1"]
    signup_id = uuid.uuid4()
    sale = chain.sale(dev, [(shop["sku"], 2000)], price_fen=1000)
    with_member(sale, signup_id=signup_id)
    topup = chain.event(
        {
            "type": "member.topped_up",
            "topup_id": str(uuid.uuid4()),
            "receipt_no": "T000001",
            "store": dev.store,
            "terminal": dev.device_id,
            "cashier": shop["cashier1"],
            "completed_at": datetime.now(UTC).isoformat(),
            "signup_id": str(signup_id),
            "amount_fen": 10_000,
            "tenders": [{"kind": "cash", "amount_fen": 10_000, "tendered_fen": 10_000}],
        }
    )
    assert push(client, dev, sale, topup) == ["applied", "rejected:unknown_member"]
    body = client.post("/v1/sync/push", json={"events": [topup]}, headers=dev.headers).json()[
        "results"
    ][0]
    assert body["retryable"] is True
    signup = {
        "signup_id": str(signup_id),
        "phone": new_phone(),
        "name": "韩梅梅",
        "consent": True,
        "consent_version": "privacy-2025-06",
        "signed_up_at": (datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
    }
    for _ in range(2):
        r = client.post("/v1/members", json=signup, headers=dev.headers)
        assert r.status_code in (200, 201)
    number = r.json()["member"]["number"]
    assert r.json()["member"]["points"] == 20
    assert push(client, dev, topup) == ["applied"]
    assert push(client, dev, topup) == ["duplicate"]
    assert balances(hq.db, number) == (20, 10_000)
    assert ledger_for(hq.db, sale["payload"]["sale_id"]) == [("earn", 20)]


def test_top_up(hq: RunningHQ, chain, shop, client):
    """GIVEN a member paying ¥100 cash for stored value THEN HQ adds it once; a second
    event with the same top-up id is refused; an unknown member is refused."""
    number, _ = add_member(hq.db, hq.keys)
    dev = shop["d2"]
    payload = {
        "type": "member.topped_up",
        "topup_id": str(uuid.uuid4()),
        "receipt_no": "T000002",
        "store": dev.store,
        "terminal": dev.device_id,
        "cashier": shop["cashier2"],
        "completed_at": datetime.now(UTC).isoformat(),
        "number": number,
        "amount_fen": 10_000,
        "tenders": [{"kind": "cash", "amount_fen": 10_000, "tendered_fen": 10_000}],
    }
    ev = chain.event(payload)
    assert push(client, dev, ev) == ["applied"]
    assert push(client, dev, ev) == ["duplicate"]
    assert push(client, dev, chain.event(payload)) == ["rejected:topup_exists"]
    unknown = dict(payload, topup_id=str(uuid.uuid4()), number="800000000000")
    assert push(client, dev, chain.event(unknown)) == ["rejected:unknown_member"]
    assert balances(hq.db, number) == (0, 10_000)
    assert ledger_for(hq.db, payload["topup_id"]) == [("topup", 10_000)]


def test_earning_rules(hq: RunningHQ, chain, shop, client):
    """GIVEN 2 points per yuan, gold members at 150 % and tobacco excluded WHEN a gold
    member buys ¥16 of tea and ¥20 of cigarettes THEN she earns 48 points."""
    number, _ = add_member(hq.db, hq.keys, tier="gold")
    settings = {
        "member.points_per_yuan": 2,
        "member.tier_pct.gold": 150,
        "member.earn_excluded_categories": "烟草",
    }
    for key, value in settings.items():
        operations.set_config(hq.db, None, key, value)
    try:
        dev = shop["d1"]
        sale = chain.sale(dev, [(shop["sku"], 1000), (shop["cig"], 1000)], price_fen=1600)
        sale["payload"]["lines"][1]["unit_price_fen"] = 2000
        for key in ("list_amount_fen", "amount_fen"):
            sale["payload"]["lines"][1][key] = 2000
        sale["payload"]["subtotal_fen"] = sale["payload"]["total_fen"] = 3600
        with_member(sale, number, tenders=split_tenders(3600))
        assert push(client, dev, sale) == ["applied"]
        assert balances(hq.db, number) == (48, 0)
    finally:
        for key in settings:
            operations.set_config(hq.db, None, key, None)
    with pytest.raises(ApiError) as bad:
        operations.set_config(hq.db, None, "member.points_per_yuan", "two")
    assert bad.value.code == "bad_setting"


def test_sales_naming_bad_holds_are_recorded_with_an_alert(hq: RunningHQ, chain, shop, client):
    """GIVEN holds that cannot belong to a sale (unknown, another member's, another
    store's) THEN the sale is still recorded (it happened), nothing is captured, and HQ
    raises an alert for each."""
    number, _ = add_member(hq.db, hq.keys, points=100)
    other, _ = add_member(hq.db, hq.keys, points=100)
    code_other = app_code(hq.keys, other)
    theirs = hold(client, shop["d1"], other, "points", 100, proof=code_other).json()
    elsewhere_code = app_code(hq.keys, number)
    elsewhere = hold(client, shop["d2"], number, "points", 100, proof=elsewhere_code).json()
    ghost = str(uuid.uuid4())
    sale = chain.sale(shop["d1"], [(shop["sku"], 1000)], price_fen=1000)
    with_member(sale, number, holds=[theirs["hold_id"], elsewhere["hold_id"], ghost])
    assert push(client, shop["d1"], sale) == ["applied"]
    assert alerts(hq.db, theirs["hold_id"]) == ["hold_wrong_member"]
    assert alerts(hq.db, elsewhere["hold_id"]) == ["hold_wrong_store"]
    assert alerts(hq.db, ghost) == ["hold_unknown"]
    assert {hold_status(hq.db, h["hold_id"]) for h in (theirs, elsewhere)} == {"held"}
    metrics = client.get("/metrics").text
    assert "chainpos_member_alerts_total" in metrics
    tender_without_member = chain.sale(shop["d1"], [(shop["sku"], 1000)], price_fen=1000)
    tender_without_member["payload"]["tenders"] = split_tenders(1000, points=1000)
    assert push(client, shop["d1"], tender_without_member) == ["rejected:invalid"]


def test_feed_says_which_member_changed_and_nothing_more(hq: RunningHQ, shop, client):
    """GIVEN a hold WHEN terminals of any store pull THEN they see a member change keyed by
    the member number with a version, and no name, phone or balance."""
    number, phone = add_member(hq.db, hq.keys, points=500, name="张伟")
    before = feed_changes(hq.db, "member", number)
    h = hold(client, shop["d1"], number, "points", 100, proof=app_code(hq.keys, number))
    bodies = feed_changes(hq.db, "member", number)
    assert len(bodies) == len(before) + 1
    change = json.loads(bodies[-1])
    assert change["store"] is None
    assert change["data"] == {
        "number": number,
        "version": change["data"]["version"],
        "active": True,
    }
    assert phone not in bodies[-1] and "张伟" not in bodies[-1]
    pulled = client.get(
        "/v1/sync/pull", params={"after": change["seq"] - 1}, headers=shop["d2"].headers
    )
    assert any(c["kind"] == "member" and c["key"] == number for c in pulled.json()["changes"])
    assert h.json()["points"] == 400


def test_a_revoked_device_cannot_identify_or_spend(hq: RunningHQ, chain, shop, client):
    number, _ = add_member(hq.db, hq.keys, points=100)
    dev = chain.device(shop["s1"])
    code = app_code(hq.keys, number)
    assert identify(client, dev, code=code).status_code == 200
    operations.revoke_device(hq.db, dev.device_id)
    r = identify(client, dev, code=code)
    assert r.status_code == 401 and r.json()["code"] == "token_revoked"
    assert hold(client, dev, number, "points", 10, proof=code).status_code == 401
    assert balances(hq.db, number) == (100, 0)


@pytest.mark.slow  # starts its own HQ
def test_phone_lookups_are_rate_limited_per_device(tmp_path, backend):
    from tests.server.conftest import fresh_database, start_hq_thread

    with fresh_database(backend, tmp_path) as url:
        running = start_hq_thread(url, phone_lookups_per_minute=3, hold_sweep_s=0)
        try:
            chain = Chain(running.db, running.url)
            dev = chain.device(chain.store())
            with httpx.Client(base_url=running.url, timeout=30) as c:
                codes = [identify(c, dev, phone=new_phone()).status_code for _ in range(3)]
                signup = {
                    "signup_id": str(uuid.uuid4()),
                    "phone": new_phone(),
                    "name": "x",
                    "consent": True,
                    "consent_version": "v1",
                    "signed_up_at": datetime.now(UTC).isoformat(),
                }
                codes.append(c.post("/v1/members", json=signup, headers=dev.headers).status_code)
                scanned = identify(c, dev, code="CPM1.800000000000.1.AAAAAAAAAAAAAAAAAAAAAAAAAA")
                other = chain.device(dev.store)
                codes.append(identify(c, other, phone=new_phone()).status_code)
            assert codes == [404, 404, 404, 429, 404]
            assert scanned.status_code == 422  # scans are not limited
        finally:
            running.stop()
            running.db.dispose()


def test_admin_api(hq: RunningHQ, chain, shop, client):
    """HQ staff add, find, show (masked; revealed on request, audited), adjust, give
    coupons and print codes through the admin API; a device token may not."""
    admin = {"Authorization": f"Bearer {chain.admin_token()}"}
    phone = new_phone()
    r = client.post(
        "/v1/admin/members",
        json={"name": "赵敏", "phone": phone, "tier": "silver", "consent_version": "paper-1"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert r.json()["phone"] == f"{phone[:3]}****{phone[-4:]}"
    dup = client.post(
        "/v1/admin/members",
        json={"name": "x", "phone": phone, "consent_version": "paper-1"},
        headers=admin,
    )
    assert dup.status_code == 409 and dup.json()["code"] == "phone_registered"
    found = client.post("/v1/admin/members/search", json={"phone": phone}, headers=admin)
    assert [x["number"] for x in found.json()] == [number]
    by_name = client.post("/v1/admin/members/search", json={"name": "赵"}, headers=admin)
    assert number in [x["number"] for x in by_name.json()]
    assert (
        client.get(f"/v1/admin/members/{number}?reveal=true", headers=admin).json()["phone"]
        == phone
    )
    adj = client.post(
        f"/v1/admin/members/{number}/adjust",
        json={"points": 300, "balance_fen": 2000, "reason": "goodwill"},
        headers=admin,
    )
    assert (adj.json()["points"], adj.json()["balance_fen"]) == (300, 2000)
    assert (adj.json()["ledger_points"], adj.json()["ledger_balance_fen"]) == (300, 2000)
    below = client.post(
        f"/v1/admin/members/{number}/adjust", json={"points": -301, "reason": "x"}, headers=admin
    )
    assert below.status_code == 409
    coupon = client.post(
        f"/v1/admin/members/{number}/coupons",
        json={
            "name": "生日券",
            "value_fen": 800,
            "valid_until": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        },
        headers=admin,
    )
    assert coupon.status_code == 201
    code = client.post(f"/v1/admin/members/{number}/code", json={"ttl_s": 60}, headers=admin).json()
    assert code["kind"] == "app" and code["code"].startswith(f"CPM1.{number}.")
    panel = identify(client, shop["d1"], code=code["code"]).json()
    assert panel["points"] == 300 and len(panel["coupons"]) == 1
    audit = client.get("/v1/admin/audit", params={"member": number}, headers=admin).json()
    actions = [a["action"] for a in audit]
    for action in (
        "member.add",
        "member.show",
        "member.adjust",
        "member.coupon",
        "member.code",
        "member.identify",
    ):
        assert action in actions
    assert phone not in json.dumps(audit)
    assert (
        client.post(
            "/v1/admin/members/search", json={"phone": phone}, headers=shop["d1"].headers
        ).status_code
        == 403
    )
    assert client.get(f"/v1/admin/members/{number}", headers=admin).status_code == 200
    assert client.get("/v1/admin/members/800000000000", headers=admin).status_code == 404
