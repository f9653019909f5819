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
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
        return member.number
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

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
                ]
                for name, path in shots:
                    page.goto(f"{hq.url}{path}")
                    page.screenshot(path=str(args.out / f"console-{name}.png"))
                page.goto(f"{hq.url}/console/devices")
                page.click("text=生成注册码")
                page.screenshot(path=str(args.out / "console-devices-enrol.png"))
                browser.close()
        finally:
            hq.stop()
    print(f"console screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
