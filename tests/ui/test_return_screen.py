"""A cashier rings up returns on the real return screen.

Same-store returns run on the standalone demo till (HQ never reachable). Returns that
need HQ use the return service with a hand-written fake of HQ's return calls behind its
port (:class:`tests.services.test_returns.FakeReturnHQ`), on a real sync thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel
from sqlalchemy import select

from hardware import decode
from pos_app.app import Terminal, build_window, install_scan_filter
from pos_app.domain.ids import SaleRef, uuid7, verify_sale_ref
from pos_app.domain.member import Member, MemberSource
from pos_app.domain.tender import Payment
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.models import OutboxEvent
from pos_app.localdb.sales import SaleRecord
from pos_app.localdb.store import set_setting
from pos_app.services.receipts import LOCAL_TZ
from pos_app.services.returns import RETURN_REF_PREFIX, ReturnService
from pos_app.ui.dialogs import ApprovalDialog
from pos_app.ui.main_window import MainWindow
from pos_app.ui.return_screen import ReturnScreen, UndoDialog
from pos_app.ui.theme import apply_theme
from sync_client import SyncRunner
from sync_client.contract import protocol as p
from tests.services.test_returns import FakeReturnHQ, Link, _hq_sale
from tests.support import FakeClock
from tests.ui.helpers import choose, scan, sign_in, tap, type_text, when_dialog

TARO = "6954321100014"  # 芋泥波波 ¥15.00, MILKTEA
WALNUT_LABEL = "2500101003569"  # 琥珀核桃仁 0.356 kg at ¥98.00/kg -> ¥34.89


def sell(terminal: Terminal, *codes: str, card: int = 0) -> SaleRecord:
    cashier = terminal.auth.sign_in("1001", "1234")
    draft = terminal.checkout.new_draft(cashier)
    for code in codes:
        terminal.checkout.scan(draft, code)
    payment = Payment(draft.cart.totals().total_fen)
    if card:
        payment.add_card(card, reference="UP-1")
    payment.add_cash(payment.remaining_fen)
    return terminal.checkout.complete(draft, payment)


def returned_events(terminal: Terminal) -> list[p.SaleReturned]:
    with read_session(terminal.engine) as session:
        rows = session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "sale.returned").order_by(OutboxEvent.seq)
        ).all()
        return [p.SaleReturned.model_validate_json(r.payload) for r in rows]


def open_returns(
    qtbot, window: MainWindow, number: str = "1001", pin: str = "1234"
) -> ReturnScreen:
    sign_in(qtbot, window, number, pin)
    tap(qtbot, window.returns_button)
    screen = window.return_screen
    assert window.stack.currentWidget() is screen
    return screen


def scan_receipt(qtbot, window: MainWindow, clock: FakeClock, code: str) -> None:
    """The receipt's QR goes through the wedge filter (the field has the focus)."""
    scan(qtbot, window, clock, code, target=window.return_screen.scan_input)


