"""Item 7: PIN hashes stay owner-only on the till, HQ admins never reach (or sign in at)
a till, lockouts escalate, and HQ hears of every refused sign-in and lockout."""

from __future__ import annotations

import json
import os
import stat
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from pos_app.app import Terminal
from pos_app.localdb.engine import open_database, read_session, write_session
from pos_app.localdb.models import OutboxEvent, Staff
from pos_app.localdb.store import set_setting
from pos_app.services.errors import SignInError
from server_stub import members, operations
from server_stub.db import Database
from server_stub.schemas import StaffIn
from sync_client import Credentials, CredentialStore
from tests.server.conftest import RunningHQ
from tests.server.support import Chain
from tests.services.conftest import FakeClock


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_till_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    """GIVEN a permissive umask (022: files 0644, as the audit found)
    WHEN a till creates its data folder and database and writes to it
    THEN the folder is 0700 and the database, WAL and shared-memory files 0600."""
    old = os.umask(0o022)
    try:
        folder = tmp_path / "chainpos"
        engine = open_database(folder / "terminal.db")
        with write_session(engine) as s:
            set_setting(s, "probe", 1)
            s.commit()
            files = [folder / "terminal.db", folder / "terminal.db-wal", folder / "terminal.db-shm"]
            assert all(f.exists() for f in files)
            assert [_mode(f) for f in files] == [0o600, 0o600, 0o600]
        engine.dispose()
    finally:
        os.umask(old)
    assert _mode(folder) == 0o700


def test_an_existing_world_readable_till_database_is_tightened_on_start(tmp_path: Path) -> None:
    folder = tmp_path / "chainpos"
    engine = open_database(folder / "terminal.db")
    engine.dispose()
    (folder / "terminal.db").chmod(0o644)
    folder.chmod(0o755)
    engine = open_database(folder / "terminal.db")
    engine.dispose()
    assert (_mode(folder / "terminal.db"), _mode(folder)) == (0o600, 0o700)


def test_the_credentials_file_is_owner_only_and_tightened_when_read(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = CredentialStore(tmp_path / "till", use_keyring=False)
        creds = Credentials("https://hq.example.com", "S001", "S001-T01", "cpd_x", b"k" * 32)
        store.save(creds)
    finally:
        os.umask(old)
    assert _mode(store.path) == 0o600
    store.path.chmod(0o644)
    assert store.load() == creds
    assert _mode(store.path) == 0o600


def test_hq_ships_no_hq_admin_pin_hash_to_tills(
    hq: RunningHQ, chain: Chain, client: httpx.Client
) -> None:
    """GIVEN an HQ admin (chain-wide) and a store supervisor
    WHEN a till of the store takes a snapshot and pulls the feed
    THEN it gets the supervisor, and nothing of the HQ admin."""
    store = chain.store()
    device = chain.device(store)
    supervisor = chain.staff(store, "supervisor")
    admin = chain.staff(None, "hq_admin")
    operations.update_staff(hq.db, admin, pin="97531")
    snap = client.get("/v1/sync/snapshot", headers=device.headers).json()
    numbers = {s["number"] for s in snap["staff"]}
    assert supervisor in numbers and admin not in numbers
    pulled = client.get("/v1/sync/pull?after=0&limit=1000", headers=device.headers).text
    assert supervisor in pulled
    assert f'"{admin}"' not in pulled


def test_an_hq_admin_cannot_sign_in_at_a_till(terminal: Terminal) -> None:
    """GIVEN an HQ admin record left at the till by an older HQ (the demo seeds 9001)
    WHEN they sign in with the right PIN
    THEN it is refused as hq_admin_at_till, which the screen translates."""
    with pytest.raises(SignInError) as caught:
        terminal.auth.sign_in("9001", "900100")
    assert caught.value.code == "hq_admin_at_till"
    for lang in ("en", "zh_CN"):
        texts = json.loads(Path(f"resources/i18n/{lang}.json").read_text(encoding="utf-8"))
        assert texts["error.hq_admin_at_till"]


def _lock(terminal: Terminal) -> SignInError:
    err: SignInError | None = None
    for _ in range(5):
        with pytest.raises(SignInError) as caught:
            terminal.auth.sign_in("1001", "0000")
        err = caught.value
    assert err is not None and err.code == "locked"
    return err


def test_lockouts_escalate_from_5_minutes_to_15_to_an_hour_and_stay_there(
    terminal: Terminal, clock: FakeClock
) -> None:
    """GIVEN cashier 1001
    WHEN someone types five wrong PINs, waits out the lock, and does it again, four times
    THEN the locks last 5 min, 15 min, 1 h, 1 h; a restart of the till keeps the count;
    the right PIN afterwards signs in and starts over at 5 min."""
    lengths = []
    for round_no in range(4):
        start = clock.now()
        err = _lock(terminal)
        lengths.append(err.params["until"] - start)
        if round_no == 1:  # the count survives the database being reopened
            terminal.engine.dispose()
        clock.advance(lengths[-1] + timedelta(seconds=1))
    assert lengths == [
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=1),
    ]
    with read_session(terminal.engine) as s:
        staff = s.get(Staff, "1001")
        assert staff is not None and staff.lockouts == 4
    assert terminal.auth.sign_in("1001", "1234").number == "1001"
    start = clock.now()
    assert _lock(terminal).params["until"] - start == timedelta(minutes=5)


