"""Online orders at the till, driven through the screens against a real HQ on loopback:
a pick-up order (到店自提) marked ready and handed over by scanning its code, and the
warning when a cashier sells stock an online order holds.

HQ is the real app on uvicorn (SQLite) seeded with the demo chain; the channel reserves
over HTTP as a mini-program would; the till is enrolled at S002 and syncs on its own
thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from server_stub import models as m
from server_stub import operations, reservations
from server_stub.audit import SYSTEM
from server_stub.embedded import EmbeddedHQ
from tests.server.reservation_helpers import level
from tests.ui.helpers import scan, tap
from tests.ui.test_members_ui import WAIT, Till, hq  # noqa: F401  (the HQ fixture)

TARO = "6954321100014"  # 芋泥波波 ¥15.00
TARO_SKU = "MT001"
STORE = "S002"


@pytest.fixture
def till(qtbot, qapp, hq: EmbeddedHQ, tmp_path: Path) -> Iterator[Till]:  # noqa: F811
    on_hand, _ = level(hq.db, STORE, TARO_SKU)
    operations.move_stock(hq.db, "adjust", STORE, TARO_SKU, 5000 - on_hand, "counted: 5")
    t = Till(qtbot, qapp, hq, tmp_path / "till")
    yield t
    t.close()


@pytest.fixture
def channel(hq: EmbeddedHQ) -> Iterator[httpx.Client]:  # noqa: F811
    token = reservations.add_channel(hq.db, "mini", [STORE], SYSTEM)
    with httpx.Client(
        base_url=hq.url, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        yield c


def _reserve(channel: httpx.Client, order_id: str, qty: int, *, pickup: bool) -> dict[str, Any]:
    body = {
        "order_id": order_id,
        "store": STORE,
        "lines": [{"sku": TARO_SKU, "qty_milli": qty}],
        "pickup": pickup,
    }
    r = channel.post("/v1/channel/reservations", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _channel_sales(hq: EmbeddedHQ) -> int:  # noqa: F811
    with hq.db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    m.sale_tenders.c.kind == "channel", m.sale_tenders.c.reference == "MP-1"
                )
            ).scalar_one()
        )


def test_a_pickup_order_marked_ready_and_scanned_becomes_exactly_one_sale(
    qtbot,
    hq: EmbeddedHQ,  # noqa: F811
    till: Till,
    channel: httpx.Client,
) -> None:
    """GIVEN a mini-program order of 2 芋泥波波 for pick-up at S002, paid WHEN the
    cashier opens 待自提, marks it ready and scans the customer's pick-up code THEN HQ
    has it ready, then collected by one sale paid online; on hand and reserved at HQ each
    drop by 2 once; the list is empty and scanning the code again sells nothing."""
    _reserve(channel, "MP-1", 2000, pickup=True)
    paid = channel.post("/v1/channel/reservations/MP-1/confirm").json()
    code = paid["pickup_code"]
    win = till.win
    qtbot.waitUntil(lambda: win.checkout.pickups_button.text() == "待自提（1）", timeout=WAIT)

    tap(qtbot, win.checkout.pickups_button)
    screen = win.pickup_screen
    assert win.stack.currentWidget() is screen
    assert screen.list.count() == 1
    assert "MP-1" in screen.list.item(0).text() and "待备货" in screen.list.item(0).text()
    screen.list.setCurrentRow(0)
    tap(qtbot, screen.ready_button)
    qtbot.waitUntil(lambda: "已备好" in screen.banner.text(), timeout=WAIT)
    assert channel.get("/v1/channel/reservations/MP-1").json()["ready"] is True

    scan(qtbot, win, till.clock, code, target=screen.code_input)
    qtbot.waitUntil(lambda: "已交付" in screen.banner.text(), timeout=WAIT)
    assert "¥30.00" in screen.banner.text()
    assert screen.list.count() == 0
    qtbot.waitUntil(
        lambda: channel.get("/v1/channel/reservations/MP-1").json()["status"] == "collected",
        timeout=WAIT,
    )
    assert level(hq.db, STORE, TARO_SKU) == (3000, 0)
    assert _channel_sales(hq) == 1

    scan(qtbot, win, till.clock, code, target=screen.code_input)
    qtbot.waitUntil(lambda: "不匹配" in screen.banner.text(), timeout=WAIT)
    assert _channel_sales(hq) == 1
    tap(qtbot, screen.back_button)
    assert win.stack.currentWidget() is win.checkout
    assert win.checkout.pickups_button.text() == "待自提"


def test_selling_stock_an_online_order_holds_warns_and_the_cashier_decides(
    qtbot,
    hq: EmbeddedHQ,  # noqa: F811
    till: Till,
    channel: httpx.Client,
) -> None:
    """GIVEN 5 芋泥波波 at S002 of which a delivery order holds 4 WHEN the cashier scans
    one (fine), then a second THEN a dialog says they are reserved for online orders;
    keeping them for the order takes the second off the cart; selling anyway keeps it,
    and once the sale reaches HQ the conflict is recorded for the manager."""
    _reserve(channel, "DL-9", 4000, pickup=False)
    win = till.win
    qtbot.waitUntil(
        lambda: (
            till.terminal.pickups is not None
            and till.terminal.pickups.reserved_warning(
                till.terminal.catalog.scan(TARO).item.item_id, 2000
            )
            is not None
        ),
        timeout=WAIT,
    )
    scan(qtbot, win, till.clock, TARO)
    qtbot.waitUntil(lambda: win.checkout.model.rowCount() == 1, timeout=WAIT)
    assert win.checkout.reserved_dialog is None

    scan(qtbot, win, till.clock, TARO)
    qtbot.waitUntil(lambda: win.checkout.reserved_dialog is not None, timeout=WAIT)
    dialog = win.checkout.reserved_dialog
    assert dialog is not None
    assert dialog.windowTitle() == "已被线上订单预订"
    assert "本店可售 1" in dialog.text.text() and "已预订 4" in dialog.text.text()
    tap(qtbot, dialog.keep)
    qtbot.waitUntil(lambda: win.checkout.reserved_dialog is None, timeout=WAIT)
    assert win.vm.draft is not None
    assert [ln.qty_milli for ln in win.vm.draft.cart.lines] == [1000]

    scan(qtbot, win, till.clock, TARO)
    qtbot.waitUntil(lambda: win.checkout.reserved_dialog is not None, timeout=WAIT)
    dialog = win.checkout.reserved_dialog
    assert dialog is not None
    tap(qtbot, dialog.sell)
    qtbot.waitUntil(lambda: win.checkout.reserved_dialog is None, timeout=WAIT)
    assert sum(ln.qty_milli for ln in win.vm.draft.cart.lines) == 2000

    tap(qtbot, win.checkout.pay)
    tap(qtbot, win.tender.exact)
    qtbot.waitUntil(lambda: win.stack.currentWidget() is win.done, timeout=WAIT)
    qtbot.waitUntil(lambda: len(reservations.list_conflicts(hq.db, STORE)) == 1, timeout=WAIT)
    (conflict,) = reservations.list_conflicts(hq.db, STORE)
    assert conflict.orders == ("mini:DL-9",)
    assert level(hq.db, STORE, TARO_SKU) == (3000, 4000)
