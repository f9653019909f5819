"""Members at the till against a real HQ over real HTTP: identify (code, card, phone),
offline fallbacks, sign-up (online and queued), holds and their release or capture, crash
recovery, the cached member dropped by the feed, two stores spending the same points, and
stored-value top-ups (SQLite and PostgreSQL HQ).

HQ runs with member keys the test holds, so it can make genuine, expired and forged codes
the way the member app and HQ's card printing do. Terminals that must lose HQ talk to it
through :class:`tests.faults.proxy.FaultProxy`.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from hardware import document_from_dict
from pos_app.domain.ids import uuid7
from pos_app.domain.member import Member, MemberSource
from pos_app.domain.tender import AppliedTender, Payment, TenderKind
from pos_app.headless import HeadlessTerminal
from pos_app.i18n import Translator
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.models import MemberCache, MemberHold, MemberSignup, OutboxEvent, PrintJob
from pos_app.localdb.sales import SaleRecord
from pos_app.localdb.seed import load_demo_json
from pos_app.services.checkout import SaleDraft
from pos_app.services.members import HoldResult, MemberError, MemberService
from server_stub import members as hq_members
from server_stub import models as m
from server_stub import operations
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from server_stub.live import LiveSettings
from server_stub.member_keys import MemberKeys
from server_stub.settings import Settings
from sync_client.contract.membercode import sign_member_code
from tests.faults.proxy import FaultProxy
from tests.server.member_helpers import (
    ADMIN,
    add_member,
    app_code,
    balances,
    card_code,
    hold_status,
    ledger_for,
    ledger_mismatches,
    new_phone,
)
from tests.server.support import fresh_database
from tests.support import sell_without_shifts
from tests.sync.conftest import BACKENDS, FAST, wait_until

# Resets by the fault proxy can leave uvicorn's side of a socket to the garbage collector
# (see test_scenarios.py); that socket is HQ's web server's, not the till's.
pytestmark = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning"
)

T = 10.0  # seconds to wait for a future
TARO = "6954321100014"  # 芋泥波波 ¥15.00


@pytest.fixture(autouse=True)
def _collect_left_sockets() -> Iterator[None]:
    yield
    gc.collect()


@pytest.fixture(scope="module")
def keys() -> MemberKeys:
    return MemberKeys.generate()


@pytest.fixture(scope="module", params=BACKENDS)
def hq(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, keys: MemberKeys
) -> Iterator[EmbeddedHQ]:
    """The sync tests' HQ (demo chain, real uvicorn), with member keys this test holds;
    one per module and backend (every test makes members of its own)."""
    with fresh_database(request.param, tmp_path_factory.mktemp("hq")) as url:
        settings = Settings(
            db_url=url, port=0, live=LiveSettings(heartbeat_s=0.5), member_keys=keys
        )
        server = EmbeddedHQ(settings).start()
        seed_chain(server.db, load_demo_json())
        sell_without_shifts(server.db)
        yield server
        server.stop()


@pytest.fixture(autouse=True)
def _books_balance(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test using HQ: every member's balances equal their ledger's sums."""
    yield
    if "hq" in request.fixturenames:
        assert ledger_mismatches(request.getfixturevalue("hq").db) == []


@pytest.fixture
def proxy(hq: EmbeddedHQ) -> Iterator[FaultProxy]:
    host, port = hq.url.removeprefix("http://").split(":")
    with FaultProxy(upstream=(host, int(port))) as fp:
        yield fp


def online(t: HeadlessTerminal) -> HeadlessTerminal:
    wait_until(lambda: t.members.online, what=f"{t.device_id} online")
    return t


def offline(t: HeadlessTerminal) -> None:
    wait_until(lambda: not t.terminal.sync.status.online, what=f"{t.device_id} offline")


def refusal(future) -> MemberError:
    with pytest.raises(MemberError) as refused:
        future.result(T)
    return refused.value


def db_rows(t: HeadlessTerminal, model):
    with read_session(t.terminal.engine) as s:
        return s.scalars(select(model)).all()


def hold_row(t: HeadlessTerminal, hold_id: str) -> MemberHold:
    with read_session(t.terminal.engine) as s:
        row = s.get(MemberHold, hold_id)
    assert row is not None
    return row


