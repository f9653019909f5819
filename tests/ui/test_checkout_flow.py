"""A cashier sells baskets end to end on the real screens."""

from __future__ import annotations

from sqlalchemy import text

from hardware import decode
from pos_app.app import Terminal
from pos_app.domain.ids import verify_sale_ref
from pos_app.localdb.engine import read_session
from pos_app.ui.checkout_screen import VoidConfirmDialog
from pos_app.ui.dialogs import ApprovalDialog, DiscountDialog
from pos_app.ui.main_window import MainWindow
from tests.support import FakeClock
from tests.ui.helpers import scan, sign_in, tap
from tests.ui.helpers import when_dialog as _when_dialog

TARO = "6954321100014"  # 芋泥波波 ¥15.00
WALNUT_LABEL = "2500101003569"  # 琥珀核桃仁 0.356 kg at ¥98.00/kg -> ¥34.89


def _printed(terminal: Terminal, qtbot, count: int) -> list[bytes]:
    device = terminal.virtual_printer
    qtbot.waitUntil(lambda: len(device.jobs) >= count, timeout=5000)
    return device.jobs


def _profile(terminal: Terminal):
    return terminal.device_settings.printer().printer_profile()


def _decoded(terminal: Terminal, data: bytes):
    profile = _profile(terminal)
    return decode(data, profile.encoding, chinese_at_power_on=not profile.chinese_mode)


def test_cash_sale_with_change_prints_a_chinese_receipt(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN a signed-in cashier at S001 (抹零 to the jiao)
    WHEN she scans 芋泥波波 twice and a walnut scale label, and the customer pays ¥100 cash
    THEN the cart shows 2 lines totalling ¥64.80, change is ¥35.20, the sale and its outbox
    event are committed, and the receipt prints in Chinese with a verifiable QR, a cut and
    a drawer kick."""
    sign_in(qtbot, window)
    assert window.stack.currentWidget() is window.checkout
    scan(qtbot, window, scan_clock, TARO)
    scan(qtbot, window, scan_clock, TARO)
    scan(qtbot, window, scan_clock, WALNUT_LABEL)
    model = window.checkout.model
    assert model.rowCount() == 2
    assert model.index(0, 0).data() == "芋泥波波"
    assert model.index(0, 1).data() == "2"
    assert model.index(1, 1).data() == "0.356 kg"
    # The 9 fen dropped by rounding are shared 4/5 between ¥30.00 and ¥34.89.
    assert model.index(0, 4).data() == "¥29.96"
    assert model.index(1, 4).data() == "¥34.84"
    assert window.checkout.scan_input.text() == ""
    assert window.checkout.values["total"].text() == "¥64.80"
    assert window.checkout.values["rounding"].text() == "-¥0.09"

    tap(qtbot, window.checkout.pay)
    assert window.stack.currentWidget() is window.tender
    tap(qtbot, window.tender.quick_buttons[2])  # ¥100
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done)
    assert window.done.change.text() == "找零 ¥35.20"
    assert window.done.total.text() == "应收 ¥64.80"
    assert window.done.received.text() == "实收 ¥100.00"

    jobs = _printed(terminal, qtbot, 1)
    receipt = _decoded(terminal, jobs[0])
    text_ = receipt.text
    for expected in ("茶语时光", "销售小票", "芋泥波波", "琥珀核桃仁", "0.356kg", "合计", "找零"):
        assert expected in text_, expected
    assert any("64.80" in line and "合计" in line for line in receipt.text_lines)
    assert any("35.20" in line and "找零" in line for line in receipt.text_lines)
    assert any("100.00" in line and "实收" in line for line in receipt.text_lines)
    assert len(receipt.cuts) == 1
    assert [k.pin for k in receipt.drawer_kicks] == [_profile(terminal).drawer_pin]
    payloads = [q.payload for q in receipt.qr_codes]
    if not payloads:  # raster-QR profiles print an image instead
        assert receipt.images
    else:
        ref = verify_sale_ref(payloads[0], terminal.identity.receipt_secret)
        assert ref.store_code == "S001"
    qtbot.waitUntil(lambda: window.done.print_status.text() == "小票已打印")
    with read_session(terminal.engine) as s:
        assert s.execute(text("SELECT total_fen, change_fen FROM sale")).one() == (6480, 3520)
        assert s.execute(text("SELECT COUNT(*) FROM outbox WHERE state='pending'")).scalar() == 1


def test_mixed_card_and_cash_then_next_sale_by_scanning(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN a cart of one 杨枝甘露(大) found by pinyin search
    WHEN ¥10 is paid by card (typed on the keypad) and the rest in exact cash
    THEN the sale completes with two tenders and no change, and a scan on the done screen
    starts the next sale with that item."""
    sign_in(qtbot, window)
    hits = terminal.catalog.search("yzgl")
    assert hits[0].row.name_zh == "杨枝甘露(大)"
    window.vm.add_item(hits[0].row.item_id)
    tap(qtbot, window.checkout.pay)
    for key in ("1", "0"):
        tap(qtbot, window.tender.findChild(type(window.tender.cash), f"key_{key}"))
    assert window.tender.amount.text() == "10"
    tap(qtbot, window.tender.card)
    assert window.tender.values["remaining"].text() == "¥6.00"
    tap(qtbot, window.tender.exact)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done)
    sale = terminal.checkout.last_sale()
    assert sale is not None
    assert [(t.kind, t.amount_fen) for t in sale.tenders] == [("card", 1000), ("cash", 600)]
    assert sale.change_fen == 0
    scan(qtbot, window, scan_clock, TARO)
    assert window.stack.currentWidget() is window.checkout
    assert window.checkout.model.rowCount() == 1


