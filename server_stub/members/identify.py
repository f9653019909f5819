"""Identifying a member at the till, by a scanned member code / card code or a typed
phone number, and the per-device limit on phone look-ups."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from server_stub import feed, loyalty
from server_stub import models as m
from server_stub.audit import Actor, audit_now, audit_row, write_audit
from server_stub.auth import DeviceIdentity
from server_stub.db import Database, WriteTx
from server_stub.errors import ApiError
from server_stub.member_keys import MemberKeys
from server_stub.members._common import (
    SPEND_GRACE_S,
    _code_refusal,
    _member_by,
    _now,
    _panel,
    _verify,
)
from server_stub.members.holds import _expire_for_member
from server_stub.members.ledger import (
    member_change,
)
from sync_client.contract import protocol as p
from sync_client.contract.membercode import (
    MemberCode,
    MemberCodeError,
    normalise_phone,
)
from sync_client.contract.phonecrypt import PhoneCipher

IDENTIFY_GRACE_S = 30
"""An app code is accepted this long after its expiry (clock skew between app and HQ)."""


def identify(
    db: Database,
    keys: MemberKeys,
    device: DeviceIdentity,
    request: p.IdentifyRequest,
    now: datetime | None = None,
) -> p.MemberPanel:
    """The member panel for a scanned code or a typed phone number; audited either way.

    Raises:
        ApiError: 422 ``member_code_invalid`` / ``member_code_expired`` / ``card_replaced``
            / ``bad_phone``, 404 ``unknown_member``, 403 ``member_inactive``.
    """
    now = now or _now()
    actor = Actor.of_device(device)
    cipher = PhoneCipher(keys)
    code: MemberCode | None = None
    phone_hash: str | None = None
    if request.code is not None:
        try:
            code = _verify(keys, request.code, now, IDENTIFY_GRACE_S)
        except MemberCodeError as exc:
            audit_now(
                db, audit_row(actor, "member.identify_refused", None, {"reason": exc.reason}, now)
            )
            raise _code_refusal(exc) from None
    else:
        assert request.phone is not None
        try:
            phone_hash = cipher.hash(normalise_phone(request.phone))
        except ValueError as exc:
            raise ApiError(422, "bad_phone", str(exc)) from None

    def run(tx: WriteTx) -> p.MemberPanel | ApiError:
        conn = tx.conn
        if code is not None:
            row = _member_by(conn, m.members.c.number == code.number)
            by: Literal["code", "card", "phone"] = "card" if code.kind == "card" else "code"
        else:
            row = _member_by(conn, m.members.c.phone_hash == phone_hash)
            by = "phone"
        number = row.number if row is not None else None
        refusal: ApiError | None = None
        if row is None:
            refusal = ApiError(404, "unknown_member", "no member with this code or phone number")
        elif code is not None and code.kind == "card" and code.card != row.card_version:
            refusal = ApiError(
                422,
                "card_replaced",
                "this card was replaced by a newer one; use the new card or the member app",
            )
        elif not row.active:
            refusal = ApiError(403, "member_inactive", f"membership {row.number} is closed")
        detail: dict[str, Any] = {"by": by}
        if refusal is not None:
            detail["refused"] = refusal.code
            write_audit(conn, [audit_row(actor, "member.identify", number, detail, now)])
            return refusal
        assert row is not None
        touched = _expire_for_member(conn, int(row.id), now)
        if touched:
            row = _member_by(conn, m.members.c.id == row.id)
            assert row is not None
        if code is not None and code.expires is not None:
            spend_until: datetime | None = datetime.fromtimestamp(code.expires, UTC) + timedelta(
                seconds=SPEND_GRACE_S
            )
        elif code is not None or loyalty.rules_for(conn, device.store).spend_without_code:
            spend_until = now + timedelta(seconds=SPEND_GRACE_S)
        else:
            spend_until = None
        write_audit(conn, [audit_row(actor, "member.identify", number, detail, now)])
        feed.append(
            tx, [member_change(b.number, b.version, b.active) for b in touched.values()], now
        )
        return _panel(conn, cipher, row, by, spend_until, now)

    out = db.run_write(run)
    if isinstance(out, ApiError):
        raise out
    return out


class LookupLimiter:
    """At most ``per_minute`` phone lookups per device per minute in this process, so a
    till (or someone holding its token) cannot walk through the chain's phone numbers.
    Scanned codes are not limited."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._seen: dict[str, list[float]] = {}

    def allow(self, device_id: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._seen.get(device_id, []) if t > now - 60.0]
            if len(recent) >= self.per_minute:
                self._seen[device_id] = recent
                return False
            recent.append(now)
            self._seen[device_id] = recent
            return True
