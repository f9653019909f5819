"""Scenario 7 end to end: a thermos bought at S001 comes back at S002, on two tills
enrolled at a real HQ (SQLite, and PostgreSQL when ``CHAINPOS_TEST_PG_URL`` is set).

S001's till sells through its services (an enrolled headless terminal: the till's own
services, database, printer and sync); S002's till is driven through its screens the way
its cashier does, with the receipt's QR scanned from the bytes S001's printer received.
The sale is a member's, with a coupon and a tender mix (points, card, cash) that makes
the refund rule visible. Everything is checked where a person would look: S002's screen
and return receipt, HQ's member ledger, coupon, stock and returns, and both tills.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hardware import decode
from pos_app.domain.cart import CouponUse
from pos_app.domain.tender import Payment, TenderKind
from pos_app.headless import HeadlessTerminal
from pos_app.i18n import Translator
from pos_app.localdb.sales import SaleRecord
from pos_app.localdb.seed import load_demo_json
from pos_app.services.enrollment import EnrollTicket
from pos_app.services.receipts import LOCAL_TZ
from pos_app.services.returns import ReturnChoice, ReturnError, ReturnService
from pos_app.ui.errors import error_text
from server_stub import members as hq_members
from server_stub import models as m
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from server_stub.live import LiveSettings
from server_stub.member_keys import MemberKeys
from server_stub.settings import Settings
from sync_client.contract.membercode import sign_member_code
from tests.server.helpers import level
from tests.server.member_helpers import ADMIN, add_member, balances, ledger_for
from tests.server.support import fresh_database
from tests.support import sell_without_shifts, wait_until
from tests.sync.conftest import BACKENDS, FAST
from tests.ui.enrolled import WAIT, Till, enrol
from tests.ui.helpers import choose, scan, sign_in, tap

pytestmark = pytest.mark.slow  # a real HQ and two enrolled tills with their sync threads

THERMOS = "6954321100519"  # 保温杯 500ml ¥89.00
THERMOS_SKU = "MC001"
T = 10.0  # seconds to wait for a till's call to HQ


@pytest.fixture(scope="module")
def keys() -> MemberKeys:
    return MemberKeys.generate()


@pytest.fixture(params=BACKENDS)
def hq(request: pytest.FixtureRequest, tmp_path: Path, keys: MemberKeys) -> Iterator[EmbeddedHQ]:
    """The demo chain (with its opening stock) at a real HQ on loopback, with member keys
    the test holds, so it can make the code in a member's app."""
    with fresh_database(request.param, tmp_path) as url:
        settings = Settings(
            db_url=url, port=0, live=LiveSettings(heartbeat_s=0.5), member_keys=keys
        )
        server = EmbeddedHQ(settings).start()
        seed_chain(server.db, load_demo_json())
        sell_without_shifts(server.db)
        yield server
        server.stop()


@pytest.fixture
def s001(hq: EmbeddedHQ, tmp_path: Path) -> Iterator[HeadlessTerminal]:
    """S001's till, enrolled with a one-time code, online."""
    from server_stub import operations

    code = operations.create_enroll_code(hq.db, "S001").code
    till = HeadlessTerminal.enroll(
        tmp_path / "s001", EnrollTicket(hq.url, "S001", code), "1号机", sync_config=FAST
    ).start()
    wait_until(lambda: till.members.online, what="S001 online")
    yield till
    till.close()


@pytest.fixture
def s002(qtbot: Any, qapp: Any, hq: EmbeddedHQ, tmp_path: Path) -> Iterator[Till]:
    """S002's till with its window, enrolled and online, nobody signed in."""
    data = tmp_path / "s002"
    enrol(hq, data, "S002")
    till = Till(qtbot, qapp, hq, data)
    yield till
    till.close()


def sell_thermoses(s001: HeadlessTerminal, keys: MemberKeys, number: str) -> SaleRecord:
    """S001's cashier sells two thermoses (¥178.00) to the member, who shows the code in
    her app, uses her 满100减10 coupon (-¥10.00) and 1,000 points (¥10.00); ¥100.00 goes
    on her bank card and ¥58.00 in cash."""
    checkout = s001.terminal.checkout
    app_code = sign_member_code(
        number, int(datetime.now(UTC).timestamp()) + 300, keys.member_code[0]
    )
    member = s001.members.identify_code(app_code).result(T)
    (coupon,) = member.coupons
    draft = checkout.new_draft(s001.cashier())
    draft.member = member
    checkout.scan(draft, THERMOS)
    checkout.scan(draft, THERMOS)
    held = s001.members.hold_coupon(draft.draft_id, member, coupon).result(T)
    draft.holds[held.hold_id] = held
    draft.cart.coupon = CouponUse(
        held.hold_id,
        coupon.coupon_id,
        coupon.name,
        held.value_fen,
        coupon.min_spend_fen,
        coupon.valid_until,
    )
    points = s001.members.hold_points(draft.draft_id, member, 1000).result(T)
    draft.holds[points.hold_id] = points
    payment = Payment(draft.cart.totals().total_fen)
    assert payment.due_fen == 16_800
    payment.add_account(TenderKind.POINTS, points.value_fen, points.hold_id)
    payment.add_card(10_000, reference="UP-6222****0417")
    payment.add_cash(payment.remaining_fen)
    return checkout.complete(draft, payment)


