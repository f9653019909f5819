"""A cashier sells from the menu's tiles: categories, drink options, same again, sold out."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QAbstractButton, QApplication, QWidget
from sqlalchemy import text

from hardware import decode
from pos_app.app import Terminal
from pos_app.localdb.engine import read_session
from pos_app.ui.main_window import MainWindow
from tests.ui.helpers import sign_in
from tests.ui.helpers import tap as _tap


class TapCounter:
    """Taps the way a cashier does and counts them."""

    def __init__(self, qtbot) -> None:
        self.qtbot = qtbot
        self.count = 0

    def __call__(self, widget: QWidget) -> None:
        assert widget.isVisible() and widget.isEnabled(), widget.objectName()
        self.count += 1
        _tap(self.qtbot, widget)


def _sheet(qtbot, window: MainWindow):
    panel = window.menu_panel
    assert panel is not None
    qtbot.waitUntil(lambda: panel.sheet is not None and panel.sheet.isVisible())
    return panel.sheet


def _receipt(terminal: Terminal, data: bytes):
    profile = terminal.device_settings.printer().printer_profile()
    return decode(data, profile.encoding, chinese_at_power_on=not profile.chinese_mode)


def test_two_drinks_with_options_and_water_paid_in_cash_in_eight_taps(
    qtbot, window: MainWindow, terminal: Terminal
):
    """GIVEN a signed-in cashier at S001, the demo menu on the checkout screen
    WHEN she taps 芋泥波波, 少冰 on the options sheet, Add, Same again, the 饮料 tab,
    矿泉水, Pay and Exact cash
    THEN that is 8 taps; the sale holds two 芋泥波波 (中杯 半糖 少冰) at ¥15.00 and one
    矿泉水 at ¥2.00, ¥32.00 in all (抹零 to the jiao changes nothing); the wire sale lines
    carry the options and the menu version; the receipt prints the options under the line."""
    sign_in(qtbot, window)
    tap = TapCounter(qtbot)
    panel = window.menu_panel
    assert panel is not None
    tap(panel.tiles["MT001"])
    sheet = _sheet(qtbot, window)
    # Defaults preselected: 中杯, 半糖, 正常冰.
    assert sheet.buttons[("size", "medium")].isChecked()
    assert sheet.buttons[("sugar", "half")].isChecked()
    assert sheet.buttons[("ice", "normal")].isChecked()
    tap(sheet.buttons[("ice", "less")])
    assert not sheet.buttons[("ice", "normal")].isChecked()
    tap(sheet.add)
    tap(window.checkout.same_again)
    tap(panel.tab_buttons[[c.code for c in window.menu_vm.menu.categories].index("DRINK")])
    tap(panel.tiles["DR001"])
    model = window.checkout.model
    assert model.rowCount() == 2
    assert model.index(0, 0).data() == "芋泥波波\n中杯 半糖 少冰"
    assert model.index(0, 1).data() == "2"
    assert model.index(1, 0).data() == "矿泉水 550ml"
    assert window.checkout.values["total"].text() == "¥32.00"
    tap(window.checkout.pay)
    tap(window.tender.exact)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.done)
    assert tap.count <= 8

    sale = terminal.checkout.last_sale()
    assert sale is not None and sale.total_fen == 3200
    with read_session(terminal.engine) as s:
        payload = s.execute(
            text("SELECT payload FROM outbox WHERE type = 'sale.completed'")
        ).scalar_one()
    lines = json.loads(payload)["lines"]
    assert [o["name"] for o in lines[0]["options"]] == ["中杯", "半糖", "少冰"]
    assert lines[0]["menu_version"] == 1
    assert lines[1].get("options") is None
    qtbot.waitUntil(lambda: len(terminal.virtual_printer.jobs) >= 1, timeout=5000)
    receipt = _receipt(terminal, terminal.virtual_printer.jobs[0])
    at = next(i for i, line in enumerate(receipt.text_lines) if "芋泥波波" in line)
    assert "中杯 半糖 少冰" in " ".join(receipt.text_lines[at : at + 3])


def test_options_are_priced_into_the_line_and_the_limits_hold(
    qtbot, window: MainWindow, terminal: Terminal
):
    """GIVEN the options sheet of 芋泥波波 (¥15.00)
    WHEN the cashier picks 大杯 (+¥3.00) and the toppings 珍珠 (+¥2.00), 芋圆 (+¥3.00),
    布丁 (+¥3.00), then tries a fourth topping
    THEN the fourth is refused with a hint and stays unchosen, the Add button says ¥26.00,
    and the cart line costs ¥26.00 with its choices and their prices under the name."""
    sign_in(qtbot, window)
    panel = window.menu_panel
    assert panel is not None
    _tap(qtbot, panel.tiles["MT001"])
    sheet = _sheet(qtbot, window)
    for key in (("size", "large"), ("topping", "pearl"), ("topping", "taro_ball")):
        _tap(qtbot, sheet.buttons[key])
    _tap(qtbot, sheet.buttons[("topping", "pudding")])
    _tap(qtbot, sheet.buttons[("topping", "red_bean")])
    assert not sheet.buttons[("topping", "red_bean")].isChecked()
    assert sheet.hint.text() == "加料最多选3项"
    assert sheet.add.text() == "加入 ¥26.00"
    _tap(qtbot, sheet.add)
    model = window.checkout.model
    assert model.index(0, 0).data() == (
        "芋泥波波\n大杯+¥3.00 半糖 正常冰 珍珠+¥2.00 芋圆+¥3.00 布丁+¥3.00"
    )
    assert model.index(0, 2).data() == "¥26.00"
    assert window.checkout.values["total"].text() == "¥26.00"


def test_a_required_group_left_empty_keeps_the_add_button_off(
    qtbot, window: MainWindow, terminal: Terminal
):
    """GIVEN the options sheet of 芋泥波波
    WHEN the cashier has not chosen a sugar level (the menu's default taken away)
    THEN Add is disabled until she picks one, and Cancel adds nothing."""
    sign_in(qtbot, window)
    panel = window.menu_panel
    assert panel is not None
    _tap(qtbot, panel.tiles["MT001"])
    sheet = _sheet(qtbot, window)
    sheet.selected["sugar"] = []
    sheet._show()
    assert not sheet.add.isEnabled()
    _tap(qtbot, sheet.buttons[("sugar", "none")])
    assert sheet.add.isEnabled()
    _tap(qtbot, sheet.cancel)
    assert window.checkout.model.rowCount() == 0


def test_sold_out_greys_the_tile_reaches_the_outbox_and_comes_back(
    qtbot, window: MainWindow, terminal: Terminal
):
    """GIVEN a cashier at S001
    WHEN she turns on 估清, taps 珍珠奶茶, turns 估清 off
    THEN the tile is grey and cannot be tapped, a menu.sold_out event waits for HQ, and
    after marking it back on sale the tile sells again."""
    sign_in(qtbot, window)
    panel = window.menu_panel
    assert panel is not None
    _tap(qtbot, panel.sold_out_button)
    _tap(qtbot, panel.tiles["MT002"])
    _tap(qtbot, panel.sold_out_button)
    tile = panel.tiles["MT002"]
    assert not tile.isEnabled()
    assert tile.property("soldout") is True
    assert window.checkout.banner.text() == "珍珠奶茶已估清（今日）"
    with read_session(terminal.engine) as s:
        payloads = [
            json.loads(r[0])
            for r in s.execute(text("SELECT payload FROM outbox WHERE type = 'menu.sold_out'"))
        ]
    assert [(p_["sku"], p_["sold_out"], p_["staff"]) for p_ in payloads] == [
        ("MT002", True, "1001")
    ]
    # A rebuilt screen (another sign-in) still shows it sold out.
    window.menu_vm.reload()
    assert not panel.tiles["MT002"].isEnabled()
    _tap(qtbot, panel.sold_out_button)
    _tap(qtbot, panel.tiles["MT002"])
    _tap(qtbot, panel.sold_out_button)
    assert panel.tiles["MT002"].isEnabled()
    _tap(qtbot, panel.tiles["MT002"])
    assert _sheet(qtbot, window) is not None


def test_scanning_still_works_beside_the_tiles_and_the_screen_fits_1366x768(
    qtbot, window: MainWindow, terminal: Terminal
):
    """GIVEN the checkout screen with the menu at 1366×768, in Chinese and in English
    THEN the screen's minimum fits the stack's share of the window, the scan field, the
    tiles, the cart, the line buttons and Pay show their whole text on screen, and a typed
    code still adds its item."""
    sign_in(qtbot, window)
    checkout = window.checkout
    panel = window.menu_panel
    assert panel is not None
    for language in ("zh_CN", "en"):
        window.set_language(language)
        window.resize(1366, 768)
        QApplication.processEvents()
        # As on the return screen: the tender screen's minimum may hold the window a few
        # pixels over 768; this screen must fit the stack's share of it.
        over = max(0, window.height() - 768)
        assert window.width() <= 1366
        assert checkout.minimumSizeHint().height() <= checkout.height() - over
        assert checkout.minimumSizeHint().width() <= checkout.width()
        for widget in (
            checkout.scan_input,
            panel.tiles["MT001"],
            panel.sold_out_button,
            checkout.table,
            checkout.same_again,
            checkout.pay,
        ):
            assert widget.isVisible(), widget.objectName()
            corner = widget.mapTo(window, widget.rect().bottomRight())
            assert corner.y() <= window.height() - over, (language, widget.objectName())
            assert corner.x() <= window.width(), (language, widget.objectName())
        for widget in checkout.findChildren(QAbstractButton):
            if widget.isVisibleTo(checkout) and widget.property("role") != "tile":
                assert widget.width() >= widget.minimumSizeHint().width(), (
                    language,
                    widget.objectName(),
                    widget.text(),
                )
        assert checkout.table.height() >= 150
    checkout.scan_input.setText("6954321100014")
    checkout._on_scan_input_return_pressed()
    assert checkout.model.index(0, 0).data() == "Taro Boba"


def test_a_menu_published_ahead_replaces_the_tiles_at_its_moment(
    qtbot, window: MainWindow, terminal: Terminal
):
    """GIVEN the demo menu on screen and a store menu (version 5) effective in 2 seconds
    that drops 烤奶
    WHEN its moment has come and the panel looks (as its timer does every 30 s)
    THEN the tiles are the new menu's."""
    from datetime import UTC, datetime, timedelta

    from pos_app.localdb import menu as menu_repo
    from pos_app.localdb.engine import raw_write_transaction

    sign_in(qtbot, window)
    panel = window.menu_panel
    assert panel is not None and "MT010" in panel.tiles
    with read_session(terminal.engine) as s:
        current = menu_repo.read_version(s, 1)
    assert current is not None
    later = current.menu.model_copy(
        update={
            "version": 5,
            "store": "S001",
            "effective_at": datetime.now(UTC) + timedelta(seconds=2),
            "tiles": [t for t in current.menu.tiles if t.sku != "MT010"],
        }
    )
    with raw_write_transaction(terminal.engine) as db:
        menu_repo.apply_menus(db, [later])
        db.commit()
    window.menu_vm.check_version()
    assert "MT010" in panel.tiles  # not yet in force

    def switched() -> bool:
        window.menu_vm.check_version()
        return window.menu_vm.menu is not None and window.menu_vm.menu.version == 5

    qtbot.waitUntil(switched, timeout=10_000)
    assert "MT010" not in panel.tiles and "MT001" in panel.tiles


def test_a_weighed_tile_asks_for_the_weight_and_a_weighed_drink_is_left_out(
    qtbot, window: MainWindow, terminal: Terminal
):
    """GIVEN a menu with 琥珀核桃仁 (¥98.00/kg) on a 零食 tab, and the same item wrongly
    given options on another tab
    WHEN the cashier taps the plain tile and keys in 0.25 kg
    THEN a 0.250 kg line of ¥24.50 is added; the tile with options is not shown (and is
    reported as a sync problem when it arrives from HQ)."""
    from pos_app.localdb import menu as menu_repo
    from pos_app.localdb.engine import raw_write_transaction
    from pos_app.ui.dialogs import WeightDialog
    from sync_client.contract import protocol as p
    from tests.ui.helpers import when_dialog

    with read_session(terminal.engine) as s:
        current = menu_repo.read_version(s, 1)
    assert current is not None
    snacks = p.MenuCategory(code="SNACK", name_zh="零食")
    menu = current.menu.model_copy(
        update={
            "version": 6,
            "categories": [*current.menu.categories, snacks],
            "tiles": [
                p.MenuTile(sku="SN001", category="SNACK"),
                p.MenuTile(sku="SN001", category="MILKTEA", groups=["sugar"]),
                *current.menu.tiles,
            ],
        }
    )
    with raw_write_transaction(terminal.engine) as db:
        menu_repo.apply_menus(db, [menu])
        assert [q.key for q in menu_repo.menu_problems(db, [(1, menu)], "S001")] == ["6:tile:SN001"]
        db.commit()
    sign_in(qtbot, window)
    vm_menu = window.menu_vm.menu
    assert vm_menu is not None and vm_menu.version == 6
    milk_tea = next(c for c in vm_menu.categories if c.code == "MILKTEA")
    assert "SN001" not in {t.item.sku for t in milk_tea.tiles}
    panel = window.menu_panel
    assert panel is not None
    panel.show_category([c.code for c in vm_menu.categories].index("SNACK"))

    def weigh(dialog: WeightDialog) -> None:
        dialog.field.setText("0.25")
        dialog.findChild(type(window.checkout.pay), "weight_ok").click()

    when_dialog(WeightDialog, weigh)
    _tap(qtbot, panel.tiles["SN001"])
    model = window.checkout.model
    assert model.rowCount() == 1
    assert model.index(0, 1).data() == "0.250 kg"
    assert model.index(0, 4).data() == "¥24.50"
