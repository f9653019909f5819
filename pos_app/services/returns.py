"""Returns and refunds at the till: find the sale, choose what comes back, authorise,
preview the refund, commit, print the return receipt; undo a sale just made.

**HQ is the authority** for anything returned: online, every return with a receipt asks
HQ for a return authorisation (also for this store's own sales), which HQ grants
atomically against what is left of each line in every store; the return event captures
it. The authorisation row is written here *before* HQ is first asked, and given back on
cancel or at start-up (:meth:`ReturnService.recover`) when no committed return captured
it, exactly like member holds. Offline, a sale this till holds can still be returned,
checked against this till's own returns (HQ reconciles when the event arrives); any
other sale is refused with ``cross_store_offline``, whose text offers the alternatives.

A return that completes the return of a whole sale (every line, counting every earlier
return HQ or this till knows of) gives the member back the coupon the sale used, while it
is valid and the chain's ``returns.coupon_back`` is ``full_return`` (the contract's
:func:`~sync_client.contract.refunds.coupon_goes_back`): the preview, the event's
``coupon_back``, the record and the return receipt say so; HQ gives it back when the event
arrives (so an offline same-store return queues it), deciding by the same rule.

The commit writes the return, its lines and refunds, the local stock movement, the
``sale.returned`` outbox event and the return receipt's print job (which opens the drawer
for a cash refund) in ONE ``BEGIN IMMEDIATE`` transaction committed with
``synchronous=FULL``, like a sale.

HQ calls run on the sync thread (``SyncRunner.submit``) with the client's 3 s
interactive timeout; methods that may ask HQ return a ``concurrent.futures.Future`` at
once. Local finds return an already-completed future. No Qt here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, Protocol, TypeVar
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hardware import Align, Columns, Document, Feed, QRCode, Rule, Text, document_to_dict
from pos_app.domain.ids import SaleRef, SaleRefError, parse_sale_ref, uuid7, verify_sale_ref
from pos_app.domain.roles import Role
from pos_app.i18n import Translator
from pos_app.localdb import print_jobs
from pos_app.localdb import returns as repo
from pos_app.localdb import sales as sales_repo
from pos_app.localdb import shifts as shift_repo
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.returns import ReturnRecord
from pos_app.localdb.sales import OutboxRecord, SaleMemberRecord, SaleRecord
from pos_app.localdb.store import audit, get_store, next_counter
from pos_app.services.auth import AuthService, StaffMember
from pos_app.services.errors import ServiceError
from pos_app.services.ports import Clock, RefundGateway, TerminalIdentity
from pos_app.services.receipts import LOCAL_TZ, local_time
from sync_client import HQRefused, HQUnavailable, SyncRunner
from sync_client.contract import protocol as p
from sync_client.contract.money import format_yuan
from sync_client.contract.refunds import (
    PaidTender,
    RefundError,
    ReturnPolicy,
    TenderRefund,
    coupon_goes_back,
    line_refund_fen,
    points_to_reverse,
    returned_in_full,
    split_refund,
)

__all__ = [
    "FoundSale",
    "NoReceiptLine",
    "RefundPreview",
    "ReturnChoice",
    "ReturnDraft",
    "ReturnError",
    "ReturnRecord",
    "ReturnService",
    "approval_audit_action",
    "sign_return_ref",
]

T = TypeVar("T")
log = logging.getLogger("chainpos.returns")

RETURN_REF_PREFIX = "CPR1"
"""Return receipts carry a signed reference like a sale's, told apart by this prefix."""

TILL_REFUNDED_KINDS = frozenset({"cash", "card", "points", "stored_value", "coupon"})
"""Tender kinds the till refunds itself (cash from the drawer; card recorded for the
external terminal) or through HQ's ledger (account tenders). Any other kind refunds
through the :class:`~pos_app.services.ports.RefundGateway`."""


class ReturnError(ServiceError):
    """A return that cannot be done. ``code`` (translated as ``error.<code>``):

    ``bad_receipt`` (a forged, altered or unreadable receipt code), ``sale_not_found``,
    ``cross_store_offline`` (HQ unreachable and the sale is not one this till holds:
    ``params`` offer the alternatives), ``outside_window`` (``params["deadline"]``, the
    local date), ``not_returnable_item`` (``params["name"]``), ``over_returnable`` (a
    line beyond what is left; ``params["name"]``), ``not_returnable`` (HQ refused: the
    line was returned elsewhere; ``params["detail"]`` says where and when),
    ``nothing_to_return``, ``bad_reason``, ``sale_voided``, ``needs_approval``
    (``params["action"]``), ``not_approver`` (the PIN's owner lacks the role),
    ``no_receipt_over_cap`` (``params["cap"]``), ``refund_gateway_missing`` (a
    payment-code refund with no gateway wired), ``refund_failed``, ``not_authorised``
    (an online return not yet authorised by HQ), ``auth_released`` (the authorisation
    was given back while HQ was granting it),
    ``hq_refused`` (another refusal; HQ's code in ``params["error"]``),
    ``return_not_saved`` and ``not_undoable`` (not a sale of this till's current shift),
    ``already_returned`` (HQ refused a line another return took: ``params`` name the
    item, the store, the local time and the return's receipt, and what is ``left``).
    """


@dataclass(frozen=True, slots=True)
class FoundSale:
    """A sale to return as the screen shows it. ``local``: read from this till's own
    database (earlier returns are then this till's only); else HQ's answer."""

    sale: p.SaleForReturn
    local: bool


@dataclass(slots=True)
class ReturnChoice:
    """What comes back of one line: ``qty_milli`` (weight for weighed goods), why, and
    whether it goes back to sellable stock."""

    qty_milli: int
    reason: str
    restock: Literal["sellable", "damaged"] = "sellable"


@dataclass(frozen=True, slots=True)
class NoReceiptLine:
    """A line of a return without a receipt: an item at its current price."""

    item_id: int
    sku: str
    name: str
    unit: Literal["piece", "kg"]
    unit_price_fen: int
    qty_milli: int
    reason: str
    restock: Literal["sellable", "damaged"] = "sellable"

    @property
    def refund_fen(self) -> int:
        return self.unit_price_fen * self.qty_milli // 1000


