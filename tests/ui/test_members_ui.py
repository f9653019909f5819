"""Members at the till, driven through the screens against a real HQ on loopback.

The HQ is the real app on uvicorn (SQLite) seeded with the demo chain; the member is made
with HQ's own operations; the terminal is enrolled at S002 and syncs on its own thread.
The receipt is read back from the bytes the virtual printer received.
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
from pos_app.app import Terminal, build_terminal, build_window, install_scan_filter
from pos_app.localdb.engine import open_database
from pos_app.localdb.seed import load_demo_json
from pos_app.services.enrollment import EnrollmentService, EnrollTicket
from pos_app.ui.main_window import MainWindow
from pos_app.ui.member_panel import CouponDialog, MemberPhoneDialog, TopupDialog
from pos_app.ui.tender_screen import PointsDialog
from pos_app.ui.widgets import TouchButton
from server_stub import members, operations
from server_stub import models as m
from server_stub.auth import DeviceIdentity
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from sync_client import CredentialStore
from sync_client.contract.protocol import HoldRequest
from tests.server.member_helpers import ADMIN, add_member, app_code, card_code
from tests.support import FakeClock, sell_without_shifts
from tests.sync.conftest import FAST, start_hq
from tests.ui.helpers import open_shift_if_asked, scan, sign_in, tap, type_text, when_dialog

TARO = "6954321100014"  # 芋泥波波 ¥15.00
MANGO_L = "6954321100137"  # 杨枝甘露(大) ¥16.00
WAIT = 10_000


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[EmbeddedHQ]:
    server = start_hq(f"sqlite:///{tmp_path / 'hq.sqlite3'}")
    seed_chain(server.db, load_demo_json())
    sell_without_shifts(server.db)
    yield server
    server.stop()


class Till:
    """An enrolled S002 terminal with its window, signed in and online."""

    def __init__(self, qtbot: Any, qapp: Any, hq: EmbeddedHQ, data: Path) -> None:
        store = CredentialStore(data, use_keyring=False)
        engine = open_database(data / "terminal.db")
        code = operations.create_enroll_code(hq.db, "S002").code
        EnrollmentService(engine, store).enroll(EnrollTicket(hq.url, "S002", code), "1号机")
        engine.dispose()
        self.terminal: Terminal = build_terminal(
            data / "terminal.db", credential_store=store, sync_config=FAST, language="zh_CN"
        )
        self.win: MainWindow = build_window(self.terminal)
        qtbot.addWidget(self.win)
        self.clock = FakeClock()
        self.qapp = qapp
        self.scan_filter = install_scan_filter(qapp, self.win, self.clock)
        self.win.show()
        self.terminal.start_sync()
        qtbot.waitUntil(lambda: "在线" in self.win.sync_indicator.text(), timeout=WAIT)
        sign_in(qtbot, self.win, "2001", "3579")
        open_shift_if_asked(qtbot, self.win)
        qtbot.waitUntil(lambda: self.win.stack.currentWidget() is self.win.checkout)

    def close(self) -> None:
        self.qapp.removeEventFilter(self.scan_filter)
        self.win.close()
        self.terminal.close()

    def receipts(self) -> list[str]:
        profile = self.terminal.device_settings.printer().printer_profile()
        texts = [
            decode(job, profile.encoding, chinese_at_power_on=not profile.chinese_mode).text
            for job in self.terminal.virtual_printer.jobs
        ]
        return [t for t in texts if t]


@pytest.fixture
def till(qtbot, qapp, hq: EmbeddedHQ, tmp_path: Path) -> Iterator[Till]:
    t = Till(qtbot, qapp, hq, tmp_path / "till")
    yield t
    t.close()


def hq_points(hq: EmbeddedHQ, number: str) -> tuple[int, int]:
    with hq.db.read() as conn:
        row = conn.execute(
            select(m.members.c.points, m.members.c.balance_fen).where(m.members.c.number == number)
        ).one()
    return int(row[0]), int(row[1])


def test_member_scans_app_code_redeems_points_and_pays_the_rest_in_cash(
    qtbot, hq: EmbeddedHQ, till: Till
) -> None:
    """Scenario 5. GIVEN a gold member with 1,280 points who never shopped at S002
    WHEN the cashier scans 芋泥波波 and 杨枝甘露(大) (¥31.00), scans the member's app code,
    redeems 500 points for ¥5.00 and takes the rest, ¥26.00, in cash
    THEN the panel shows her name, masked phone, tier and 1,280 points; HQ's balance drops
    by exactly 500 and then earns 26 points for the ¥26.00 paid; the printed receipt
    shows the member, the points used and the new balance."""
    number, phone = add_member(hq.db, hq.keys, points=1280, balance_fen=5000, tier="gold")
    win = till.win
    scan(qtbot, win, till.clock, TARO)
    scan(qtbot, win, till.clock, MANGO_L)
    scan(qtbot, win, till.clock, app_code(hq.keys, number))
    panel = win.checkout.member_panel
    qtbot.waitUntil(lambda: panel.title.text() == "王芳", timeout=WAIT)
    assert panel.values["phone"].text() == f"{phone[:3]}****{phone[-4:]}"
    assert panel.values["tier"].text() == "金卡会员"
    assert panel.values["points"].text() == "1280"
    assert panel.values["balance"].text() == "¥50.00"
    assert win.checkout.model.rowCount() == 2  # the member code is not a product

    tap(qtbot, win.checkout.pay)
    tender = win.tender
    type_text(qtbot, tender.amount, "5", till.clock)
    offered: list[str] = []

    def accept(dialog: PointsDialog) -> None:
        offered.append(dialog.field.text())
        tap(qtbot, dialog.ok)

    when_dialog(PointsDialog, accept)
    tap(qtbot, tender.points)
    assert offered == ["500"]  # the ¥5.00 typed, in points
    qtbot.waitUntil(lambda: tender.values["remaining"].text() == "¥26.00", timeout=WAIT)
    assert hq_points(hq, number) == (780, 5000)  # held at HQ for this sale
    assert "积分抵扣" in tender.tenders.item(0).text()
    tap(qtbot, tender.exact)
    qtbot.waitUntil(lambda: win.stack.currentWidget() is win.done, timeout=WAIT)

    qtbot.waitUntil(lambda: hq_points(hq, number) == (806, 5000), timeout=WAIT)
    qtbot.waitUntil(lambda: any("王芳" in r for r in till.receipts()), timeout=WAIT)
    (receipt,) = [r for r in till.receipts() if "王芳" in r]
    assert f"{phone[:3]}****{phone[-4:]}" in receipt
    lines = [" ".join(line.split()) for line in receipt.splitlines()]
    assert "积分抵扣 ¥5.00" in lines
    assert "本单使用积分 500" in lines
    assert "本单积分 26" in lines
    assert "积分余额 806" in lines
    assert "储值余额 ¥50.00" in lines


def test_offline_the_member_earns_but_cannot_redeem(qtbot, hq: EmbeddedHQ, till: Till) -> None:
    """GIVEN a member identified at this till earlier today
    WHEN HQ becomes unreachable and she is scanned again and tries to pay with points
    THEN the panel shows her from this till's memory with a plain note, the points button
    explains that points can't be used offline, the sale is paid in cash, and once HQ is
    back the sale earns her points there."""
    number, _phone = add_member(hq.db, hq.keys, points=300)
    win = till.win
    code = app_code(hq.keys, number)
    scan(qtbot, win, till.clock, code)
    panel = win.checkout.member_panel
    qtbot.waitUntil(lambda: panel.title.text() == "王芳", timeout=WAIT)
    tap(qtbot, panel.clear)
    assert panel.title.text() == "未识别会员"

    port = int(hq.url.rsplit(":", 1)[1])
    hq.stop()
    qtbot.waitUntil(lambda: "离线" in win.sync_indicator.text(), timeout=WAIT)
    scan(qtbot, win, till.clock, TARO)
    scan(qtbot, win, till.clock, code)
    qtbot.waitUntil(lambda: panel.title.text() == "王芳", timeout=WAIT)
    assert "本单积分照常累计" in panel.note.text()
    tap(qtbot, win.checkout.pay)
    tap(qtbot, win.tender.points)
    assert "积分、储值和优惠券暂不可用" in win.tender.banner.text()
    assert win.tender.tenders.count() == 0
    tap(qtbot, win.tender.exact)
    qtbot.waitUntil(lambda: win.stack.currentWidget() is win.done, timeout=WAIT)

    back = start_hq(hq.settings.db_url, port=port)
    try:
        qtbot.waitUntil(lambda: hq_points(back, number) == (315, 0), timeout=15_000)
    finally:
        back.stop()


def test_phone_look_up_then_sign_up_of_a_new_customer(qtbot, hq: EmbeddedHQ, till: Till) -> None:
    """GIVEN a customer who is not a member
    WHEN the cashier types her phone number, looks it up (unknown), then signs her up with
    her name and consent
    THEN the look-up says there is no such member, the sign-up creates her at HQ and the
    panel shows her with 0 points and the masked phone."""
    win = till.win
    panel = win.checkout.member_panel

    def look_up(dialog: MemberPhoneDialog) -> None:
        dialog.phone_edit.setText("13912345678")
        tap(qtbot, dialog.look_up)

    when_dialog(MemberPhoneDialog, look_up)
    tap(qtbot, panel.identify)
    qtbot.waitUntil(lambda: "会员" in win.checkout.banner.text(), timeout=WAIT)
    assert panel.title.text() == "未识别会员"

    def sign_up(dialog: MemberPhoneDialog) -> None:
        dialog.phone_edit.setText("13912345678")
        dialog.name_edit.setText("李雷")
        tap(qtbot, dialog.sign_up)
        assert "隐私" in dialog.banner.text()  # consent first
        dialog.consent.setChecked(True)
        tap(qtbot, dialog.sign_up)

    when_dialog(MemberPhoneDialog, sign_up)
    tap(qtbot, panel.identify)
    qtbot.waitUntil(lambda: panel.title.text() == "李雷", timeout=WAIT)
    assert panel.values["phone"].text() == "139****5678"
    assert panel.values["points"].text() == "0"
    with hq.db.read() as conn:
        names = conn.execute(select(m.members.c.name)).scalars().all()
    assert "李雷" in names


def test_coupon_and_stored_value_pay_the_whole_sale(qtbot, hq: EmbeddedHQ, till: Till) -> None:
    """GIVEN a member with ¥50.00 stored value and a 满30减5 coupon
    WHEN the cashier scans ¥31.00 of tea and her card code, applies the coupon and pays
    the ¥26.00 left from her stored value
    THEN the cart shows the coupon off, HQ's coupon is used and her balance drops by
    exactly ¥26.00; the receipt prints the coupon and the new balance."""
    number, _phone = add_member(hq.db, hq.keys, balance_fen=5000)
    members.issue_coupon(
        hq.db,
        ADMIN,
        number,
        name="满30减5",
        value_fen=500,
        min_spend_fen=3000,
        valid_until=datetime.now(UTC) + timedelta(days=30),
    )
    win = till.win
    scan(qtbot, win, till.clock, TARO)
    scan(qtbot, win, till.clock, MANGO_L)
    scan(qtbot, win, till.clock, card_code(hq.keys, number))
    panel = win.checkout.member_panel
    qtbot.waitUntil(lambda: panel.values["coupons"].text() == "1", timeout=WAIT)

    def choose(dialog: CouponDialog) -> None:
        dialog.list.setCurrentRow(0)
        tap(qtbot, dialog.use)

    when_dialog(CouponDialog, choose)
    tap(qtbot, panel.coupon)
    qtbot.waitUntil(lambda: win.checkout.values["total"].text() == "¥26.00", timeout=WAIT)
    assert win.checkout.values["coupon"].text() == "-¥5.00"
    assert panel.coupon.text() == "取消用券"

    tap(qtbot, win.checkout.pay)
    tap(qtbot, win.tender.stored_value)
    qtbot.waitUntil(lambda: win.stack.currentWidget() is win.done, timeout=WAIT)
    qtbot.waitUntil(lambda: hq_points(hq, number) == (26, 2400), timeout=WAIT)
    with hq.db.read() as conn:
        status = conn.execute(select(m.member_coupons.c.status)).scalar_one()
    assert status == "used"
    qtbot.waitUntil(lambda: any("满30减5" in r for r in till.receipts()), timeout=WAIT)
    (receipt,) = [r for r in till.receipts() if "满30减5" in r]
    lines = [" ".join(line.split()) for line in receipt.splitlines()]
    assert "储值支付 ¥26.00" in lines
    assert "储值余额 ¥24.00" in lines


def test_cash_top_up_of_stored_value(qtbot, hq: EmbeddedHQ, till: Till) -> None:
    """GIVEN an identified member with no stored value
    WHEN the cashier tops up ¥100 and the customer hands over ¥100 in cash
    THEN a top-up slip prints and HQ credits ¥100.00 to her stored value, once."""
    number, _phone = add_member(hq.db, hq.keys)
    win = till.win
    scan(qtbot, win, till.clock, card_code(hq.keys, number))
    panel = win.checkout.member_panel
    qtbot.waitUntil(lambda: panel.title.text() == "王芳", timeout=WAIT)

    def top_up(dialog: TopupDialog) -> None:
        tap(qtbot, dialog.findChild(TouchButton, "topup_100"))
        tap(qtbot, dialog.cash)

    when_dialog(TopupDialog, top_up)
    tap(qtbot, panel.topup)
    assert "已充值 ¥100.00" in win.checkout.banner.text()
    qtbot.waitUntil(lambda: hq_points(hq, number) == (0, 10000), timeout=WAIT)
    qtbot.waitUntil(lambda: any("¥100.00" in r for r in till.receipts()), timeout=WAIT)


def test_forged_and_expired_codes_are_refused_plainly(qtbot, hq: EmbeddedHQ, till: Till) -> None:
    """GIVEN a sale with one item
    WHEN the cashier scans a member code with one character changed, then one that
    expired two minutes ago
    THEN each is refused with a plain message, no member is set and the cart is as it
    was."""
    number, _phone = add_member(hq.db, hq.keys, points=100)
    win = till.win
    panel = win.checkout.member_panel
    scan(qtbot, win, till.clock, TARO)
    good = app_code(hq.keys, number)
    forged = good[:-1] + ("A" if good[-1] != "A" else "B")
    scan(qtbot, win, till.clock, forged)
    qtbot.waitUntil(lambda: "会员码无效" in win.checkout.banner.text(), timeout=WAIT)
    assert panel.title.text() == "未识别会员"
    scan(qtbot, win, till.clock, app_code(hq.keys, number, ttl_s=-120))
    qtbot.waitUntil(lambda: "会员码已过期" in win.checkout.banner.text(), timeout=WAIT)
    assert panel.title.text() == "未识别会员"
    assert win.checkout.model.rowCount() == 1
    assert win.checkout.values["total"].text() == "¥15.00"


def test_spending_points_asks_how_many_and_offers_the_most_the_sale_takes(
    qtbot, hq: EmbeddedHQ, till: Till
) -> None:
    """GIVEN a member with 1,280 points and a ¥31.00 sale
    WHEN the cashier taps 积分抵扣 with no amount typed
    THEN the dialog offers all 1,280 points (¥12.80); she keys 800 instead, and HQ holds
    800 points for ¥8.00."""
    number, _ = add_member(hq.db, hq.keys, points=1280, balance_fen=0)
    win = till.win
    scan(qtbot, win, till.clock, TARO)
    scan(qtbot, win, till.clock, MANGO_L)
    scan(qtbot, win, till.clock, app_code(hq.keys, number))
    panel = win.checkout.member_panel
    qtbot.waitUntil(lambda: panel.values["points"].text() == "1280", timeout=WAIT)
    tap(qtbot, win.checkout.pay)
    tender = win.tender
    seen: list[str] = []

    def key_800(dialog: PointsDialog) -> None:
        seen.extend([dialog.have.text(), dialog.field.text(), dialog.worth.text()])
        for key in "800":
            tap(qtbot, dialog.keypad.buttons[key])
        seen.append(dialog.worth.text())
        tap(qtbot, dialog.ok)

    when_dialog(PointsDialog, key_800)
    tap(qtbot, tender.points)
    assert seen == [
        "王芳 共有 1280 积分，本单最多可用 1280 积分",
        "1280",
        "1280 积分抵 ¥12.80",
        "800 积分抵 ¥8.00",
    ]
    qtbot.waitUntil(lambda: tender.values["remaining"].text() == "¥23.00", timeout=WAIT)
    assert hq_points(hq, number) == (480, 0)


def test_points_held_at_another_store_are_explained_in_words(
    qtbot, hq: EmbeddedHQ, till: Till
) -> None:
    """GIVEN a member with 818 points identified at this till
    WHEN a till of another store holds 800 of them, and this cashier then spends 818
    THEN HQ refuses, saying how many are held, and the till says
    可用 18 积分，另有 800 积分正在其他门店使用; nothing is held here."""
    number, _ = add_member(hq.db, hq.keys, points=818, balance_fen=0)
    win = till.win
    scan(qtbot, win, till.clock, TARO)
    scan(qtbot, win, till.clock, MANGO_L)
    scan(qtbot, win, till.clock, app_code(hq.keys, number))
    panel = win.checkout.member_panel
    qtbot.waitUntil(lambda: panel.values["points"].text() == "818", timeout=WAIT)
    members.create_hold(
        hq.db,
        hq.keys,
        DeviceIdentity("S001-T01", "S001"),
        HoldRequest(
            hold_id=uuid.uuid4(),
            member=number,
            kind="points",
            amount=800,
            proof=app_code(hq.keys, number),
        ),
    )
    assert hq_points(hq, number) == (18, 0)
    tap(qtbot, win.checkout.pay)
    tender = win.tender
    when_dialog(PointsDialog, lambda dialog: tap(qtbot, dialog.ok))
    tap(qtbot, tender.points)
    qtbot.waitUntil(
        lambda: tender.banner.text() == "可用 18 积分，另有 800 积分正在其他门店使用",
        timeout=WAIT,
    )
    assert tender.values["remaining"].text() == "¥31.00"
    assert hq_points(hq, number) == (18, 0)