def assert_no_phone_in(t: HeadlessTerminal, phone: str) -> None:
    """Neither any text column of the terminal database nor its files' bytes (database
    and write-ahead log) hold the 11 digits."""
    db = t.data_dir / "terminal.db"
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    assert phone not in str(value), f"{table} holds the phone number"
    finally:
        conn.close()
    for path in db.parent.glob("terminal.db*"):
        assert phone.encode() not in path.read_bytes(), f"{path.name} holds the phone number"


def ring_up(t: HeadlessTerminal, member: Member) -> SaleDraft:
    """A sale of one 芋泥波波 (¥15) for ``member``, being rung up at the till."""
    draft = t.terminal.checkout.new_draft(t.cashier())
    draft.member = member
    t.terminal.checkout.scan(draft, TARO)
    return draft


def pay(t: HeadlessTerminal, draft: SaleDraft, *holds: HoldResult) -> SaleRecord:
    """Pays ``draft`` with the points / stored value ``holds`` reserved and cash for the
    rest, through checkout (which captures the holds in the sale's transaction)."""
    payment = Payment(draft.cart.totals().total_fen)
    for hold in holds:
        draft.holds[hold.hold_id] = hold
        payment.add_account(TenderKind(hold.kind), hold.value_fen, hold.hold_id)
    if payment.remaining_fen:
        payment.add_cash(payment.remaining_fen)
    return t.terminal.checkout.complete(draft, payment)


def pushed(t: HeadlessTerminal) -> None:
    wait_until(lambda: t.outbox() == (0, 0), what=f"{t.device_id} outbox empty")


def hq_points(hq: EmbeddedHQ, number: str) -> int:
    return balances(hq.db, number)[0]


# -- identify ------------------------------------------------------------------------------


def test_a_member_from_another_city_is_identified_by_app_code_and_by_card(hq, keys, terminals):
    """GIVEN a member with 1,280 points, ¥50 stored value and a coupon, never seen at S002
    WHEN S002 scans the code in her app, then her plastic card
    THEN the till shows HQ's name, masked phone, tier, balances and coupon, may spend
    until the code's expiry plus 15 minutes, keeps her in its cache, and holds her full
    phone number nowhere."""
    number, phone = add_member(hq.db, keys, points=1280, balance_fen=5000, tier="gold")
    coupon = hq_members.issue_coupon(
        hq.db, ADMIN, number, name="满30减5", value_fen=500, min_spend_fen=3000,
        valid_until=datetime.now(UTC) + timedelta(days=7),
    )  # fmt: skip
    t = online(terminals("S002"))
    code = app_code(keys, number, ttl_s=60)
    expires = int(code.split(".")[2])

    member = t.members.identify_code(f" {code}\r\n").result(T)

    assert (member.number, member.name, member.tier) == (number, "王芳", "gold")
    assert member.phone_masked == f"{phone[:3]}****{phone[-4:]}"
    assert (member.points, member.balance_fen) == (1280, 5000)
    assert [(c.coupon_id, c.name, c.value_fen) for c in member.coupons] == [
        (str(coupon.coupon_id), "满30减5", 500)
    ]
    assert member.source is MemberSource.HQ and member.identified_by == "code"
    assert member.spend_until == datetime.fromtimestamp(expires, UTC) + timedelta(minutes=15)
    assert member.proof == code and member.can_spend(t.terminal.clock.now())
    cached = t.members.cached(number)
    assert cached is not None and cached.source is MemberSource.CACHE
    assert (cached.name, cached.points, cached.balance_fen, cached.version) == (
        "王芳",
        1280,
        5000,
        member.version,
    )
    assert [c.coupon_id for c in cached.coupons] == [str(coupon.coupon_id)]
    assert not cached.can_spend(t.terminal.clock.now())

    by_card = t.members.identify_code(card_code(keys, number)).result(T)
    assert (by_card.number, by_card.identified_by, by_card.source) == (
        number,
        "card",
        MemberSource.HQ,
    )
    assert by_card.spend_until is not None and by_card.spend_until > datetime.now(UTC)
    assert_no_phone_in(t, phone)


