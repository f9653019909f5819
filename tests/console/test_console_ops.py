"""Discrepancies settled in the console, kept reconciliation runs and the menu page,
checked by crafting requests (SQLite, and PostgreSQL when set): a user settles or reads
only within their stores, publishing a menu is for HQ admins, and a refused request
changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from server_stub import models as m
from server_stub import reconcile
from server_stub.db import Database
from tests.console.conftest import Browser

Make = Callable[[str], Browser]


def _discrepancy(db: Database, kind: str, store: str, detail: str) -> int:
    with db.write() as tx:
        return int(
            tx.conn.execute(
                insert(m.discrepancies)
                .values(kind=kind, store_code=store, detail=detail, created_at=datetime.now(UTC))
                .returning(m.discrepancies.c.id)
            ).scalar_one()
        )


def _settled(db: Database, ident: int) -> tuple[str | None, str | None]:
    d = m.discrepancies
    with db.read() as conn:
        row = conn.execute(select(d.c.resolved_by, d.c.resolution).where(d.c.id == ident)).one()
    return row.resolved_by, row.resolution


def _audited(db: Database, action: str) -> list[tuple[str, str | None, str]]:
    a = m.audit_log
    with db.read() as conn:
        rows = conn.execute(
            select(a.c.actor, a.c.store_code, a.c.detail).where(a.c.action == action)
        )
        return [(r.actor, r.store_code, r.detail) for r in rows]


def test_a_discrepancy_is_settled_only_by_a_writer_of_its_store_and_with_a_note(
    browser_for: Make, console_db: Database
) -> None:
    """GIVEN an unverified-staff discrepancy at S001 WHEN S002's manager, the auditor, and
    S001's manager without a note try to settle it THEN each is refused and it stays open;
    S001's manager with a note settles it, recorded and audited as the console user."""
    ident = _discrepancy(
        console_db, "unverified_staff", "S001", "sale.completed kept: staff 9999 unknown"
    )
    url = f"/console/discrepancies/{ident}/resolve"
    assert browser_for("s002").post(url, {"note": "不是我的店"}).status_code == 403
    assert browser_for("audit").post(url, {"note": "看看"}).status_code == 403
    blank = browser_for("s001").post(url, {"note": "  "})
    assert blank.status_code == 422 and "请填写处理说明" in blank.text
    assert _settled(console_db, ident) == (None, None)

    done = browser_for("s001").post(
        url, {"note": "已核实：新员工尚未登记", "kind": "unverified_staff"}
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith("/console/discrepancies?kind=unverified_staff")
    assert _settled(console_db, ident) == ("console:s001", "已核实：新员工尚未登记")
    audited = [x for x in _audited(console_db, "discrepancy.resolve") if f'"id": {ident}' in x[2]]
    assert [(actor, store) for actor, store, _ in audited] == [("console:s001", "S001")]


def test_the_discrepancy_list_filters_by_kind_and_keeps_to_the_users_stores(
    browser_for: Make, console_db: Database
) -> None:
    theirs = _discrepancy(console_db, "unverified_staff", "S002", "staff 8888 not known at HQ")
    ours = _discrepancy(console_db, "double_return", "S001", "returned twice")
    page = browser_for("s001").get("/console/discrepancies?kind=unverified_staff&state=all")
    assert page.status_code == 200
    assert f'data-id="{theirs}"' not in page.text  # S002's
    assert f'data-id="{ours}"' not in page.text  # another kind
    assert f'data-id="{ours}"' in browser_for("s001").get("/console/discrepancies").text
    admin = browser_for("admin")
    everything = admin.get("/console/discrepancies?kind=unverified_staff")
    assert f'data-id="{theirs}"' in everything.text and "员工未通过核验" in everything.text
    assert "staff 8888" not in everything.text  # HQ's English detail only in English
    admin.client.cookies.set("chainpos_console_lang", "en")
    english = admin.get("/console/discrepancies?kind=unverified_staff").text
    assert "staff 8888" in english and "Staff not verified" in english
    assert browser_for("s001").get("/console/discrepancies?store=S002").status_code == 403


def test_a_kept_reconciliation_reads_again_without_the_bill_within_the_users_stores(
    browser_for: Make, console_db: Database
) -> None:
    """GIVEN a kept WeChat run of a day with a line of S001, one of S002 and one the
    provider alone booked WHEN users open that day THEN the admin sees every line and the
    counts, S001's manager only S001's line; the CLI's reader gives the same run."""
    day = date(2026, 11, 30)
    report = reconcile.Report("wechat", day)
    report.matched.append(reconcile.Entry("K0", False, 100, "S001"))
    report.hq_only.append(reconcile.Entry("K1", False, 1500, "S001"))
    report.hq_only.append(reconcile.Entry("K2", False, 2500, "S002"))
    report.provider_only.append(reconcile.Entry("K3", False, 990))
    with console_db.write() as tx:
        tx.conn.execute(
            insert(m.reconciliation_runs).values(
                provider="wechat",
                day=day,
                run_at=datetime.now(UTC) - timedelta(hours=1),
                actor="console:admin",
                matched=1,
                provider_only=1,
                hq_only=2,
                amount_differs=0,
                alerts_raised=3,
                lines_json=json.dumps([ln.as_json() for ln in reconcile._lines(report)]),
            )
        )
    url = "/console/reconcile?provider=wechat&day=2026-11-30"
    admin = browser_for("admin").get(url).text
    assert 'id="kept-lines"' in admin
    assert all(k in admin for k in ("K1", "K2", "K3"))
    store = browser_for("s001").get(url).text
    assert "K1" in store and "K2" not in store and "K3" not in store
    assert 'id="kept-matched"' not in store  # chain-wide counts are for every-store users
    with console_db.read() as conn:
        kept = reconcile.latest_run(conn, "wechat", day)
    assert kept is not None and [ln.key for ln in kept.lines] == ["K3", "K1", "K2"]
    missing = browser_for("admin").get("/console/reconcile?provider=alipay&day=2026-11-30")
    assert 'id="kept-none"' in missing.text


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


def _versions(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(m.menu_versions)).scalar_one())


