"""The console's discrepancies, kept reconciliation runs, menu page and grouped header in
a real browser, driven the way an HQ operator or a store manager uses them, against a
real uvicorn HQ whose data came from tills' pushes over HTTP (slow; skipped, saying why,
without /usr/bin/chromium)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from server_stub import models as m
from server_stub.console.queries import today
from server_stub.db import Database
from server_stub.paysim.bills import Booked, wechat_bill
from tests.console.conftest import PASSWORD, seed
from tests.console.test_browser import ARGS, CHROMIUM, nav_to
from tests.server.conftest import RunningHQ, start_hq_thread
from tests.server.paycode_data import HqPay, write
from tests.server.support import Chain, Device, fresh_database

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture(scope="module")
def live_hq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHQ]:
    with fresh_database("sqlite", tmp_path_factory.mktemp("console-ops")) as url:
        db = Database(url)
        seed(db)
        db.dispose()
        running = start_hq_thread(url)
        yield running
        running.stop()
        running.db.dispose()


@pytest.fixture(scope="module")
def chain(live_hq: RunningHQ) -> Chain:
    return Chain(live_hq.db, live_hq.url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _sign_in(browser: Any, hq: RunningHQ, username: str, width: int = 1280) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 800}, locale="zh-CN")
    page.goto(f"{hq.url}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/dashboard"))
    return page


def _push(chain: Chain, dev: Device, *events: dict[str, Any]) -> list[str]:
    r = httpx.post(
        f"{chain.url}/v1/sync/push", json={"events": list(events)}, headers=dev.headers, timeout=30
    )
    assert r.status_code == 200, r.text
    return [x["status"] for x in r.json()["results"]]


def _resolved(db: Database, kind: str) -> list[tuple[str, str | None, str | None]]:
    d = m.discrepancies
    with db.read() as conn:
        rows = conn.execute(
            select(d.c.store_code, d.c.resolved_by, d.c.resolution).where(d.c.kind == kind)
        )
        return [(r.store_code, r.resolved_by, r.resolution) for r in rows]


def test_a_store_manager_settles_an_unverified_staff_discrepancy_found_by_kind(
    browser: Any, live_hq: RunningHQ, chain: Chain
) -> None:
    """GIVEN S001's till and S002's till each pushed a sale naming a cashier HQ does not
    know (kept, flagged as unverified staff) WHEN S001's manager opens 差异处理 and picks
    员工未通过核验 THEN only S001's is listed; settling it with a note marks it settled by
    the console user; S002's cannot be settled from S001's session by a crafted request."""
    s001, s002 = chain.device("S001"), chain.device("S002")
    assert _push(chain, s001, chain.sale(s001, [("MT001", 1_000)], cashier="9999")) == ["applied"]
    assert _push(chain, s002, chain.sale(s002, [("MT001", 1_000)], cashier="9998")) == ["applied"]
    d = m.discrepancies
    with live_hq.db.read() as conn:
        other = conn.execute(
            select(d.c.id).where(d.c.kind == "unverified_staff", d.c.store_code == "S002")
        ).scalar_one()

    page = _sign_in(browser, live_hq, "s001")
    nav_to(page, "差异处理")
    page.select_option("#discrepancy-filter select[name=kind]", "unverified_staff")
    page.click("#discrepancy-filter button")
    rows = page.locator("#discrepancy-list tbody tr")
    assert rows.count() == 1
    assert "S001" in rows.first.inner_text() and "员工未通过核验" in rows.first.inner_text()
    rows.first.locator("input[name=note]").fill("9999 是新来的兼职，已补录")
    rows.first.locator("button[type=submit]").click()
    page.wait_for_selector("p.ok")
    assert "差异已处理" in page.inner_text("p.ok")
    assert sorted(_resolved(live_hq.db, "unverified_staff")) == [
        ("S001", "console:s001", "9999 是新来的兼职，已补录"),
        ("S002", None, None),
    ]
    assert page.locator("#discrepancy-list tbody tr[data-kind=unverified_staff]").count() == 0

    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    crafted = page.request.post(
        f"{live_hq.url}/console/discrepancies/{other}/resolve",
        form={"csrf": csrf, "note": "越权"},
        headers={"Origin": live_hq.url},
    )
    assert crafted.status == 403
    assert ("S002", None, None) in _resolved(live_hq.db, "unverified_staff")
    page.close()


def test_a_reconciled_day_reads_again_later_without_the_bill(
    browser: Any, live_hq: RunningHQ, tmp_path: Path
) -> None:
    """GIVEN an HQ admin reconciled yesterday's WeChat bill (one matched, one at HQ only)
    WHEN they come back to 支付对账 later and pick that day from the past runs THEN the
    kept counts and the mismatched line show without uploading the bill again."""
    day = today() - timedelta(days=1)
    noon = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=4)
    write(live_hq.db, "wechat_pay", [HqPay("S001-Q1", 1500, noon), HqPay("S001-Q2", 990, noon)], [])
    bill = tmp_path / "wechat.csv"
    bill.write_text(
        wechat_bill(
            "1900000109", "wx8888888888888888", [Booked("S001-Q1", 1500, noon, trade_no="T1")]
        ),
        encoding="utf-8",
    )
    page = _sign_in(browser, live_hq, "admin")
    nav_to(page, "支付对账")
    page.fill("#reconcile-form input[name=day]", day.isoformat())
    page.set_input_files("#reconcile-form input[name=statement]", str(bill))
    page.click("#reconcile-form button[type=submit]")
    page.wait_for_selector("#report")

    nav_to(page, "库存")  # somewhere else, then back
    nav_to(page, "支付对账")
    assert page.locator("#report").count() == 0
    page.locator(f"#runs tr[data-day='{day.isoformat()}'][data-provider=wechat] a").first.click()
    page.wait_for_selector("#kept")
    assert page.inner_text("#kept-matched .big") == "1"
    assert page.inner_text("#kept-hq-only .big") == "1"
    line = page.locator("#kept-lines tr[data-bucket=hq_only]")
    assert "S001-Q2" in line.inner_text() and "¥9.90" in line.inner_text()
    assert "console:admin" in page.inner_text("#kept-run")
    page.close()


MENU = {
    "categories": [{"code": "MILKTEA", "name_zh": "奶茶", "name_en": "Milk Tea"}],
    "groups": [
        {
            "code": "size",
            "name_zh": "杯型",
            "min_choices": 1,
            "max_choices": 1,
            "choices": [
                {"code": "medium", "name_zh": "中杯", "default": True},
                {"code": "large", "name_zh": "大杯", "price_fen": 300},
            ],
        }
    ],
    "tiles": [{"sku": "MT001", "category": "MILKTEA", "groups": ["size"]}],
}


def test_an_hq_admin_publishes_a_menu_after_its_preview_and_sees_sold_out_marks(
    browser: Any, live_hq: RunningHQ, chain: Chain, tmp_path: Path
) -> None:
    """GIVEN S001's till marked 芋泥波波 sold out today WHEN an HQ admin opens 菜单 THEN
    the mark is listed; uploading a menu whose tile names an unknown item shows why in
    Chinese and publishes nothing; uploading a sound one previews its tiles and, confirmed,
    lists it as the version in effect."""
    s001 = chain.device("S001")
    mark = chain.event(
        {
            "type": "menu.sold_out",
            "store": "S001",
            "terminal": s001.device_id,
            "sku": "MT002",
            "business_date": today().isoformat(),
            "sold_out": True,
            "staff": chain.cashier("S001"),
            "at": datetime.now(UTC).isoformat(),
        }
    )
    assert _push(chain, s001, mark) == ["applied"]
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(dict(MENU, tiles=[{"sku": "XX999", "category": "MILKTEA"}])), encoding="utf-8"
    )
    good = tmp_path / "menu.json"
    good.write_text(json.dumps(MENU, ensure_ascii=False), encoding="utf-8")

    page = _sign_in(browser, live_hq, "admin")
    nav_to(page, "菜单")
    sold = page.locator("#sold-out tr[data-store=S001][data-sku=MT002]")
    assert "芋泥波波" in sold.inner_text()
    page.set_input_files("#menu-form input[name=file]", str(bad))
    page.click("#menu-form button[type=submit]")
    page.wait_for_selector("#menu-problems")
    assert "磁贴 XX999：没有这个商品" in page.inner_text("#menu-problems")
    assert page.locator("#confirm-menu").count() == 0

    page.set_input_files("#menu-form input[name=file]", str(good))
    page.click("#menu-form button[type=submit]")
    page.wait_for_selector("#confirm-menu")
    assert "杨枝甘露" in page.inner_text("#menu-preview-tiles tr[data-sku=MT001]")
    assert "大杯 +¥3.00" in page.inner_text("#menu-preview-groups tr[data-group=size]")
    page.click("#confirm-menu")
    page.wait_for_url(re.compile(r".*done=menu_published.*"))
    current = page.locator("#menu-versions tr[data-state=in_effect]")
    assert current.count() == 1 and "全部门店" in current.inner_text()
    page.close()

    # A store manager sees the page, not the form; S002's does not see S001's marks.
    store_page = _sign_in(browser, live_hq, "s002")
    store_page.goto(f"{live_hq.url}/console/menu")
    assert store_page.locator("#menu-form").count() == 0
    assert store_page.locator("#sold-out tr[data-store=S001]").count() == 0
    csrf = store_page.locator("input[name=csrf]").first.get_attribute("value")
    crafted = store_page.request.post(
        f"{live_hq.url}/console/menu/publish",
        form={"csrf": csrf, "body": json.dumps(MENU), "store": "S002"},
        headers={"Origin": live_hq.url},
    )
    assert crafted.status == 403
    store_page.close()


@pytest.mark.parametrize("width", [1280, 1920])
def test_the_header_fits_one_line_and_its_menus_work_from_the_keyboard(
    browser: Any, live_hq: RunningHQ, width: int
) -> None:
    """GIVEN an HQ admin (every menu shown) on a {width} px wide screen THEN the header is
    one line high; Tab reaches the 销售 menu, Enter opens it and shows 价格, Escape closes
    it again, and the page the user is on marks its menu."""
    page = _sign_in(browser, live_hq, "admin", width=width)
    header = page.locator("header").bounding_box()
    brand = page.locator("header .brand").bounding_box()
    assert header["height"] < 2 * brand["height"] + 24, header  # one row, with padding
    nav = page.locator("header nav").bounding_box()
    me = page.locator("header .me").bounding_box()
    assert nav["x"] + nav["width"] <= me["x"]  # no overlap with the user's corner
    assert me["x"] + me["width"] <= width

    page.focus("header .brand")
    page.keyboard.press("Tab")  # 仪表盘
    page.keyboard.press("Tab")  # 销售
    assert page.evaluate("document.activeElement.textContent").startswith("销售")
    page.keyboard.press("Enter")
    prices = page.locator("header nav details[data-group=sales] a:text-is('价格')")
    assert prices.is_visible()
    page.keyboard.press("Escape")
    assert not prices.is_visible()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the first link: 价格
    page.wait_for_url(re.compile(r".*/console/prices"))
    assert "on" in (
        page.locator("header nav details[data-group=sales]").get_attribute("class") or ""
    )
    page.close()
