"""Screenshots of every HQ console page (zh_CN, 1280×800 PNG) for ``docs/screens``.

``python -m server_stub.console.screenshots --out docs/screens`` starts an HQ on demo data
in a temporary SQLite database, signs in as an HQ admin in Debian's Chromium (Playwright)
and saves ``console-<page>.png``. Needs ``/usr/bin/chromium`` and the ``playwright``
package (dev extras).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "console demo 2025"
FONTS = Path(__file__).resolve().parents[2] / "resources" / "fonts"
DEMO_MENU: dict[str, Any] = {
    "categories": [
        {"code": "DRINK", "name_zh": "饮品", "name_en": "Drinks"},
        {"code": "BAKERY", "name_zh": "烘焙", "name_en": "Bakery"},
    ],
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
    "tiles": [
        {"sku": "MT001", "category": "DRINK", "groups": ["size"]},
        {"sku": "MT002", "category": "DRINK", "groups": ["size"]},
        {"sku": "BK001", "category": "BAKERY"},
    ],
}


def _fontconfig(tmp: str) -> dict[str, str | float | bool]:
    """Chromium's environment with the project's CJK font added to fontconfig, so the
    pages read in Chinese on machines without CJK fonts of their own."""
    conf = Path(tmp) / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"<dir>{FONTS}</dir><cachedir>{tmp}/fc-cache</cachedir></fontconfig>",
        encoding="utf-8",
    )
    return {**os.environ, "FONTCONFIG_FILE": str(conf)}


def _seed(db_url: str) -> str:
    """Demo stores, items, staff, prices, a member and an admin; returns a member number."""
    from server_stub import members, operations
    from server_stub.console import users
    from server_stub.db import Database, migrate
    from server_stub.member_keys import resolve_keys
    from server_stub.schemas import StaffIn

    db = Database(db_url)
    try:
        migrate(db)
        for code, name, region in (
            ("S001", "人民广场店", "华东"),
            ("S002", "静安寺店", "华东"),
            ("S003", "天河店", "华南"),
        ):
            operations.add_store(db, code, name)
            operations.set_store_region(db, code, region)
        catalog = (
            "sku,name_zh,name_en,unit,barcodes,category,active,price\n"
            "MT001,杨枝甘露,Mango pomelo sago,piece,6900000000017,饮品,1,16\n"
            "MT002,芋泥波波,Taro boba,piece,6900000000024,饮品,1,18\n"
            "BK001,肉松小贝,Floss cake,piece,6900000000031,烘焙,1,9.5\n"
        )
        operations.import_catalog(db, operations.parse_catalog_csv(catalog))
        operations.set_price(db, "MT002", 1600, datetime.now(UTC) + timedelta(days=1), ["S001"])
        for number, store, role in (("1001", "S001", "cashier"), ("1002", "S001", "supervisor")):
            body = StaffIn(number=number, store=store, name="王芳", role=role, pin="1234")  # type: ignore[arg-type]
            operations.add_staff(db, body)
        operations.move_stock(db, "receive", "S001", "MT001", 24_000, "到货")
        actor = members.Actor("cli:screenshots")
        users.add_user(
            db, actor, username="admin", display_name="王丽", password=PASSWORD, role="hq_admin"
        )
        keys = resolve_keys(db_url, None)
        member = members.add_member(
            db, keys, actor, name="李雷", phone="13800001234", consent_version="v1"
        )
        _till_day(db, keys)
        return member.number
    finally:
        db.dispose()


class _Till:
    """An enrolled till pushing events straight through HQ's ingest."""

    def __init__(self, db: Any, keys: Any, store: str) -> None:
        from server_stub import operations
        from server_stub.auth import DeviceIdentity
        from sync_client.contract import protocol as p

        code = operations.create_enroll_code(db, store).code
        answer = operations.enroll(
            db, keys, p.EnrollRequest(store=store, code=code, device_name="收银台")
        )
        self.db = db
        self.device = DeviceIdentity(answer.device_id, store)
        self.seq = 0

    @property
    def id(self) -> str:
        return self.device.device_id

    def push(self, *payloads: dict[str, Any]) -> None:
        from server_stub import ingest

        events = []
        for payload in payloads:
            self.seq += 1
            events.append(
                {
                    "id": str(uuid.uuid4()),
                    "device_seq": self.seq,
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "payload": {"store": self.device.store, "terminal": self.id, **payload},
                }
            )
        out = ingest.push(self.db, self.device, events).response
        refused = [r for r in out.results if r.status == "rejected"]
        assert not refused, refused