def _outbox(terminal: Terminal) -> list[dict[str, object]]:
    with read_session(terminal.engine) as s:
        rows = s.scalars(select(OutboxEvent).order_by(OutboxEvent.seq)).all()
        return [json.loads(r.payload) for r in rows]


def test_refused_sign_ins_and_lockouts_reach_hqs_audit_log_once(
    terminal: Terminal, hq: RunningHQ, chain: Chain, client: httpx.Client
) -> None:
    """GIVEN a till with five wrong PINs for 1001 (a lockout) and an unknown number
    WHEN its outbox events reach HQ, twice (a retried push)
    THEN HQ applies each once (then answers duplicate) and its audit log holds them."""
    for _ in range(5):
        with pytest.raises(SignInError):
            terminal.auth.sign_in("1001", "0000")
    with pytest.raises(SignInError):
        terminal.auth.sign_in("7777", "1234")
    payloads = _outbox(terminal)
    kinds = [(pl["type"], pl.get("reason")) for pl in payloads]
    assert kinds == [("staff.sign_in_failed", "wrong_pin")] * 5 + [
        ("staff.locked_out", None),
        ("staff.sign_in_failed", "unknown_staff"),
    ]
    store = chain.store()
    device = chain.device(store)
    events = []
    for pl in payloads:
        pl.update(store=store, terminal=device.device_id)
        events.append(chain.event(pl))
    body = {"protocol": 1, "events": events}
    first = client.post("/v1/sync/push", json=body, headers=device.headers).json()
    again = client.post("/v1/sync/push", json=body, headers=device.headers).json()
    assert [r["status"] for r in first["results"]] == ["applied"] * 7, first
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 7
    with hq.db.read() as conn:
        rows = conn.execute(
            text(
                "SELECT action, detail FROM audit_log WHERE store_code = :s "
                "AND action IN ('staff.sign_in_failed', 'staff.locked_out') ORDER BY id"
            ),
            {"s": store},
        ).all()
    assert [r.action for r in rows] == ["staff.sign_in_failed"] * 5 + [
        "staff.locked_out",
        "staff.sign_in_failed",
    ]
    locked = json.loads(rows[5].detail)
    assert (locked["staff"], locked["lockouts"]) == ("1001", 1)
    entries = members.audit_entries(hq.db, member=None, action="staff.locked_out", limit=10)
    assert any(e.detail.get("staff") == "1001" for e in entries)


def test_an_hq_admin_added_at_hq_is_not_in_the_feed(hq: RunningHQ) -> None:
    db: Database = hq.db
    admin = operations.add_staff(
        db, StaffIn(number="A77001", store=None, name="总部", role="hq_admin", pin="24680")
    )
    with db.read() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM feed WHERE kind = 'staff' AND key = :k"),
            {"k": admin.number},
        ).scalar()
    assert n == 0