def pick_line(qtbot, screen: ReturnScreen, row: int) -> None:
    rect = screen.table.visualRect(screen.table.model().index(row, 1))
    qtbot.mouseClick(screen.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def approve_with(number: str, pin: str):
    def approve(dialog: ApprovalDialog) -> None:
        dialog.number.setText(number)
        dialog.pin.setText(pin)
        dialog.ok.click()

    return approve


def printed_jobs(terminal: Terminal, qtbot, count: int) -> list[Any]:
    device = terminal.virtual_printer
    qtbot.waitUntil(lambda: len(device.jobs) >= count, timeout=5000)
    profile = terminal.device_settings.printer().printer_profile()
    return [
        decode(data, profile.encoding, chinese_at_power_on=not profile.chinese_mode)
        for data in device.jobs
    ]


def test_a_weighed_item_comes_back_by_weight_and_the_rest_stays_returnable(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN 356 g of walnuts (¥34.84 after 抹零) and a 芋泥波波 sold at this till
    WHEN the cashier scans the receipt, picks the walnuts, keys in 0.1 kg, picks a reason
    and confirms
    THEN the preview shows ¥9.78 back in cash before confirming, the return is done
    ("已退款", cash from the drawer), and the sale found again shows 0.100 kg returned and
    0.256 kg left."""
    sale = sell(terminal, WALNUT_LABEL, TARO)
    screen = open_returns(qtbot, window)
    scan_receipt(qtbot, window, scan_clock, sale.reference)
    qtbot.waitUntil(lambda: screen.table.rowCount() == 2)
    assert screen.table.item(0, 1).text() == "琥珀核桃仁"
    assert screen.table.item(0, 2).text() == "0.356 kg"
    assert screen.table.item(0, 7).text() == "0.356 kg"
    assert sale.receipt_no in screen.sale_header.text()
    assert "现金 ¥49.80" in screen.sale_info.text()

    pick_line(qtbot, screen, 0)
    assert screen.weight_input.isVisible()
    type_text(qtbot, screen.weight_input, "0.1", scan_clock)
    tap(qtbot, screen.weight_button)
    assert screen.table.item(0, 8).text() == "0.100 kg"
    assert "请选择退货原因" in screen.why_not.text()
    choose(screen.reason, "quality")
    assert screen.total.text() == "¥9.78"
    assert screen.split.text() == "退款：现金 ¥9.78"

    tap(qtbot, screen.confirm)
    qtbot.waitUntil(lambda: screen.pages.currentWidget() is screen.done)
    assert screen.done_title.text() == "已退款"
    assert screen.done_cash.text() == "钱箱已打开，请退还现金 ¥9.78"
    (event,) = returned_events(terminal)
    assert [(ln.original_line_no, ln.qty_milli, ln.reason) for ln in event.lines] == [
        (1, 100, "quality")
    ]

    tap(qtbot, screen.next_return)
    scan_receipt(qtbot, window, scan_clock, sale.reference)
    qtbot.waitUntil(lambda: screen.table.rowCount() == 2)
    assert screen.table.item(0, 6).text() == "0.100 kg"
    assert screen.table.item(0, 7).text() == "0.256 kg"
    assert "已于" in screen.earlier.text() and "¥9.78" in screen.earlier.text()
    pick_line(qtbot, screen, 0)
    type_text(qtbot, screen.weight_input, "0.3", scan_clock)
    tap(qtbot, screen.weight_button)
    assert "退货数量超过可退数量" in screen.banner.text()
    assert screen.table.item(0, 8).text() == ""


def test_offline_same_store_return_prints_a_return_receipt_with_a_signed_code(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN two 芋泥波波 sold at this till (no HQ at all)
    WHEN one comes back to the damaged bin
    THEN the return receipt prints in Chinese with the line, the cash refund, the
    original receipt number and a QR whose signed reference verifies, and the drawer
    opens."""
    sale = sell(terminal, TARO, TARO)
    screen = open_returns(qtbot, window)
    scan_receipt(qtbot, window, scan_clock, sale.reference)
    qtbot.waitUntil(lambda: screen.table.rowCount() == 1)
    choose(screen.reason, "damaged")
    tap(qtbot, screen.plus)
    tap(qtbot, screen.plus)
    tap(qtbot, screen.plus)  # never beyond what is left
    assert screen.table.item(0, 8).text() == "2"
    tap(qtbot, screen.minus)
    tap(qtbot, screen.damaged)
    assert screen.total.text() == "¥15.00"
    tap(qtbot, screen.confirm)
    qtbot.waitUntil(lambda: screen.pages.currentWidget() is screen.done)

    receipts = printed_jobs(terminal, qtbot, 2)
    slip = receipts[1]
    for expected in ("退货单", "芋泥波波 x1", sale.receipt_no, "退款合计", "现金"):
        assert expected in slip.text, expected
    assert any("15.00" in line and "退款合计" in line for line in slip.text_lines)
    assert len(slip.drawer_kicks) == 1 and len(slip.cuts) == 1
    (event,) = returned_events(terminal)
    assert event.lines[0].restock == "damaged" and event.authorisation is None
    if slip.qr_codes:
        payload = slip.qr_codes[0].payload
        assert payload.startswith(RETURN_REF_PREFIX)
        ref = verify_sale_ref(
            "CPS1" + payload[len(RETURN_REF_PREFIX) :], terminal.identity.receipt_secret
        )
        assert ref.sale_id == event.return_id
    else:  # raster-QR profiles print an image instead
        assert slip.images
    qtbot.waitUntil(lambda: screen.print_status.text() == "退货单已打印")
    assert screen.preview.pixmap() is not None and not screen.preview.pixmap().isNull()


def test_the_last_lines_of_a_coupon_sale_give_the_coupon_back_on_screen_and_paper(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN a member's sale at this till (芋泥波波 and 杨枝甘露(大)) that used a ¥5 coupon
    WHEN the cashier scans the receipt and takes both back
    THEN before confirming the screen says the coupon goes back, and after it the done
    page and the return receipt say "优惠券已退回" with the coupon's name."""
    from tests.services.test_returns import _coupon_sale

    cashier = terminal.auth.sign_in("1001", "1234")
    sale = _coupon_sale(terminal, cashier, datetime.now(UTC) + timedelta(days=7))
    screen = open_returns(qtbot, window)
    scan_receipt(qtbot, window, scan_clock, sale.reference)
    qtbot.waitUntil(lambda: screen.table.rowCount() == 2)
    choose(screen.reason, "changed_mind")
    pick_line(qtbot, screen, 0)
    tap(qtbot, screen.plus)
    assert screen.coupon.text() == ""  # half the sale: the coupon stays used
    pick_line(qtbot, screen, 1)
    tap(qtbot, screen.plus)
    assert screen.total.text() == "¥26.00"
    assert screen.coupon.text() == "优惠券已退回: 满30减5"
    tap(qtbot, screen.confirm)
    qtbot.waitUntil(lambda: screen.pages.currentWidget() is screen.done)
    assert screen.done_coupon.isVisible()
    assert screen.done_coupon.text() == "优惠券已退回: 满30减5"
    (event,) = returned_events(terminal)
    assert event.coupon_back is not None
    slip = printed_jobs(terminal, qtbot, 2)[1]
    assert any("优惠券已退回" in line and "满30减5" in line for line in slip.text_lines)


def test_a_return_without_receipt_needs_a_manager(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN a customer without a receipt
    WHEN the cashier scans the item, and a supervisor tries to approve
    THEN the supervisor is refused (a manager is needed), and the store manager's PIN
    completes the return with the approval carried by the event."""
    screen = open_returns(qtbot, window)
    tap(qtbot, screen.no_receipt_button)
    scan_receipt(qtbot, window, scan_clock, TARO)
    assert screen.table.rowCount() == 1 and screen.table.item(0, 1).text() == "芋泥波波"
    choose(screen.reason, "other")
    assert "无小票退货" in screen.needs.text()
    when_dialog(ApprovalDialog, approve_with("1003", "135790"))
    tap(qtbot, screen.confirm)
    qtbot.waitUntil(lambda: "授权人的权限不够" in screen.banner.text())
    assert returned_events(terminal) == []
    when_dialog(ApprovalDialog, approve_with("1004", "86420"))
    tap(qtbot, screen.confirm)
    qtbot.waitUntil(lambda: screen.pages.currentWidget() is screen.done)
    (event,) = returned_events(terminal)
    assert event.original is None and event.refund_fen == 1500
    assert [(a.action, a.staff) for a in event.approvals] == [("return_without_receipt", "1004")]


def test_a_sale_outside_the_return_window_is_refused_with_the_date(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    with write_session(terminal.engine) as session:
        set_setting(session, "returns.window_days", 0)
        session.commit()
    sale = sell(terminal, TARO)
    screen = open_returns(qtbot, window)
    scan_receipt(qtbot, window, scan_clock, sale.reference)
    qtbot.waitUntil(lambda: "已超过退货期限" in screen.banner.text())
    day = sale.completed_at.astimezone(LOCAL_TZ).date().isoformat()
    assert f"退货截止 {day}" in screen.banner.text()


def test_a_made_to_order_drink_is_refused(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    with write_session(terminal.engine) as session:
        set_setting(session, "returns.non_returnable_categories", "MILKTEA")
        session.commit()
    sale = sell(terminal, TARO)
    screen = open_returns(qtbot, window)
    scan_receipt(qtbot, window, scan_clock, sale.reference)
    qtbot.waitUntil(lambda: screen.table.rowCount() == 1)
    choose(screen.reason, "quality")
    tap(qtbot, screen.plus)
    assert screen.why_not.text() == "芋泥波波 不可退货"
    tap(qtbot, screen.confirm)
    assert screen.banner.text() == "芋泥波波 不可退货"
    assert returned_events(terminal) == []


def test_a_forged_receipt_code_is_refused_in_chinese(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    sale = sell(terminal, TARO)
    forged = SaleRef(UUID(sale.id), "S001", "S001-T01").sign(b"not the till's secret")
    screen = open_returns(qtbot, window)
    scan_receipt(qtbot, window, scan_clock, forged)
    qtbot.waitUntil(lambda: screen.banner.isVisible())
    assert screen.banner.text() == "小票二维码无效或被篡改，不能退货"
    assert screen.vm.draft is None and not screen.table.isVisible()


def test_another_stores_receipt_offline_is_refused_with_the_alternatives(
    qtbot, window: MainWindow, scan_clock: FakeClock
):
    other = SaleRef(uuid7(), "S002", "S002-T01").sign(b"s002 secret")
    screen = open_returns(qtbot, window)
    scan_receipt(qtbot, window, scan_clock, other)
    qtbot.waitUntil(lambda: screen.banner.isVisible())
    text = screen.banner.text()
    assert "总部连接中断" in text
    for alternative in ("等网络恢复后再退", "到原门店退货", "无小票退货"):
        assert alternative in text


def test_undo_a_sale_just_made_with_a_supervisor(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN a sale just paid ¥10 by card and the rest in cash
    WHEN the cashier picks it in 整单撤销 and a supervisor approves
    THEN the whole sale comes back, to the tenders it was paid with."""
    sale = sell(terminal, TARO, WALNUT_LABEL, card=1000)
    screen = open_returns(qtbot, window)

    def undo_first(dialog: UndoDialog) -> None:
        assert dialog.sales.count() == 1 and sale.receipt_no in dialog.sales.item(0).text()
        when_dialog(ApprovalDialog, approve_with("1003", "135790"))
        dialog.ok.click()

    when_dialog(UndoDialog, undo_first)
    tap(qtbot, screen.undo_button)
    qtbot.waitUntil(lambda: screen.pages.currentWidget() is screen.done)
    (event,) = returned_events(terminal)
    assert event.refund_fen == sale.total_fen
    assert sorted((r.kind, r.amount_fen) for r in event.refunds) == sorted(
        (t.kind, t.amount_fen) for t in sale.tenders
    )
    assert [a.action for a in event.approvals] == ["sale_undo"]


def test_the_screen_fits_1024_by_768_with_a_sale_on_it(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """Every button and one-line label of the return screen shows its whole text at
    1024×768, in Chinese and in English, with a weighed line selected."""
    sale = sell(terminal, WALNUT_LABEL, TARO, TARO)
    screen = open_returns(qtbot, window)
    for language in ("zh_CN", "en"):
        window.set_language(language)
        window.resize(1024, 768)
        scan_receipt(qtbot, window, scan_clock, sale.reference)
        qtbot.waitUntil(lambda: screen.table.rowCount() == 2)
        pick_line(qtbot, screen, 0)
        QApplication.processEvents()
        # The window as a whole is held a few pixels over 768 by the tender screen's
        # minimum; what counts here is that this screen fits the stack's share of 768.
        over = max(0, window.height() - 768)
        assert window.width() <= 1024
        assert screen.minimumSizeHint().height() <= screen.height() - over
        assert screen.minimumSizeHint().width() <= screen.width()
        for widget in screen.findChildren(QAbstractButton) + screen.findChildren(QLabel):
            if widget.isVisibleTo(screen) and not (
                isinstance(widget, QLabel) and widget.wordWrap()
            ):
                assert widget.width() >= widget.minimumSizeHint().width(), (
                    language,
                    widget.objectName(),
                    widget.text(),
                )


# -- with HQ (a fake of its return calls) ------------------------------------------------


class CachedMembers:
    """What the return screen asks of the member service: the last balance this till
    heard for a member (a member who has spent most of their points since)."""

    online = True

    def __init__(self, points: int) -> None:
        self.points = points

    def is_member_code(self, raw: str) -> bool:
        return False

    def cached(self, number: str) -> Member:
        return Member(
            number=number,
            name="王小明",
            phone_masked="138****1234",
            tier="silver",
            points=self.points,
            balance_fen=0,
            coupons=(),
            version=1,
            source=MemberSource.HQ,
            identified_by="card",
            seen_at=datetime(2025, 3, 1, tzinfo=UTC),
        )


@pytest.fixture
def hq() -> FakeReturnHQ:
    return FakeReturnHQ()


@pytest.fixture
def hq_window(
    qtbot, qapp, terminal: Terminal, scan_clock: FakeClock, hq: FakeReturnHQ
) -> Iterator[MainWindow]:
    runner = SyncRunner("test-return-screen")
    runner.start()
    link = Link()
    link.online = True
    terminal.returns = ReturnService(
        terminal.engine,
        terminal.clock,
        terminal.identity,
        terminal.auth,
        runner=runner,
        hq=lambda: hq,
        online=lambda: link.online,
        after_commit=lambda _r: terminal.printing.wake(),
    )
    apply_theme(qapp)
    win = build_window(terminal)
    win.ctx.members = CachedMembers(points=5)  # type: ignore[assignment]
    qtbot.addWidget(win)
    scan_filter = install_scan_filter(qapp, win, scan_clock)
    win.show()
    qtbot.waitExposed(win)
    yield win
    qapp.removeEventFilter(scan_filter)
    runner.stop()


def test_a_points_and_cash_sale_from_another_store_shows_the_split_and_points_back(
    qtbot, hq_window: MainWindow, terminal: Terminal, scan_clock: FakeClock, hq: FakeReturnHQ
):
    """GIVEN a sale at S002 paid ¥10 in points and ¥20 cash, 30 points earned, and a
    member who has 5 points left
    WHEN one of its two items comes back here (HQ online)
    THEN before confirming the screen shows ¥5.00 to points + ¥10.00 cash, 15 points
    taken back of which 10 are short, HQ authorises the line, and the event carries
    the split and the member."""
    sale = _hq_sale(
        [
            p.Tender(kind="points", amount_fen=1000),
            p.Tender(kind="cash", amount_fen=2000, tendered_fen=5000),
        ],
        earned=30,
        member="812345678903",
    )
    sale = sale.model_copy(update={"completed_at": datetime.now(UTC)})
    hq.sales = [sale]
    hq.sold[sale.sale_id] = {1: 2000}
    window = hq_window
    screen = open_returns(qtbot, window)
    scan_receipt(qtbot, window, scan_clock, SaleRef(sale.sale_id, "S002", "S002-T01").sign(b"s2"))
    qtbot.waitUntil(lambda: screen.table.rowCount() == 1)
    assert "S002" in screen.sale_header.text() and "积分抵扣 ¥10.00" in screen.sale_info.text()
    choose(screen.reason, "wrong_item")
    tap(qtbot, screen.plus)
    assert screen.total.text() == "¥15.00"
    assert screen.split.text() == "退款：积分抵扣 ¥5.00 + 现金 ¥10.00"
    assert screen.points.text() == "扣回积分: 15"
    assert screen.shortfall.text() == "会员现有 5 积分，不足的 10 分不再扣回，记为欠扣"
    tap(qtbot, screen.confirm)
    qtbot.waitUntil(lambda: screen.pages.currentWidget() is screen.done)
    assert "authorise_return" in hq.calls
    (event,) = returned_events(terminal)
    assert [(t.kind, t.amount_fen) for t in event.refunds] == [("points", 500), ("cash", 1000)]
    assert (event.member, event.points_reversed, event.authorisation is not None) == (
        "812345678903",
        15,
        True,
    )


def test_hq_refuses_a_line_another_store_returned(
    qtbot, hq_window: MainWindow, terminal: Terminal, scan_clock: FakeClock, hq: FakeReturnHQ
):
    sale = sell(terminal, TARO)
    hq.sold[UUID(sale.id)] = {1: 1000}
    hq.taken[(UUID(sale.id), 1)] = 1000  # returned at S002 meanwhile
    window = hq_window
    screen = open_returns(qtbot, window)
    scan_receipt(qtbot, window, scan_clock, sale.reference)
    qtbot.waitUntil(lambda: screen.table.rowCount() == 1)
    choose(screen.reason, "quality")
    tap(qtbot, screen.plus)
    tap(qtbot, screen.confirm)
    qtbot.waitUntil(lambda: "该商品已被退过" in screen.banner.text())
    assert "S002" in screen.banner.text()
    assert returned_events(terminal) == []
