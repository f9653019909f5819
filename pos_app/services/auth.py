"""Staff sign-in with PIN, lockout and supervisor approval.

Lockouts escalate per staff member: the first lock lasts 5 minutes, the second in a row
15, every later one an hour (:data:`LOCKOUT_STEPS`); a right PIN starts over. The count
lives in the till's database, so restarting the till does not reset it. Every refused
sign-in and every lockout is also an outbox event for HQ's audit log
(``staff.sign_in_failed``, ``staff.locked_out``).

HQ administrators never sign in at a till ("not at all"): HQ does not send their PIN
hashes, and a record of one that is still here is refused with ``hq_admin_at_till``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pos_app.domain.ids import uuid7
from pos_app.domain.pin import LockoutPolicy
from pos_app.domain.roles import Role
from pos_app.localdb.engine import write_session
from pos_app.localdb.models import OutboxEvent
from pos_app.localdb.store import audit, get_setting, get_staff
from pos_app.services.errors import SignInError
from pos_app.services.ports import Clock
from sync_client.contract import protocol
from sync_client.contract.pin import PinFormatError, verify_pin

LOCKOUT_STEPS: tuple[timedelta, ...] = (
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
)
"""How long the 1st, 2nd and every later lockout in a row lasts."""


def lockout_period(lockouts: int, steps: tuple[timedelta, ...] = LOCKOUT_STEPS) -> timedelta:
    """The length of the ``lockouts``-th lock in a row (1-based); the last step repeats."""
    return steps[min(max(lockouts, 1), len(steps)) - 1]


@dataclass(frozen=True, slots=True)
class StaffMember:
    number: str
    name: str
    role: Role

    @property
    def can_approve(self) -> bool:
        return self.role.can_approve()

    @property
    def can_configure(self) -> bool:
        return self.role.can_configure()


class AuthService:
    """Checks PINs against local hashes, so staff sign in with HQ unreachable."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        store_code: str,
        policy: LockoutPolicy | None = None,
        *,
        lockout_steps: tuple[timedelta, ...] = LOCKOUT_STEPS,
    ) -> None:
        """``policy.max_attempts`` wrong PINs in a row lock the account; how long, by
        ``lockout_steps`` (``policy.lock_for`` is not used)."""
        self._engine = engine
        self._clock = clock
        self._store = store_code
        self._policy = policy or LockoutPolicy()
        self._steps = lockout_steps

    def _report(
        self, session: Session, event: protocol.StaffSignInFailed | protocol.StaffLockedOut
    ) -> None:
        session.add(
            OutboxEvent(
                event_id=str(uuid7()),
                type=event.type,
                occurred_at=event.at,
                payload=event.model_dump_json(),
            )
        )

    def _refused(
        self,
        session: Session,
        now: datetime,
        number: str,
        action: str,
        reason: protocol.SignInFailure,
        failed_attempts: int = 0,
    ) -> None:
        """Audits a refused sign-in here and queues it for HQ (when enrolled)."""
        audit(session, now, number or None, f"{action}.refused", reason=reason)
        self._report_failure(session, now, number, action, reason, failed_attempts)

    def _report_failure(
        self,
        session: Session,
        now: datetime,
        number: str,
        action: str,
        reason: protocol.SignInFailure,
        failed_attempts: int,
    ) -> None:
        terminal = get_setting(session, "terminal_id")
        if not terminal or not number or len(number) > 32:
            return  # not enrolled (no HQ to tell), or nothing a staff number could be
        self._report(
            session,
            protocol.StaffSignInFailed(
                store=self._store,
                terminal=str(terminal),
                staff=number,
                at=now,
                reason=reason,
                action=action[:40],
                failed_attempts=failed_attempts,
            ),
        )

    def sign_in(self, number: str, pin: str, *, action: str = "sign_in") -> StaffMember:
        """Verifies a PIN. Five wrong PINs in a row lock the account (5 min, 15 min, 1 h).

        Raises:
            SignInError: codes ``unknown_staff``, ``wrong_pin`` (``remaining`` tries),
                ``locked`` (``until``), ``other_store``, ``inactive``,
                ``hq_admin_at_till``.
        """
        now = self._clock.now()
        number = number.strip()
        with write_session(self._engine) as session:
            staff = get_staff(session, number)
            if staff is None or not staff.active:
                code: protocol.SignInFailure = "unknown_staff" if staff is None else "inactive"
                self._refused(session, now, number, action, code)
                session.commit()
                raise SignInError(code, f"no active staff member {number!r}")
            if staff.role == Role.HQ_ADMIN.value:
                self._refused(session, now, number, action, "hq_admin_at_till")
                session.commit()
                raise SignInError(
                    "hq_admin_at_till", "HQ administrators cannot sign in at a store's till"
                )
            if staff.store_code not in (None, self._store):
                self._refused(session, now, number, action, "other_store")
                session.commit()
                raise SignInError("other_store", "this staff member belongs to another store")
            if staff.locked_until is not None and staff.locked_until > now:
                self._refused(session, now, number, action, "locked")
                session.commit()
                raise SignInError("locked", "account locked", until=staff.locked_until)
            try:
                ok = verify_pin(pin, staff.pin_hash)
            except PinFormatError as exc:
                raise SignInError("corrupt_record", str(exc)) from exc
            if not ok:
                count, until = self._policy.after_failure(staff.failed_attempts, now)
                attempts = staff.failed_attempts + 1
                if until is not None:
                    staff.lockouts = (staff.lockouts or 0) + 1
                    until = now + lockout_period(staff.lockouts, self._steps)
                staff.failed_attempts, staff.locked_until = count, until
                audit(session, now, number, f"{action}.wrong_pin", locked=until is not None)
                self._report_failure(session, now, number, action, "wrong_pin", attempts)
                terminal = get_setting(session, "terminal_id")
                if until is not None and terminal:
                    self._report(
                        session,
                        protocol.StaffLockedOut(
                            store=self._store,
                            terminal=str(terminal),
                            staff=number,
                            at=now,
                            locked_until=until,
                            lockouts=staff.lockouts,
                        ),
                    )
                session.commit()
                if until is not None:
                    raise SignInError("locked", "too many wrong PINs: account locked", until=until)
                raise SignInError(
                    "wrong_pin", "wrong PIN", remaining=self._policy.max_attempts - count
                )
            staff.failed_attempts, staff.locked_until, staff.lockouts = 0, None, 0
            member = StaffMember(staff.number, staff.name, Role(staff.role))
            audit(session, now, number, action)
            session.commit()
            return member

    def approve(
        self, number: str, pin: str, *, action: str, requested_by: str, **detail: object
    ) -> StaffMember:
        """A supervisor (or above) authorises ``action``; audited with its details."""
        member = self.sign_in(number, pin, action="approve")
        if not member.can_approve:
            with write_session(self._engine) as session:
                audit(
                    session,
                    self._clock.now(),
                    member.number,
                    "approve.refused",
                    reason="not_supervisor",
                    requested_action=action,
                    requested_by=requested_by,
                )
                session.commit()
            raise SignInError("not_supervisor", "approval needs a supervisor or manager")
        with write_session(self._engine) as session:
            audit(
                session,
                self._clock.now(),
                member.number,
                f"approved.{action}",
                requested_by=requested_by,
                **detail,
            )
            session.commit()
        return member