def test_forged_expired_and_foreign_codes_are_refused(hq, keys, terminals):
    """GIVEN a member
    WHEN the till scans a code signed with another key, an app code past its expiry, a
    replaced card, and a product barcode
    THEN HQ refuses the first three with the code a cashier's message is made from, the
    till refuses the barcode itself, and no member is cached."""
    number, _ = add_member(hq.db, keys, points=100)
    t = online(terminals("S001"))
    forged = sign_member_code(number, int(time.time()) + 60, MemberKeys.generate().member_code[0])
    assert refusal(t.members.identify_code(forged)).code == "member_code_invalid"
    expired = app_code(keys, number, ttl_s=-120)
    error = refusal(t.members.identify_code(expired))
    assert error.code == "member_code_expired" and "expired" in error.params["detail"]
    hq_members.member_code(hq.db, keys, ADMIN, number, new_card=True)
    assert refusal(t.members.identify_code(card_code(keys, number, 1))).code == "card_replaced"
    assert refusal(t.members.identify_code("6954321100014")).code == "not_member_code"
    assert t.members.cached(number) is None
    zh = Translator("zh_CN")
    assert zh.has("error.member_code_expired") and zh.has("error.card_replaced")


def test_offline_the_till_identifies_from_its_cache_or_the_number_in_the_code(
    hq, keys, terminals, proxy
):
    """GIVEN a member identified at this till while HQ was reachable, and another never
    seen here
    WHEN the network to HQ dies and both scan their codes
    THEN the first comes from the cache with her name and last balances, the second by the
    number in the code (name unknown); both may earn, neither may spend, and holds are
    refused at once with "offline" without asking HQ."""
    seen, _ = add_member(hq.db, keys, points=1280, name="李雷")
    unseen, _ = add_member(hq.db, keys, points=50)
    t = online(terminals("S002", url=proxy.url))
    t.members.identify_code(app_code(keys, seen)).result(T)
    proxy.partition()
    offline(t)
    assert not t.members.online

    cached = t.members.identify_code(app_code(keys, seen)).result(T)
    assert (cached.source, cached.name, cached.points) == (MemberSource.CACHE, "李雷", 1280)
    code = card_code(keys, unseen)
    by_number = t.members.identify_code(code).result(T)
    assert (by_number.source, by_number.number, by_number.points) == (
        MemberSource.CODE,
        unseen,
        0,
    )
    assert unseen[-4:] in by_number.name and by_number.identified_by == "card"
    now = t.terminal.clock.now()
    assert not cached.can_spend(now) and not by_number.can_spend(now)
    assert refusal(t.members.hold_points("draft-1", cached, 100)).code == "offline"
    assert db_rows(t, MemberHold) == []
    assert refusal(t.members.identify_code("CPM1.12.X")).code == "member_code_invalid"


def test_phone_identification_online_is_found_again_by_phone_offline(hq, keys, terminals, proxy):
    """GIVEN a member who gives her phone number at S001 while HQ is reachable
    WHEN she gives it again (typed differently) after the network died, and a stranger
    gives another number
    THEN she is found in the cache by a keyed hash of the number; the stranger gets
    "unknown_offline"; a phone identification may not spend without a code; the phone
    number is nowhere in the terminal database."""
    number, phone = add_member(hq.db, keys, points=300)
    t = online(terminals("S001", url=proxy.url))
    member = t.members.identify_phone(phone).result(T)
    assert (member.number, member.identified_by, member.source) == (
        number,
        "phone",
        MemberSource.HQ,
    )
    assert member.spend_until is None
    assert refusal(t.members.hold_points("d", member, 100)).code == "needs_code"
    assert refusal(t.members.identify_phone("12345")).code == "bad_phone"
    with read_session(t.terminal.engine) as s:
        (key,) = s.scalars(select(MemberCache.phone_key)).all()
    assert key is not None and len(key) == 64

    proxy.partition()
    offline(t)
    again = t.members.identify_phone(f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}").result(T)
    assert (again.number, again.source, again.points) == (number, MemberSource.CACHE, 300)
    assert refusal(t.members.identify_phone(new_phone())).code == "unknown_offline"
    assert_no_phone_in(t, phone)


