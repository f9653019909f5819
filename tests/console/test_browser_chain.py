"""The console's pages over the chain's flows in a real browser: transfers, stock counts,
reservations, shift over/short, returns and payment reconciliation, each driven the way an
HQ operator or a store manager uses it, against a real uvicorn HQ whose data came from
tills' pushes over HTTP (slow; skipped, saying why, without /usr/bin/chromium)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from server_stub import models as m
from server_stub import operations, reservations
from server_stub.audit import SYSTEM
from server_stub.console.queries import today
from server_stub.db import Database
from server_stub.paysim.bills import Booked, wechat_bill
from sync_client.contract import protocol as p
from tests.console.conftest import PASSWORD, seed
from tests.console.test_browser import ARGS, CHROMIUM, nav_to
from tests.server.conftest import RunningHQ, start_hq_thread
from tests.server.paycode_data import HqPay, write
from tests.server.return_helpers import returned
from tests.server.stock_helpers import request, step
from tests.server.support import Chain, Device, fresh_database

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
    ),
]


@dataclass
class Tills:
    chain: Chain
    s001: Device
    s002: Device
    manager1: str
    manager2: str

    def push(self, dev: Device, *events: dict[str, Any]) -> list[str]:
        r = httpx.post(
            f"{self.chain.url}/v1/sync/push",
            json={"events": list(events)},
            headers=dev.headers,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return [x["status"] for x in r.json()["results"]]


@pytest.fixture(scope="module")
def live_hq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHQ]:
    with fresh_database("sqlite", tmp_path_factory.mktemp("console-chain")) as url:
        db = Database(url)
        seed(db)
        db.dispose()
        running = start_hq_thread(url)
        yield running
        running.stop()
        running.db.dispose()


@pytest.fixture(scope="module")
def tills(live_hq: RunningHQ) -> Tills:
    chain = Chain(live_hq.db, live_hq.url)
    for store in ("S001", "S002"):
        operations.move_stock(live_hq.db, "receive", store, "MT001", 24_000, "到货")
    return Tills(
        chain,
        chain.device("S001"),
        chain.device("S002"),
        chain.staff("S001", "manager"),
        chain.staff("S002", "manager"),
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _sign_in(browser: Any, hq: RunningHQ, username: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page.goto(f"{hq.url}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/dashboard"))
    return page


def _audited(db: Database, action: str) -> list[tuple[str, str | None]]:
    a = m.audit_log
    with db.read() as conn:
        rows = conn.execute(select(a.c.actor, a.c.store_code).where(a.c.action == action))
        return [(r.actor, r.store_code) for r in rows]


def test_a_transfer_found_by_state_shows_its_steps_and_shortfall(
    browser: Any, live_hq: RunningHQ, tills: Tills
) -> None:
    """GIVEN S002 requested 10 杨枝甘露 from S001, S001 approved and shipped 10, S002
    received 8; and S002 has another request still open WHEN the regional manager opens
    调拨 THEN only the open request is listed; choosing 已收货 lists the finished one, and
    its page shows the four steps with who did them and 2 short."""
    t = tills
    done_id, requested = request(t.chain, t.s002, "S001", t.manager2, [("MT001", 10_000)])
    assert t.push(t.s002, requested) == ["applied"]
    lines = [("MT001", 10_000)]
    assert t.push(
        t.s001,
        step(t.chain, t.s001, "approved", done_id, t.manager1, lines),
        step(t.chain, t.s001, "shipped", done_id, t.manager1, lines),
    ) == ["applied", "applied"]
    received = step(t.chain, t.s002, "received", done_id, t.manager2, [("MT001", 8_000)])
    assert t.push(t.s002, received) == ["applied"]
    open_id, still_open = request(t.chain, t.s002, "S001", t.manager2, [("MT002", 3_000)])
    assert t.push(t.s002, still_open) == ["applied"]

    page = _sign_in(browser, live_hq, "east")
    nav_to(page, "调拨")
    rows = page.locator("#transfers tbody tr")
    assert rows.count() == 1 and "已申请" in rows.first.inner_text()
    assert rows.first.locator("a").get_attribute("href") == f"/console/transfers/{open_id}"
    page.select_option("#transfer-filter select[name=state]", "received")
    page.click("#transfer-filter button")
    row = page.locator("#transfers tbody tr")
    assert row.count() == 1 and "S001" in row.inner_text() and "已收货" in row.inner_text()
    row.locator("a").click()
    page.wait_for_url(re.compile(rf".*/console/transfers/{done_id}"))
    assert page.inner_text("#transfer-state") == "已收货"
    steps = page.locator("#steps tbody tr")
    assert [steps.nth(i).get_attribute("data-step") for i in range(steps.count())] == [
        "requested",
        "approved",
        "shipped",
        "received",
    ]
    assert t.manager1 in page.inner_text("#steps tr[data-step=shipped]")
    line = page.locator("#transfer-lines tr[data-sku=MT001]")
    assert "杨枝甘露" in line.inner_text()
    assert line.locator("td.short").inner_text() == "2"
    page.close()


def _count(t: Tills, counted_milli: int) -> tuple[uuid.UUID, dict[str, Any]]:
    cid = uuid.uuid4()
    at = datetime.now(UTC)
    return cid, t.chain.event(
        {
            "type": "stock.count_submitted",
            "count_id": str(cid),
            "count_no": f"C{cid.hex[:6]}",
            "store": "S001",
            "terminal": t.s001.device_id,
            "staff": t.manager1,
            "zone": "饮料区",
            "started_at": (at - timedelta(minutes=5)).isoformat(),
            "submitted_at": at.isoformat(),
            "lines": [
                {"sku": "MT002", "counted_milli": counted_milli, "counted_at": at.isoformat()}
            ],
        }
    )


def test_a_count_lists_by_state_and_its_variance_reads_after_approval(
    browser: Any, live_hq: RunningHQ, tills: Tills
) -> None:
    """GIVEN S001 counted 6 芋泥波波 (4 on the books) and its manager approved it at the
    till, and another count still awaits approval WHEN S001's manager opens 盘点 THEN both
    are listed; the approved one shows +2 as the variance; the pending one says it awaits
    the store manager's decision at the till and shows today's level beside the count."""
    t = tills
    operations.move_stock(live_hq.db, "receive", "S001", "MT002", 4_000, "到货")
    approved_id, submitted = _count(t, 6_000)
    decided = t.chain.event(
        {
            "type": "stock.count_decided",
            "count_id": str(approved_id),
            "store": "S001",
            "terminal": t.s001.device_id,
            "staff": t.manager1,
            "decided_at": datetime.now(UTC).isoformat(),
            "approved": True,
        }
    )
    pending_id, pending = _count(t, 5_000)
    assert t.push(t.s001, submitted, decided, pending) == ["applied"] * 3

    page = _sign_in(browser, live_hq, "s001")
    nav_to(page, "盘点")
    assert page.locator("#counts tbody tr").count() == 2
    assert page.locator("#counts tr[data-state=approved] td.num").last.inner_text() == "2"
    page.locator("#counts tr[data-state=approved] a").click()
    page.wait_for_url(re.compile(rf".*/console/counts/{approved_id}"))
    assert page.inner_text("#count-state") == "已审批"
    assert page.inner_text("#variance tr[data-sku=MT002] td.diff") == "2"
    page.goto(f"{live_hq.url}/console/counts/{pending_id}")
    assert "收银台审批" in page.inner_text("#count-pending")
    assert "当前库存 6" in page.inner_text("#variance tr[data-sku=MT002]")
    page.close()


def test_a_store_manager_cancels_an_online_reservation_and_the_stock_is_free(
    browser: Any, live_hq: RunningHQ, tills: Tills
) -> None:
    """GIVEN the mini-program holds 2 杨枝甘露 at S001 for order MP-1 WHEN S001's manager
    opens 线上预留 and cancels it THEN the page says so and shows it cancelled, S001's
    reserved quantity is back to 0, and the cancellation is audited as the console user;
    S002's manager does not see the order."""
    reservations.add_channel(live_hq.db, "mini", ["S001", "S002"], SYSTEM)
    channel = reservations.ChannelIdentity("mini", frozenset({"S001", "S002"}))
    req = p.ReservationRequest(
        order_id="MP-1", store="S001", lines=[p.SkuQty(sku="MT001", qty_milli=2_000)]
    )
    created, _ = reservations.reserve(live_hq.db, channel, req)
    assert created

    other = _sign_in(browser, live_hq, "s002")
    other.goto(f"{live_hq.url}/console/reservations")
    assert other.locator("#reservations tr[data-order=MP-1]").count() == 0
    other.close()

    page = _sign_in(browser, live_hq, "s001")
    nav_to(page, "线上预留")
    row = page.locator("#reservations tr[data-order=MP-1]")
    assert "已预留" in row.inner_text() and "MT001 × 2" in row.inner_text()
    row.locator("button.danger").click()
    page.wait_for_url(re.compile(r".*done=reservation_cancelled"))
    assert "预留已取消" in page.inner_text("main p.ok")
    assert "已取消" in page.locator("#reservations tr[data-order=MP-1]").inner_text()
    with live_hq.db.read() as conn:
        reserved = conn.execute(
            select(m.stock_levels.c.reserved_milli).where(
                m.stock_levels.c.store_code == "S001", m.stock_levels.c.sku == "MT001"
            )
        ).scalar_one()
    assert reserved == 0
    assert _audited(live_hq.db, "reservation.cancel") == [("console:s001", "S001")]
    page.close()


