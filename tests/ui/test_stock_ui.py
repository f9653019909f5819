"""The stock screens driven by taps and scans: look-up across the chain and a transfer
requested from a row, a transfer approved and shipped with its slip printed, a count
scanned, submitted and approved with its variance report, goods received."""

from __future__ import annotations

import json
from datetime import timedelta
from uuid import UUID

from sqlalchemy import text

from hardware import decode
from pos_app.app import Terminal
from pos_app.localdb.engine import read_session
from pos_app.localdb.replica import LocalReplica
from pos_app.ui.main_window import MainWindow
from sync_client.contract import protocol as p
from tests.support import FakeClock
from tests.ui.helpers import scan, sign_in, tap

TARO_CODE = "6954321100014"
MANAGER = ("1004", "86420")


def _feed(terminal: Terminal, *changes: object) -> None:
    replica = LocalReplica(terminal.engine, "S001")
    seq = replica.cursor()
    numbered = [c.model_copy(update={"seq": seq + i + 1}) for i, c in enumerate(changes)]  # type: ignore[attr-defined]
    replica.apply_changes(numbered, seq + len(numbered))  # type: ignore[arg-type]


def _chain(terminal: Terminal) -> None:
    now = terminal.clock.now()
    stores = [
        p.StoreData(
            code="S001", name="人民广场店", region="华东", latitude=31.2336, longitude=121.4737
        ),
        p.StoreData(code="S002", name="西湖店", region="华东", latitude=30.2587, longitude=120.162),
        p.StoreData(
            code="S003", name="观前街店", region="华东", latitude=31.3106, longitude=120.6284
        ),
    ]
    levels = [("S001", 3_000), ("S002", 30_000), ("S003", 240_000)]
    _feed(
        terminal,
        *[p.StoreChange(seq=1, key=s.code, store=None, created_at=now, data=s) for s in stores],
        *[
            p.StockChange(
                seq=1,
                key=f"{store}:MT001",
                store=store,
                created_at=now,
                data=p.StockData(
                    store=store,
                    sku="MT001",
                    on_hand_milli=q,
                    reserved_milli=0,
                    available_milli=q,
                    updated_at=now - timedelta(seconds=3),
                ),
            )
            for store, q in levels
        ],
        p.AlertChange(
            seq=1,
            key="1",
            store="S001",
            created_at=now,
            data=p.StockAlertData(
                alert_id=1,
                store="S001",
                sku="MT001",
                kind="low",
                on_hand_milli=3_000,
                min_milli=10_000,
                created_at=now,
            ),
        ),
    )


def _printed_text(terminal: Terminal, qtbot, count: int) -> str:
    device = terminal.virtual_printer
    qtbot.waitUntil(lambda: len(device.jobs) >= count, timeout=5000)
    profile = terminal.device_settings.printer().printer_profile()
    data = device.jobs[count - 1]
    return decode(data, profile.encoding, chinese_at_power_on=not profile.chinese_mode).text


def _outbox_types(terminal: Terminal) -> list[str]:
    with read_session(terminal.engine) as s:
        return [str(r[0]) for r in s.execute(text("SELECT type FROM outbox ORDER BY seq"))]


def _open_stock(qtbot, window: MainWindow) -> None:
    sign_in(qtbot, window, *MANAGER)
    assert window.checkout.stock_button.isVisible()
    tap(qtbot, window.checkout.stock_button)
    assert window.stack.currentWidget() is window.stock_hub


