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
(``signup``) with the phone number encrypted under keys derived from the terminal's
local key, which never leaves the terminal (:meth:`CredentialStore.local_key
<sync_client.CredentialStore.local_key>`); HQ, which holds the receipt secret that keyed
them before, cannot open them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import Engine, text

from hardware import Align, Columns, Document, Feed, Rule, Text, document_to_dict
from pos_app.domain.ids import uuid7
from pos_app.domain.member import Coupon, Member, MemberSource
from pos_app.domain.tender import AppliedTender, TenderKind
from pos_app.i18n import Translator
from pos_app.localdb import members as repo
from pos_app.localdb import print_jobs
from pos_app.localdb.engine import read_session, replica_write_session, write_session
from pos_app.localdb.sales import OutboxRecord
from pos_app.localdb.store import audit, get_setting, get_store, next_counter, set_setting
from pos_app.services.errors import ServiceError
from pos_app.services.ports import Clock, TerminalIdentity
from pos_app.services.receipts import local_time
from sync_client import DeviceRevoked, HQRefused, HQUnavailable, SyncRunner
from sync_client.contract import protocol as p
from sync_client.contract.loyalty import LoyaltyRules, read_rules
from sync_client.contract.membercode import (
    CARD_PREFIX,
    looks_like_member_code,
    mask_phone,
    member_number_of,
    normalise_phone,
)
from sync_client.contract.money import format_yuan
from sync_client.contract.phonecrypt import PhoneCipher, PhoneKeyPair

T = TypeVar("T")

Submit = Callable[[Coroutine[Any, Any, T]], "concurrent.futures.Future[T]"]
"""Runs a coroutine on the sync thread's loop (``SyncRunner.submit``)."""