def receipt_qr(till: HeadlessTerminal, receipt_no: str) -> str:
    """The QR payload of the printed receipt ``receipt_no``, decoded from the bytes the
    printer received."""
    profile = till.terminal.device_settings.printer().printer_profile()

    def printed() -> list[Any]:
        return [
            d
            for d in (
                decode(job, profile.encoding, chinese_at_power_on=not profile.chinese_mode)
                for job in till.terminal.virtual_printer.jobs
            )
            if receipt_no in d.text
        ]

    (receipt,) = wait_until(printed, what=f"receipt {receipt_no} printed at S001")
    (qr,) = receipt.qr_codes
    return str(qr.payload)


def hq_returns(hq: EmbeddedHQ, sale_id: str) -> list[Any]:
    r = m.returns
    with hq.db.read() as conn:
        return list(
            conn.execute(
                select(r).where(r.c.sale_id == uuid.UUID(sale_id)).order_by(r.c.returned_at)
            )
        )


def hq_refunds(hq: EmbeddedHQ, return_id: uuid.UUID) -> list[tuple[str, int]]:
    rr = m.return_refunds
    with hq.db.read() as conn:
        rows = conn.execute(
            select(rr.c.kind, rr.c.amount_fen).where(rr.c.return_id == return_id).order_by(rr.c.idx)
        )
        return [(str(k), int(a)) for k, a in rows]


def coupon_status(hq: EmbeddedHQ, coupon_id: str) -> str:
    c = m.member_coupons
    with hq.db.read() as conn:
        return str(
            conn.execute(select(c.c.status).where(c.c.id == uuid.UUID(coupon_id))).scalar_one()
        )


