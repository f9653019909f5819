"""Members at the till: identify, sign up, hold value to spend, give holds back, top up.

Everything that spends (points, stored value, coupons) asks HQ for a **hold** first; the
sale that uses it lists it and captures it when HQ receives the sale. The hold row is
written here *before* HQ is first asked, so that whatever happens next (HQ's answer lost,
the till killed, the sale abandoned) the hold is either captured by a committed sale or
given back: :meth:`MemberService.recover` at start-up releases every hold that no
committed sale captured, and :meth:`MemberService.sweep` keeps retrying releases and
queued sign-ups until HQ confirms them.

HQ calls run on the sync thread's event loop (``submit``); every public method that needs
HQ returns a ``concurrent.futures.Future`` at once and never blocks the caller. Local
reads (:meth:`cached`, :meth:`rules`) are indexed single-row reads, fast enough for the
GUI thread.

Offline (HQ unreachable), identification falls back to the members this till saw
recently (:class:`~pos_app.domain.member.MemberSource` ``cache``) or to the number in
the scanned code (``code``); such members earn but cannot spend. Sign-ups are queued
(``signup``) with the phone number encrypted under a key derived from the terminal's
receipt secret.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from pos_app.domain.member import Coupon, LoyaltyRules, Member
from pos_app.domain.tender import AppliedTender
from pos_app.services.errors import ServiceError
from sync_client import protocol as p

T = TypeVar("T")

Submit = Callable[[Coroutine[Any, Any, T]], "concurrent.futures.Future[T]"]
"""Runs a coroutine on the sync thread's loop (``SyncRunner.submit``)."""


class MemberError(ServiceError):
    """A member action that cannot be done. ``code`` (translated as ``error.<code>``):

    HQ's refusals as HQ names them (``member_code_invalid``, ``member_code_expired``,
    ``card_replaced``, ``unknown_member``, ``member_inactive``, ``bad_phone``,
    ``too_many_lookups``, ``insufficient_points``, ``insufficient_balance``,
    ``coupon_unavailable``, ``member_code_required``, ``member_code_mismatch``,
    ``consent_required``, ``amount_too_small``), with HQ's ``detail`` in
    ``params["detail"]``; and the till's own: ``offline`` (HQ unreachable: spending needs
    HQ; earning continues), ``needs_code`` (identified by phone; the member must show
    their code to spend), ``code_stale`` (the identification is too old to spend; scan
    again), ``not_member_code``, ``unknown_offline`` (a phone number not seen here
    recently, while HQ is unreachable).
    """


class MemberHQ(Protocol):
    """HQ's member API (``sync_client.HQClient`` is one). Coroutines on the sync loop.

    Raise ``sync_client.HQUnavailable`` when HQ cannot be reached or answered nonsense,
    ``sync_client.HQRefused`` (``.error``, ``.detail``) for a refusal."""

    async def identify(self, req: p.IdentifyRequest) -> p.MemberPanel: ...

    async def sign_up(self, req: p.SignUpRequest) -> p.SignUpResponse: ...

    async def hold(self, req: p.HoldRequest) -> p.HoldData: ...

    async def get_hold(self, hold_id: UUID) -> p.HoldData: ...

    async def release_hold(self, hold_id: UUID) -> p.HoldData: ...


@dataclass(frozen=True, slots=True)
class HoldResult:
    """A hold HQ made for the sale in progress. ``value_fen``: what it takes off the sale.
    ``points_after`` / ``balance_after_fen``: the member's spendable balances after it."""

    hold_id: str
    kind: str
    amount: int
    value_fen: int
    coupon_id: str | None
    points_after: int
    balance_after_fen: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TopupRecord:
    topup_id: str
    receipt_no: str
    member: Member
    amount_fen: int
    tenders: tuple[AppliedTender, ...]
    cashier: str
    completed_at: datetime


class MemberService:
    """The till's member use cases. See the module docstring for the threading rules."""

    def is_member_code(self, raw: str) -> bool:
        """Whether a scan is a member app code or card code (not a product barcode)."""
        raise NotImplementedError

    def rules(self) -> LoyaltyRules:
        """The loyalty rules in force for this store (from the ``member.*`` settings)."""
        raise NotImplementedError

    @property
    def online(self) -> bool:
        """Whether HQ answered recently (the sync status); spending is offered only then."""
        raise NotImplementedError

    def cached(self, number: str) -> Member | None:
        """The member as last seen here (source ``cache``), or None."""
        raise NotImplementedError

    def identify_code(self, raw: str) -> concurrent.futures.Future[Member]:
        """Identifies the member whose app or card code was scanned. Online: HQ's panel
        (cached here). HQ unreachable: the cached member, else a ``code`` member with the
        number from the code. HQ's refusals fail the future with :class:`MemberError`."""
        raise NotImplementedError

    def identify_phone(self, phone: str) -> concurrent.futures.Future[Member]:
        """Identifies a member by the phone number they give. Offline: only a member
        identified by this number here recently (else ``unknown_offline``)."""
        raise NotImplementedError

    def sign_up(
        self, phone: str, name: str, consent_version: str, staff: str
    ) -> concurrent.futures.Future[Member]:
        """Signs a customer up (consent given). The sign-up is stored locally (phone
        encrypted) before HQ is asked; HQ unreachable: queued, and the member is returned
        with source ``signup``. An existing member by that phone comes back as they are."""
        raise NotImplementedError

    def hold_points(
        self, draft_id: str, member: Member, points: int
    ) -> concurrent.futures.Future[HoldResult]:
        raise NotImplementedError

    def hold_stored_value(
        self, draft_id: str, member: Member, amount_fen: int
    ) -> concurrent.futures.Future[HoldResult]:
        raise NotImplementedError

    def hold_coupon(
        self, draft_id: str, member: Member, coupon: Coupon
    ) -> concurrent.futures.Future[HoldResult]:
        raise NotImplementedError

    def release(self, hold_id: str) -> concurrent.futures.Future[None]:
        """Gives a hold back (a tender removed, the sale abandoned). Marked ``releasing``
        locally at once; HQ is told now or by a later :meth:`sweep`."""
        raise NotImplementedError

    def release_draft(self, draft_id: str) -> None:
        """Gives back every hold of an abandoned sale that no committed sale captured."""
        raise NotImplementedError

    def recover(self) -> int:
        """At start-up: releases holds left by a sale that never committed; returns how
        many."""
        raise NotImplementedError

    def sweep(self) -> concurrent.futures.Future[None]:
        """Sends queued sign-ups and pending releases to HQ (runs periodically after
        :meth:`start`)."""
        raise NotImplementedError

    def topup(
        self, member: Member, amount_fen: int, tenders: list[AppliedTender], cashier: str
    ) -> TopupRecord:
        """Commits a stored-value top-up paid in cash or card: the ``member.topped_up``
        event and its receipt's print job, in one transaction."""
        raise NotImplementedError
