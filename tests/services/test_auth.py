"""Staff sign-in with PIN, lockout, store scoping and supervisor approval, all audited."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from pos_app.app import Terminal
from pos_app.domain.roles import Role
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.models import AuditEntry
from pos_app.localdb.store import get_staff, upsert_staff
from pos_app.services.errors import SignInError
from tests.services.conftest import audit_actions
from tests.support import START, FakeClock, fast_hash


def _sign_in_error(terminal: Terminal, number: str, pin: str) -> SignInError:
    with pytest.raises(SignInError) as err:
        terminal.auth.sign_in(number, pin)
    return err.value


def test_sign_in_with_the_right_pin(terminal: Terminal) -> None:
    member = terminal.auth.sign_in(" 1001 ", "1234")
    assert (member.number, member.name, member.role) == ("1001", "王芳", Role.CASHIER)
    assert not member.can_approve
    assert audit_actions(terminal) == [("1001", "sign_in")]


def test_wrong_pins_count_down_then_lock(terminal: Terminal, clock: FakeClock) -> None:
    """GIVEN cashier 1001
    WHEN five wrong PINs are typed in a row
    THEN the first four say how many tries are left (4, 3, 2, 1), the fifth locks the
    account for five minutes, and each failure is in the audit log."""
    remaining = []
    for _ in range(4):
        err = _sign_in_error(terminal, "1001", "0000")
        assert err.code == "wrong_pin"
        remaining.append(err.params["remaining"])
    assert remaining == [4, 3, 2, 1]
    err = _sign_in_error(terminal, "1001", "0000")
    assert err.code == "locked"
    assert err.params["until"] == START + timedelta(minutes=5)
    assert audit_actions(terminal) == [("1001", "sign_in.wrong_pin")] * 5
    with read_session(terminal.engine) as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert last is not None and json.loads(last.detail) == {"locked": True}


def test_a_locked_account_refuses_even_the_right_pin_until_the_lock_ends(
    terminal: Terminal, clock: FakeClock
) -> None:
    """GIVEN cashier 1001 locked by five wrong PINs at 10:00
    WHEN the right PIN is typed at 10:04:59, and again at 10:05:00
    THEN the first attempt is refused as locked (and audited), the second signs in and
    the failure count starts again from zero."""
    for _ in range(5):
        _sign_in_error(terminal, "1001", "9999")
    clock.advance(timedelta(minutes=4, seconds=59))
    err = _sign_in_error(terminal, "1001", "1234")
    assert err.code == "locked"
    assert err.params["until"] == START + timedelta(minutes=5)
    assert audit_actions(terminal)[-1] == ("1001", "sign_in.refused")

    clock.advance(timedelta(seconds=1))
    assert terminal.auth.sign_in("1001", "1234").number == "1001"
    assert audit_actions(terminal)[-1] == ("1001", "sign_in")
    err = _sign_in_error(terminal, "1001", "0000")
    assert (err.code, err.params["remaining"]) == ("wrong_pin", 4)


def test_a_right_pin_resets_the_count(terminal: Terminal) -> None:
    for _ in range(3):
        _sign_in_error(terminal, "1002", "0000")
    terminal.auth.sign_in("1002", "2468")
    err = _sign_in_error(terminal, "1002", "0000")
    assert err.params["remaining"] == 4
    with read_session(terminal.engine) as session:
        staff = get_staff(session, "1002")
        assert staff is not None and staff.failed_attempts == 1 and staff.locked_until is None


def test_staff_of_another_store_are_refused(terminal: Terminal) -> None:
    """GIVEN cashier 2001 of store S002 is known to this S001 terminal
    WHEN 2001 signs in here with the right PIN
    THEN the sign-in is refused as other_store and audited; an HQ admin (chain-wide) is
    refused at any till (hq_admin_at_till)."""
    with write_session(terminal.engine) as session:
        upsert_staff(
            session,
            number="2001",
            name="陈静",
            role="cashier",
            store_code="S002",
            pin_hash=fast_hash("3579"),
        )
        session.commit()
    err = _sign_in_error(terminal, "2001", "3579")
    assert err.code == "other_store"
    assert audit_actions(terminal) == [("2001", "sign_in.refused")]
    assert _sign_in_error(terminal, "9001", "900100").code == "hq_admin_at_till"


def test_unknown_and_inactive_staff_are_refused(terminal: Terminal) -> None:
    assert _sign_in_error(terminal, "7777", "1234").code == "unknown_staff"
    with write_session(terminal.engine) as session:
        upsert_staff(
            session,
            number="1002",
            name="李娜",
            role="cashier",
            store_code="S001",
            pin_hash=fast_hash("2468"),
            active=False,
        )
        session.commit()
    assert _sign_in_error(terminal, "1002", "2468").code == "inactive"
    with read_session(terminal.engine) as session:
        details = [
            (e.staff, e.action, json.loads(e.detail)["reason"])
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]
    assert details == [
        ("7777", "sign_in.refused", "unknown_staff"),
        ("1002", "sign_in.refused", "inactive"),
    ]


def test_approve_needs_a_supervisor_or_above(terminal: Terminal) -> None:
    """GIVEN a cashier asking for approval of a 20% discount
    WHEN another cashier, then a supervisor, then a manager type their PINs
    THEN the cashier is refused (not_supervisor) and the supervisor and manager approve;
    every attempt and approval is in the audit log with who asked."""
    with pytest.raises(SignInError) as err:
        terminal.auth.approve("1002", "2468", action="discount", requested_by="1001", share_bp=2000)
    assert err.value.code == "not_supervisor"
    supervisor = terminal.auth.approve(
        "1003", "135790", action="discount", requested_by="1001", share_bp=2000
    )
    assert (supervisor.number, supervisor.role, supervisor.can_approve) == (
        "1003",
        Role.SUPERVISOR,
        True,
    )
    manager = terminal.auth.approve("1004", "86420", action="void", requested_by="1001")
    assert manager.role is Role.MANAGER
    assert audit_actions(terminal) == [
        ("1002", "approve"),
        ("1002", "approve.refused"),
        ("1003", "approve"),
        ("1003", "approved.discount"),
        ("1004", "approve"),
        ("1004", "approved.void"),
    ]
    with read_session(terminal.engine) as session:
        approved = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "approved.discount")
        ).one()
        assert json.loads(approved.detail) == {"requested_by": "1001", "share_bp": 2000}


def test_a_wrong_supervisor_pin_approves_nothing(terminal: Terminal) -> None:
    with pytest.raises(SignInError) as err:
        terminal.auth.approve("1003", "000000", action="discount", requested_by="1001")
    assert err.value.code == "wrong_pin"
    assert audit_actions(terminal) == [("1003", "approve.wrong_pin")]
