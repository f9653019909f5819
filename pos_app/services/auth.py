"""Staff sign-in with PIN, lockout and supervisor approval."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from pos_app.domain.pin import LockoutPolicy
from pos_app.domain.roles import Role
from pos_app.localdb.engine import write_session
from pos_app.localdb.store import audit, get_staff
from pos_app.services.errors import SignInError
from pos_app.services.ports import Clock
from sync_client.contract.pin import PinFormatError, verify_pin


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
        self, engine: Engine, clock: Clock, store_code: str, policy: LockoutPolicy | None = None
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._store = store_code
        self._policy = policy or LockoutPolicy()

    def sign_in(self, number: str, pin: str, *, action: str = "sign_in") -> StaffMember:
        """Verifies a PIN. Five wrong PINs in a row lock the account for a while.

        Raises:
            SignInError: codes ``unknown_staff``, ``wrong_pin`` (``remaining`` tries),
                ``locked`` (``until``), ``other_store``, ``inactive``.
        """
        now = self._clock.now()
        number = number.strip()
        with write_session(self._engine) as session:
            staff = get_staff(session, number)
            if staff is None or not staff.active:
                code = "unknown_staff" if staff is None else "inactive"
                audit(session, now, number or None, f"{action}.refused", reason=code)
                session.commit()
                raise SignInError(code, f"no active staff member {number!r}")
            if staff.store_code not in (None, self._store):
                audit(session, now, number, f"{action}.refused", reason="other_store")
                session.commit()
                raise SignInError("other_store", "this staff member belongs to another store")
            if staff.locked_until is not None and staff.locked_until > now:
                audit(session, now, number, f"{action}.refused", reason="locked")
                session.commit()
                raise SignInError("locked", "account locked", until=staff.locked_until)
            try:
                ok = verify_pin(pin, staff.pin_hash)
            except PinFormatError as exc:
                raise SignInError("corrupt_record", str(exc)) from exc
            if not ok:
                count, until = self._policy.after_failure(staff.failed_attempts, now)
                staff.failed_attempts, staff.locked_until = count, until
                audit(session, now, number, f"{action}.wrong_pin", locked=until is not None)
                session.commit()
                if until is not None:
                    raise SignInError("locked", "too many wrong PINs: account locked", until=until)
                raise SignInError(
                    "wrong_pin", "wrong PIN", remaining=self._policy.max_attempts - count
                )
            staff.failed_attempts, staff.locked_until = 0, None
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
