"""The menu at the till: tiles priced from the catalogue, options priced into the line,
sold out, menu versions switching on time, bad menu parts left out, cup labels."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from hardware import decode, get_profile
from pos_app.app import Terminal, build_terminal
from pos_app.domain.menu import MenuError
from pos_app.domain.tender import Payment
from pos_app.localdb import menu as menu_repo
from pos_app.localdb.engine import raw_write_transaction, read_session, write_session
from pos_app.localdb.store import set_setting
from pos_app.services.auth import StaffMember
from pos_app.services.errors import CheckoutError
from pos_app.services.labels import LABEL_PRINTER
from sync_client.contract import protocol as p
from tests.services.conftest import RecordingPrinter, printed
from tests.support import FakeClock


def _sell(terminal: Terminal, cashier: StaffMember, *picks):
    """Adds (sku, options or None) from the menu and pays the exact total in cash."""
    menu_service = terminal.menu
    assert menu_service is not None
    menu = menu_service.menu()
    assert menu is not None
    draft = terminal.checkout.new_draft(cashier)
    for sku, selected in picks:
        tile = menu.tile(sku)
        assert tile is not None, sku
        menu_service.add(draft, menu, tile, selected)
    payment = Payment(draft.cart.totals().total_fen)
    payment.add_cash(draft.cart.totals().total_fen)
    return terminal.checkout.complete(draft, payment)


def test_the_demo_menu_has_categories_of_priced_tiles_with_option_groups(terminal: Terminal):
    """GIVEN the demo menu (version 1) at S001
    THEN its tabs are 奶茶, 果茶, 咖啡, 烘焙, 饮料; 芋泥波波's tile costs ¥15.00 and asks for
    size, sugar, ice and up to three toppings; 矿泉水 has no options."""
    assert terminal.menu is not None
    menu = terminal.menu.menu()
    assert menu is not None and menu.version == 1
    assert [c.name_zh for c in menu.categories] == ["奶茶", "果茶", "咖啡", "烘焙", "饮料"]
    taro = menu.tile("MT001")
    assert taro is not None
    assert taro.item.unit_price_fen == 1500
    assert [(g.code, g.min_choices, g.max_choices) for g in taro.groups] == [
        ("size", 1, 1),
        ("sugar", 1, 1),
        ("ice", 1, 1),
        ("topping", 0, 3),
    ]
    water = menu.tile("DR001")
    assert water is not None and not water.has_options


def test_options_are_priced_into_the_line_and_recorded_on_the_sale(
    terminal: Terminal, cashier: StaffMember, printer: RecordingPrinter
):
    """GIVEN 芋泥波波 at ¥15.00
    WHEN it is sold 大杯 (+¥3.00), 无糖, 去冰 with 珍珠 (+¥2.00) and 芝士奶盖 (+¥5.00), twice
    THEN the line's unit price is ¥25.00, its amount ¥50.00, the wire line carries the
    options and menu version 1 with the item's price version, and the receipt prints the
    options with their prices under the line."""
    selected = {
        "size": ["large"],
        "sugar": ["none"],
        "ice": ["none"],
        "topping": ["pearl", "cheese_foam"],
    }
    sale = _sell(terminal, cashier, ("MT001", selected), ("MT001", selected))
    (line,) = sale.lines
    assert (line.qty_milli, line.unit_price_fen, line.amount_fen) == (2000, 2500, 5000)
    assert line.menu_version == 1
    wire = p.SaleLine.model_validate(line, from_attributes=True)
    assert wire.options is not None
    assert [(o.group, o.code, o.name, o.price_fen) for o in wire.options] == [
        ("size", "large", "大杯", 300),
        ("sugar", "none", "无糖", 0),
        ("ice", "none", "去冰", 0),
        ("topping", "pearl", "珍珠", 200),
        ("topping", "cheese_foam", "芝士奶盖", 500),
    ]
    assert wire.menu_version == 1 and wire.price_version >= 1
    (receipt,) = printed(terminal, printer, 1)
    data = RecordingPrinter.profile
    decoded = decode(
        _render(receipt, data), data.encoding, chinese_at_power_on=not data.chinese_mode
    )
    at = next(i for i, ln in enumerate(decoded.text_lines) if "芋泥波波" in ln)
    under = [ln.strip() for ln in decoded.text_lines[at + 1 : at + 4]]
    assert "大杯+¥3.00 无糖 去冰" in under
    assert "珍珠+¥2.00 芝士奶盖+¥5.00" in under


def _render(document, profile) -> bytes:
    from hardware import render

    return render(document, profile)


def test_option_limits_are_kept(terminal: Terminal, cashier: StaffMember):
    """A fourth topping, a missing size and an unknown choice are each refused, and the
    cart stays as it was."""
    assert terminal.menu is not None
    menu = terminal.menu.menu()
    assert menu is not None
    tile = menu.tile("MT001")
    assert tile is not None
    draft = terminal.checkout.new_draft(cashier)
    base = {"size": ["medium"], "sugar": ["half"], "ice": ["normal"]}
    with pytest.raises(MenuError) as four:
        terminal.menu.add(
            draft, menu, tile, {**base, "topping": ["pearl", "coconut", "pudding", "red_bean"]}
        )
    assert (four.value.code, four.value.params["max"]) == ("too_many_options", 3)
    with pytest.raises(MenuError) as missing:
        terminal.menu.add(draft, menu, tile, {"sugar": ["half"], "ice": ["normal"]})
    assert (missing.value.code, missing.value.params["group"]) == ("option_required", "杯型")
    with pytest.raises(MenuError) as unknown:
        terminal.menu.add(draft, menu, tile, {**base, "ice": ["lava"]})
    assert unknown.value.code == "unknown_option"
    assert draft.cart.is_empty


def test_sold_out_refuses_the_tile_tells_hq_and_ends_with_the_day(
    terminal: Terminal, cashier: StaffMember, clock: FakeClock
):
    """GIVEN 珍珠奶茶 marked sold out today
    THEN its tile shows sold out and adding it is refused (sold_out), one menu.sold_out
    event waits in the outbox; the next business day it sells again."""
    assert terminal.menu is not None
    terminal.menu.set_sold_out("MT002", True, cashier)
    menu = terminal.menu.menu()
    assert menu is not None
    tile = menu.tile("MT002")
    assert tile is not None and tile.sold_out
    draft = terminal.checkout.new_draft(cashier)
    with pytest.raises(CheckoutError) as refused:
        terminal.menu.add(draft, menu, tile)
    assert (refused.value.code, refused.value.params["name"]) == ("sold_out", "珍珠奶茶")
    with read_session(terminal.engine) as s:
        (payload,) = s.execute(
            text("SELECT payload FROM outbox WHERE type = 'menu.sold_out'")
        ).scalars()
    event = p.MenuSoldOut.model_validate_json(payload)
    assert (event.sku, event.sold_out, event.store, event.staff) == ("MT002", True, "S001", "1001")
    clock.advance(timedelta(days=1))
    menu = terminal.menu.menu()
    assert menu is not None
    tile = menu.tile("MT002")
    assert tile is not None and not tile.sold_out
    terminal.menu.add(draft, menu, tile)
    assert len(draft.cart.lines) == 1


def _store_menu(terminal: Terminal, menus: list[p.MenuData], seq: int = 1) -> None:
    with raw_write_transaction(terminal.engine) as db:
        menu_repo.apply_menus(db, menus)
        db.commit()


def test_a_store_menu_published_ahead_switches_at_its_moment(
    terminal: Terminal, cashier: StaffMember, clock: FakeClock
):
    """GIVEN S001's own menu (version 7) effective in one hour, with 大杯 at +¥4.00
    THEN until then the chain's menu sells 大杯 at +¥3.00; from then on the store's; and a
    tile taken from the old menu after the switch is refused (menu_changed)."""
    assert terminal.menu is not None
    chain = terminal.menu.menu()
    assert chain is not None
    with read_session(terminal.engine) as s:
        current = menu_repo.read_version(s, 1)
    assert current is not None
    groups = [
        g.model_copy(
            update={
                "choices": [
                    c.model_copy(update={"price_fen": 400}) if c.code == "large" else c
                    for c in g.choices
                ]
            }
        )
        if g.code == "size"
        else g
        for g in current.menu.groups
    ]
    own = current.menu.model_copy(
        update={
            "version": 7,
            "store": "S001",
            "effective_at": clock.now() + timedelta(hours=1),
            "groups": groups,
        }
    )
    _store_menu(terminal, [own])
    draft = terminal.checkout.new_draft(cashier)
    tile = chain.tile("MT001")
    assert tile is not None
    large = {"size": ["large"], "sugar": ["half"], "ice": ["normal"]}
    assert terminal.menu.add(draft, chain, tile, large).unit_price_fen == 1800
    clock.advance(timedelta(hours=1))
    with pytest.raises(CheckoutError) as changed:
        terminal.menu.add(draft, chain, tile, large)
    assert changed.value.code == "menu_changed"
    new = terminal.menu.menu()
    assert new is not None and new.version == 7
    tile = new.tile("MT001")
    assert tile is not None
    line = terminal.menu.add(draft, new, tile, large)
    assert (line.unit_price_fen, line.menu_version) == (1900, 7)


def test_bad_menu_parts_are_left_out_and_the_rest_sells(terminal: Terminal):
    """GIVEN a menu from HQ with a tile of an item this till does not have and an option
    group with no choices (used by one tile)
    WHEN the replica applies it
    THEN both are quarantined as problems for HQ, the menu is in force, and the screen's
    menu simply lacks the two bad tiles while the others sell."""
    assert terminal.menu is not None
    with read_session(terminal.engine) as s:
        current = menu_repo.read_version(s, 1)
    assert current is not None
    menu = current.menu.model_copy(
        update={
            "version": 9,
            "groups": [*current.menu.groups, p.MenuOptionGroup(code="empty", name_zh="空")],
            "tiles": [
                *current.menu.tiles,
                p.MenuTile(sku="NOPE01", category="MILKTEA"),
                p.MenuTile(sku="SN007", category="BAKERY", groups=["empty"]),
            ],
        }
    )
    change = p.MenuChange(seq=5, key="9", store=None, created_at=menu.effective_at, data=menu)
    summary = terminal_replica(terminal).apply_changes([change], 5)
    assert summary.quarantined == 3
    problems = {(q.kind, q.key) for q in terminal_replica(terminal).problems()}
    assert problems == {
        ("menu", "9:group:empty"),
        ("menu", "9:tile:NOPE01"),
        ("menu", "9:tile:SN007"),
    }
    built = terminal.menu.menu()
    assert built is not None and built.version == 9
    assert built.tile("NOPE01") is None and built.tile("SN007") is None
    assert built.tile("BK002") is not None and built.tile("MT001") is not None


def terminal_replica(terminal: Terminal):
    from pos_app.localdb.replica import LocalReplica

    return LocalReplica(terminal.engine, terminal.identity.store_code)


# -- cup labels ---------------------------------------------------------------------------


@pytest.fixture
def label_terminal(
    db_path: Path, clock: FakeClock, printer: RecordingPrinter, request: pytest.FixtureRequest
) -> Iterator[Terminal]:
    engine_settings = getattr(request, "param", {"backend": "virtual"})
    from pos_app.localdb.engine import open_database

    engine = open_database(db_path)
    with write_session(engine) as s:
        set_setting(s, "label_printer", engine_settings)
        s.commit()
    engine.dispose()
    terminal = build_terminal(db_path, clock=clock, printer=printer, print_retry=(0.05, 0.2))
    yield terminal
    terminal.close()


def test_a_paid_order_prints_one_cup_label_per_drink(
    label_terminal: Terminal, printer: RecordingPrinter
):
    """GIVEN a till with a (virtual) label printer
    WHEN two 芋泥波波 (大杯 少冰), one 拿铁 (热) and a bottle of water are paid
    THEN three labels print, one per cup, each with the order number, its place (1/3…),
    the drink and its options; the water gets none."""
    terminal = label_terminal
    cashier = terminal.auth.sign_in("1001", "1234")
    taro = {"size": ["large"], "sugar": ["half"], "ice": ["less"]}
    latte = {"size": ["medium"], "sugar": ["none"], "ice": ["hot"]}
    sale = _sell(
        terminal, cashier, ("MT001", taro), ("MT001", taro), ("CF002", latte), ("DR001", None)
    )
    assert terminal.label_virtual is not None
    device = terminal.label_virtual.device
    device.wait_for_jobs(3, timeout=10)
    profile = get_profile("generic-58-gbk")
    labels = [
        decode(job, profile.encoding, chinese_at_power_on=not profile.chinese_mode)
        for job in device.jobs
    ]
    number = sale.receipt_no.rsplit("-", 1)[-1][-4:]
    texts = [" ".join(label.text_lines) for label in labels]
    assert len(texts) == 3
    for i, (txt, drink, options) in enumerate(
        zip(
            texts,
            ["芋泥波波", "芋泥波波", "拿铁"],
            ["大杯 半糖 少冰", "大杯 半糖 少冰", "中杯 无糖 热"],
            strict=True,
        ),
        start=1,
    ):
        assert f"#{number}" in txt and f"{i}/3" in txt
        assert drink in txt and options in txt
        assert "矿泉水" not in txt
    assert not any(label.drawer_kicks for label in labels)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "label_terminal",
    [{"backend": "network", "host": "127.0.0.1", "port": _closed_port()}],
    indirect=True,
)
def test_a_failing_label_printer_never_blocks_the_sale(
    label_terminal: Terminal, printer: RecordingPrinter
):
    """GIVEN a label printer that refuses connections
    WHEN a drink is paid
    THEN the sale commits and its receipt prints; the label printer shows a problem on
    the device board and the failed label is counted."""
    terminal = label_terminal
    cashier = terminal.auth.sign_in("1001", "1234")
    sale = _sell(terminal, cashier, ("MT001", None))
    assert sale.total_fen == 1500
    assert len(printed(terminal, printer, 1)) == 1
    labels = terminal.labels
    assert labels is not None

    def reported() -> bool:
        state = terminal.devices.get(LABEL_PRINTER)
        return labels.failed == 1 and state is not None and state.online is False

    deadline = 50
    while not reported() and deadline:
        terminal.printing.wait_for(lambda _s: False, 0.1)
        deadline -= 1
    assert reported()
    with read_session(terminal.engine) as s:
        assert s.execute(text("SELECT COUNT(*) FROM sale")).scalar() == 1


def test_options_survive_in_the_local_sale_record(terminal: Terminal, cashier: StaffMember):
    """The sale read back from the till's database has the line's options as sold."""
    sale = _sell(terminal, cashier, ("MT001", None))
    last = terminal.checkout.last_sale()
    assert last is not None and last.id == sale.id
    assert last.lines[0].option_names() == ["中杯", "半糖", "正常冰"]
    assert json.loads(last.lines[0].options_json or "[]")[0]["code"] == "medium"


def test_a_drink_is_returned_with_its_options_at_the_price_paid(
    terminal: Terminal, cashier: StaffMember
):
    """GIVEN two 芋泥波波 大杯 with 珍珠 (¥20.00 a cup) sold at this till
    WHEN one cup comes back (offline, same store)
    THEN the returned sale shows the line's options, and the refund is ¥20.00: the cup
    with its options, not the bare item's ¥15.00."""
    from pos_app.services.returns import ReturnChoice

    returns = terminal.returns
    assert returns is not None
    drink = {"size": ["large"], "sugar": ["half"], "ice": ["normal"], "topping": ["pearl"]}
    sale = _sell(terminal, cashier, ("MT001", drink), ("MT001", drink))
    found = returns.find_by_ref(sale.reference).result(5)
    (line,) = found.sale.lines
    assert line.options is not None
    assert [o.name for o in line.options] == ["大杯", "半糖", "正常冰", "珍珠"]
    draft = returns.new_draft(cashier, found)
    draft.choices[1] = ReturnChoice(1000, "changed_mind")
    done = returns.commit(draft)
    assert done.refund_fen == 2000