def _shift(t: Tills, dev: Device, staff: str, over_short_fen: int) -> list[dict[str, Any]]:
    shift_id = str(uuid.uuid4())
    opened_at = datetime.now(UTC) - timedelta(hours=5)
    base = {"shift_id": shift_id, "store": dev.store, "terminal": dev.device_id, "staff": staff}
    closed_at = opened_at + timedelta(hours=4)
    return [
        t.chain.event(
            {
                **base,
                "type": "shift.opened",
                "opened_at": opened_at.isoformat(),
                "float_fen": 50_000,
            }
        ),
        t.chain.event(
            {
                **base,
                "type": "shift.closed",
                "closed_at": closed_at.isoformat(),
                "expected_cash_fen": 60_000,
                "counted_cash_fen": 60_000 + over_short_fen,
                "over_short_fen": over_short_fen,
                "shift_no": f"{dev.device_id}-S{shift_id[:4]}",
                "business_date": today().isoformat(),
                "tenders": [
                    {
                        "kind": "cash",
                        "expected_fen": 60_000,
                        "counted_fen": 60_000 + over_short_fen,
                        "over_short_fen": over_short_fen,
                        "count": 3,
                    }
                ],
                "sales_count": 3,
                "sales_fen": 10_000,
            }
        ),
    ]