def test_a_revoked_till_can_no_longer_identify_members(hq, keys, terminals):
    """Scenario 11. GIVEN a till that identified a member, then reported stolen
    WHEN HQ revokes its device token
    THEN identification by code or phone, sign-up and holds are refused as a disabled
    device, not answered from the cache as if HQ were merely unreachable."""
    number, phone = add_member(hq.db, keys, points=500)
    t = online(terminals("S001"))
    member = t.members.identify_code(app_code(keys, number)).result(T)
    operations.revoke_device(hq.db, t.device_id)
    wait_until(lambda: t.terminal.sync.status.state == "revoked", what="revoked")
    assert refusal(t.members.identify_code(app_code(keys, number))).code == "device_revoked"
    assert refusal(t.members.identify_phone(phone)).code == "device_revoked"
    assert refusal(t.members.sign_up(new_phone(), "x", "v1", "1001")).code == "device_revoked"
    assert refusal(t.members.hold_points("d", member, 100)).code == "device_revoked"
    assert hq_points(hq, number) == 500


# -- sign-up -------------------------------------------------------------------------------


def test_sign_up_online_creates_the_member_and_erases_the_phone(hq, keys, terminals):
    """GIVEN a customer joining at S001 with HQ reachable
    WHEN the cashier signs her up
    THEN HQ creates her (201), the till shows her with a member number, the local sign-up
    row is sent with the phone erased, she is cached, and signing the same phone up again
    finds her."""
    phone = new_phone()
    t = online(terminals("S001"))
    member = t.members.sign_up(phone, " 韩梅梅 ", "privacy-2025-06", "1001").result(T)
    assert member.source is MemberSource.HQ and member.number is not None
    assert (member.name, member.points, member.identified_by) == ("韩梅梅", 0, "signup")
    (row,) = db_rows(t, MemberSignup)
    assert (row.state, row.member_number, row.phone_enc) == ("sent", member.number, None)
    assert row.phone_masked == f"{phone[:3]}****{phone[-4:]}"
    assert t.members.cached(member.number) is not None
    with hq.db.read() as conn:
        assert (
            conn.execute(
                select(m.members.c.name).where(m.members.c.number == member.number)
            ).scalar_one()
            == "韩梅梅"
        )
    again = t.members.sign_up(phone, "someone else", "privacy-2025-06", "1001").result(T)
    assert (again.number, again.name) == (member.number, "韩梅梅")
    assert refusal(t.members.sign_up(phone, "\x07", "privacy-2025-06", "1001")).code == "bad_name"
    assert_no_phone_in(t, phone)


def test_a_sign_up_queued_offline_is_sent_later_and_its_top_up_credited(hq, keys, terminals, proxy):
    """GIVEN the network to HQ is down at S003
    WHEN a customer joins, tops up ¥100 in cash and buys a ¥15 tea
    THEN she is queued (no number yet) with her phone encrypted at rest, the top-up and the
    sale commit naming the sign-up; when HQ is back the sweep sends the sign-up, the phone
    is erased, and HQ credits the ¥100 and the sale's 15 points to the new member, once."""
    phone = new_phone()
    t = online(terminals("S003", url=proxy.url))
    proxy.partition()
    offline(t)
    queued = t.members.sign_up(phone, "张伟", "privacy-2025-06", "1001").result(T)
    assert (queued.source, queued.number) == (MemberSource.SIGNUP, None)
    assert queued.signup_id is not None and queued.phone_masked == f"{phone[:3]}****{phone[-4:]}"
    (row,) = db_rows(t, MemberSignup)
    assert row.state == "pending" and row.phone_enc is not None
    assert_no_phone_in(t, phone)
    topup = t.members.topup(
        queued, 10000, [AppliedTender(TenderKind.CASH, 10000, 10000)], t.cashier().number
    )
    assert topup.receipt_no.startswith(t.device_id)
    sale = pay(t, ring_up(t, queued))  # ¥15 in cash: 15 points once HQ has her
    assert sale.member is not None and sale.member.signup_id == queued.signup_id

    proxy.heal()
    online(t)
    t.members.sweep().result(T)
    (row,) = db_rows(t, MemberSignup)
    assert row.state == "sent" and row.phone_enc is None and row.member_number
    number = row.member_number
    wait_until(lambda: balances(hq.db, number) == (15, 10000), what="sale and top-up credited")
    pushed(t)
    assert ledger_for(hq.db, topup.topup_id) == [("topup", 10000)]
    assert_no_phone_in(t, phone)