@dataclass
class ReturnDraft:
    """A return being rung up (GUI thread owns it)."""

    cashier: StaffMember
    found: FoundSale | None
    choices: dict[int, ReturnChoice] = field(default_factory=dict)
    no_receipt: list[NoReceiptLine] = field(default_factory=list)
    approvals: list[p.Approval] = field(default_factory=list)
    auth_id: str | None = None
    undo: bool = False
    refunding: tuple[UUID, tuple[TenderRefund, ...]] | None = None
    """The return id the gateway refunds were sent under, with those refunds, while the
    return is not saved: confirming the same return again sends them under the same id,
    so the provider refunds once."""


@dataclass(frozen=True, slots=True)
class LineRefund:
    line_no: int
    name: str
    qty_milli: int
    refund_fen: int


@dataclass(frozen=True, slots=True)
class RefundPreview:
    """What confirming would refund: per line, the split over the tenders, the points
    taken back (an estimate; HQ decides, never below zero), the approvals still needed
    (by :data:`protocol.ApprovalAction`) and the sale's coupon when it goes back to the
    member (this return completes the return of the whole sale)."""

    lines: tuple[LineRefund, ...]
    refund_fen: int
    split: tuple[TenderRefund, ...]
    points_reversed: int
    needs: tuple[str, ...]
    coupon_back: p.SaleCoupon | None = None


AuthOutcome = Literal["hq", "offline"]
"""How a return was cleared: by HQ's authorisation, or by the offline rules (a sale
this till holds, checked against its own returns; HQ reconciles)."""


class ReturnHQ(Protocol):
    """HQ's return API (``sync_client.HQClient`` is one). Coroutines on the sync loop;
    raise ``HQUnavailable`` / ``HQRefused`` as the member calls do."""

    async def lookup_sales(self, req: p.SaleLookupRequest) -> p.SaleLookupResponse: ...

    async def authorise_return(self, req: p.ReturnAuthRequest) -> p.ReturnAuthData: ...

    async def get_return_auth(self, auth_id: UUID) -> p.ReturnAuthData: ...

    async def release_return_auth(self, auth_id: UUID) -> p.ReturnAuthData: ...


def approval_audit_action(action: str) -> str:
    """The audit action of a PIN approving the return approval ``action``."""
    return f"return.{action}"


def sign_return_ref(return_id: UUID, store: str, terminal: str, secret: bytes) -> str:
    """The return receipt's QR: signed like a sale reference, with its own prefix."""
    sale_ref = SaleRef(return_id, store, terminal).sign(secret)
    return RETURN_REF_PREFIX + sale_ref[len("CPS1") :]


def _done(value: T) -> concurrent.futures.Future[T]:
    f: concurrent.futures.Future[T] = concurrent.futures.Future()
    f.set_result(value)
    return f


def _failed(exc: BaseException) -> concurrent.futures.Future[Any]:
    f: concurrent.futures.Future[Any] = concurrent.futures.Future()
    f.set_exception(exc)
    return f


def _refused(exc: HQRefused) -> ReturnError:
    if exc.code in ("bad_receipt", "not_returnable", "sale_not_found", "outside_window"):
        # HQ's params (where and when a line was returned, the window's dates) and detail.
        return ReturnError(exc.code, f"HQ refused: {exc.detail}", **exc.params)
    if exc.code == "unknown_sale":
        return ReturnError("sale_not_found", f"HQ: {exc.detail}", detail=exc.detail)
    return ReturnError(
        "hq_refused", f"HQ refused: {exc.code}: {exc.detail}", error=exc.code, detail=exc.detail
    )


def _cross_store_offline() -> ReturnError:
    return ReturnError(
        "cross_store_offline",
        "HQ is unreachable: only sales made at this till can be returned now",
        alternatives="retry_online,original_store,no_receipt",
    )