log = logging.getLogger("chainpos.members")


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
    recently, while HQ is unreachable), ``device_revoked`` (HQ no longer accepts this
    terminal), ``hq_refused`` (another refusal by HQ; its code in ``params["error"]``),
    ``bad_name`` (a sign-up name that is empty, too long or has control characters),
    ``bad_amount`` (a hold or top-up amount that is not positive or too large),
    ``hold_released`` (the hold was given back while HQ was making it),
    ``topup_needs_member`` (a top-up for a member with neither number nor sign-up) and
    ``topup_tenders`` (a top-up not paid exactly by cash and card; cash may be over).
    """


HQ_ERRORS = frozenset(
    {
        "member_code_invalid",
        "member_code_expired",
        "card_replaced",
        "unknown_member",
        "member_inactive",
        "bad_phone",
        "too_many_lookups",
        "insufficient_points",
        "insufficient_balance",
        "coupon_unavailable",
        "member_code_required",
        "member_code_mismatch",
        "consent_required",
        "amount_too_small",
    }
)
"""HQ's refusals passed on under HQ's own code; any other is ``hq_refused``."""


class MemberHQ(Protocol):
    """HQ's member API (``sync_client.HQClient`` is one). Coroutines on the sync loop.

    Raise ``sync_client.HQUnavailable`` when HQ cannot be reached or answered nonsense,
    ``sync_client.HQRefused`` (``.code``, ``.detail``) for a refusal."""

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


# -- phone numbers and the terminal's member keys -----------------------------------------

MAX_TOPUP_FEN = 10**9


def mask_number(number: str) -> str:
    """A member number as shown for a member whose name the till does not know."""
    return f"{number[:4]}****{number[-4:]}" if len(number) > 8 else number


LOCAL_TAG = "t2:"
_LEGACY_TAG = "t1:"
PHONE_KEYS_SETTING = "members.phone_keys"


def terminal_phone_cipher(local_key: bytes) -> PhoneCipher:
    """The terminal's phone cipher, its keys derived from its local key (kept with the
    device credentials, never sent to HQ), so neither a copy of the terminal database
    nor HQ's database reveals a phone number (sealed values are tagged ``t2:`` and bound
    to the sign-up they belong to)."""
    return PhoneCipher(PhoneKeyPair.derive(local_key, scope="terminal-local", tag=LOCAL_TAG))


def legacy_phone_cipher(receipt_secret: bytes) -> PhoneCipher:
    """The keys terminals once derived from the receipt secret (tag ``t1:``), which HQ
    holds too: only to open what was queued under them and seal it again."""
    return PhoneCipher(PhoneKeyPair.derive(receipt_secret, scope="terminal", tag=_LEGACY_TAG))


def rekey_member_phones(engine: Engine, local: PhoneCipher, legacy: PhoneCipher) -> int:
    """Moves this terminal's member phone data off the legacy keys, once: queued sign-ups
    are sealed again under ``local``, and the cache's phone hashes made with the legacy
    hash key are dropped (cached members stay findable by number and code). Returns how
    many sign-ups were sealed again."""
    with write_session(engine) as session:
        if get_setting(session, PHONE_KEYS_SETTING) == LOCAL_TAG:
            return 0
        rows = session.execute(
            text("SELECT signup_id, phone_enc FROM member_signup WHERE phone_enc LIKE 't1:%'")
        ).all()
        for signup_id, sealed in rows:
            digits = legacy.decrypt(str(sealed), str(signup_id))
            session.execute(
                text("UPDATE member_signup SET phone_enc = :e WHERE signup_id = :i"),
                {"e": local.encrypt(digits, str(signup_id)), "i": signup_id},
            )
        session.execute(text("UPDATE member_cache SET phone_key = NULL"))
        set_setting(session, PHONE_KEYS_SETTING, LOCAL_TAG)
        session.commit()
    return len(rows)


# -- helpers ------------------------------------------------------------------------------


def _done(value: T) -> concurrent.futures.Future[T]:
    f: concurrent.futures.Future[T] = concurrent.futures.Future()
    f.set_result(value)
    return f


def _failed(exc: BaseException) -> concurrent.futures.Future[Any]:
    f: concurrent.futures.Future[Any] = concurrent.futures.Future()
    f.set_exception(exc)
    return f


def _refusal(exc: HQRefused) -> MemberError:
    if isinstance(exc, DeviceRevoked):
        return MemberError(
            "device_revoked", f"HQ refused this terminal: {exc.detail}", detail=exc.detail
        )
    code = exc.code if exc.code in HQ_ERRORS else "hq_refused"
    # HQ's params (what is available, what was asked) and detail, and its code.
    params = {**exc.params, "error": exc.code}
    if code == "insufficient_points" and int(params.get("held") or 0) > 0:
        # Points held by sales in progress elsewhere: say so, not just "not enough".
        code = "points_held_elsewhere"
    return MemberError(code, f"HQ refused: {exc.code}: {exc.detail}", **params)


def _disabled() -> MemberError:
    return MemberError("device_revoked", "HQ has disabled this terminal")


def _offline(why: str) -> MemberError:
    return MemberError("offline", f"HQ is unreachable: {why}")


def _member_of(panel: p.MemberPanel, seen_at: datetime, proof: str | None) -> Member:
    return Member(
        number=panel.number,
        name=panel.name,
        phone_masked=panel.phone_masked,
        tier=panel.tier,
        points=panel.points,
        balance_fen=panel.balance_fen,
        coupons=tuple(
            Coupon(
                str(c.coupon_id), c.name, c.value_fen, c.min_spend_fen, c.valid_from, c.valid_until
            )
            for c in panel.coupons
        ),
        version=panel.version,
        source=MemberSource.HQ,
        identified_by=panel.identified_by,
        seen_at=seen_at,
        spend_until=panel.spend_until,
        proof=proof,
    )


def _queued_member(row: repo.PendingSignup) -> Member:
    return Member(
        number=None,
        name=row.name,
        phone_masked=row.phone_masked,
        tier="standard",
        points=0,
        balance_fen=0,
        coupons=(),
        version=0,
        source=MemberSource.SIGNUP,
        identified_by="signup",
        seen_at=row.signed_up_at,
        signup_id=row.signup_id,
    )


SignupOutcome = Literal["sent", "unreachable", "limited", "refused", "revoked"]


class MemberService:
    """The till's member use cases. See the module docstring for the threading rules.

    Args:
        engine: the terminal database.
        clock: HQ's time (identifications' ``spend_until`` and hold expiries are HQ's).
        identity: this terminal.
        phone_key: the terminal's local key (never sent to HQ): it keys the phone
            encryption and hash of queued sign-ups and cached members.
        runner: the sync thread, where HQ calls and the periodic sweep run.
        hq: gives the HQ connection to use (called on the sync loop for each call; raises
            ``HQUnavailable`` when there is none, e.g. the sync client is not running).
        online: whether the sync status says HQ is reachable; offline, nothing asks HQ
            except the sweep.
        revoked: whether HQ disabled this device (a stolen till): then identification,
            sign-up and holds are refused with ``device_revoked``, even from the cache.
        receipt_language: the language of the top-up slip.
        after_commit: called (on the caller's thread) after a top-up committed: wake the
            printer and the outbox pusher.
        notify_outbox: called when queued events may now be accepted by HQ (a queued
            sign-up reached it, so top-ups naming it can go).
        sweep_every_s / sweep_max_s: the sweep's period, and its longest wait while HQ is
            unreachable (doubling from the period).
        cache_days / cache_max: how long, and how many, identified members are kept.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        identity: TerminalIdentity,
        runner: SyncRunner,
        hq: Callable[[], MemberHQ],
        online: Callable[[], bool],
        *,
        phone_key: bytes,
        revoked: Callable[[], bool] = lambda: False,
        receipt_language: str = "zh_CN",
        after_commit: Callable[[TopupRecord], object] | None = None,
        notify_outbox: Callable[[], None] | None = None,
        sweep_every_s: float = 15.0,
        sweep_max_s: float = 120.0,
        cache_days: int = 30,
        cache_max: int = 5000,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._identity = identity
        self._runner = runner
        self._hq = hq
        self._online = online
        self._revoked = revoked
        self._keys = terminal_phone_cipher(phone_key)
        self._legacy_keys = legacy_phone_cipher(identity.receipt_secret)
        self._slip = Translator(receipt_language)
        self._after_commit = after_commit
        self._notify_outbox = notify_outbox
        self._every = sweep_every_s
        self._max_wait = max(sweep_max_s, sweep_every_s)
        self._cache_age = timedelta(days=cache_days)
        self._cache_max = cache_max
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._started = False
        self._was_online = False
        self._lock = threading.Lock()

    # -- life -----------------------------------------------------------------------------

    def start(self) -> None:
        """Prunes the cache, releases holds left by sales that never committed
        (:meth:`recover`) and starts the periodic sweep on the sync thread. Call after the
        sync service started."""
        with self._lock:
            if self._started:
                return
            self._started = True
        resealed = rekey_member_phones(self._engine, self._keys, self._legacy_keys)
        if resealed:
            log.info("sealed %d queued sign-ups under the local key", resealed)
        with write_session(self._engine) as session:
            gone = repo.prune_cache(session, self._clock.now() - self._cache_age, self._cache_max)
            session.commit()
        if gone:
            log.info("forgot %d cached members", gone)
        self.recover()
        self._runner.submit(self._launch()).result(10.0)

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the sweep and waits for it (call before the sync service stops). Holds
        still being released stay ``releasing``; the next start gives them back."""
        with self._lock:
            if not self._started:
                return
            self._started = False
        if not self._runner.running:
            return
        try:
            self._runner.submit(self._halt()).result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("member sweep did not stop within %.1fs", timeout)

    async def _launch(self) -> None:
        self._wake = asyncio.Event()
        self._wake.set()  # a first sweep right away: what recover() marked, queued sign-ups
        self._loop_task = asyncio.get_running_loop().create_task(
            self._sweep_loop(), name="members-sweep"
        )

    async def _halt(self) -> None:
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def wake(self) -> None:
        """Sweeps soon (e.g. HQ just became reachable). Any thread."""
        self._runner.call_soon(self._wake_now)

    def _wake_now(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def sync_status_changed(self, online: bool) -> None:
        """A sync status listener: sweeps as soon as HQ becomes reachable again."""
        if online and not self._was_online:
            self.wake()
        self._was_online = online

    async def _sweep_loop(self) -> None:
        assert self._wake is not None
        wait = self._every
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
            # cancellation that arrives together with a wake-up, and stop() would wait.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()
            if not self.online:
                wait = min(wait * 2, self._max_wait)
                continue
            try:
                clear = await self._sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("member sweep failed")
                clear = False
            wait = self._every if clear else min(wait * 2, self._max_wait)

    # -- reading --------------------------------------------------------------------------

    def is_member_code(self, raw: str) -> bool:
        """Whether a scan is a member app code or card code (not a product barcode)."""
        return looks_like_member_code(raw)

    def rules(self) -> LoyaltyRules:
        """The loyalty rules in force for this store (from the ``member.*`` settings)."""
        with read_session(self._engine) as session:
            rows = session.execute(
                text("SELECT key, value FROM setting WHERE key >= 'member.' AND key < 'member/'")
            ).all()
        reading = read_rules((str(k), str(v)) for k, v in rows)
        for problem in reading.problems:
            log.warning("loyalty setting passed over: %s", problem)
        return reading.rules

    @property
    def online(self) -> bool:
        """Whether HQ answered recently (the sync status); spending is offered only then."""
        return self._runner.running and self._online()

    def cached(self, number: str) -> Member | None:
        """The member as last seen here (source ``cache``), or None."""
        with read_session(self._engine) as session:
            return repo.cached_member(session, number)

    # -- identify -------------------------------------------------------------------------

    def identify_code(self, raw: str) -> concurrent.futures.Future[Member]:
        """Identifies the member whose app or card code was scanned. Online: HQ's panel
        (cached here). HQ unreachable: the cached member, else a ``code`` member with the
        number from the code. HQ's refusals fail the future with :class:`MemberError`."""
        if not self.is_member_code(raw):
            return _failed(MemberError("not_member_code", "not a member code"))
        if self._revoked():
            return _failed(_disabled())
        code = raw.strip()
        number = member_number_of(code)
        if not self.online:
            return self._settled(lambda: self._offline_by_code(code, number))
        return self._submit(self._identify_code(code, number))

    def identify_phone(self, phone: str) -> concurrent.futures.Future[Member]:
        """Identifies a member by the phone number they give. Offline: only a member
        identified by this number here recently (else ``unknown_offline``)."""
        if self._revoked():
            return _failed(_disabled())
        try:
            digits = normalise_phone(phone)
        except ValueError as exc:
            return _failed(MemberError("bad_phone", str(exc)))
        key = self._keys.hash(digits)
        if not self.online:
            return self._settled(lambda: self._offline_by_phone(key))
        return self._submit(self._identify_phone(digits, key))

    def _settled(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        try:
            return _done(fn())
        except MemberError as exc:
            return _failed(exc)

    def _offline_by_code(self, code: str, number: str | None) -> Member:
        if number is None:
            raise MemberError(
                "member_code_invalid", "not a ChainPOS member code", detail="malformed"
            )
        member = self.cached(number)
        if member is not None:
            return member
        return Member(
            number=number,
            name=mask_number(number),
            phone_masked="",
            tier="",
            points=0,
            balance_fen=0,
            coupons=(),
            version=0,
            source=MemberSource.CODE,
            identified_by="card" if code.upper().startswith(CARD_PREFIX) else "code",
            seen_at=self._clock.now(),
            proof=code,
        )

    def _offline_by_phone(self, phone_key: str) -> Member:
        with read_session(self._engine) as session:
            member = repo.cached_by_phone_key(session, phone_key)
        if member is None:
            raise MemberError(
                "unknown_offline", "HQ is unreachable and no member was found here by this phone"
            )
        return member

    async def _identify_code(self, code: str, number: str | None) -> Member:
        try:
            panel = await self._hq().identify(p.IdentifyRequest(code=code))
        except HQUnavailable:
            return await asyncio.to_thread(self._offline_by_code, code, number)
        except HQRefused as exc:
            raise _refusal(exc) from None
        member = _member_of(panel, self._clock.now(), code)
        await asyncio.to_thread(self._remember, member, None)
        return member

    async def _identify_phone(self, digits: str, phone_key: str) -> Member:
        try:
            panel = await self._hq().identify(p.IdentifyRequest(phone=digits))
        except HQUnavailable:
            return await asyncio.to_thread(self._offline_by_phone, phone_key)
        except HQRefused as exc:
            raise _refusal(exc) from None
        member = _member_of(panel, self._clock.now(), None)
        await asyncio.to_thread(self._remember, member, phone_key)
        return member

    def _remember(self, member: Member, phone_key: str | None) -> None:
        # A cached member is HQ's to send again: no need to wait for the disk.
        with replica_write_session(self._engine) as session:
            repo.cache_member(session, member, phone_key)
            session.commit()

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if not self._runner.running:
            coro.close()
            return _failed(_offline("the sync thread is not running"))
        return self._runner.submit(coro)

    # -- sign-up --------------------------------------------------------------------------

    def sign_up(
        self, phone: str, name: str, consent_version: str, staff: str
    ) -> concurrent.futures.Future[Member]:
        """Signs a customer up (consent given). The sign-up is stored locally (phone
        encrypted) before HQ is asked; HQ unreachable: queued, and the member is returned
        with source ``signup``. An existing member by that phone comes back as they are."""
        if self._revoked():
            return _failed(_disabled())
        try:
            digits = normalise_phone(phone)
        except ValueError as exc:
            return _failed(MemberError("bad_phone", str(exc)))
        name = name.strip()
        signup_id = str(uuid7())
        now = self._clock.now()
        try:
            p.SignUpRequest(
                signup_id=UUID(signup_id),
                phone=digits,
                name=name,
                consent=True,
                consent_version=consent_version,
                signed_up_at=now,
            )
        except ValidationError as exc:
            if any(e["loc"] == ("name",) for e in exc.errors()):
                return _failed(MemberError("bad_name", "a name of 1 to 64 printable characters"))
            raise ValueError(f"not a consent version: {consent_version!r}") from None
        row = repo.PendingSignup(
            signup_id=signup_id,
            phone_enc=self._keys.encrypt(digits, signup_id),
            phone_masked=mask_phone(digits),
            name=name,
            consent_version=consent_version,
            signed_up_at=now,
            staff=staff,
            attempts=0,
        )
        with write_session(self._engine) as session:
            repo.add_signup(session, row)
            session.commit()
        if not self.online:
            return _done(_queued_member(row))
        return self._submit(self._sign_up(row, digits))

    async def _sign_up(self, row: repo.PendingSignup, digits: str) -> Member:
        outcome, member, refusal = await self._post_signup(row, digits)
        if outcome in ("refused", "revoked"):
            assert refusal is not None
            raise _refusal(refusal)
        return member if member is not None else _queued_member(row)

    async def _post_signup(
        self, row: repo.PendingSignup, digits: str
    ) -> tuple[SignupOutcome, Member | None, HQRefused | None]:
        """Sends one sign-up and records what became of it."""
        req = p.SignUpRequest(
            signup_id=UUID(row.signup_id),
            phone=digits,
            name=row.name,
            consent=True,
            consent_version=row.consent_version,
            signed_up_at=row.signed_up_at,
        )
        try:
            answer = await self._hq().sign_up(req)
        except HQUnavailable as exc:
            await asyncio.to_thread(self._signup_failed, row.signup_id, str(exc), False)
            return "unreachable", None, None
        except HQRefused as exc:
            error = f"{exc.code}: {exc.detail}"
            if isinstance(exc, DeviceRevoked):
                await asyncio.to_thread(self._signup_failed, row.signup_id, error, False)
                return "revoked", None, exc
            if exc.code == "too_many_lookups":
                await asyncio.to_thread(self._signup_failed, row.signup_id, error, False)
                return "limited", None, exc
            await asyncio.to_thread(self._signup_failed, row.signup_id, error, True)
            log.warning("HQ refused sign-up %s: %s", row.signup_id, exc.code)
            return "refused", None, exc
        member = _member_of(answer.member, self._clock.now(), None)
        await asyncio.to_thread(self._signup_done, row.signup_id, member, digits)
        if self._notify_outbox is not None:
            self._notify_outbox()
        return "sent", member, None

    def _signup_failed(self, signup_id: str, error: str, refused: bool) -> None:
        with write_session(self._engine) as session:
            repo.signup_attempt_failed(session, signup_id, error, refused=refused)
            session.commit()

    def _signup_done(self, signup_id: str, member: Member, digits: str) -> None:
        assert member.number is not None
        with write_session(self._engine) as session:
            repo.signup_sent(session, signup_id, member.number)
            repo.cache_member(session, member, self._keys.hash(digits))
            session.commit()

    # -- holds ----------------------------------------------------------------------------

    def hold_points(
        self, draft_id: str, member: Member, points: int
    ) -> concurrent.futures.Future[HoldResult]:
        """Reserves ``points`` for the sale ``draft_id`` (see :meth:`_hold`)."""
        return self._hold(draft_id, member, "points", points, None)

    def hold_stored_value(
        self, draft_id: str, member: Member, amount_fen: int
    ) -> concurrent.futures.Future[HoldResult]:
        """Reserves ``amount_fen`` of stored value for the sale ``draft_id``."""
        return self._hold(draft_id, member, "stored_value", amount_fen, None)

    def hold_coupon(
        self, draft_id: str, member: Member, coupon: Coupon
    ) -> concurrent.futures.Future[HoldResult]:
        """Reserves ``coupon`` for the sale ``draft_id``."""
        return self._hold(draft_id, member, "coupon", None, coupon)

    def _hold(
        self,
        draft_id: str,
        member: Member,
        kind: Literal["points", "stored_value", "coupon"],
        amount: int | None,
        coupon: Coupon | None,
    ) -> concurrent.futures.Future[HoldResult]:
        """Refused at once (nothing asked of HQ) when the member may not spend now or HQ
        is unreachable. Otherwise the hold row is stored (``requesting``) before HQ is
        asked; the future gives HQ's hold, or fails with :class:`MemberError`: HQ's
        refusal (nothing was taken), or ``offline`` when HQ's answer never came (the hold
        is then given back by the sweep, in case HQ made it)."""
        if self._revoked():
            return _failed(_disabled())
        now = self._clock.now()
        refusal = member.spend_refusal(now)
        if refusal is not None:
            return _failed(MemberError(refusal, f"this member cannot spend now: {refusal}"))
        if not self.online:
            return _failed(_offline("spending needs HQ"))
        assert member.number is not None
        hold_id = uuid7()
        try:
            req = p.HoldRequest(
                hold_id=hold_id,
                member=member.number,
                kind=kind,
                amount=amount,
                coupon_id=UUID(coupon.coupon_id) if coupon is not None else None,
                proof=member.proof,
                ttl_s=self.rules().hold_ttl_s,
            )
        except ValidationError:
            return _failed(MemberError("bad_amount", f"not an amount to hold: {amount}"))
        with write_session(self._engine) as session:
            repo.add_hold(
                session,
                hold_id=str(hold_id),
                draft_id=draft_id,
                member_number=member.number,
                kind=kind,
                amount=amount,
                coupon_id=coupon.coupon_id if coupon is not None else None,
                created_at=now,
            )
            session.commit()
        if not self._runner.running:
            self._set_hold(str(hold_id), "releasing", "the sync thread is not running")
            return _failed(_offline("the sync thread is not running"))
        return self._runner.submit(self._ask_hold(req))

    async def _ask_hold(self, req: p.HoldRequest) -> HoldResult:
        hold_id = str(req.hold_id)
        try:
            data = await self._hq().hold(req)
        except HQUnavailable as exc:
            # HQ may have made the hold and the answer got lost: give it back to be sure
            # (HQ answers a release of a hold it never made with unknown_hold).
            await asyncio.to_thread(
                self._set_hold, hold_id, "releasing", str(exc), ("requesting", "released")
            )
            self._wake_now()
            raise _offline(str(exc)) from None
        except HQRefused as exc:
            await asyncio.to_thread(
                self._set_hold, hold_id, "released", f"{exc.code}: {exc.detail}"
            )
            raise _refusal(exc) from None
        made = await asyncio.to_thread(self._hold_made, hold_id, data)
        if not made:
            # Given back (release, release_draft) while HQ was making it.
            await asyncio.to_thread(
                self._set_hold, hold_id, "releasing", None, ("releasing", "released")
            )
            await self._release_at_hq(hold_id)
            raise MemberError("hold_released", f"hold {hold_id} was given back meanwhile")
        return HoldResult(
            hold_id=hold_id,
            kind=data.kind,
            amount=data.amount,
            value_fen=data.value_fen,
            coupon_id=str(data.coupon_id) if data.coupon_id is not None else None,
            points_after=data.points,
            balance_after_fen=data.balance_fen,
            expires_at=data.expires_at,
        )

    def _hold_made(self, hold_id: str, data: p.HoldData) -> bool:
        with write_session(self._engine) as session:
            made = repo.hold_made(session, hold_id, data.amount, data.value_fen, data.expires_at)
            session.commit()
        return made

    def _set_hold(
        self,
        hold_id: str,
        state: str,
        error: str | None,
        only_from: tuple[str, ...] | None = None,
    ) -> bool:
        with write_session(self._engine) as session:
            changed = repo.set_hold_state(session, hold_id, state, error=error, only_from=only_from)
            session.commit()
        return changed

    def release(self, hold_id: str) -> concurrent.futures.Future[None]:
        """Gives a hold back (a tender removed, the sale abandoned). Marked ``releasing``
        locally at once; HQ is told now or by a later :meth:`sweep`."""
        return self._release([hold_id])

    def release_draft(self, draft_id: str) -> None:
        """Gives back every hold of an abandoned sale that no committed sale captured."""
        with read_session(self._engine) as session:
            hold_ids = repo.open_holds_of_draft(session, draft_id)
        if hold_ids:
            self._release(hold_ids)

    def _release(self, hold_ids: list[str]) -> concurrent.futures.Future[None]:
        with write_session(self._engine) as session:
            to_tell = repo.start_releasing(session, hold_ids)
            session.commit()
        if not to_tell or not self._runner.running:
            return _done(None)
        return self._runner.submit(self._release_all(to_tell))

    async def _release_all(self, hold_ids: list[str]) -> None:
        for hold_id in hold_ids:
            if await self._release_at_hq(hold_id) == "unreachable":
                return

    async def _release_at_hq(self, hold_id: str) -> Literal["released", "unreachable", "kept"]:
        """Tells HQ to give a ``releasing`` hold back and records the answer."""
        try:
            await self._hq().release_hold(UUID(hold_id))
        except HQUnavailable as exc:
            await asyncio.to_thread(self._set_hold, hold_id, "releasing", str(exc), ("releasing",))
            return "unreachable"
        except HQRefused as exc:
            error = f"{exc.code}: {exc.detail}"
            if exc.code == "unknown_hold":  # HQ never made it: nothing to give back
                await asyncio.to_thread(self._set_hold, hold_id, "released", error, ("releasing",))
                return "released"
            if exc.code == "hold_captured":
                log.warning("hold %s was already spent by a sale: %s", hold_id, exc.detail)
                await asyncio.to_thread(self._set_hold, hold_id, "captured", error, ("releasing",))
                return "released"
            log.warning("HQ refused to release hold %s: %s", hold_id, error)
            await asyncio.to_thread(self._set_hold, hold_id, "releasing", error, ("releasing",))
            return "kept"
        await asyncio.to_thread(self._set_hold, hold_id, "released", None, ("releasing",))
        return "released"

    def recover(self) -> int:
        """At start-up: releases holds left by a sale that never committed; returns how
        many."""
        with write_session(self._engine) as session:
            hold_ids = repo.uncommitted_holds(session)
            repo.start_releasing(session, hold_ids)
            session.commit()
        if hold_ids:
            log.info("giving back %d hold(s) of sales that never completed", len(hold_ids))
            self.wake()
        return len(hold_ids)

    def sweep(self) -> concurrent.futures.Future[None]:
        """Sends queued sign-ups and pending releases to HQ (runs periodically after
        :meth:`start`)."""
        return self._submit(self._sweep())

    async def _sweep(self) -> None:
        await self._sweep_once()

    async def _sweep_once(self) -> bool:
        """One round; True when nothing was left for want of HQ."""
        clear = True
        for hold_id in await asyncio.to_thread(self._read, repo.releasing_holds):
            outcome = await self._release_at_hq(hold_id)
            if outcome == "unreachable":
                return False
            clear = clear and outcome == "released"
        for row in await asyncio.to_thread(self._read, repo.pending_signups):
            try:
                keys = self._legacy_keys if row.phone_enc.startswith(_LEGACY_TAG) else self._keys
                digits = keys.decrypt(row.phone_enc, row.signup_id)
            except ValueError as exc:
                log.error("sign-up %s cannot be sent: %s", row.signup_id, exc)
                await asyncio.to_thread(self._signup_failed, row.signup_id, str(exc), True)
                continue
            sent, _, _ = await self._post_signup(row, digits)
            if sent in ("unreachable", "limited", "revoked"):
                return False
        return clear

    def _read(self, fn: Callable[[Any], T]) -> T:
        with read_session(self._engine) as session:
            return fn(session)

    # -- top-up ---------------------------------------------------------------------------

    def topup(
        self, member: Member, amount_fen: int, tenders: list[AppliedTender], cashier: str
    ) -> TopupRecord:
        """Commits a stored-value top-up paid in cash or card: the ``member.topped_up``
        event and its receipt's print job, in one transaction.

        Raises:
            MemberError: ``topup_needs_member`` (neither a number nor a queued sign-up),
                ``bad_amount`` (not positive, or over ¥10,000,000), ``topup_tenders`` (not
                cash and card adding up to the amount; cash may be over, for change).
        """
        if member.number is None and member.signup_id is None:
            raise MemberError("topup_needs_member", "a top-up needs a member number or sign-up")
        if not 0 < amount_fen <= MAX_TOPUP_FEN:
            raise MemberError("bad_amount", f"not an amount to top up: {amount_fen}")
        if (
            not tenders
            or any(t.kind not in (TenderKind.CASH, TenderKind.CARD) for t in tenders)
            or any(t.amount_fen <= 0 for t in tenders)
            or any(t.kind is TenderKind.CARD and t.tendered_fen is not None for t in tenders)
            or any(t.tendered_fen is not None and t.tendered_fen < t.amount_fen for t in tenders)
            or sum(t.amount_fen for t in tenders) != amount_fen
        ):
            raise MemberError(
                "topup_tenders", "a top-up is paid in cash and card, adding up to the amount"
            )
        now = self._clock.now()
        ident = self._identity
        topup_id = str(uuid7())
        wire_tenders = [
            p.Tender(
                kind=t.kind.value,
                amount_fen=t.amount_fen,
                tendered_fen=t.tendered_fen,
                reference=t.reference,
            )
            for t in tenders
        ]
        with write_session(self._engine) as session:
            receipt_no = f"{ident.terminal_id}-{next_counter(session, 'receipt'):06d}"
            event = p.MemberToppedUp(
                topup_id=UUID(topup_id),
                receipt_no=receipt_no,
                store=ident.store_code,
                terminal=ident.terminal_id,
                cashier=cashier,
                completed_at=now,
                number=member.number,
                signup_id=UUID(member.signup_id)
                if member.number is None and member.signup_id is not None
                else None,
                amount_fen=amount_fen,
                tenders=wire_tenders,
            )
            repo.record_topup(
                session,
                repo.TopupRow(
                    topup_id=topup_id,
                    receipt_no=receipt_no,
                    number=event.number,
                    signup_id=str(event.signup_id) if event.signup_id else None,
                    member_name=member.name,
                    phone_masked=member.phone_masked,
                    amount_fen=amount_fen,
                    tenders=json.dumps([t.model_dump() for t in wire_tenders]),
                    cashier=cashier,
                    completed_at=now,
                ),
                OutboxRecord(str(uuid7()), event.type, now, event.model_dump_json()),
            )
            record = TopupRecord(
                topup_id, receipt_no, member, amount_fen, tuple(tenders), cashier, now
            )
            store = get_store(session, ident.store_code)
            store_name = ident.store_code
            if store is not None:
                store_name = (
                    store.name_zh if self._slip.language.startswith("zh") else store.name_en
                )
            slip = self._topup_slip(record, store_name)
            print_jobs.add_job(
                session,
                kind="topup",
                created_at=now,
                document=json.dumps(document_to_dict(slip), ensure_ascii=False),
                requested_by=cashier,
            )
            audit(
                session,
                now,
                cashier,
                "member.topup",
                topup_id=topup_id,
                receipt_no=receipt_no,
                member=member.number or member.signup_id,
                amount_fen=amount_fen,
            )
            session.commit()
        if self._after_commit is not None:
            self._after_commit(record)
        return record

    def _topup_slip(self, r: TopupRecord, store_name: str) -> Document:
        """The top-up slip in the store's receipt language; the drawer opens for cash."""
        t = self._slip.t
        m = r.member
        blocks: list[Any] = [
            Text(t("topup.slip_title"), align=Align.CENTER, bold=True, double=True),
            Text(store_name, align=Align.CENTER),
            Rule(),
            Columns(t("receipt.number"), r.receipt_no),
            Columns(t("receipt.time"), local_time(r.completed_at)),
            Columns(t("receipt.cashier"), r.cashier),
            Columns(t("receipt.terminal"), self._identity.terminal_id),
            Rule(),
            Columns(t("receipt.member"), m.label),
        ]
        if m.number is not None:
            blocks.append(Columns(t("topup.member_no"), m.number))
        blocks += [
            Rule(),
            Columns(t("topup.amount"), format_yuan(r.amount_fen), bold=True),
        ]
        blocks += [
            Columns(
                t(f"tender.{td.kind.value}"),
                format_yuan(td.tendered_fen if td.tendered_fen is not None else td.amount_fen),
            )
            for td in r.tenders
        ]
        change = sum(td.change_fen for td in r.tenders)
        if change:
            blocks.append(Columns(t("receipt.change"), format_yuan(change)))
        if m.source is MemberSource.HQ:
            blocks.append(
                Columns(t("topup.balance_after"), format_yuan(m.balance_fen + r.amount_fen))
            )
        blocks += [Feed(1), Text(t("receipt.thanks"), align=Align.CENTER), Feed(1)]
        opens = any(td.kind is TenderKind.CASH for td in r.tenders)
        return Document(tuple(blocks), cut=True, open_drawer=opens)
