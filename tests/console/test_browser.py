"""The HQ console in a real browser: Playwright driving Debian's Chromium against a real
uvicorn HQ on a loopback port (slow; skipped, saying why, without /usr/bin/chromium)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server_stub import operations
from server_stub.db import Database
from tests.console.conftest import PASSWORD, seed
from tests.server.conftest import RunningHQ, start_hq_thread
from tests.server.support import Chain, fresh_database

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture(scope="module")
def live_hq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHQ]:
    with fresh_database("sqlite", tmp_path_factory.mktemp("console-browser")) as url:
        db = Database(url)
        seed(db)
        db.dispose()
        running = start_hq_thread(url)
        yield running
        running.stop()
        running.db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def nav_to(page: Any, label: str) -> None:
    """Goes to the page ``label`` the way a user does: opens the header menu holding it,
    then clicks it."""
    menu = page.locator("header nav details.menu", has=page.locator(f"a:text-is('{label}')"))
    menu.locator("summary").click()
    menu.locator(f"a:text-is('{label}')").click()


def _sign_in(browser: Any, hq: RunningHQ, username: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page.goto(f"{hq.url}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/dashboard"))
    return page


def test_a_sale_pushed_to_hq_shows_on_the_signed_in_dashboard(
    browser: Any, live_hq: RunningHQ
) -> None:
    """GIVEN an HQ admin signed in (zh_CN) on the dashboard WHEN a till of S001 pushes a
    ¥32 sale THEN the day's total on the open page becomes ¥32.00 without a reload."""
    page = _sign_in(browser, live_hq, "admin")
    assert page.inner_text("h1") == "仪表盘"
    total = page.locator("#total")
    assert total.inner_text() == "¥0.00"
    chain = Chain(live_hq.db, live_hq.url)
    device = chain.device("S001")
    sale = chain.sale(device, [("MT001", 2000)], price_fen=1600, cashier="1001")
    r = httpx.post(f"{live_hq.url}/v1/sync/push", json={"events": [sale]}, headers=device.headers)
    assert r.status_code == 200, r.text
    page.wait_for_function("document.querySelector('#total').innerText === '¥32.00'")
    assert "S001" in page.inner_text("#sales-by-store")
    page.close()


def test_a_store_manager_of_s001_is_refused_s002_in_the_browser(
    browser: Any, live_hq: RunningHQ
) -> None:
    page = _sign_in(browser, live_hq, "s001")
    assert "S002" not in page.inner_text("main")
    response = page.goto(f"{live_hq.url}/console/stock?store=S002")
    assert response.status == 403
    assert "门店仅能操作本店数据" in page.inner_text("main")
    page.close()


def test_a_store_price_scheduled_then_cancelled_in_the_browser(
    browser: Any, live_hq: RunningHQ
) -> None:
    page = _sign_in(browser, live_hq, "s001")
    page.goto(f"{live_hq.url}/console/prices")
    page.fill("#price-form input[name=sku]", "MT002")
    page.fill("#price-form input[name=price]", "9.90")
    page.select_option("#price-form select[name=store]", "S001")
    page.fill("#price-form input[name=effective_at]", "2099-01-01T08:00")
    page.click("#price-form button[type=submit]")
    row = page.locator("#price-versions tr", has_text="¥9.90")
    assert "待生效" in row.inner_text()
    row.locator("button.danger").click()
    assert "已取消" in page.locator("#price-versions tr", has_text="¥9.90").inner_text()
    page.close()


def test_member_phone_masked_until_revealed_and_the_reveal_audited(
    browser: Any, live_hq: RunningHQ
) -> None:
    from server_stub import members

    detail = members.add_member(
        live_hq.db,
        live_hq.keys,
        members.Actor("test:seed"),
        name="李雷",
        phone="13800001234",
        consent_version="v1",
    )
    page = _sign_in(browser, live_hq, "admin")
    page.goto(f"{live_hq.url}/console/members?find=13800001234")
    assert page.inner_text("#found td.phone") == "138****1234"
    page.click(f"text={detail.number}")
    page.click("#reveal")
    page.wait_for_selector("#phone.revealed")
    assert page.inner_text("#phone") == "13800001234"
    entries = members.audit_entries(live_hq.db, member=detail.number, action="member.show")
    assert any(e.detail == {"reveal": True} and e.actor == "console:admin" for e in entries)
    page.close()


def test_enrolling_a_terminal_shows_its_qr(browser: Any, live_hq: RunningHQ) -> None:
    page = _sign_in(browser, live_hq, "s001")
    page.goto(f"{live_hq.url}/console/devices")
    page.click("text=生成注册码")
    assert page.locator("#enrol svg").count() == 1
    code = page.inner_text("#enrol-code")
    assert len(code) >= 8
    page.close()


def test_catalogue_csv_preview_then_confirm(
    browser: Any, live_hq: RunningHQ, tmp_path: Path
) -> None:
    csv = tmp_path / "items.csv"
    csv.write_text(
        "sku,name_zh,name_en,unit,barcodes,category,active,price\n"
        "MT001,杨枝甘露,Mango pomelo sago,piece,6900000000017,饮品,1,17\n"
        "BK001,肉松小贝,Floss cake,piece,6900000000031,烘焙,1,9.5\n",
        encoding="utf-8",
    )
    page = _sign_in(browser, live_hq, "admin")
    page.goto(f"{live_hq.url}/console/catalog")
    page.set_input_files("input[name=file]", str(csv))
    page.click("text=预览")
    page.wait_for_selector("#preview-lines")
    text = page.inner_text("#preview-lines")
    assert "BK001" in text and "新建" in text and "¥17.00" in text
    with live_hq.db.read() as conn:
        from sqlalchemy import select

        from server_stub import models as m

        assert conn.execute(select(m.items.c.sku).where(m.items.c.sku == "BK001")).first() is None
    page.click("#confirm-import")
    page.wait_for_url(re.compile(r".*done=catalog_imported"))
    assert "肉松小贝" in page.inner_text("#items")
    assert operations.item_unit(live_hq.db, "BK001") == "piece"
    page.close()
