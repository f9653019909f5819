"""Who may do what in the HQ console, checked by crafting requests (never by looking for
hidden links): roles, store scope, CSRF, sessions, lockout and TOTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from server_stub import models as m
from server_stub.console import passwords, users
from server_stub.db import Database
from server_stub.member_keys import MemberKeys
from tests.console.conftest import FAST, PASSWORD, SEED, Browser, TestClient, sign_in

Make = Callable[[str], Browser]


def _audit(db: Database, action: str) -> list[tuple[str, str | None]]:
    a = m.audit_log
    with db.read() as conn:
        rows = conn.execute(select(a.c.actor, a.c.store_code).where(a.c.action == action))
        return [(r.actor, r.store_code) for r in rows]


# -- not signed in ------------------------------------------------------------------------

PAGES = [
    "/console/dashboard",
    "/console/dashboard/live",
    "/console/prices",
    "/console/catalog",
    "/console/stock",
    "/console/members",
    "/console/staff",
    "/console/devices",
    "/console/reports",
    "/console/transfers",
    "/console/counts",
    "/console/reservations",
    "/console/shifts",
    "/console/returns",
    "/console/reconcile",
]


@pytest.mark.parametrize("path", [*PAGES, "/console/users", "/console/audit"])
def test_every_page_sends_a_stranger_to_the_sign_in_page(app: object, path: str) -> None:
    r = TestClient(app).get(path, follow_redirects=False)  # type: ignore[arg-type]
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/login")


def test_a_post_without_a_session_changes_nothing(app: object, console_db: Database) -> None:
    client = TestClient(app)  # type: ignore[arg-type]
    r = client.post("/console/staff/1001/disable", data={"csrf": "x"}, follow_redirects=False)
    assert r.status_code == 303
    with console_db.read() as conn:
        active = conn.execute(select(m.staff.c.active).where(m.staff.c.number == "1001")).scalar()
    assert active is True


def test_a_forged_cookie_is_not_a_session(app: object) -> None:
    client = TestClient(app, cookies={"chainpos_console": "abc.def"})  # type: ignore[arg-type]
    assert client.get("/console/dashboard", follow_redirects=False).status_code == 303


# -- roles --------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["admin", "east", "s001", "audit"])
@pytest.mark.parametrize("path", PAGES)
def test_every_role_reads_the_common_pages(browser_for: Make, username: str, path: str) -> None:
    assert browser_for(username).get(path).status_code == 200


@pytest.mark.parametrize("username", ["east", "s001", "audit"])
def test_only_hq_admins_manage_console_users(browser_for: Make, username: str) -> None:
    b = browser_for(username)
    assert b.get("/console/users").status_code == 403
    r = b.post(
        "/console/users",
        {"username": "x1", "display_name": "X", "password": PASSWORD, "role": "hq_admin"},
    )
    assert r.status_code == 403
    assert "x1" not in [u.username for u in users.list_users(_db(b))]


def _db(b: Browser) -> Database:
    return b.client.app.state.db  # type: ignore[attr-defined,no-any-return]


def test_an_auditor_reads_but_never_writes(browser_for: Make, console_db: Database) -> None:
    b = browser_for("audit")
    assert b.get("/console/audit").status_code == 200
    for path, data in (
        ("/console/prices", {"sku": "MT001", "price": "1", "scope": "store", "store": "S001"}),
        ("/console/staff/1001/disable", {}),
        ("/console/devices/enroll", {"store": "S001"}),
    ):
        r = b.post(path, data)
        assert r.status_code == 403, path
        assert "无法完成" in r.text
    assert _audit(console_db, "price.set") == []


def test_managers_do_not_read_the_audit_log(browser_for: Make) -> None:
    assert browser_for("s001").get("/console/audit").status_code == 403
    assert browser_for("east").get("/console/audit").status_code == 403


# -- store scope (门店仅能操作本店数据) ---------------------------------------------------------


def test_a_store_manager_of_s001_sees_only_s001(browser_for: Make) -> None:
    b = browser_for("s001")
    for path in (
        "/console/dashboard",
        "/console/staff",
        "/console/stock",
        "/console/devices",
        "/console/transfers",
        "/console/shifts",
        "/console/returns",
    ):
        page = b.get(path).text
        assert "S002" not in page and "S003" not in page, path
    assert "S001" in b.get("/console/dashboard").text


@pytest.mark.parametrize(
    "path",
    [
        "/console/stock?store=S002",
        "/console/staff?store=S002",
        "/console/reports?store=S002",
        "/console/prices?store=S002",
        "/console/transfers?store=S002",
        "/console/counts?store=S002",
        "/console/reservations?store=S002",
        "/console/shifts?store=S002",
        "/console/returns?store=S002",
    ],
)
def test_a_store_manager_of_s001_is_refused_s002_by_url(browser_for: Make, path: str) -> None:
    r = browser_for("s001").get(path)
    assert r.status_code == 403
    assert "门店仅能操作本店数据" in r.text


def test_a_store_manager_of_s001_cannot_change_s002_by_crafted_forms(
    browser_for: Make, console_db: Database
) -> None:
    b = browser_for("s001")
    crafted = [
        ("/console/prices", {"sku": "MT001", "price": "1", "scope": "store", "store": "S002"}),
        ("/console/prices", {"sku": "MT001", "price": "1", "scope": "region", "region": "east"}),
        ("/console/prices", {"sku": "MT001", "price": "1", "scope": "chain"}),
        ("/console/staff/2001/disable", {}),
        ("/console/staff/2001/pin", {"pin": "9999"}),
        (
            "/console/staff",
            {"store": "S002", "number": "2999", "name": "x", "role": "cashier", "pin": "1234"},
        ),
        ("/console/devices/enroll", {"store": "S002"}),
        # A second store field smuggled next to the allowed one.
        ("/console/devices/enroll?store=S001", {"store": "S002"}),
    ]
    for path, data in crafted:
        r = b.post(path, data)
        assert r.status_code == 403, (path, data, r.status_code)
    with console_db.read() as conn:
        staff = {r.number: r.active for r in conn.execute(select(m.staff))}
        prices = conn.execute(
            select(m.price_versions.c.id).where(m.price_versions.c.price_fen == 100)
        ).all()
        codes = conn.execute(
            select(m.enroll_codes.c.store_code).where(m.enroll_codes.c.store_code == "S002")
        ).all()
    assert staff["2001"] is True and "2999" not in staff
    assert prices == [] and codes == []


def test_a_store_manager_revoking_another_stores_terminal_is_refused(
    browser_for: Make, console_db: Database, keys: MemberKeys
) -> None:
    from server_stub.operations import create_enroll_code, enroll
    from sync_client.contract import protocol as p

    code = create_enroll_code(console_db, "S002").code
    device = enroll(
        console_db, keys, p.EnrollRequest(store="S002", code=code, device_name="收银台")
    )
    r = browser_for("s001").post(f"/console/devices/{device.device_id}/revoke")
    assert r.status_code == 403
    with console_db.read() as conn:
        revoked = conn.execute(
            select(m.devices.c.revoked_at).where(m.devices.c.id == device.device_id)
        ).scalar()
    assert revoked is None
    assert (
        browser_for("s002").post(f"/console/devices/{device.device_id}/revoke").status_code == 303
    )


def test_a_regional_manager_acts_for_their_region_only(
    browser_for: Make, console_db: Database
) -> None:
    b = browser_for("east")
    assert b.get("/console/stock?store=S002").status_code == 200
    assert b.get("/console/stock?store=S003").status_code == 403
    future = (datetime.now(UTC) + timedelta(days=2)).astimezone().strftime("%Y-%m-%dT%H:%M")
    r = b.post(
        "/console/prices",
        {
            "sku": "MT002",
            "price": "19",
            "scope": "region",
            "region": "east",
            "effective_at": future,
        },
    )
    assert r.status_code == 303, r.text
    assert (
        b.post(
            "/console/prices", {"sku": "MT002", "price": "19", "scope": "region", "region": "west"}
        ).status_code
        == 403
    )
    with console_db.read() as conn:
        stores = (
            conn.execute(
                select(m.price_versions.c.store_code).where(m.price_versions.c.price_fen == 1900)
            )
            .scalars()
            .all()
        )
    assert sorted(stores) == ["S001", "S002"]
    assert {("console:east", "S001"), ("console:east", "S002")} <= set(
        _audit(console_db, "price.set")
    )


# -- CSRF -----------------------------------------------------------------------------------


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(
    browser_for: Make, console_db: Database
) -> None:
    b = browser_for("admin")
    for token in ("", "not-the-token"):
        r = b.client.post(
            "/console/staff/1001/disable", data={"csrf": token}, follow_redirects=False
        )
        assert r.status_code == 403
        assert "页面已过期" in r.text
    r = b.client.post(
        "/console/staff/1001/pin",
        data={"csrf": b.csrf, "pin": "5678"},
        headers={"Origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    with console_db.read() as conn:
        active = conn.execute(select(m.staff.c.active).where(m.staff.c.number == "1001")).scalar()
    assert active is True


def test_htmx_sends_the_token_in_a_header(browser_for: Make) -> None:
    b = browser_for("admin")
    r = b.client.post(
        "/console/catalog/preview",
        data={"csrf": "", "csv": "sku,name_zh,unit\nMT009,新品,piece\n"},
        headers={"X-CSRF-Token": b.csrf, "HX-Request": "true"},
    )
    assert r.status_code == 200
    assert "MT009" in r.text and "新建" in r.text


def test_the_sign_in_form_needs_its_own_token(app: object) -> None:
    client = TestClient(app)  # type: ignore[arg-type]
    r = client.post(
        "/console/login",
        data={"login_token": "guess", "username": "admin", "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert "chainpos_console" not in r.cookies


# -- sessions ---------------------------------------------------------------------------------


def test_the_session_cookie_is_httponly_and_strict(app: object) -> None:
    client = TestClient(app)  # type: ignore[arg-type]
    r = sign_in(client, "admin")
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain HTTP here; served over TLS it is Secure


def test_an_idle_session_expires(browser_for: Make, console_db: Database) -> None:
    b = browser_for("s001")
    past = datetime.now(UTC) - users.IDLE_TIMEOUT - timedelta(seconds=1)
    with console_db.write() as tx:
        tx.conn.execute(
            update(m.console_sessions)
            .where(m.console_sessions.c.username == "s001")
            .values(last_seen_at=past)
        )
    r = b.get("/console/dashboard")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


def test_signing_out_ends_the_session_on_the_server(browser_for: Make) -> None:
    b = browser_for("s002")
    cookie = b.client.cookies.get("chainpos_console")
    assert b.post("/console/logout").status_code == 303
    replay = TestClient(b.client.app, cookies={"chainpos_console": cookie})  # type: ignore[arg-type]
    assert replay.get("/console/dashboard", follow_redirects=False).status_code == 303


def test_sign_ins_and_failures_are_audited(app: object, console_db: Database) -> None:
    client = TestClient(app)  # type: ignore[arg-type]
    assert sign_in(client, "audit", "wrong password 1").status_code == 401
    assert sign_in(client, "audit").status_code == 303
    assert ("console:audit", None) in _audit(console_db, "console.sign_in_failed")
    assert ("console:audit", None) in _audit(console_db, "console.sign_in")


# -- lockout and TOTP -------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account(app: object, console_db: Database) -> None:
    users.add_user(
        console_db,
        SEED,
        username="lockme",
        display_name="L",
        password=PASSWORD,
        role="auditor",
        log2_n=FAST,
    )
    client = TestClient(app)  # type: ignore[arg-type]
    for _ in range(users.MAX_FAILURES):
        assert sign_in(client, "lockme", "wrong password 9").status_code == 401
    r = sign_in(client, "lockme")
    assert r.status_code == 423
    assert "锁定" in r.text
    users.set_password(console_db, SEED, "lockme", "a new password 7", log2_n=FAST)
    assert sign_in(client, "lockme", "a new password 7").status_code == 303


def test_totp_is_needed_once_enrolled(app: object, console_db: Database, keys: MemberKeys) -> None:
    users.add_user(
        console_db,
        SEED,
        username="totpuser",
        display_name="T",
        password=PASSWORD,
        role="auditor",
        log2_n=FAST,
    )
    secret = users.enrol_totp(console_db, keys, SEED, "totpuser")
    client = TestClient(app)  # type: ignore[arg-type]
    assert sign_in(client, "totpuser").status_code == 401
    assert sign_in(client, "totpuser", totp="000000").status_code in (401, 303)
    assert sign_in(client, "totpuser", totp=passwords.totp_code(secret)).status_code == 303
    with console_db.read() as conn:
        sealed = conn.execute(
            select(m.console_users.c.totp_enc).where(m.console_users.c.username == "totpuser")
        ).scalar()
    assert sealed and secret not in sealed


def test_totp_codes_follow_rfc_6238() -> None:
    import base64

    secret = base64.b32encode(b"12345678901234567890").decode()
    # RFC 6238 appendix B (SHA-1), last 6 of 8 digits.
    assert passwords.totp_code(secret, 59) == "287082"
    assert passwords.totp_code(secret, 1111111109) == "081804"
    assert passwords.verify_totp(secret, "287082", 59 + 30)
    assert not passwords.verify_totp(secret, "287082", 59 + 90)


def test_password_hashes_are_not_pin_hashes() -> None:
    from sync_client.contract.pin import hash_pin, verify_pin

    stored = passwords.hash_password("abcdef12345", log2_n=FAST)
    assert stored.startswith("cscrypt$")
    assert passwords.verify_password("abcdef12345", stored)
    assert not passwords.verify_password("abcdef12345", hash_pin("1234"))
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        assert not verify_pin("1234", stored)