def test_publishing_a_menu_is_for_hq_admins_and_a_bad_one_is_explained_in_both_languages(
    browser_for: Make, console_db: Database
) -> None:
    before = _versions(console_db)
    body = json.dumps(MENU, ensure_ascii=False)
    for user in ("s001", "east", "audit"):
        assert browser_for(user).post("/console/menu/publish", {"body": body}).status_code == 403
    bad = dict(MENU, tiles=[{"sku": "NOPE", "category": "TEA", "groups": ["ice"]}])
    admin = browser_for("admin")
    r = admin.post("/console/menu/preview", {"body": json.dumps(bad)})
    assert r.status_code == 422
    assert "磁贴 NOPE：没有这个商品" in r.text and "磁贴 NOPE：没有分类 TEA" in r.text
    admin.client.cookies.set("chainpos_console_lang", "en")
    r = admin.post("/console/menu/preview", {"body": json.dumps(bad)})
    assert "Tile NOPE: no option group ice" in r.text
    twice = dict(MENU, categories=MENU["categories"] * 2)
    r = admin.post("/console/menu/preview", {"body": json.dumps(twice)})
    assert r.status_code == 422 and "Category MILKTEA is listed twice" in r.text
    admin.client.cookies.set("chainpos_console_lang", "zh_CN")
    r = admin.post("/console/menu/preview", {"body": json.dumps(twice)})
    assert "分类 MILKTEA 重复" in r.text
    assert admin.post("/console/menu/publish", {"body": "{not json"}).status_code == 422
    past = admin.post("/console/menu/preview", {"body": body, "effective_at": "2020-01-01T08:00"})
    assert past.status_code == 422 and "生效时间不能早于现在" in past.text
    assert _versions(console_db) == before

    preview = admin.post("/console/menu/preview", {"body": body, "store": "S001"})
    assert preview.status_code == 200 and "确认发布" in preview.text
    assert _versions(console_db) == before  # a preview writes nothing
    done = admin.post("/console/menu/publish", {"body": body, "store": "S001"})
    assert done.status_code == 204 and "menu_published" in done.headers["hx-redirect"]
    assert _versions(console_db) == before + 1
    assert [a for a, s, _ in _audited(console_db, "menu.publish") if s == "S001"] == [
        "console:admin"
    ]


def test_the_menu_page_shows_the_stores_own_versions_only_in_scope(
    browser_for: Make, console_db: Database
) -> None:
    from server_stub import menu
    from server_stub.audit import SYSTEM

    menu.publish_menu(console_db, MENU, store="S002", actor=SYSTEM)
    s001 = browser_for("s001").get("/console/menu").text
    assert "S002" not in s001.split('id="menu-versions"')[1].split("</table>")[0]
    s002 = browser_for("s002").get("/console/menu").text
    assert "S002" in s002.split('id="menu-versions"')[1].split("</table>")[0]
    assert browser_for("s001").get("/console/menu?store=S002").status_code == 403
    assert 'id="menu-form"' not in s001


@pytest.mark.parametrize("user", ["admin", "s001", "audit"])
def test_every_user_sees_the_grouped_menus_they_may_use(browser_for: Make, user: str) -> None:
    page = browser_for(user).get("/console/dashboard").text
    assert 'data-group="sales"' in page and 'data-group="stock"' in page
    assert ('href="/console/audit"' in page) == (user in ("admin", "audit"))
    assert ('href="/console/users"' in page) == (user == "admin")