def test_bad_barcode_is_explained_and_the_cart_survives(
    qtbot, window: MainWindow, scan_clock: FakeClock
):
    """GIVEN a cart with one line
    WHEN a code with a wrong check digit and an unknown code are scanned
    THEN each shows a clear message and the cart still has its line."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    scan(qtbot, window, scan_clock, "6954321100015")
    assert window.checkout.model.rowCount() == 1
    assert "校验位错误" in window.checkout.banner.text()
    scan(qtbot, window, scan_clock, "6900000000007")
    assert "找不到商品" in window.checkout.banner.text()
    assert window.checkout.values["total"].text() == "¥15.00"


def test_quantity_buttons_remove_and_void(
    qtbot, window: MainWindow, scan_clock: FakeClock, terminal: Terminal
):
    """GIVEN one line of 芋泥波波
    WHEN the cashier taps + twice, − once, then removes the line, adds it again and voids
    THEN quantities follow the taps, the cart empties (the void confirmed), and both voids
    are audited."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    tap(qtbot, window.checkout.plus)
    tap(qtbot, window.checkout.plus)
    tap(qtbot, window.checkout.minus)
    assert window.checkout.model.index(0, 1).data() == "2"
    assert window.checkout.values["total"].text() == "¥30.00"
    tap(qtbot, window.checkout.remove)
    assert window.checkout.model.rowCount() == 0
    assert not window.checkout.pay.isEnabled()
    scan(qtbot, window, scan_clock, TARO)
    _when_dialog(VoidConfirmDialog, lambda d: tap(qtbot, d.ok))
    tap(qtbot, window.checkout.void)
    assert window.checkout.model.rowCount() == 0
    with read_session(terminal.engine) as s:
        actions = (
            s.execute(text("SELECT action FROM audit_log WHERE action LIKE 'void.%'"))
            .scalars()
            .all()
        )
    assert actions == ["void.line", "void.sale"]


def test_discount_over_limit_needs_a_supervisor(
    qtbot, window: MainWindow, scan_clock: FakeClock, terminal: Terminal
):
    """GIVEN a cashier whose limit is 10%
    WHEN she gives 20% off the sale, and supervisor 1003 approves with his PIN
    THEN the discount applies, and the approval is in the audit log."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    scan(qtbot, window, scan_clock, TARO)

    def pick_20(dialog: DiscountDialog) -> None:
        _when_dialog(ApprovalDialog, approve)
        dialog.findChild(type(window.checkout.pay), "pct_20").click()

    def approve(dialog: ApprovalDialog) -> None:
        dialog.number.setText("1003")
        dialog.pin.setText("135790")
        dialog.ok.click()

    _when_dialog(DiscountDialog, pick_20)
    tap(qtbot, window.checkout.basket_discount)
    assert window.checkout.values["discount"].text() == "-¥6.00"
    assert window.checkout.values["total"].text() == "¥24.00"
    with read_session(terminal.engine) as s:
        row = s.execute(text("SELECT staff FROM audit_log WHERE action='approved.discount'")).one()
    assert row == ("1003",)


def test_discount_refused_without_approval_leaves_the_total(
    qtbot, window: MainWindow, scan_clock: FakeClock
):
    """GIVEN a cashier asking for 30% off, WHEN the approval is cancelled,
    THEN no discount applies."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    _when_dialog(
        DiscountDialog,
        lambda d: (
            _when_dialog(ApprovalDialog, lambda a: a.reject()),
            d.findChild(type(window.checkout.pay), "pct_30").click(),
        ),
    )
    tap(qtbot, window.checkout.line_discount)
    assert window.checkout.values["total"].text() == "¥15.00"