def test_look_up_by_scan_nearest_first_and_request_from_a_row(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
) -> None:
    """GIVEN every store's level of 芋泥波波 and a low-stock alert for this store
    WHEN the manager opens 库存 (its badge shows the alert), scans the item and taps
    申请调拨 on S003's row with quantity 48
    THEN the levels list this store first, then S003 (nearest), then S002, each 3 s old;
    the request is an outbox event and shows on the transfers screen."""
    _chain(terminal)
    window.checkout.show_stock_alerts()
    assert window.checkout.stock_button.text() == "库存 ⚠1"
    _open_stock(qtbot, window)
    hub = window.stock_hub
    assert hub.lookup.alerts.count() == 1 and "低于下限" in hub.lookup.alerts.item(0).text()
    scan(qtbot, window, scan_clock, TARO_CODE, target=hub.lookup.query)
    table = hub.lookup.levels
    qtbot.waitUntil(lambda: table.rowCount() == 3)
    names = [table.item(r, 0).text() for r in range(3)]
    assert names[0].startswith("人民广场店") and names[1:] == ["观前街店", "西湖店"]
    assert table.item(1, 2).text() == "240"
    # A standalone till is offline: the last-known level with its (local) time.
    shown_at = (terminal.clock.now() - timedelta(seconds=3)).astimezone().strftime("%H:%M")
    assert table.item(1, 6).text() == f"离线 · 最后 {shown_at}"
    table.selectRow(1)
    hub.lookup.quantity.setValue(48)
    tap(qtbot, hub.lookup.request_button)
    assert "S001-T01-X00001" in hub.lookup.banner.text()
    assert _outbox_types(terminal) == ["transfer.requested"]
    tap(qtbot, hub.tabs["transfers"])
    assert hub.transfers.list.count() == 1
    assert "观前街" not in hub.transfers.list.item(0).text()  # codes, not names, in the list
    assert "S003" in hub.transfers.list.item(0).text()
    assert hub.transfers.buttons["cancel"].isVisible()
    tap(qtbot, hub.back_button)
    assert window.stack.currentWidget() is window.checkout


def test_approve_and_ship_a_request_prints_the_slip(
    qtbot, window: MainWindow, terminal: Terminal
) -> None:
    """GIVEN S002 asked this store for 48 of 芋泥波波
    WHEN the manager approves 40 (typed on the line) and ships
    THEN the steps are outbox events and the slip (调拨单) prints 48/40/-."""
    now = terminal.clock.now()
    data = p.TransferData(
        transfer_id=UUID("01900000-0000-7000-8000-0000000000cc"),
        transfer_no="S002-T01-X00001",
        from_store="S001",
        to_store="S002",
        state="requested",
        lines=[p.TransferLineData(sku="MT001", requested_milli=48_000)],
        requested_by="2004",
        requested_at=now,
        updated_at=now,
    )
    _feed(terminal, p.TransferChange(seq=1, key="t", store="S001", created_at=now, data=data))
    _open_stock(qtbot, window)
    hub = window.stock_hub
    tap(qtbot, hub.tabs["transfers"])
    screen = hub.transfers
    assert screen.buttons["approve"].isVisible() and screen.buttons["refuse"].isVisible()
    assert not screen.buttons["ship"].isVisible()
    screen.lines.item(0, 2).setText("40")
    tap(qtbot, screen.buttons["approve"])
    assert screen.buttons["ship"].isVisible()
    assert screen.lines.item(0, 3).text() == "40"
    tap(qtbot, screen.buttons["ship"])
    assert "已发货" in screen.banner.text()
    assert _outbox_types(terminal) == ["transfer.approved", "transfer.shipped"]
    slip = _printed_text(terminal, qtbot, 1)
    assert "调拨单" in slip and "S002-T01-X00001" in slip and "48/40/-" in slip


def test_count_scanned_submitted_and_approved_prints_the_variance(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
) -> None:
    _chain(terminal)
    _open_stock(qtbot, window)
    hub = window.stock_hub
    tap(qtbot, hub.tabs["count"])
    screen = hub.count
    screen.zone.setText("A1")
    tap(qtbot, screen.start_button)
    assert screen.scan_input.isVisible()
    for _ in range(2):
        scan(qtbot, window, scan_clock, TARO_CODE, target=screen.scan_input)
    qtbot.waitUntil(lambda: screen.table.rowCount() == 1 and screen.table.item(0, 1).text() == "2")
    tap(qtbot, screen.submit_button)
    assert screen.approve_button.isVisible()
    assert (screen.table.item(0, 2).text(), screen.table.item(0, 3).text()) == ("3", "-1")
    tap(qtbot, screen.approve_button)
    assert "已批准" in screen.banner.text()
    assert _outbox_types(terminal) == ["stock.count_submitted", "stock.count_decided"]
    report = _printed_text(terminal, qtbot, 1)
    assert "盘点差异报告" in report and "3/2/-1" in report