def _sale(
    till: _Till, receipt: str, lines: list[tuple[str, str, int, int]], at: datetime, **tender: Any
) -> dict[str, Any]:
    """A sale of ``(sku, name, qty_milli, unit_price_fen)`` lines, paid by one tender."""
    body = []
    total = 0
    for n, (sku, name, qty, price) in enumerate(lines, start=1):
        amount = price * qty // 1000
        total += amount
        body.append(
            {
                "line_no": n,
                "sku": sku,
                "name": name,
                "unit": "piece",
                "qty_milli": qty,
                "unit_price_fen": price,
                "price_version": 1,
                "list_amount_fen": amount,
                "discount_fen": 0,
                "amount_fen": amount,
            }
        )
    return {
        "type": "sale.completed",
        "sale_id": str(uuid.uuid4()),
        "receipt_no": receipt,
        "cashier": "1001" if till.device.store == "S001" else "2002",
        "started_at": at.isoformat(),
        "completed_at": at.isoformat(),
        "lines": body,
        "subtotal_fen": total,
        "discount_fen": 0,
        "rounding_fen": 0,
        "total_fen": total,
        "tenders": [{"kind": "cash", "amount_fen": total, "tendered_fen": total, **tender}],
        "change_fen": 0,
    }


def _till_day(db: Any, keys: Any) -> None:
    """A day at the tills of S001 and S002, pushed through the ingest as tills push it:
    sales (one by WeChat Pay), a return and an offline double return, a transfer received
    short and one still open, an approved and a pending count, closed shifts with
    over/short, and an online order holding stock."""
    from server_stub import menu, operations, reservations
    from server_stub.audit import SYSTEM
    from server_stub.console.queries import today
    from server_stub.schemas import StaffIn
    from sync_client.contract import protocol as p

    for number, store, role in (("1003", "S001", "manager"), ("2001", "S002", "manager")):
        operations.add_staff(
            db,
            StaffIn(number=number, store=store, name="张伟", role=role, pin="1234"),  # type: ignore[arg-type]
        )
    operations.add_staff(
        db,
        StaffIn(number="2002", store="S002", name="刘洋", role="cashier", pin="1234"),
    )
    operations.move_stock(db, "receive", "S002", "MT001", 12_000, "到货")
    operations.move_stock(db, "receive", "S001", "BK001", 30_000, "到货")
    operations.move_stock(db, "receive", "S001", "MT002", 12_000, "到货")
    s1, s2 = _Till(db, keys, "S001"), _Till(db, keys, "S002")
    now = datetime.now(UTC)
    sold = _sale(s1, "S001-0001", [("MT001", "杨枝甘露", 2_000, 1600)], now - timedelta(hours=3))
    paid = _sale(
        s1,
        "S001-0002",
        [("BK001", "肉松小贝", 3_000, 950)],
        now - timedelta(hours=2),
        kind="wechat_pay",
        reference="S001-T01-P000002",
    )
    paid["tenders"][0].pop("tendered_fen")
    s1.push(sold, paid, _sale(s1, "S001-0003", [("MT002", "芋泥波波", 1_000, 1800)], now))
    s2.push(_sale(s2, "S002-0001", [("MT001", "杨枝甘露", 1_000, 1600)], now))
    line = sold["lines"][0]
    back = {
        "type": "sale.returned",
        "receipt_no": "S001-R0001",
        "cashier": "1001",
        "returned_at": now.isoformat(),
        "original": {
            "sale_id": sold["sale_id"],
            "store": "S001",
            "terminal": s1.id,
            "receipt_no": sold["receipt_no"],
        },
        "authorisation": None,
        "lines": [
            {
                "line_no": 1,
                "original_line_no": 1,
                "sku": line["sku"],
                "name": line["name"],
                "unit": "piece",
                "qty_milli": 2_000,
                "unit_price_fen": 1600,
                "refund_fen": 3200,
                "restock": "sellable",
                "reason": "changed_mind",
            }
        ],
        "refund_fen": 3200,
        "refunds": [{"kind": "cash", "amount_fen": 3200}],
        "approvals": [],
    }
    s1.push({**back, "return_id": str(uuid.uuid4())})
    s1.push({**back, "return_id": str(uuid.uuid4()), "receipt_no": "S001-R0002"})
    done, still = uuid.uuid4(), uuid.uuid4()
    water = [{"sku": "MT001", "qty_milli": 6_000}]

    def step(kind: str, tid: uuid.UUID, staff: str, lines: list[dict[str, Any]], **x: Any) -> Any:
        return {
            "type": f"transfer.{kind}",
            "transfer_id": str(tid),
            "staff": staff,
            "at": datetime.now(UTC).isoformat(),
            "lines": lines,
            **x,
        }

    s1.push(step("requested", done, "1003", water, from_store="S002", transfer_no="TR-0001"))
    s2.push(step("approved", done, "2001", water), step("shipped", done, "2001", water))
    s1.push(step("received", done, "1003", [{"sku": "MT001", "qty_milli": 5_000}]))
    s2.push(
        step(
            "requested",
            still,
            "2001",
            [{"sku": "BK001", "qty_milli": 4_000}],
            from_store="S001",
            transfer_no="TR-0002",
        )
    )
    for approved, counted in ((True, 20_000), (None, 26_000)):
        cid = uuid.uuid4()
        s1.push(
            {
                "type": "stock.count_submitted",
                "count_id": str(cid),
                "count_no": f"PD-{cid.hex[:4].upper()}",
                "staff": "1003",
                "zone": "饮品区",
                "started_at": (now - timedelta(minutes=20)).isoformat(),
                "submitted_at": now.isoformat(),
                "lines": [
                    {"sku": "MT001", "counted_milli": counted, "counted_at": now.isoformat()},
                    {"sku": "BK001", "counted_milli": 27_000, "counted_at": now.isoformat()},
                ],
            }
        )
        if approved:
            s1.push(
                {
                    "type": "stock.count_decided",
                    "count_id": str(cid),
                    "staff": "1003",
                    "decided_at": now.isoformat(),
                    "approved": True,
                }
            )
    for till, staff, over_short in ((s1, "1001", -200), (s2, "2002", 100)):
        shift_id = str(uuid.uuid4())
        base = {"shift_id": shift_id, "staff": staff}
        till.push(
            {
                **base,
                "type": "shift.opened",
                "opened_at": (now - timedelta(hours=9)).isoformat(),
                "float_fen": 50_000,
            },
            {
                **base,
                "type": "shift.closed",
                "closed_at": (now - timedelta(hours=1)).isoformat(),
                "expected_cash_fen": 60_000,
                "counted_cash_fen": 60_000 + over_short,
                "over_short_fen": over_short,
                "shift_no": f"{till.id}-S0001",
                "business_date": today().isoformat(),
                "tenders": [
                    {
                        "kind": "cash",
                        "expected_fen": 60_000,
                        "counted_fen": 60_000 + over_short,
                        "over_short_fen": over_short,
                        "count": 3,
                    }
                ],
                "sales_count": 3,
                "sales_fen": 10_000,
            },
        )
    # A sale naming a cashier HQ does not know (kept, flagged for a manager), a sold-out
    # mark, and the chain's menu.
    s2.push(
        {**_sale(s2, "S002-0002", [("MT002", "芋泥波波", 1_000, 1800)], now), "cashier": "2999"}
    )
    s1.push(
        {
            "type": "menu.sold_out",
            "sku": "MT002",
            "business_date": today().isoformat(),
            "sold_out": True,
            "staff": "1001",
            "at": now.isoformat(),
        }
    )
    menu.publish_menu(db, DEMO_MENU, actor=SYSTEM)
    reservations.add_channel(db, "小程序", ["S001"], SYSTEM)
    reservations.reserve(
        db,
        reservations.ChannelIdentity("小程序", frozenset({"S001"})),
        p.ReservationRequest(
            order_id="MP20261204001",
            store="S001",
            lines=[p.SkuQty(sku="BK001", qty_milli=2_000)],
            pickup=True,
        ),
    )


