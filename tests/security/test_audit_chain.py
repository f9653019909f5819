"""Item 9: every admin and money action at HQ leaves an audit entry, the till's own
entries reach HQ once, and the chain finds an edited, deleted or inserted entry."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, insert, select, update

from server_stub import audit, operations
from server_stub import models as m
from server_stub.cli import main
from server_stub.db import Database
from server_stub.schemas import StaffIn
from tests.server.conftest import REPO, fresh_database
from tests.server.support import Chain


def verify_cli(capsys: pytest.CaptureFixture[str], url: str) -> tuple[int, str, str]:
    code = main(["audit", "verify", "--db", url])
    out, err = capsys.readouterr()
    return code, out, err


def actions(db: Database, **kw: str) -> list[tuple[str, str]]:
    return [(e.action, e.actor) for e in audit.audit_entries(db, limit=1000, **kw)]


@pytest.fixture
def tampered(backend: str, tmp_path: Path):
    """A fresh HQ database holding a few audited admin actions (entries 1..5)."""
    with fresh_database(backend, tmp_path) as url:
        db = Database(url)
        try:
            store = operations.add_store(db, "A001", "一店").code
            operations.set_config(db, store, "receipt.footer", "谢谢")
            operations.add_staff(
                db, StaffIn(number="9001", store=store, name="王芳", role="cashier", pin="1234")
            )
            operations.update_staff(db, "9001", pin="4321")
            operations.create_enroll_code(db, store)
            assert audit.verify(db).problem is None
            yield url, db
        finally:
            db.dispose()


def test_an_untouched_chain_verifies(tampered, capsys):
    url, _db = tampered
    code, out, _ = verify_cli(capsys, url)
    assert code == 0
    assert "intact: 5 entries, head 5" in out


def test_an_edited_entry_is_found_by_id_and_time(tampered, capsys):
    """GIVEN an audited chain WHEN someone rewrites an entry's detail in the database
    THEN ``audit verify`` exits non-zero naming that entry and its time."""
    url, db = tampered
    with db.write() as tx:
        tx.conn.execute(
            update(m.audit_log).where(m.audit_log.c.id == 3).values(detail='{"number":"0000"}')
        )
        at = tx.conn.execute(select(m.audit_log.c.at).where(m.audit_log.c.id == 3)).scalar_one()
    code, out, err = verify_cli(capsys, url)
    assert code == 3
    assert "entry 3" in err and "edited" in err and at.isoformat() in err
    assert out.startswith("edited\tentry 3\t")


def test_an_edit_with_its_hash_recomputed_is_still_found(tampered, capsys):
    """The editor recomputes the entry's own hash; the next entry's link gives it away."""
    url, db = tampered
    with db.write() as tx:
        row = tx.conn.execute(select(m.audit_log).where(m.audit_log.c.id == 2)).one()
        forged = {**row._mapping, "actor": "cli:nobody"}
        digest = audit.entry_hash(row.prev_hash, forged)
        tx.conn.execute(
            update(m.audit_log).where(m.audit_log.c.id == 2).values(actor="cli:nobody", hash=digest)
        )
    code, _out, err = verify_cli(capsys, url)
    assert code == 3 and "entry 2 was edited" in err


def test_a_deleted_entry_is_found(tampered, capsys):
    url, db = tampered
    with db.write() as tx:
        tx.conn.execute(delete(m.audit_log).where(m.audit_log.c.id == 2))
    code, out, err = verify_cli(capsys, url)
    assert code == 3
    assert "entries after 1 up to 2 were deleted" in err
    assert out.startswith("deleted\tentry 3\t")


def test_the_newest_entry_deleted_is_found(tampered, capsys):
    url, db = tampered
    with db.write() as tx:
        tx.conn.execute(delete(m.audit_log).where(m.audit_log.c.id == 5))
    code, _out, err = verify_cli(capsys, url)
    assert code == 3 and "newest entries were deleted" in err


def test_an_inserted_entry_is_found(tampered, capsys):
    """GIVEN a chain WHEN a row is slipped in after the head, even chained correctly
    THEN verify reports it inserted."""
    url, db = tampered
    with db.write() as tx:
        last = tx.conn.execute(select(m.audit_log).where(m.audit_log.c.id == 5)).one()
        row = audit.audit_row(
            audit.Actor("admin:ghost"), "price.set", None, {"sku": "X"}, datetime.now(UTC)
        )
        entry = {**row, "id": 6, "prev_id": 5, "prev_hash": last.hash}
        entry["hash"] = audit.entry_hash(last.hash, entry)
        tx.conn.execute(insert(m.audit_log).values(entry))
    code, out, err = verify_cli(capsys, url)
    assert code == 3
    assert "entry 6" in err and "inserted" in err
    assert out.startswith("inserted\tentry 6\t")


def test_every_admin_action_of_the_api_is_audited(hq, chain: Chain, client: httpx.Client):
    """GIVEN an admin token WHEN HQ staff use every admin operation of the API THEN each
    leaves an entry naming the token."""
    token_name = f"sec-{uuid.uuid4().hex[:6]}"
    token = operations.create_admin_token(hq.db, token_name)
    h = {"Authorization": f"Bearer {token}"}
    store = f"S{uuid.uuid4().hex[:6].upper()}"
    calls = [
        ("post", "/v1/admin/stores", {"code": store, "name": "三店"}),
        ("put", "/v1/admin/config", {"store": store, "key": "receipt.footer", "value": "谢"}),
        (
            "post",
            "/v1/admin/staff",
            {
                "number": f"8{uuid.uuid4().int % 10**5:05d}",
                "store": store,
                "name": "李",
                "role": "cashier",
                "pin": "1234",
            },
        ),
        ("post", "/v1/admin/enroll-codes", {"store": store}),
        (
            "post",
            "/v1/admin/catalog/items",
            {
                "items": [
                    {"sku": f"SEC{store}", "name_zh": "奶茶", "unit": "piece", "price_fen": 900}
                ]
            },
        ),
        ("post", "/v1/admin/prices", {"sku": f"SEC{store}", "price_fen": 1000}),
        (
            "post",
            "/v1/admin/stock/receive",
            {"store": store, "sku": f"SEC{store}", "qty_milli": 5000, "reason": "到货"},
        ),
        (
            "post",
            "/v1/admin/stock/adjust",
            {"store": store, "sku": f"SEC{store}", "qty_milli": -1000, "reason": "破损"},
        ),
    ]
    for method, path, body in calls:
        r = client.request(method, path, json=body, headers=h)
        assert r.status_code in (200, 201), r.text
    staff_no = calls[2][2]["number"]
    r = client.patch(f"/v1/admin/staff/{staff_no}", json={"pin": "5678"}, headers=h)
    assert r.status_code == 200, r.text
    device = chain.device(store, client)
    r = client.post(f"/v1/admin/devices/{device.device_id}/revoke", headers=h)
    assert r.status_code == 200, r.text
    mine = {a for a, who in actions(hq.db) if who == f"admin:{token_name}"}
    assert mine == {
        "store.add",
        "config.set",
        "staff.add",
        "staff.update",
        "device.enroll_code",
        "catalog.import",
        "price.set",
        "stock.receive",
        "stock.adjust",
        "device.revoke",
    }
    assert ("device.enrolled", f"device:{device.device_id}") in actions(hq.db)
    r = client.get("/v1/admin/audit", params={"action": "staff.update"}, headers=h)
    assert r.json()[0]["detail"] == {"number": staff_no, "pin_reset": True}
    assert audit.verify(hq.db).problem is None


def test_the_cli_audits_as_its_user_and_lists_entries(db_url, capsys):
    store = f"C{uuid.uuid4().hex[:6].upper()}"
    assert main(["store", "add", store, "四店", "--db", db_url]) == 0
    assert main(["admin", "token", "create", f"t{store}", "--db", db_url]) == 0
    assert main(["admin", "token", "revoke", f"t{store}", "--db", db_url]) == 0
    capsys.readouterr()
    assert main(["audit", "list", "--action", "token.revoke", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert f'"name": "t{store}"' in out and "\tcli:" in out
    assert main(["audit", "verify", "--db", db_url]) == 0


def test_voids_and_refused_voids_are_audited(hq, chain: Chain, client: httpx.Client):
    """GIVEN a sale at HQ WHEN a cashier tries to void it (refused) and a supervisor
    voids it THEN both leave entries: the refusal and the void."""
    store = chain.store()
    sku = chain.item()
    operations.move_stock(hq.db, "receive", store, sku, 10_000, "到货")
    cashier = chain.staff(store, role="cashier")
    boss = chain.staff(store, role="supervisor")
    dev = chain.device(store, client)
    sale = chain.sale(dev, [(sku, 1000)])
    push = lambda *evs: client.post(  # noqa: E731
        "/v1/sync/push", json={"events": list(evs)}, headers=dev.headers
    ).json()
    assert push(sale)["applied"] == 1
    refused = chain.void(dev, sale, cashier)
    assert push(refused)["results"][0]["code"] == "not_authorised"
    assert push(chain.void(dev, sale, boss))["applied"] == 1
    mine = [e for e in audit.audit_entries(hq.db, limit=50) if e.actor == f"device:{dev.device_id}"]
    by_action = {e.action: e for e in mine}
    assert by_action["event.refused"].detail["event"] == refused["id"]
    assert by_action["sale.void"].detail["supervisor"] == boss
    assert by_action["sale.void"].store == store


def test_a_till_audit_entry_reaches_hq_once(hq, chain: Chain, client: httpx.Client):
    """GIVEN a till's audit batch WHEN it is pushed twice, and its entry again in
    another event THEN HQ's chain holds it once, with the device and store."""
    store = chain.store()
    dev = chain.device(store, client)
    at = datetime.now(UTC).isoformat()
    entry = {
        "local_id": 7,
        "at": at,
        "staff": "1001",
        "action": "drawer.no_sale",
        "detail": {"approved_by": "2001"},
    }
    ev = chain.event(
        {"type": "audit.recorded", "store": store, "terminal": dev.device_id, "entries": [entry]}
    )
    again = chain.event(
        {"type": "audit.recorded", "store": store, "terminal": dev.device_id, "entries": [entry]}
    )
    for batch in ([ev], [ev], [again]):
        r = client.post("/v1/sync/push", json={"events": batch}, headers=dev.headers)
        assert r.status_code == 200 and r.json()["rejected"] == 0, r.text
    got = audit.audit_entries(hq.db, device=dev.device_id)
    assert [(e.action, e.store, e.detail["staff"], e.detail["approved_by"]) for e in got] == [
        ("till.drawer.no_sale", store, "1001", "2001")
    ]
    assert audit.verify(hq.db).problem is None


_APPENDER = """
import sys
from server_stub import operations
from server_stub.audit import Actor
from server_stub.db import Database
db = Database(sys.argv[1], pool_size=2)
for i in range(int(sys.argv[3])):
    code = f"P{sys.argv[2].upper()}{i:03d}"
    operations.add_store(db, code, "门店", actor=Actor("cli:" + sys.argv[2]))
db.dispose()
"""


@pytest.mark.slow
def test_two_hq_processes_appending_at_once_keep_one_chain(backend: str, tmp_path: Path):
    """GIVEN two HQ processes on one database WHEN both append audit entries at once
    THEN every entry is in one valid chain."""
    with fresh_database(backend, tmp_path) as url:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        procs = [
            subprocess.Popen([sys.executable, "-c", _APPENDER, url, name, "40"], env=env)
            for name in ("a", "b")
        ]
        assert [p.wait(180) for p in procs] == [0, 0]
        db = Database(url)
        try:
            verdict = audit.verify(db)
            assert verdict.problem is None
            assert verdict.entries == verdict.head_id == 80
            who = [a for _, a in actions(db, action="store.add")]
            assert sorted(set(who)) == ["cli:a", "cli:b"] and len(who) == 80
        finally:
            db.dispose()