def test_language_switch_changes_every_label(qtbot, window: MainWindow, scan_clock: FakeClock):
    """GIVEN the Chinese checkout screen WHEN English is chosen THEN the labels and item
    names switch to English, and back."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    assert window.checkout.pay.text() == "收款"
    tap(qtbot, window.language_button)
    assert window.checkout.pay.text() == "Pay"
    assert window.checkout.model.index(0, 0).data() == "Taro Boba"
    assert window.checkout.labels["total"].text() == "Total"
    tap(qtbot, window.language_button)
    assert window.checkout.pay.text() == "收款"


def test_wrong_pins_lock_the_account(qtbot, window: MainWindow):
    """GIVEN staff 1002 WHEN five wrong PINs are entered THEN the screen counts down and
    then says the account is locked, and the right PIN no longer works for now."""
    for attempt in range(4):
        sign_in(qtbot, window, "1002", "0000")
        assert f"还可尝试 {4 - attempt} 次" in window.login.banner.text()
    sign_in(qtbot, window, "1002", "0000")
    assert "已锁定" in window.login.banner.text()
    sign_in(qtbot, window, "1002", "2468")
    assert window.stack.currentWidget() is window.login
    assert "已锁定" in window.login.banner.text()


def test_reprint_last_receipt_is_marked_and_audited(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN a completed sale WHEN the cashier starts a new sale and taps Reprint
    THEN a second receipt prints marked REPRINT without opening the drawer."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    tap(qtbot, window.checkout.pay)
    tap(qtbot, window.tender.quick_buttons[0])
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done)
    _printed(terminal, qtbot, 1)
    qtbot.waitUntil(lambda: window.done.print_status.text() == "小票已打印")
    tap(qtbot, window.done.next_sale)
    tap(qtbot, window.checkout.reprint)
    jobs = _printed(terminal, qtbot, 2)
    again = _decoded(terminal, jobs[1])
    assert "*** 重印 ***" in again.text
    assert again.drawer_kicks == []
    with read_session(terminal.engine) as s:
        assert (
            s.execute(
                text("SELECT COUNT(*) FROM audit_log WHERE action='receipt.reprint'")
            ).scalar()
            == 1
        )


def test_paper_out_shows_paid_not_printed_then_prints_once(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
):
    """GIVEN a printer out of paper
    WHEN a sale is paid
    THEN it is committed, the screen says paid but not printed; after the roll is changed,
    Print again prints exactly one complete receipt."""
    device = terminal.virtual_printer
    device.set_paper_out(True)
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    tap(qtbot, window.checkout.pay)
    tap(qtbot, window.tender.quick_buttons[0])
    qtbot.waitUntil(lambda: window.done.print_status.text().startswith("已收款，小票未打印"))
    assert window.done.print_again.isVisible()
    assert terminal.checkout.last_sale() is not None
    assert device.jobs == []
    device.set_paper_out(False)
    tap(qtbot, window.done.print_again)
    qtbot.waitUntil(lambda: window.done.print_status.text() == "小票已打印")
    # The drawer kick of a cash sale whose receipt could not start travels on its own and
    # may reach the printer after the roll is changed: count the receipts, not the kicks.
    printed = [_decoded(terminal, job) for job in device.jobs]
    receipts = [r for r in printed if r.text.strip()]
    assert len(receipts) == 1
    (receipt,) = receipts
    assert "芋泥波波" in receipt.text and len(receipt.cuts) == 1
    assert "重印" not in receipt.text


def test_weighed_item_from_search_asks_for_weight(qtbot, window: MainWindow, terminal: Terminal):
    """GIVEN a cashier searching 'hthtr' (琥珀核桃仁) on the on-screen keyboard
    WHEN she taps the result and keys in 0.5 kg
    THEN a 0.500 kg line of ¥49.00 is added."""
    from pos_app.ui.dialogs import SearchDialog, WeightDialog

    sign_in(qtbot, window)

    def weigh(dialog: WeightDialog) -> None:
        dialog.field.setText("0.5")
        dialog.findChild(type(window.checkout.pay), "weight_ok").click()

    def search(dialog: SearchDialog) -> None:
        for key in "hpht":
            dialog.keyboard.buttons[key].click()
        assert dialog.results.count() >= 1
        _when_dialog(WeightDialog, weigh)
        dialog.results.itemClicked.emit(dialog.results.item(0))
        dialog.accept()

    _when_dialog(SearchDialog, search)
    tap(qtbot, window.checkout.search_button)
    assert window.checkout.model.rowCount() == 1
    assert window.checkout.model.index(0, 1).data() == "0.500 kg"
    assert window.checkout.model.index(0, 4).data() == "¥49.00"


def test_scale_plu_keyed_in_asks_for_the_weight(qtbot, window: MainWindow):
    """GIVEN a cashier typing the PLU 00101 (琥珀核桃仁, ¥98.00/kg) into the scan field
    WHEN she presses Enter and keys in 0.25 kg
    THEN a 0.250 kg line of ¥24.50 is added."""
    from PySide6.QtCore import Qt

    from pos_app.ui.dialogs import WeightDialog

    sign_in(qtbot, window)

    def weigh(dialog: WeightDialog) -> None:
        dialog.field.setText("0.25")
        dialog.findChild(type(window.checkout.pay), "weight_ok").click()

    _when_dialog(WeightDialog, weigh)
    window.checkout.scan_input.setText("00101")
    qtbot.keyClick(window.checkout.scan_input, Qt.Key.Key_Return)
    assert window.checkout.model.rowCount() == 1
    assert window.checkout.model.index(0, 1).data() == "0.250 kg"
    assert window.checkout.model.index(0, 4).data() == "¥24.50"


def test_line_discount_in_zhe_shows_the_amount_and_applies(
    qtbot, window: MainWindow, scan_clock: FakeClock
):
    """GIVEN two 芋泥波波 (¥30.00) on one line and a cashier whose limit is 10%
    WHEN she opens 单品折扣, reads the 9.5折 button, types 9 and 5 on the keypad and taps
    按折扣
    THEN the buttons and the preview show what each rate takes off, and 9.5折 takes ¥1.50."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    scan(qtbot, window, scan_clock, TARO)
    seen: list[str] = []

    def key_in(dialog: DiscountDialog) -> None:
        seen.append(dialog.findChild(type(window.checkout.pay), "pct_5").text())
        seen.append(dialog.findChild(type(window.checkout.pay), "pct_20").text())
        tap(qtbot, dialog.keypad.buttons["9"])
        tap(qtbot, dialog.keypad.buttons["5"])
        seen.append(dialog.preview.text())
        tap(qtbot, dialog.findChild(type(window.checkout.pay), "discount_apply_zhe"))

    _when_dialog(DiscountDialog, key_in)
    tap(qtbot, window.checkout.line_discount)
    assert seen == [
        "9.5折\n省 ¥1.50",
        "8折\n省 ¥6.00",
        "9.5折：优惠 ¥1.50，折后 ¥28.50；或 减价：优惠 ¥30.00，折后 ¥0.00",
    ]
    assert window.checkout.values["discount"].text() == "-¥1.50"
    assert window.checkout.values["total"].text() == "¥28.50"


def test_a_rate_that_is_no_zhe_is_refused_in_words(
    qtbot, window: MainWindow, scan_clock: FakeClock
):
    """GIVEN one 芋泥波波 WHEN 10 is typed and 按折扣 tapped THEN the dialog says which
    rates it takes, and cancelled, the total stays ¥15.00."""
    sign_in(qtbot, window)
    scan(qtbot, window, scan_clock, TARO)
    said: list[str] = []

    def key_in(dialog: DiscountDialog) -> None:
        tap(qtbot, dialog.keypad.buttons["1"])
        tap(qtbot, dialog.keypad.buttons["0"])
        tap(qtbot, dialog.findChild(type(window.checkout.pay), "discount_apply_zhe"))
        said.append(dialog.banner.text())
        dialog.reject()

    _when_dialog(DiscountDialog, key_in)
    tap(qtbot, window.checkout.basket_discount)
    assert said == ["折扣请输入 1 到 9.9 折，如 8（8折）、85（8.5折）、9.5"]
    assert window.checkout.values["total"].text() == "¥15.00"