def _bill(tmp: str) -> Path:
    """WeChat Pay's bill of today: the till's payment for another amount, and one no till
    reported."""
    from server_stub.paysim.bills import Booked, wechat_bill

    now = datetime.now(UTC)
    path = Path(tmp) / "wechat-bill.csv"
    rows = [
        Booked("S001-T01-P000002", 2900, now, trade_no="4200000001"),
        Booked("S001-T01-P000009", 1200, now, trade_no="4200000009"),
    ]
    path.write_text(wechat_bill("1900000109", "wx8888888888888888", rows), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    from server_stub.console.queries import today
    from server_stub.embedded import EmbeddedHQ
    from server_stub.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screens"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/hq.sqlite3"
        member = _seed(db_url)
        hq = EmbeddedHQ(Settings(db_url=db_url, port=0, hq_url="https://hq.example.cn")).start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, args=ARGS, env=_fontconfig(tmp)
                )
                page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
                page.goto(f"{hq.url}/console/login")
                page.screenshot(path=str(args.out / "console-login.png"))
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url("**/console/dashboard")
                shots = [
                    ("dashboard", "/console/dashboard"),
                    ("prices", "/console/prices"),
                    ("catalog", "/console/catalog"),
                    ("stock", "/console/stock"),
                    ("members", "/console/members?find=13800001234"),
                    ("member", f"/console/members/{member}"),
                    ("staff", "/console/staff"),
                    ("devices", "/console/devices"),
                    ("users", "/console/users"),
                    ("reports", "/console/reports"),
                    ("audit", "/console/audit"),
                    ("transfers", "/console/transfers?state=all"),
                    ("counts", "/console/counts"),
                    ("reservations", "/console/reservations"),
                    ("shifts", "/console/shifts"),
                    ("returns", "/console/returns"),
                    ("menu", "/console/menu"),
                    ("discrepancies", "/console/discrepancies"),
                ]
                for name, path in shots:
                    page.goto(f"{hq.url}{path}")
                    page.screenshot(path=str(args.out / f"console-{name}.png"))
                for name, table in (
                    ("transfer", "#transfers tr[data-state=received]"),
                    ("count", "#counts tr[data-state=approved]"),
                    ("return", "#returns"),
                ):
                    page.goto(
                        f"{hq.url}/console/{name}s" + ("?state=all" if name == "transfer" else "")
                    )
                    page.locator(f"{table} a").first.click()
                    page.wait_for_load_state()
                    page.screenshot(path=str(args.out / f"console-{name}.png"))
                    if name == "return":
                        page.click("#original-sale")
                        page.wait_for_load_state()
                        page.screenshot(path=str(args.out / "console-sale.png"))
                page.goto(f"{hq.url}/console/reconcile")
                page.fill("#reconcile-form input[name=day]", today().isoformat())
                page.set_input_files("#reconcile-form input[name=statement]", str(_bill(tmp)))
                page.click("#reconcile-form button[type=submit]")
                page.wait_for_selector("#report")
                page.screenshot(path=str(args.out / "console-reconcile.png"), full_page=True)
                page.click("header nav details[data-group=sales] summary")
                page.screenshot(path=str(args.out / "console-nav.png"))
                page.keyboard.press("Escape")
                page.goto(f"{hq.url}/console/devices")
                page.click("text=生成注册码")
                # The button posts and redirects: a screenshot mid-navigation fails.
                page.wait_for_load_state()
                page.screenshot(path=str(args.out / "console-devices-enrol.png"))
                browser.close()
        finally:
            hq.stop()
    print(f"console screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