def test_scenario_7_a_thermos_bought_at_s001_comes_back_at_s002(
    qtbot: Any, hq: EmbeddedHQ, keys: MemberKeys, s001: HeadlessTerminal, s002: Till
) -> None:
    """GIVEN a member with 1,000 points and a 满100减10 coupon who bought two thermoses at
    S001 (¥178.00 - ¥10.00 coupon = ¥168.00: ¥10.00 in points, ¥100.00 by card, ¥58.00
    cash), earning 158 points
    WHEN she brings one back to S002 with the receipt: the cashier signs in, taps 退货,
    scans the receipt's QR, picks a reason, taps + once and confirms
    THEN the screen shows S001's sale, the refund ¥84.00 split as the tenders paid it
    (积分抵扣 ¥5.00 + 银行卡 ¥50.00 + 现金 ¥29.00) and 79 points taken back before she
    confirms; the drawer opens for ¥29.00 and the return receipt says so; at HQ her
    points are 158 + 500 - 79 = 579, the coupon is still used (half the sale is back),
    S002's thermos stock is up by one, as it is on S002's till; S001's till, which still
    thinks both are returnable, is refused the second unit's return with where and when
    it came back; the last thermos returned at S001 gives her coupon and every point back.
    """
    number, _ = add_member(hq.db, keys, points=1000)
    coupon = hq_members.issue_coupon(
        hq.db,
        ADMIN,
        number,
        name="满100减10",
        value_fen=1000,
        min_spend_fen=10_000,
        valid_until=datetime.now(UTC) + timedelta(days=30),
    )
    sale = sell_thermoses(s001, keys, number)
    assert [(t.kind, t.amount_fen) for t in sale.tenders] == [
        ("points", 1000),
        ("card", 10_000),
        ("cash", 5800),
    ]
    wait_until(lambda: s001.outbox() == (0, 0), what="the sale at HQ")
    assert balances(hq.db, number)[0] == 158  # 1,000 spent, 158 earned on ¥158.00
    code = receipt_qr(s001, sale.receipt_no)
    hq_before = level(hq.db, "S002", THERMOS_SKU)
    assert hq_before is not None
    reader = HeadlessTerminal(s002.terminal, Path())  # reads S002's till as its screens do
    till_before = reader.item(THERMOS_SKU).stock_milli
    assert till_before == hq_before

    # S002's cashier: sign in, 退货, scan the receipt.
    win = s002.win
    sign_in(qtbot, win, "2001", "3579")
    qtbot.waitUntil(lambda: win.stack.currentWidget() is win.checkout, timeout=WAIT)
    tap(qtbot, win.returns_button)
    screen = win.return_screen
    assert win.stack.currentWidget() is screen
    scan(qtbot, win, s002.clock, code, target=screen.scan_input)
    qtbot.waitUntil(lambda: screen.table.rowCount() == 1, timeout=WAIT)
    assert sale.receipt_no in screen.sale_header.text() and "S001" in screen.sale_header.text()
    info = screen.sale_info.text()
    for paid in ("积分抵扣 ¥10.00", "银行卡 ¥100.00", "现金 ¥58.00"):
        assert paid in info, paid
    assert screen.table.item(0, 1).text() == "保温杯 500ml"
    assert screen.table.item(0, 7).text() == "2"  # left to return

    choose(screen.reason, "changed_mind")
    tap(qtbot, screen.plus)
    assert screen.table.item(0, 8).text() == "1"
    assert screen.total.text() == "¥84.00"
    assert screen.split.text() == "退款：积分抵扣 ¥5.00 + 银行卡 ¥50.00 + 现金 ¥29.00"
    assert screen.points.text() == "扣回积分: 79"
    assert screen.coupon.text() == ""  # half the sale comes back: the coupon stays used
    tap(qtbot, screen.confirm)
    qtbot.waitUntil(lambda: screen.pages.currentWidget() is screen.done, timeout=WAIT)
    assert screen.done_title.text() == "已退款"
    assert screen.done_cash.text() == "钱箱已打开，请退还现金 ¥29.00"
    assert not screen.done_coupon.isVisible()

    # The return receipt, read back from S002's printer.
    qtbot.waitUntil(lambda: any("退货单" in t for t in s002.printed()), timeout=WAIT)
    slip = next(t for t in s002.printed() if "退货单" in t)
    lines = slip.splitlines()
    for label, amount in (
        ("退款合计", "84.00"),
        ("积分抵扣", "5.00"),
        ("银行卡", "50.00"),
        ("现金", "29.00"),
        ("扣回积分", "79"),
    ):
        assert any(label in ln and ln.rstrip().endswith(amount) for ln in lines), (label, slip)
    assert sale.receipt_no in slip and "优惠券已退回" not in slip

    # At HQ: the return, the refund by tender, the member's points, the coupon, the stock.
    (back,) = wait_until(lambda: hq_returns(hq, sale.id), what="the return at HQ")
    assert (back.store_code, back.refund_fen, back.points_reversed) == ("S002", 8400, 79)
    assert back.auth_id is not None and back.coupon_id is None
    assert hq_refunds(hq, back.return_id) == [("points", 500), ("card", 5000), ("cash", 2900)]
    assert sorted(ledger_for(hq.db, str(back.return_id))) == [
        ("return_refund", 500),
        ("return_reversal", -79),
    ]
    assert balances(hq.db, number)[0] == 579
    assert coupon_status(hq, str(coupon.coupon_id)) == "used"
    assert level(hq.db, "S002", THERMOS_SKU) == hq_before + 1000
    wait_until(
        lambda: reader.item(THERMOS_SKU).stock_milli == hq_before + 1000,
        what="S002's till showing the thermos back",
    )
    wait_until(lambda: s002.terminal.checkout.outbox_depth() == 0, what="S002's outbox empty")
    assert reader.item(THERMOS_SKU).stock_milli == level(hq.db, "S002", THERMOS_SKU)

    # The receipt again at S002: one returned here, one left.
    tap(qtbot, screen.next_return)
    scan(qtbot, win, s002.clock, code, target=screen.scan_input)
    qtbot.waitUntil(lambda: screen.table.rowCount() == 1, timeout=WAIT)
    assert (screen.table.item(0, 6).text(), screen.table.item(0, 7).text()) == ("1", "1")
    assert "在门店 S002 退货" in screen.earlier.text()

    # S001's till holds the sale and does not know of S002's return: it asks HQ for both.
    returns = s001.terminal.returns
    assert isinstance(returns, ReturnService)
    found = returns.find_by_ref(code).result(T)
    assert found.local and found.sale.lines[0].returnable_milli == 2000
    draft = returns.new_draft(s001.cashier(), found)
    draft.choices[1] = ReturnChoice(2000, "changed_mind")
    with pytest.raises(ReturnError) as refused:
        returns.authorise(draft).result(T)
    when = back.returned_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    assert error_text(Translator("zh_CN"), refused.value) == (
        f"保温杯 500ml 已于 {when} 在门店 S002 退过（退货单 {back.receipt_no}），现可退 1"
    )

    # The last thermos comes back at S001: the whole sale is back, so is the coupon.
    draft = returns.new_draft(s001.cashier(), found)
    draft.choices[1] = ReturnChoice(1000, "changed_mind")
    assert returns.authorise(draft).result(T) == "hq"
    last = returns.commit(draft)
    assert last.refund_fen == 8400
    wait_until(lambda: len(hq_returns(hq, sale.id)) == 2, what="the last return at HQ")
    assert coupon_status(hq, str(coupon.coupon_id)) == "available"
    assert [r.coupon_id for r in hq_returns(hq, sale.id)] == [None, coupon.coupon_id]
    assert balances(hq.db, number)[0] == 1000  # every point spent and earned is settled