def test_shift_over_short_by_store_and_by_cashier_over_a_date_range(
    browser: Any, live_hq: RunningHQ, tills: Tills
) -> None:
    """GIVEN today S001's cashier 1001 closed a shift ¥2.00 short and S002's cashier 2001
    one ¥1.00 over WHEN an HQ admin opens 交班长短款 THEN by store S001 nets -¥2.00 and
    S002 ¥1.00; by cashier 1001 nets -¥2.00; a date range ending yesterday holds none."""
    t = tills
    assert t.push(t.s001, *_shift(t, t.s001, "1001", -200)) == ["applied"] * 2
    assert t.push(t.s002, *_shift(t, t.s002, "2001", 100)) == ["applied"] * 2

    page = _sign_in(browser, live_hq, "admin")
    nav_to(page, "交班长短款")
    assert page.inner_text("#over-short tr[data-key=S001] td.net") == "-¥2.00"
    assert page.inner_text("#over-short tr[data-key=S002] td.net") == "¥1.00"
    page.select_option("#shift-filter select[name=by]", "cashier")
    page.click("#shift-filter button")
    assert page.inner_text("#over-short tr[data-key='1001'] td.net") == "-¥2.00"
    assert page.inner_text("#over-short tr[data-key='2001'] td.net") == "¥1.00"
    yesterday = (today() - timedelta(days=1)).isoformat()
    page.fill("#shift-filter input[name=last]", yesterday)
    page.fill("#shift-filter input[name=first]", yesterday)
    page.click("#shift-filter button")
    assert page.locator("#over-short tbody tr").inner_text().strip() == "没有已交班的班次"
    page.close()