# -- holds ---------------------------------------------------------------------------------


def test_points_held_at_s002_are_captured_by_the_sale_and_hq_drops_exactly_500(hq, keys, terminals):
    """Scenario 5. GIVEN a member with 1,280 points at S002, identified by her app code
    WHEN she redeems 500 points (¥5 off) and the sale completes
    THEN the hold is stored before HQ is asked, HQ holds 500 at once, the sale captures the
    hold, and HQ's balance is 780 (plus what the cash part earns)."""
    number, _ = add_member(hq.db, keys, points=1280)
    t = online(terminals("S002"))
    member = t.members.identify_code(app_code(keys, number)).result(T)
    draft = ring_up(t, member)
    hold = t.members.hold_points(draft.draft_id, member, 500).result(T)
    assert (hold.kind, hold.amount, hold.value_fen, hold.points_after) == ("points", 500, 500, 780)
    row = hold_row(t, hold.hold_id)
    assert (row.state, row.draft_id, row.value_fen) == ("held", draft.draft_id, 500)
    assert hq_points(hq, number) == 780 and hold_status(hq.db, hold.hold_id) == "held"

    sale = pay(t, draft, hold)
    assert hold_row(t, hold.hold_id).state == "captured"
    assert sale.member is not None
    # ¥10 paid in cash earns 10 points: the receipt's estimate is HQ's figure.
    assert (sale.member.points_used, sale.member.points_after) == (500, 790)
    pushed(t)
    assert hold_status(hq.db, hold.hold_id) == "captured"
    assert hq_points(hq, number) == 790
    assert t.members.recover() == 0  # a captured hold is never given back


def test_holds_given_back_on_void_and_by_draft_restore_hq_exactly(hq, keys, terminals):
    """GIVEN points, stored value and a coupon held for a sale
    WHEN the cashier removes the points tender, then abandons the sale
    THEN each is marked releasing at once and HQ gives back exactly what it took."""
    number, _ = add_member(hq.db, keys, points=1000, balance_fen=3000)
    coupon = hq_members.issue_coupon(
        hq.db, ADMIN, number, name="立减5元", value_fen=500,
        valid_until=datetime.now(UTC) + timedelta(days=1),
    )  # fmt: skip
    t = online(terminals("S001"))
    member = t.members.identify_code(app_code(keys, number)).result(T)
    draft = str(uuid7())
    points = t.members.hold_points(draft, member, 400).result(T)
    stored = t.members.hold_stored_value(draft, member, 1200).result(T)
    (offered,) = member.coupons
    held_coupon = t.members.hold_coupon(draft, member, offered).result(T)
    assert held_coupon.coupon_id == str(coupon.coupon_id) and held_coupon.value_fen == 500
    assert balances(hq.db, number) == (600, 1800)

    done = t.members.release(points.hold_id)
    assert hold_row(t, points.hold_id).state in ("releasing", "released")
    done.result(T)
    assert hold_row(t, points.hold_id).state == "released"
    assert hold_status(hq.db, points.hold_id) == "released"
    assert balances(hq.db, number) == (1000, 1800)

    t.members.release_draft(draft)
    assert {hold_row(t, h.hold_id).state for h in (stored, held_coupon)} <= {
        "releasing",
        "released",
    }
    wait_until(lambda: balances(hq.db, number) == (1000, 3000), what="stored value back")
    wait_until(lambda: hold_row(t, held_coupon.hold_id).state == "released")
    again = t.members.identify_code(app_code(keys, number)).result(T)
    assert [c.coupon_id for c in again.coupons] == [str(coupon.coupon_id)]