def test_goods_received_by_scan(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
) -> None:
    _open_stock(qtbot, window)
    hub = window.stock_hub
    tap(qtbot, hub.tabs["receive"])
    screen = hub.receive
    screen.document.setText("DN-7")
    for _ in range(3):
        scan(qtbot, window, scan_clock, TARO_CODE, target=screen.scan_input)
    qtbot.waitUntil(lambda: screen.table.rowCount() == 1 and screen.table.item(0, 1).text() == "3")
    tap(qtbot, screen.book_button)
    assert "已收货 1" in screen.banner.text()
    with read_session(terminal.engine) as s:
        payload = json.loads(s.execute(text("SELECT payload FROM outbox")).scalar_one())
    assert payload["document"] == "DN-7"
    assert payload["lines"] == [{"sku": "MT001", "qty_milli": 3_000}]


def test_a_cashier_sees_no_transfer_steps_and_cannot_request(
    qtbot, window: MainWindow, terminal: Terminal, scan_clock: FakeClock
) -> None:
    _chain(terminal)
    sign_in(qtbot, window)
    tap(qtbot, window.checkout.stock_button)
    hub = window.stock_hub
    scan(qtbot, window, scan_clock, TARO_CODE, target=hub.lookup.query)
    qtbot.waitUntil(lambda: hub.lookup.levels.rowCount() == 3)
    tap(qtbot, hub.lookup.request_button)
    assert hub.lookup.banner.text() == "需要店长权限"
    assert _outbox_types(terminal) == []


def _alert(terminal: Terminal, alert_id: int, kind: str, on_hand: int, **kw: object) -> object:
    now = terminal.clock.now()
    return p.AlertChange(
        seq=1,
        key=str(alert_id),
        store="S001",
        created_at=now,
        data=p.StockAlertData(
            alert_id=alert_id,
            store="S001",
            sku="MT001",
            kind=kind,  # type: ignore[arg-type]
            on_hand_milli=on_hand,
            created_at=now - timedelta(minutes=alert_id),
            **kw,  # type: ignore[arg-type]
        ),
    )


def test_alerts_say_how_much_is_short_in_both_languages(
    qtbot, window: MainWindow, terminal: Terminal
) -> None:
    """GIVEN HQ's alerts for 芋泥波波 at this store: below its minimum of 10 with 3 on hand
    (HQ: 7 short), a transfer that arrived 2 short, and a count 1.5 under what was expected
    WHEN the manager opens 库存, and then switches the till to English
    THEN each alert line says the quantity: 还差 7, 少到 2, 盘点差异 -1.5; and in English
    7 short, 2 did not arrive, count variance -1.5."""
    _feed(
        terminal,
        _alert(terminal, 1, "low", 3_000, min_milli=10_000, qty_milli=7_000),
        _alert(terminal, 2, "transfer_shortfall", 3_000, qty_milli=2_000, ref="T-1"),
        _alert(terminal, 3, "count_variance", 3_000, qty_milli=-1_500, ref="C-1"),
    )
    _open_stock(qtbot, window)
    alerts = window.stock_hub.lookup.alerts

    def lines() -> list[str]:
        return [alerts.item(i).text() for i in range(alerts.count())]

    assert lines() == [
        "芋泥波波：低于下限，还差 7，在库 3",
        "芋泥波波：调拨短缺，少到 2，在库 3",
        "芋泥波波：盘点差异 -1.5，在库 3",
    ]
    window.set_language("en")
    assert lines() == [
        "芋泥波波: below minimum, 7 short, on hand 3",
        "芋泥波波: transfer shortfall, 2 did not arrive, on hand 3",
        "芋泥波波: count variance -1.5, on hand 3",
    ]


def test_a_low_alert_without_hqs_quantity_works_it_out_from_the_minimum(
    qtbot, window: MainWindow, terminal: Terminal
) -> None:
    """GIVEN a low alert from an HQ that sent no quantity: minimum 10, 4 on hand
    WHEN the manager opens 库存
    THEN the alert says 还差 6."""
    _feed(terminal, _alert(terminal, 1, "low", 4_000, min_milli=10_000))
    _open_stock(qtbot, window)
    assert window.stock_hub.lookup.alerts.item(0).text() == "芋泥波波：低于下限，还差 6，在库 4"