def test_a_return_links_to_its_sale_and_an_offline_double_return_is_a_discrepancy(
    browser: Any, live_hq: RunningHQ, tills: Tills
) -> None:
    """GIVEN S001 sold 2 杨枝甘露, S002 returned 1 of them (authorised by HQ), and then
    S001's till, offline, returned 2 more of the same line WHEN an HQ admin opens 退货 THEN
    both returns are listed, the offline one marked as a conflict, and the double return is
    an open discrepancy; a return's page links to the original sale, whose line shows 3
    returned."""
    t = tills
    sale = t.chain.sale(t.s001, [("MT001", 2_000)], price_fen=1600)
    assert t.push(t.s001, sale) == ["applied"]
    auth = httpx.post(
        f"{live_hq.url}/v1/returns/authorisations",
        json={
            "auth_id": str(uuid.uuid4()),
            "sale_id": sale["payload"]["sale_id"],
            "lines": [{"line_no": 1, "qty_milli": 1_000}],
        },
        headers=t.s002.headers,
    )
    assert auth.status_code == 201, auth.text
    cross = returned(t.chain, t.s002, sale, {1: 1_000}, auth_id=auth.json()["auth_id"])
    assert t.push(t.s002, cross) == ["applied"]
    offline = returned(t.chain, t.s001, sale, {1: 2_000})
    assert t.push(t.s001, offline) == ["applied"]

    page = _sign_in(browser, live_hq, "admin")
    nav_to(page, "退货")
    assert page.locator("#returns tbody tr").count() == 2
    conflict = page.locator("#returns tbody tr", has_text="离线冲突")
    assert conflict.count() == 1 and "S001" in conflict.inner_text()
    disc = page.locator("#discrepancies tr[data-kind=double_return]")
    assert "重复退货" in disc.inner_text() and "待处理" in disc.inner_text()
    assert "原销售第 1 行" in disc.inner_text()
    page.locator("#returns tbody tr", has_text="S002").locator("a").click()
    assert "S001" in page.inner_text("#original")
    assert "不想要了" in page.inner_text("#return-lines")  # the reason, in Chinese
    page.click("#original-sale")
    page.wait_for_url(re.compile(rf".*/console/sales/{sale['payload']['sale_id']}"))
    assert page.inner_text("#sale-lines tr[data-line='1'] td.returned") == "3"
    assert page.locator("#sale-returns tbody tr").count() == 2
    page.close()

    # S002's manager sees the return S002 made, not S001's sale behind it.
    store_page = _sign_in(browser, live_hq, "s002")
    store_page.goto(f"{live_hq.url}/console/returns")
    assert store_page.locator("#returns tbody tr").count() == 1
    store_page.locator("#returns tbody tr a").click()
    assert store_page.locator("#original-sale").count() == 0
    response = store_page.goto(f"{live_hq.url}/console/sales/{sale['payload']['sale_id']}")
    assert response.status == 403
    store_page.close()


def test_reconciling_a_day_shows_each_bucket_and_the_alerts_it_raised(
    browser: Any, live_hq: RunningHQ, tills: Tills, tmp_path: Path
) -> None:
    """GIVEN HQ holds three WeChat Pay payments of yesterday at S001 and WeChat's bill
    for that day has the first, the second for another amount, and one no till reported
    WHEN an HQ admin uploads the bill on 支付对账 THEN 1 matched, 1 at the provider only,
    1 at HQ only, 1 amount differs; three alerts are listed; the run is audited as the
    console user; a store manager sees the page without the form."""
    day = today() - timedelta(days=1)
    noon = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=4)  # 12:00 +08
    write(
        live_hq.db,
        "wechat_pay",
        [HqPay("S001-P1", 1500, noon), HqPay("S001-P2", 2800, noon), HqPay("S001-P3", 990, noon)],
        [],
    )
    bill = tmp_path / "wechat.csv"
    bill.write_text(
        wechat_bill(
            "1900000109",
            "wx8888888888888888",
            [
                Booked("S001-P1", 1500, noon, trade_no="T1"),
                Booked("S001-P2", 2900, noon, trade_no="T2"),
                Booked("S001-P9", 1200, noon, trade_no="T9"),
            ],
        ),
        encoding="utf-8",
    )
    page = _sign_in(browser, live_hq, "admin")
    nav_to(page, "支付对账")
    page.select_option("#reconcile-form select[name=provider]", "wechat")
    page.fill("#reconcile-form input[name=day]", day.isoformat())
    page.set_input_files("#reconcile-form input[name=statement]", str(bill))
    page.click("#reconcile-form button[type=submit]")
    page.wait_for_selector("#report")
    assert page.inner_text("#matched .big") == "1"
    assert page.inner_text("#provider-only .big") == "1"
    assert page.inner_text("#hq-only .big") == "1"
    assert page.inner_text("#amount-differs .big") == "1"
    differs = page.locator("#report-lines tr[data-bucket=amount_differs]").inner_text()
    assert "S001-P2" in differs and "¥29.00" in differs and "¥28.00" in differs
    assert page.locator("#payment-alerts tbody tr").count() == 3
    assert _audited(live_hq.db, "console.reconcile") == [("console:admin", None)]
    page.close()

    store_page = _sign_in(browser, live_hq, "s001")
    store_page.goto(f"{live_hq.url}/console/reconcile")
    assert store_page.locator("#reconcile-form").count() == 0
    # The provider-only payment names no store: only users who see every store see it.
    kinds = store_page.locator("#payment-alerts tbody tr")
    assert sorted(kinds.nth(i).get_attribute("data-kind") for i in range(kinds.count())) == [
        "payment_amount_differs",
        "payment_hq_only",
    ]
    store_page.close()