def test_not_enough_points_is_refused_with_hqs_reason_and_nothing_taken(hq, keys, terminals):
    """GIVEN a member with 280 points
    WHEN the cashier tries to hold 500
    THEN HQ refuses (insufficient_points, saying 280 are available), the cashier reads a
    plain message, the local hold is released and HQ's balance is unchanged."""
    number, _ = add_member(hq.db, keys, points=280)
    t = online(terminals("S001"))
    member = t.members.identify_code(app_code(keys, number)).result(T)
    error = refusal(t.members.hold_points(str(uuid7()), member, 500))
    assert error.code == "insufficient_points" and "280" in error.params["detail"]
    assert Translator("zh_CN").t(f"error.{error.code}") == "积分不足，不能抵扣这么多"
    (row,) = db_rows(t, MemberHold)
    assert row.state == "released" and "insufficient_points" in (row.last_error or "")
    assert hq_points(hq, number) == 280
    assert refusal(t.members.hold_points("d", member, 0)).code == "bad_amount"


def test_a_hold_whose_answer_is_lost_is_given_back_by_the_sweep(hq, keys, terminals, proxy):
    """GIVEN HQ makes a hold of 300 points but its answer never reaches the till
    WHEN the till gives up
    THEN the cashier is told HQ is unreachable, the hold is marked releasing, and the
    sweep releases it at HQ: the member has all 900 points again."""
    number, _ = add_member(hq.db, keys, points=900)
    t = online(terminals("S002", url=proxy.url))
    member = t.members.identify_code(app_code(keys, number)).result(T)
    proxy.cut_next_response(request=b"POST /v1/members/holds")
    assert refusal(t.members.hold_points(str(uuid7()), member, 300)).code == "offline"
    (row,) = db_rows(t, MemberHold)
    assert row.state in ("releasing", "released")
    online(t)
    t.members.sweep().result(T)
    assert hold_row(t, row.hold_id).state == "released"
    assert hold_status(hq.db, row.hold_id) == "released"
    assert hq_points(hq, number) == 900


