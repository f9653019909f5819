"""Members at HQ: identification, sign-up, holds on points / stored value / coupons, and
the admin operations (add, show, search, adjust, codes, coupons).

* :mod:`.ledger` — balances and their ledger: every change is a conditional UPDATE plus
  a ledger row carrying the balance it left;
* :mod:`.holds` — holds taken, released, expired and swept (no double spend);
* :mod:`.identify` — the member panel for a scanned code or a phone number, and the
  per-device phone look-up limit;
* :mod:`.signup` — a customer joins at the till;
* :mod:`.admin` — what HQ staff do with members;
* the audit log itself is :mod:`server_stub.audit`, one chain for every HQ action.

Lock order, to keep PostgreSQL free of deadlocks: hold rows (by id), coupon rows, earning
rows, member rows (by id), the audit head, the feed counter last. Every writer here and in
:mod:`server_stub.ingest` follows it.

The admin CLI and the admin API call the same functions. Refusals are
:class:`server_stub.errors.ApiError`.
"""

from __future__ import annotations

from server_stub.audit import Actor, audit_entries
from server_stub.members._common import DEFAULT_TIER, SPEND_GRACE_S
from server_stub.members._numbers import luhn_digit, new_member_number
from server_stub.members.admin import (
    DEFAULT_CODE_TTL_S,
    add_member,
    adjust_member,
    find_by_phone,
    issue_coupon,
    member_code,
    search_members,
    show_member,
)
from server_stub.members.holds import create_hold, get_hold, release_hold, sweep_expired
from server_stub.members.identify import IDENTIFY_GRACE_S, LookupLimiter, identify
from server_stub.members.ledger import Balance, ledger_mismatches
from server_stub.members.signup import sign_up

__all__ = [
    "DEFAULT_CODE_TTL_S",
    "DEFAULT_TIER",
    "IDENTIFY_GRACE_S",
    "SPEND_GRACE_S",
    "Actor",
    "Balance",
    "LookupLimiter",
    "add_member",
    "adjust_member",
    "audit_entries",
    "create_hold",
    "find_by_phone",
    "get_hold",
    "identify",
    "issue_coupon",
    "ledger_mismatches",
    "luhn_digit",
    "member_code",
    "new_member_number",
    "release_hold",
    "search_members",
    "show_member",
    "sign_up",
    "sweep_expired",
]