class ReturnService:
    """The till's return use cases (see the module docstring for threads and rules).

    Args:
        runner / hq / online: as for :class:`~pos_app.services.members.MemberService`;
            ``runner`` None for a till without HQ (only its own sales, offline rules).
        auth: checks approvers' PINs.
        gateway: refunds payment-code tenders; None until a payment gateway exists.
        shift_start: when the current shift began (整单撤销 undoes sales since then);
            until shifts exist, the sign-in time the screen passes.
        shift_id: the current shift's id for the event, or None.
        after_commit: called after a return committed (wake printer and outbox).
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        identity: TerminalIdentity,
        auth: AuthService,
        *,
        runner: SyncRunner | None = None,
        hq: Callable[[], ReturnHQ] | None = None,
        online: Callable[[], bool] = lambda: False,
        gateway: RefundGateway | None = None,
        receipt_language: str = "zh_CN",
        shift_id: Callable[[], str | None] = lambda: None,
        after_commit: Callable[[repo.ReturnRecord], object] | None = None,
        auth_ttl_s: int = 900,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._identity = identity
        self._auth = auth
        self._runner = runner
        self._hq = hq
        self._online = online
        self._gateway = gateway
        self._slip = Translator(receipt_language)
        self._shift_id = shift_id
        self._after_commit = after_commit
        self._ttl = auth_ttl_s

    # -- reading ------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self._runner is not None and self._runner.running and self._online()

    def policy(self) -> ReturnPolicy:
        """The ``returns.*`` settings in force for this store (defaults when absent)."""
        with read_session(self._engine) as session:
            return _policy(session)

    def _rules(self, draft: ReturnDraft) -> tuple[ReturnPolicy, dict[str, tuple[int, str]]]:
        """The policy and the (item id, category) of the draft's chosen lines, read in one
        session: :meth:`commit` checks, previews and records with the same reading."""
        with read_session(self._engine) as session:
            return _read_rules(session, draft)

    def _store_name(self, session: Session) -> str:
        """This store's name in the receipt language (its code when the till has none)."""
        store = get_store(session, self._identity.store_code)
        if store is None:
            return self._identity.store_code
        return store.name_zh if self._slip.language.startswith("zh") else store.name_en

    def _local(self, sale_id: str) -> p.SaleForReturn | None:
        with read_session(self._engine) as session:
            sale = sales_repo.get_sale(session, sale_id)
            if sale is None:
                return None
            earlier = repo.returns_of_sale(session, sale_id)
            held = self._held_lines(session, sale_id)
        return _sale_for_return(sale, earlier, held)

    @staticmethod
    def _held_lines(session: Any, sale_id: str) -> dict[int, int]:
        out: dict[int, int] = {}
        rows = session.execute(
            text("SELECT auth_id FROM return_auth WHERE sale_id = :s AND state = 'held'"),
            {"s": sale_id},
        ).all()
        for (auth_id,) in rows:
            row = repo.get_auth(session, str(auth_id))
            if row is not None:
                for line_no, qty in row.lines.items():
                    out[line_no] = out.get(line_no, 0) + qty
        return out

    # -- finding ------------------------------------------------------------------------

    def find_by_ref(self, raw: str) -> concurrent.futures.Future[FoundSale]:
        """The sale of a scanned receipt QR. A code this till signed is verified with its
        own secret and read from its own database; any other code goes to HQ (which
        verifies it), and offline is refused ``cross_store_offline``."""
        try:
            ref, _ = parse_sale_ref(raw)
        except SaleRefError as exc:
            return _failed(ReturnError("bad_receipt", str(exc)))
        ident = self._identity
        if ref.store_code == ident.store_code and ref.terminal_id == ident.terminal_id:
            try:
                verify_sale_ref(raw, ident.receipt_secret)
            except SaleRefError as exc:
                return _failed(ReturnError("bad_receipt", str(exc)))
            local = self._local(str(ref.sale_id))
            if local is not None:
                return _done(FoundSale(local, True))
        return self._ask_lookup(p.SaleLookupRequest(ref=raw.strip()), single=True)

    def find_by_receipt(
        self, receipt_no: str, store: str, business_date: date | None = None
    ) -> concurrent.futures.Future[list[FoundSale]]:
        """Sales by receipt number at a store (without the receipt): this till's own
        first, else HQ's."""
        receipt_no = receipt_no.strip().upper()
        store = store.strip().upper() or self._identity.store_code
        if store == self._identity.store_code:
            with read_session(self._engine) as session:
                sale_id = repo.sale_by_receipt_no(session, receipt_no)
            if sale_id is not None:
                local = self._local(sale_id)
                if local is not None and (
                    business_date is None
                    or local.completed_at.astimezone(LOCAL_TZ).date() == business_date
                ):
                    return _done([FoundSale(local, True)])
        try:
            req = p.SaleLookupRequest(
                receipt_no=receipt_no, store=store, business_date=business_date
            )
        except ValidationError:
            return _failed(ReturnError("sale_not_found", f"no sale {receipt_no!r}"))
        return self._ask_lookup(req, single=False)

    def find_by_member(self, number: str) -> concurrent.futures.Future[list[FoundSale]]:
        """A member's sales within the return window: HQ's (every store); offline, the
        ones this till holds."""
        number = number.strip()
        if not self.online:
            since = self._clock.now() - timedelta(days=self.policy().window_days)
            with read_session(self._engine) as session:
                ids = repo.sales_of_member(session, number, since, 20)
            found = [FoundSale(s, True) for s in map(self._local, ids) if s is not None]
            return _done(found)
        try:
            req = p.SaleLookupRequest(member=number)
        except ValidationError:
            return _failed(ReturnError("sale_not_found", f"not a member number {number!r}"))
        return self._ask_lookup(req, single=False)

    def _ask_lookup(
        self, req: p.SaleLookupRequest, *, single: bool
    ) -> concurrent.futures.Future[Any]:
        if not self.online or self._runner is None:
            return _failed(_cross_store_offline())
        return self._runner.submit(self._lookup(req, single))

    async def _lookup(self, req: p.SaleLookupRequest, single: bool) -> Any:
        assert self._hq is not None
        try:
            answer = await self._hq().lookup_sales(req)
        except HQUnavailable:
            raise _cross_store_offline() from None
        except HQRefused as exc:
            raise _refused(exc) from None
        found = [FoundSale(s, False) for s in answer.sales]
        if single:
            if not found:
                raise ReturnError("sale_not_found", "HQ has no such sale")
            return found[0]
        return found

    # -- choosing -----------------------------------------------------------------------

    def new_draft(self, cashier: StaffMember, found: FoundSale | None) -> ReturnDraft:
        return ReturnDraft(cashier, found)

    def check(self, draft: ReturnDraft) -> None:
        """Policy checks of what is chosen. Raises :class:`ReturnError`."""
        self._check(draft, *self._rules(draft))

    def _check(
        self, draft: ReturnDraft, policy: ReturnPolicy, cats: dict[str, tuple[int, str]]
    ) -> None:
        if draft.found is None:
            if not draft.no_receipt:
                raise ReturnError("nothing_to_return", "choose what comes back")
            for nl in draft.no_receipt:
                self._check_reason(policy, nl.reason)
            total = sum(nl.refund_fen for nl in draft.no_receipt)
            if total > policy.no_receipt_cap_fen:
                raise ReturnError(
                    "no_receipt_over_cap",
                    "a return without a receipt is capped",
                    cap=format_yuan(policy.no_receipt_cap_fen),
                )
            return
        sale = draft.found.sale
        refusal = self._sale_refusal(sale, policy, draft.undo)
        if refusal is not None:
            raise refusal
        chosen = {k: v for k, v in draft.choices.items() if v.qty_milli > 0}
        if not chosen:
            raise ReturnError("nothing_to_return", "choose what comes back")
        lines = {ln.line_no: ln for ln in sale.lines}
        for line_no, choice in chosen.items():
            line = lines.get(line_no)
            if line is None:
                raise ReturnError("over_returnable", f"no line {line_no}", name=str(line_no))
            if not policy.returnable_item(line.sku, cats.get(line.sku, (0, ""))[1]):
                raise ReturnError(
                    "not_returnable_item", f"{line.name} cannot be returned", name=line.name
                )
            if choice.qty_milli > line.returnable_milli:
                raise ReturnError(
                    "over_returnable",
                    f"only {line.returnable_milli} of {line.name} is left to return",
                    name=line.name,
                    left_milli=line.returnable_milli,
                )
            self._check_reason(policy, choice.reason)

    def sale_refusal(self, found: FoundSale) -> ReturnError | None:
        """Why nothing of ``found`` may come back (voided, outside the return window,
        with the deadline), or None: the screen says so as soon as the sale is shown."""
        return self._sale_refusal(found.sale, self.policy(), undo=False)

    def _sale_refusal(
        self, sale: p.SaleForReturn, policy: ReturnPolicy, undo: bool
    ) -> ReturnError | None:
        if sale.voided:
            return ReturnError("sale_voided", "the sale was voided")
        if not undo and not policy.in_window(sale.completed_at, self._clock.now()):
            deadline = policy.deadline(sale.completed_at).astimezone(LOCAL_TZ).date()
            return ReturnError(
                "outside_window",
                f"returns of this sale closed on {deadline}",
                deadline=deadline.isoformat(),
                sold=sale.completed_at.astimezone(LOCAL_TZ).date().isoformat(),
            )
        return None

    @staticmethod
    def _check_reason(policy: ReturnPolicy, reason: str) -> None:
        if reason not in policy.reason_codes():
            raise ReturnError("bad_reason", f"not a return reason: {reason!r}")

    def preview(self, draft: ReturnDraft) -> RefundPreview:
        """The refund as confirming would make it (after :meth:`check`)."""
        return self._preview(draft, self.policy(), self._clock.now())

    def _preview(self, draft: ReturnDraft, policy: ReturnPolicy, now: datetime) -> RefundPreview:
        if draft.found is None:
            lines = tuple(
                LineRefund(i, nl.name, nl.qty_milli, nl.refund_fen)
                for i, nl in enumerate(draft.no_receipt, start=1)
            )
            total = sum(ln.refund_fen for ln in lines)
            split: tuple[TenderRefund, ...] = (
                (TenderRefund(0, "cash", total, None),) if total else ()
            )
            needs = ["return_without_receipt"]
            if total > policy.approval_above_fen:
                needs.append("refund_over_limit")
            return RefundPreview(lines, total, split, 0, self._missing(draft, needs))
        sale = draft.found.sale
        by_no = {ln.line_no: ln for ln in sale.lines}
        refunds = []
        for line_no, choice in sorted(draft.choices.items()):
            if choice.qty_milli <= 0:
                continue
            ln = by_no[line_no]
            fen = line_refund_fen(ln.amount_fen, ln.qty_milli, ln.returned_milli, choice.qty_milli)
            refunds.append(LineRefund(line_no, ln.name, choice.qty_milli, fen))
        total = sum(r.refund_fen for r in refunds)
        split = split_refund(total, _paid_tenders(sale), policy.refund_split)
        refunded_before = sum(r.refund_fen for r in sale.returns)
        points = points_to_reverse(
            sale.earned_points, sale.total_fen, total, refunded_before, sale.points_reversed
        )
        needs = []
        if draft.undo:
            needs.append("sale_undo")
        if total > policy.approval_above_fen:
            needs.append("refund_over_limit")
        return RefundPreview(
            tuple(refunds),
            total,
            split,
            points,
            self._missing(draft, needs),
            _coupon_back(sale, draft.choices, policy, now),
        )

    @staticmethod
    def _missing(draft: ReturnDraft, needs: Sequence[str]) -> tuple[str, ...]:
        have = {a.action for a in draft.approvals}
        return tuple(n for n in needs if n not in have)

    def approve(self, draft: ReturnDraft, action: str, number: str, pin: str) -> StaffMember:
        """A supervisor (or, for ``return_without_receipt``, a manager) approves
        ``action`` with their PIN; the approval travels in the event. Raises
        ``SignInError`` for a wrong PIN and :class:`ReturnError` ``not_approver``."""
        approver = self._auth.approve(
            number, pin, action=approval_audit_action(action), requested_by=draft.cashier.number
        )
        return self.accept_approval(draft, action, approver)

    def accept_approval(
        self, draft: ReturnDraft, action: str, approver: StaffMember
    ) -> StaffMember:
        """Records ``approver`` (whose PIN the caller checked, e.g. the approval dialog,
        audited as :func:`approval_audit_action`) for ``action`` on the draft, if their
        role suffices. Raises :class:`ReturnError` ``not_approver``."""
        need = Role(p.APPROVAL_MIN_ROLE[action])
        if approver.role.rank < need.rank:
            raise ReturnError("not_approver", f"{action} needs a {need.value}", role=need.value)
        draft.approvals = [a for a in draft.approvals if a.action != action]
        draft.approvals.append(
            p.Approval(action=action, staff=approver.number, approved_at=self._clock.now())  # type: ignore[arg-type]
        )
        return approver

    # -- authorising --------------------------------------------------------------------

    def authorise(self, draft: ReturnDraft) -> concurrent.futures.Future[AuthOutcome]:
        """Makes sure the chosen quantities may come back. Online: HQ's authorisation
        (also for this store's own sales): ``hq``. Offline (or HQ's answer lost) a sale
        this till holds passes on its own returns (checked by :meth:`check`):
        ``offline``; any other sale fails ``cross_store_offline``."""
        try:
            self.check(draft)
        except ReturnError as exc:
            return _failed(exc)
        if draft.found is None:
            return _done("offline")
        if not self.online:
            if draft.found.local:
                self._release_draft(draft)
                return _done("offline")
            return _failed(_cross_store_offline())
        assert self._runner is not None
        self._release_draft(draft)
        sale = draft.found.sale
        auth_id = uuid7()
        lines = {k: c.qty_milli for k, c in draft.choices.items() if c.qty_milli > 0}
        req = p.ReturnAuthRequest(
            auth_id=auth_id,
            sale_id=sale.sale_id,
            lines=[p.LineQty(line_no=k, qty_milli=v) for k, v in sorted(lines.items())],
            ttl_s=self._ttl,
        )
        with write_session(self._engine) as session:
            repo.add_auth(session, str(auth_id), str(sale.sale_id), lines, self._clock.now())
            session.commit()
        draft.auth_id = str(auth_id)
        return self._runner.submit(self._ask_auth(req, draft.found.local, sale))

    async def _ask_auth(
        self, req: p.ReturnAuthRequest, local: bool, sale: p.SaleForReturn
    ) -> AuthOutcome:
        assert self._hq is not None
        auth_id = str(req.auth_id)
        try:
            data = await self._hq().authorise_return(req)
        except HQUnavailable as exc:
            # HQ may have granted it and the answer got lost: give it back to be sure.
            await asyncio.to_thread(self._set_auth, auth_id, "releasing", str(exc))
            if local:
                return "offline"  # a sale this till holds: the offline rules apply
            raise _cross_store_offline() from None
        except HQRefused as exc:
            await asyncio.to_thread(
                self._set_auth, auth_id, "released", f"{exc.code}: {exc.detail}"
            )
            if exc.code == "not_returnable":
                plain = await self._returned_where(sale, req)
                if plain is not None:
                    raise plain from None
            raise _refused(exc) from None
        made = await asyncio.to_thread(self._auth_made, auth_id, data.expires_at)
        if not made:
            await self._release_at_hq(auth_id)
            raise ReturnError("auth_released", "the authorisation was given back meanwhile")
        return "hq"

    async def _returned_where(
        self, sale: p.SaleForReturn, req: p.ReturnAuthRequest
    ) -> ReturnError | None:
        """After HQ refused a line as already returned: the return that took it, from
        HQ's own record of the sale (which return, in which store, when), so the cashier
        reads a plain sentence in her language rather than HQ's detail. None when HQ
        cannot say (unreachable now, or the line is held by a return still in progress)."""
        assert self._hq is not None
        try:
            answer = await self._hq().lookup_sales(
                p.SaleLookupRequest(receipt_no=sale.receipt_no, store=sale.store)
            )
        except (HQUnavailable, HQRefused):
            return None
        fresh = next((s for s in answer.sales if s.sale_id == sale.sale_id), None)
        if fresh is None:
            return None
        by_no = {ln.line_no: ln for ln in fresh.lines}
        for asked in req.lines:
            line = by_no.get(asked.line_no)
            if line is None or asked.qty_milli <= line.returnable_milli:
                continue
            took = [r for r in fresh.returns if any(q.line_no == line.line_no for q in r.lines)]
            if not took:
                return None
            last = took[-1]
            left = line.returnable_milli
            return ReturnError(
                "already_returned",
                f"{line.name} was returned at {last.store} on {last.returned_at.isoformat()}",
                name=line.name,
                store=last.store,
                time=local_time(last.returned_at)[:16],
                receipt=last.receipt_no,
                left=f"{left / 1000:.3f} kg" if line.unit == "kg" else str(left // 1000),
            )
        return None

    def _auth_made(self, auth_id: str, expires_at: datetime) -> bool:
        with write_session(self._engine) as session:
            made = repo.auth_made(session, auth_id, expires_at)
            session.commit()
        return made

    def _set_auth(
        self, auth_id: str, state: str, error: str | None, only_from: tuple[str, ...] | None = None
    ) -> bool:
        with write_session(self._engine) as session:
            changed = repo.set_auth_state(session, auth_id, state, error=error, only_from=only_from)
            session.commit()
        return changed

    def cancel(self, draft: ReturnDraft) -> None:
        """The return is abandoned: its authorisation goes back to HQ (now or later)."""
        self._release_draft(draft)

    def _release_draft(self, draft: ReturnDraft) -> None:
        if draft.auth_id is None:
            return
        auth_id, draft.auth_id = draft.auth_id, None
        with write_session(self._engine) as session:
            to_tell = repo.start_releasing(session, [auth_id])
            session.commit()
        if to_tell and self._runner is not None and self._runner.running and self._hq:
            self._runner.submit(self._release_at_hq(auth_id))

    async def _release_at_hq(self, auth_id: str) -> Literal["released", "unreachable", "kept"]:
        assert self._hq is not None
        try:
            await self._hq().release_return_auth(UUID(auth_id))
        except HQUnavailable as exc:
            await asyncio.to_thread(self._set_auth, auth_id, "releasing", str(exc), ("releasing",))
            return "unreachable"
        except HQRefused as exc:
            error = f"{exc.code}: {exc.detail}"
            if exc.code in ("unknown_auth", "auth_expired"):
                await asyncio.to_thread(self._set_auth, auth_id, "released", error, ("releasing",))
                return "released"
            if exc.code == "auth_captured":
                await asyncio.to_thread(self._set_auth, auth_id, "captured", error, ("releasing",))
                return "released"
            await asyncio.to_thread(self._set_auth, auth_id, "releasing", error, ("releasing",))
            return "kept"
        await asyncio.to_thread(self._set_auth, auth_id, "released", None, ("releasing",))
        return "released"

    def recover(self) -> int:
        """At start-up: marks authorisations no committed return captured for release,
        and tells HQ (now if reachable; :meth:`sweep` retries). Returns how many."""
        with write_session(self._engine) as session:
            auth_ids = repo.uncommitted_auths(session)
            repo.start_releasing(session, auth_ids)
            session.commit()
        if auth_ids:
            log.info("giving back %d return authorisation(s) never captured", len(auth_ids))
        if self._runner is not None and self._runner.running and self._hq is not None:
            self.sweep()
        return len(auth_ids)

    def sweep(self) -> concurrent.futures.Future[None]:
        """Tells HQ about every authorisation still to give back (until unreachable)."""
        if self._runner is None or not self._runner.running or self._hq is None:
            return _done(None)
        return self._runner.submit(self._sweep())

    async def _sweep(self) -> None:
        def pending() -> list[str]:
            with read_session(self._engine) as session:
                return repo.releasing_auths(session)

        for auth_id in await asyncio.to_thread(pending):
            if await self._release_at_hq(auth_id) == "unreachable":
                return

    # -- committing ---------------------------------------------------------------------

    def commit(self, draft: ReturnDraft) -> repo.ReturnRecord:
        """Commits the return durably (see the module docstring) and returns it.

        Raises:
            ReturnError: a policy refusal, ``needs_approval``, ``not_authorised``,
                ``refund_gateway_missing``, ``refund_failed`` or ``return_not_saved``.
        """
        # One reading for the checks and the receipt: the write transaction below only
        # checks what may have changed since (what is left to return) and writes.
        with read_session(self._engine) as session:
            policy, items = _read_rules(session, draft)
            store_name = self._store_name(session)
        self._check(draft, policy, items)
        now = self._clock.now()
        preview = self._preview(draft, policy, now)
        if preview.needs:
            raise ReturnError(
                "needs_approval", f"{preview.needs[0]} needs approval", action=preview.needs[0]
            )
        found = draft.found
        if found is not None and draft.auth_id is None and not found.local:
            raise ReturnError("not_authorised", "HQ has not authorised this return")
        if found is not None and draft.auth_id is not None:
            with read_session(self._engine) as session:
                row = repo.get_auth(session, draft.auth_id)
            chosen = {k: c.qty_milli for k, c in draft.choices.items() if c.qty_milli > 0}
            if row is not None and row.state == "releasing" and found.local:
                # HQ's answer never came (the authorisation is being given back, in case
                # HQ made it): a sale this till holds goes by the offline rules.
                draft.auth_id = None
            elif row is None or row.state != "held" or row.lines != chosen:
                raise ReturnError("not_authorised", "the authorisation does not cover this return")
        for part in preview.split:
            if part.kind not in TILL_REFUNDED_KINDS and self._gateway is None:
                raise ReturnError(
                    "refund_gateway_missing",
                    f"a {part.kind} refund needs the payment gateway",
                    kind=part.kind,
                )
        ident = self._identity
        through_gateway = tuple(s for s in preview.split if s.kind not in TILL_REFUNDED_KINDS)
        kept = draft.refunding
        return_id = kept[0] if kept is not None and kept[1] == through_gateway else uuid7()
        if through_gateway:
            draft.refunding = (return_id, through_gateway)
        reference = sign_return_ref(
            return_id, ident.store_code, ident.terminal_id, ident.receipt_secret
        )
        sold = found.sale.tenders if found is not None else []
        for part in preview.split:
            if part.kind not in TILL_REFUNDED_KINDS:
                assert self._gateway is not None
                # The original tender names the charge (its amount is the charge's total,
                # placed_at its time) for a charge made at another till.
                original = sold[part.index] if part.index < len(sold) else None
                try:
                    self._gateway.refund(
                        str(return_id),
                        part.kind,
                        part.amount_fen,
                        part.reference,
                        total_fen=original.amount_fen if original is not None else None,
                        placed_at=original.placed_at if original is not None else None,
                    )
                except Exception as exc:
                    raise ReturnError("refund_failed", f"gateway refund failed: {exc}") from exc
        lines, refunds = self._records(draft, preview, items)
        try:
            record = self._commit(
                draft, preview, now, return_id, reference, lines, refunds, store_name
            )
        except (SQLAlchemyError, OSError) as exc:
            detail = str(getattr(exc, "orig", None) or exc)
            raise ReturnError(
                "return_not_saved", f"return not saved: {detail}", detail=detail
            ) from exc
        draft.auth_id = None
        draft.refunding = None
        if self._after_commit is not None:
            self._after_commit(record)
        return record

    def _records(
        self, draft: ReturnDraft, preview: RefundPreview, items: dict[str, tuple[int, str]]
    ) -> tuple[tuple[repo.ReturnLineRecord, ...], tuple[repo.RefundRecord, ...]]:
        refunds = tuple(repo.RefundRecord(s.kind, s.amount_fen, s.reference) for s in preview.split)
        if draft.found is None:
            return (
                tuple(
                    repo.ReturnLineRecord(
                        i,
                        None,
                        nl.item_id,
                        nl.sku,
                        None,
                        nl.name,
                        nl.unit,
                        nl.qty_milli,
                        nl.unit_price_fen,
                        nl.refund_fen,
                        nl.restock,
                        nl.reason,
                    )
                    for i, nl in enumerate(draft.no_receipt, start=1)
                ),
                refunds,
            )
        by_no = {ln.line_no: ln for ln in draft.found.sale.lines}
        out = []
        for i, r in enumerate(preview.lines, start=1):
            ln = by_no[r.line_no]
            choice = draft.choices[r.line_no]
            out.append(
                repo.ReturnLineRecord(
                    i,
                    ln.line_no,
                    items.get(ln.sku, (None, ""))[0],
                    ln.sku,
                    ln.barcode,
                    ln.name,
                    ln.unit,
                    r.qty_milli,
                    ln.unit_price_fen,
                    r.refund_fen,
                    choice.restock,
                    choice.reason,
                )
            )
        return tuple(out), refunds

    def _commit(
        self,
        draft: ReturnDraft,
        preview: RefundPreview,
        now: datetime,
        return_id: UUID,
        reference: str,
        lines: tuple[repo.ReturnLineRecord, ...],
        refunds: tuple[repo.RefundRecord, ...],
        store_name: str,
    ) -> repo.ReturnRecord:
        ident = self._identity
        sale = draft.found.sale if draft.found is not None else None
        with write_session(self._engine) as session:
            # As checkout does for a sale: the return belongs to the shift open at this
            # till when it commits, read in the same transaction.
            shift_id = self._shift_id() or shift_repo.open_shift_id(session, ident.terminal_id)
            if sale is not None and draft.found is not None and draft.found.local:
                _still_returnable(session, sale, lines)
            coupon = preview.coupon_back
            receipt_no = f"{ident.terminal_id}-R{next_counter(session, 'return'):06d}"
            event = p.SaleReturned(
                return_id=return_id,
                receipt_no=receipt_no,
                store=ident.store_code,
                terminal=ident.terminal_id,
                cashier=draft.cashier.number,
                returned_at=now,
                original=None
                if sale is None
                else p.OriginalSale(
                    sale_id=sale.sale_id,
                    store=sale.store,
                    terminal=sale.terminal,
                    receipt_no=sale.receipt_no,
                ),
                authorisation=UUID(draft.auth_id) if draft.auth_id else None,
                lines=[
                    p.ReturnLine(
                        line_no=ln.line_no,
                        original_line_no=ln.original_line_no,
                        sku=ln.sku,
                        barcode=ln.barcode,
                        name=ln.name,
                        unit=ln.unit,  # type: ignore[arg-type]
                        qty_milli=ln.qty_milli,
                        unit_price_fen=ln.unit_price_fen,
                        refund_fen=ln.refund_fen,
                        restock=ln.restock,  # type: ignore[arg-type]
                        reason=ln.reason,
                    )
                    for ln in lines
                ],
                refund_fen=preview.refund_fen,
                refunds=[
                    p.Tender(kind=r.kind, amount_fen=r.amount_fen, reference=r.reference)  # type: ignore[arg-type]
                    for r in refunds
                ],
                member=sale.member if sale is not None else None,
                points_reversed=preview.points_reversed,
                approvals=list(draft.approvals),
                shift_id=UUID(shift_id) if shift_id else None,
                coupon_back=None if coupon is None else coupon.coupon_id,
            )
            record = repo.ReturnRecord(
                id=str(return_id),
                receipt_no=receipt_no,
                reference=reference,
                store_code=ident.store_code,
                terminal_id=ident.terminal_id,
                cashier=draft.cashier.number,
                returned_at=now,
                original_sale_id=str(sale.sale_id) if sale else None,
                original_store=sale.store if sale else None,
                original_terminal=sale.terminal if sale else None,
                original_receipt_no=sale.receipt_no if sale else None,
                authorisation_id=draft.auth_id,
                refund_fen=preview.refund_fen,
                member=event.member,
                points_reversed=preview.points_reversed,
                shift_id=shift_id,
                approvals=json.dumps([a.model_dump(mode="json") for a in draft.approvals]),
                lines=lines,
                refunds=refunds,
                coupon_back_id=None if coupon is None else str(coupon.coupon_id),
                coupon_back_name=None if coupon is None else coupon.name,
            )
            repo.record_return(
                session,
                record,
                OutboxRecord(str(uuid7()), event.type, now, event.model_dump_json()),
            )
            if draft.auth_id is not None:
                repo.capture_auth(session, draft.auth_id, record.id)
            print_jobs.queue_document(
                session,
                kind="return",
                created_at=now,
                document=json.dumps(
                    document_to_dict(self.receipt(record, store_name)), ensure_ascii=False
                ),
                requested_by=draft.cashier.number,
            )
            audit(
                session,
                now,
                draft.cashier.number,
                "sale.undone" if draft.undo else "sale.returned",
                return_id=record.id,
                receipt_no=receipt_no,
                original=record.original_receipt_no,
                refund_fen=record.refund_fen,
                approvals=[a.staff for a in draft.approvals],
            )
            session.commit()
        return record

    def receipt(self, r: repo.ReturnRecord, store_name: str) -> Document:
        """The return receipt in the store's receipt language (Chinese first), with its
        own signed QR; the drawer opens when cash goes back."""
        t = self._slip.t
        blocks: list[Any] = [
            Text(t("return.slip_title"), align=Align.CENTER, bold=True, double=True),
            Text(store_name, align=Align.CENTER),
            Rule(),
            Columns(t("receipt.number"), r.receipt_no),
            Columns(t("receipt.time"), local_time(r.returned_at)),
            Columns(t("receipt.cashier"), r.cashier),
            Columns(t("receipt.terminal"), r.terminal_id),
        ]
        if r.original_receipt_no:
            blocks.append(Columns(t("return.original"), r.original_receipt_no))
        blocks.append(Rule())
        for ln in r.lines:
            qty = f"{ln.qty_milli / 1000:.3f}kg" if ln.unit == "kg" else str(ln.qty_milli // 1000)
            blocks.append(Columns(f"{ln.name} x{qty}", format_yuan(ln.refund_fen)))
        blocks += [Rule(), Columns(t("return.refund_total"), format_yuan(r.refund_fen), bold=True)]
        blocks += [Columns(t(f"tender.{rf.kind}"), format_yuan(rf.amount_fen)) for rf in r.refunds]
        if r.points_reversed:
            blocks.append(Columns(t("return.points_reversed"), str(r.points_reversed)))
        if r.coupon_back_name:
            blocks.append(Columns(t("return.coupon_back"), r.coupon_back_name))
        blocks += [Feed(1), QRCode(r.reference), Feed(1)]
        opens = any(rf.kind == "cash" and rf.amount_fen > 0 for rf in r.refunds)
        return Document(tuple(blocks), cut=True, open_drawer=opens)

    # -- 整单撤销 --------------------------------------------------------------------------

    def undoable_sales(self, since: datetime | None = None) -> list[FoundSale]:
        """Sales of this till that may be undone: those of the shift open at this till;
        with no shift open, those since ``since`` (else since local midnight)."""
        with read_session(self._engine) as session:
            shift = shift_repo.open_shift(session, self._identity.terminal_id)
            if shift is not None:
                since = shift.opened_at
            elif since is None:
                today = self._clock.now().astimezone(LOCAL_TZ).date()
                since = datetime.combine(today, time(0), LOCAL_TZ)
            ids = repo.sales_since(session, self._identity.terminal_id, since, 50)
        return [FoundSale(s, True) for s in map(self._local, ids) if s is not None]

    def undo_draft(
        self, cashier: StaffMember, sale_id: str, since: datetime | None = None
    ) -> ReturnDraft:
        """A full return of a sale just made, needing a supervisor's ``sale_undo``."""
        found = next(
            (f for f in self.undoable_sales(since) if str(f.sale.sale_id) == sale_id), None
        )
        if found is None or any(ln.returned_milli for ln in found.sale.lines):
            raise ReturnError("not_undoable", "only an untouched sale of this shift can be undone")
        reason = self.policy().reasons[-1].code
        draft = ReturnDraft(cashier, found, undo=True)
        draft.choices = {
            ln.line_no: ReturnChoice(ln.returnable_milli, reason) for ln in found.sale.lines
        }
        return draft


def _still_returnable(
    session: Any, sale: p.SaleForReturn, lines: Sequence[repo.ReturnLineRecord]
) -> None:
    """Inside the return's write transaction: no line of a sale this till holds goes
    beyond what is left of it now (a draft read before another return of the same sale
    is refused instead of returning the goods twice)."""
    before = repo.returned_by_line(session, str(sale.sale_id))
    sold = {ln.line_no: ln for ln in sale.lines}
    for ln in lines:
        assert ln.original_line_no is not None
        line = sold[ln.original_line_no]
        left = line.qty_milli - before.get(ln.original_line_no, 0)
        if ln.qty_milli > left:
            raise ReturnError(
                "over_returnable",
                f"only {left} of {line.name} is left to return",
                name=line.name,
                left_milli=max(0, left),
            )


def _coupon_back(
    sale: p.SaleForReturn,
    choices: dict[int, ReturnChoice],
    policy: ReturnPolicy,
    now: datetime,
) -> p.SaleCoupon | None:
    """The sale's coupon when returning ``choices`` now gives it back: what is left of
    every line comes back with it (after every earlier return the sale shows), the coupon
    was not given back before and is still valid."""
    coupon = sale.coupon
    if coupon is None or coupon.back:
        return None
    after = [
        (ln.qty_milli, ln.returned_milli + max(0, choices[ln.line_no].qty_milli))
        if ln.line_no in choices
        else (ln.qty_milli, ln.returned_milli)
        for ln in sale.lines
    ]
    in_full = returned_in_full(after)
    if not coupon_goes_back(
        policy, in_full=in_full, valid_until=coupon.valid_until, returned_at=now
    ):
        return None
    return coupon


def _read_rules(
    session: Session, draft: ReturnDraft
) -> tuple[ReturnPolicy, dict[str, tuple[int, str]]]:
    skus: list[str] = []
    if draft.found is not None:
        by_no = {ln.line_no: ln.sku for ln in draft.found.sale.lines}
        skus = [by_no[k] for k, c in draft.choices.items() if c.qty_milli > 0 and k in by_no]
    policy = _policy(session)
    items = repo.item_categories(session, skus) if skus else {}
    return policy, items


def _policy(session: Any) -> ReturnPolicy:
    rows = session.execute(
        text("SELECT key, value FROM setting WHERE key >= 'returns.' AND key < 'returns/'")
    ).all()
    values: dict[str, object] = {}
    for key, value in rows:
        try:
            values[str(key)] = json.loads(value)
        except ValueError:
            continue
    return ReturnPolicy.from_settings(values)


def _paid_tenders(sale: p.SaleForReturn) -> list[PaidTender]:
    """The sale's tenders with what earlier returns refunded from each."""
    already = sum(r.refund_fen for r in sale.returns)
    out = []
    # Earlier refunds are spread back proportionally: the split rule is the same for
    # every return, so replaying it reproduces what each tender gave back.
    tenders = [PaidTender(t.kind, t.amount_fen, 0, t.reference) for t in sale.tenders]
    try:
        previous = split_refund(min(already, sum(t.amount_fen for t in tenders)), tenders)
    except RefundError:
        previous = ()
    given = {pr.index: pr.amount_fen for pr in previous}
    for i, t in enumerate(tenders):
        out.append(PaidTender(t.kind, t.amount_fen, given.get(i, 0), t.reference))
    return out


def _local_coupon(
    member: SaleMemberRecord | None, earlier: list[repo.ReturnRecord]
) -> p.SaleCoupon | None:
    """The coupon a sale of this till used, as its return needs it (back: one of this
    till's returns gave it back already)."""
    if (
        member is None
        or member.coupon_id is None
        or member.coupon_valid_until is None
        or not member.coupon_name
    ):
        return None
    return p.SaleCoupon(
        coupon_id=UUID(member.coupon_id),
        name=member.coupon_name,
        value_fen=member.coupon_fen,
        valid_until=member.coupon_valid_until,
        back=any(r.coupon_back_id == member.coupon_id for r in earlier),
    )


def _sale_for_return(
    sale: SaleRecord, earlier: list[repo.ReturnRecord], held: dict[int, int]
) -> p.SaleForReturn:
    returned: dict[int, int] = {}
    refunded: dict[int, int] = {}
    for r in earlier:
        for ln in r.lines:
            if ln.original_line_no is not None:
                returned[ln.original_line_no] = returned.get(ln.original_line_no, 0) + ln.qty_milli
                refunded[ln.original_line_no] = refunded.get(ln.original_line_no, 0) + ln.refund_fen
    member = sale.member
    return p.SaleForReturn(
        sale_id=UUID(sale.id),
        receipt_no=sale.receipt_no,
        store=sale.store_code,
        terminal=sale.terminal_id,
        cashier=sale.cashier,
        completed_at=sale.completed_at,
        lines=[
            p.SoldLine(
                line_no=ln.line_no,
                sku=ln.sku,
                barcode=ln.barcode,
                name=ln.name,
                unit=ln.unit,  # type: ignore[arg-type]
                qty_milli=ln.qty_milli,
                unit_price_fen=ln.unit_price_fen,
                list_amount_fen=ln.list_amount_fen,
                discount_fen=ln.discount_fen,
                amount_fen=ln.amount_fen,
                returned_milli=returned.get(ln.line_no, 0),
                held_milli=held.get(ln.line_no, 0),
                returnable_milli=max(
                    0, ln.qty_milli - returned.get(ln.line_no, 0) - held.get(ln.line_no, 0)
                ),
                refunded_fen=refunded.get(ln.line_no, 0),
                options=None
                if ln.options is None
                else [p.SaleOption.model_validate(o) for o in ln.options],
            )
            for ln in sale.lines
        ],
        subtotal_fen=sale.subtotal_fen,
        discount_fen=sale.discount_fen,
        rounding_fen=sale.rounding_fen,
        total_fen=sale.total_fen,
        tenders=[
            p.Tender(
                kind=t.kind,  # type: ignore[arg-type]
                amount_fen=t.amount_fen,
                tendered_fen=t.tendered_fen,
                reference=t.reference,
            )
            for t in sale.tenders
        ],
        change_fen=sale.change_fen,
        member=member.number if member is not None else None,
        earned_points=member.points_earned if member is not None else 0,
        points_reversed=sum(r.points_reversed for r in earlier),
        voided=sale.status == "voided",
        coupon=_local_coupon(member, earlier),
        returns=[
            p.EarlierReturn(
                return_id=UUID(r.id),
                receipt_no=r.receipt_no,
                store=r.store_code,
                terminal=r.terminal_id,
                returned_at=r.returned_at,
                lines=[
                    p.LineQty(line_no=ln.original_line_no, qty_milli=ln.qty_milli)
                    for ln in r.lines
                    if ln.original_line_no is not None
                ],
                refund_fen=r.refund_fen,
            )
            for r in earlier
        ],
    )