def test_after_a_crash_holds_of_unfinished_sales_are_given_back(hq, keys, terminals, tmp_path):
    """GIVEN a till killed while ringing up: one hold HQ made and the till recorded (held),
    one HQ made whose answer the till never recorded (requesting), one HQ never received
    (requesting)
    WHEN the till starts again
    THEN recover() gives all three back: HQ's balance is restored exactly and every local
    hold is released."""
    number, _ = add_member(hq.db, keys, points=1000)
    t = online(terminals("S001"))
    member = t.members.identify_code(app_code(keys, number)).result(T)
    draft = str(uuid7())
    held = t.members.hold_points(draft, member, 200).result(T)
    lost, never = str(uuid7()), str(uuid7())
    creds = t.terminal.sync.creds
    with write_session(t.terminal.engine) as s:
        for hold_id in (lost, never):
            s.add(
                MemberHold(
                    hold_id=hold_id,
                    draft_id=draft,
                    member_number=number,
                    kind="points",
                    amount=300,
                    state="requesting",
                    created_at=datetime.now(UTC),
                    attempts=0,
                )
            )
        s.commit()
    r = httpx.post(
        f"{hq.url}/v1/members/holds",
        json={"hold_id": lost, "member": number, "kind": "points", "amount": 300,
              "proof": member.proof},
        headers={"Authorization": f"Bearer {creds.token}"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert hq_points(hq, number) == 500
    data_dir = t.data_dir
    t.close()  # nothing is released on the way down, as in a crash

    again = HeadlessTerminal.open(data_dir, sync_config=FAST).start()
    try:
        states = lambda: {hold_row(again, h).state for h in (held.hold_id, lost, never)}  # noqa: E731
        wait_until(lambda: states() == {"released"}, what="every hold released")
        assert hq_points(hq, number) == 1000
        assert hold_status(hq.db, held.hold_id) == hold_status(hq.db, lost) == "released"
        assert again.members.recover() == 0
    finally:
        again.close()


def test_scenario_6_two_stores_spend_the_same_780_points_at_once(hq, keys, terminals):
    """Scenario 6. GIVEN a member account with 780 points, identified at S002 (her app)
    and at S003 (her husband's card) at the same time
    WHEN both tills hold all 780 points in the same instant
    THEN exactly one wins; the other is refused (points_held_elsewhere: 780 held in another
    store's sale) with a clear message
    and nothing taken; HQ's balance is 0, never negative; the winner's sale captures it."""
    number, _ = add_member(hq.db, keys, points=780)
    a, b = online(terminals("S002")), online(terminals("S003"))
    her = a.members.identify_code(app_code(keys, number)).result(T)
    him = b.members.identify_code(card_code(keys, number)).result(T)

    def spend(start: threading.Barrier, futures: dict, t, member, key) -> None:
        start.wait()
        futures[key] = t.members.hold_points(str(uuid7()), member, 780)

    for _ in range(3):  # same instant, three times over: never both
        start = threading.Barrier(2)
        futures: dict = {}
        threads = [
            threading.Thread(target=spend, args=(start, futures, a, her, "a")),
            threading.Thread(target=spend, args=(start, futures, b, him, "b")),
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        outcomes = {}
        for key, future in futures.items():
            try:
                outcomes[key] = future.result(T)
            except MemberError as exc:
                outcomes[key] = exc
        won = [k for k, v in outcomes.items() if isinstance(v, HoldResult)]
        lost = [v for v in outcomes.values() if isinstance(v, MemberError)]
        assert len(won) == 1 and len(lost) == 1
        # The winner's hold is still open: the loser is told the points are being used
        # in another store, with how many are held.
        assert lost[0].code == "points_held_elsewhere"
        assert (lost[0].params["available"], lost[0].params["held"]) == (0, 780)
        assert hq_points(hq, number) == 0
        winner = outcomes[won[0]]
        terminal = a if won[0] == "a" else b
        terminal.members.release(winner.hold_id).result(T)
        assert hq_points(hq, number) == 780
    draft = ring_up(a, her)
    final = a.members.hold_points(draft.draft_id, her, 780).result(T)
    pay(a, draft, final)
    pushed(a)
    assert hold_status(hq.db, final.hold_id) == "captured"
    assert 0 <= hq_points(hq, number) < 780
    with hq.db.read() as conn:
        assert conn.execute(text("SELECT min(points) FROM members")).scalar_one() >= 0


# -- the cache and the feed ----------------------------------------------------------------


def test_a_member_change_in_the_feed_drops_the_cached_copy(hq, keys, terminals):
    """GIVEN a member cached at S001
    WHEN HQ staff change her account (points added at another store's request)
    THEN the feed's member change, with a higher version, drops the cached copy, and the
    next identification caches the new balance."""
    number, _ = add_member(hq.db, keys, points=100)
    other, _ = add_member(hq.db, keys, points=5)
    t = online(terminals("S001"))
    t.members.identify_code(app_code(keys, number)).result(T)
    t.members.identify_code(app_code(keys, other)).result(T)
    assert t.members.cached(number) is not None
    hq_members.adjust_member(hq.db, keys, ADMIN, number, reason="goodwill", points=50)
    wait_until(lambda: t.members.cached(number) is None, what="cached copy dropped")
    assert t.members.cached(other) is not None
    refreshed = t.members.identify_code(app_code(keys, number)).result(T)
    cached = t.members.cached(number)
    assert cached is not None and cached.points == refreshed.points == 150


def test_start_prunes_members_not_seen_for_30_days_and_keeps_the_newest(hq, keys, terminals):
    """GIVEN a cache holding members seen 40 days ago and more than the cap
    WHEN the member service starts
    THEN the old ones go and only the most recently seen within the cap stay."""
    t = online(terminals("S001"))
    now = datetime.now(UTC)
    with write_session(t.terminal.engine) as s:
        for i in range(12):
            s.add(
                MemberCache(
                    number=f"9000000000{i:02d}",
                    name="x",
                    phone_masked="",
                    tier="standard",
                    points=0,
                    balance_fen=0,
                    coupons="[]",
                    version=1,
                    seen_at=now - timedelta(days=40 if i < 2 else 0, minutes=i),
                )
            )
        s.commit()
    service = MemberService(
        t.terminal.engine,
        t.terminal.clock,
        t.terminal.identity,
        t.terminal.sync.runner,
        hq=lambda: t.terminal.sync.client.hq,
        online=lambda: t.terminal.sync.status.online,
        phone_key=b"L" * 32,
        cache_max=5,
    )
    service.start()
    service.stop()
    kept = sorted(r.number for r in db_rows(t, MemberCache))
    assert kept == [f"9000000000{i:02d}" for i in range(2, 7)]


# -- top-up --------------------------------------------------------------------------------


def test_a_top_up_commits_its_event_and_slip_and_hq_credits_it_once(hq, keys, terminals):
    """GIVEN a member with ¥20 stored value identified at S002
    WHEN she tops up ¥100, paying ¥50 by card and ¥60 in cash (¥10 change)
    THEN one transaction holds the top-up, its member.topped_up event (with the receipt
    number from the sales counter) and its slip (in Chinese: amount, tenders, change, new
    balance, masked phone; drawer kick for the cash); HQ adds ¥100 once."""
    number, phone = add_member(hq.db, keys, balance_fen=2000, name="王芳")
    t = online(terminals("S002"))
    sale = t.sell([("MT001", 1000)])
    member = t.members.identify_code(app_code(keys, number)).result(T)
    tenders = [
        AppliedTender(TenderKind.CARD, 5000, None, "AUTH42"),
        AppliedTender(TenderKind.CASH, 5000, 6000),
    ]
    record = t.members.topup(member, 10000, tenders, t.cashier().number)
    seq = int(sale.receipt_no.rsplit("-", 1)[1])
    assert record.receipt_no == f"{t.device_id}-{seq + 1:06d}"

    with read_session(t.terminal.engine) as s:
        events = [
            json.loads(e.payload)
            for e in s.scalars(select(OutboxEvent).where(OutboxEvent.type == "member.topped_up"))
        ]
        (job,) = s.scalars(select(PrintJob).where(PrintJob.kind == "topup")).all()
    if events:  # already pushed otherwise
        assert events[0]["topup_id"] == record.topup_id and events[0]["number"] == number
    doc = document_from_dict(json.loads(job.document))
    words = " ".join(
        " ".join(str(getattr(b, f)) for f in b.__slots__ if isinstance(getattr(b, f), str))
        for b in doc.blocks
    )
    for expected in ("储值充值", record.receipt_no, "¥100.00", "¥50.00", "¥60.00", "¥10.00"):
        assert expected in words
    assert "¥120.00" in words  # balance after: ¥20 + ¥100
    assert f"王芳 {phone[:3]}****{phone[-4:]}" in words and phone not in words
    assert doc.open_drawer

    wait_until(lambda: balances(hq.db, number) == (0, 12000), what="top-up credited")
    pushed(t)
    assert ledger_for(hq.db, record.topup_id) == [("topup", 10000)]
    assert balances(hq.db, number) == (0, 12000)


def test_top_ups_that_cannot_be_paid_that_way_are_refused(hq, keys, terminals):
    """A top-up needs a member, a positive amount, and cash or card adding up to it."""
    number, _ = add_member(hq.db, keys)
    t = online(terminals("S001"))
    member = t.members.identify_code(app_code(keys, number)).result(T)
    cash = [AppliedTender(TenderKind.CASH, 1000, 1000)]

    def refused(who, amount, tenders) -> str:
        with pytest.raises(MemberError) as exc:
            t.members.topup(who, amount, tenders, "1001")
        return exc.value.code

    from dataclasses import replace

    assert refused(replace(member, number=None), 1000, cash) == "topup_needs_member"
    assert refused(member, 0, []) == "bad_amount"
    assert refused(member, 2000, cash) == "topup_tenders"
    points = [AppliedTender(TenderKind.POINTS, 1000, None, "h")]
    assert refused(member, 1000, points) == "topup_tenders"
    short = [AppliedTender(TenderKind.CASH, 1000, 500)]
    assert refused(member, 1000, short) == "topup_tenders"
    assert db_rows(t, PrintJob) == [] or all(j.kind != "topup" for j in db_rows(t, PrintJob))


def test_a_standalone_terminal_has_no_member_service(tmp_path: Path):
    from pos_app.app import build_terminal
    from pos_app.localdb.engine import open_database
    from pos_app.localdb.seed import load_demo

    engine = open_database(tmp_path / "t.db")
    load_demo(engine, store_code="S001", terminal_id="S001-T01", pin_hasher=lambda pin: pin)
    engine.dispose()
    terminal = build_terminal(tmp_path / "t.db", credential_store=None, start_devices=False)
    try:
        assert terminal.members is None and terminal.sync is None
        terminal.start_sync()
    finally:
        terminal.close()
