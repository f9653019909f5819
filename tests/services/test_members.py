"""The member service's bookkeeping where real HQ cannot be steered into the moment that
matters: a release racing the hold it gives back, HQ's answers a till rarely sees (a
captured hold, a phone-lookup limit, a revoked device, a code HQ added later), and the
periodic sweep waking when HQ comes back.

HQ here is :class:`ScriptedHQ`, a hand-written stand-in whose coroutines answer what the
test scripted, optionally after a gate the test opens; everything else is real: the
terminal database, the sync thread (:class:`sync_client.SyncRunner`) and the service.
The end-to-end behaviour against real HQ is in ``tests/sync/test_members_till.py``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from pos_app.app import Terminal
from pos_app.domain.ids import uuid7
from pos_app.domain.member import Member, MemberSource
from pos_app.localdb.engine import read_session
from pos_app.localdb.models import MemberHold, MemberSignup
from pos_app.services.members import MemberError, MemberService
from sync_client import DeviceRevoked, HQRefused, HQUnavailable, SyncRunner
from sync_client.contract import protocol as p
from tests.server.support import wait_until
from tests.support import FakeClock

NUMBER = "812345678903"
T = 5.0


class ScriptedHQ:
    """Answers each call from a per-method script (a value, an exception to raise, or a
    callable of the request); ``gate[name]`` (an asyncio.Event made on the loop) holds a
    call until the test opens it. Records every call."""

    def __init__(self) -> None:
        self.script: dict[str, list[Any]] = {}
        self.calls: list[tuple[str, Any]] = []
        self.gates: dict[str, threading.Event] = {}

    def then(self, name: str, *answers: Any) -> None:
        self.script.setdefault(name, []).extend(answers)

    async def _answer(self, name: str, req: Any) -> Any:
        self.calls.append((name, req))
        gate = self.gates.get(name)
        if gate is not None:
            await asyncio.to_thread(gate.wait, T)
        answer = self.script[name].pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer(req) if callable(answer) else answer

    async def identify(self, req: p.IdentifyRequest) -> p.MemberPanel:
        return await self._answer("identify", req)  # type: ignore[no-any-return]

    async def sign_up(self, req: p.SignUpRequest) -> p.SignUpResponse:
        return await self._answer("sign_up", req)  # type: ignore[no-any-return]

    async def hold(self, req: p.HoldRequest) -> p.HoldData:
        return await self._answer("hold", req)  # type: ignore[no-any-return]

    async def get_hold(self, hold_id: UUID) -> p.HoldData:
        return await self._answer("get_hold", hold_id)  # type: ignore[no-any-return]

    async def release_hold(self, hold_id: UUID) -> p.HoldData:
        return await self._answer("release_hold", hold_id)  # type: ignore[no-any-return]


def hold_data(req: p.HoldRequest, status: str = "held") -> p.HoldData:
    now = datetime.now().astimezone()
    return p.HoldData(
        hold_id=req.hold_id,
        member=req.member,
        kind=req.kind,
        amount=req.amount or 1,
        value_fen=req.amount or 0,
        coupon_id=req.coupon_id,
        status=status,  # type: ignore[arg-type]
        store="S001",
        created_at=now,
        expires_at=now + timedelta(minutes=15),
        settled_at=None,
        sale_id=None,
        points=100,
        balance_fen=0,
    )


def panel(number: str = NUMBER, by: str = "signup") -> p.MemberPanel:
    return p.MemberPanel(
        number=number,
        name="李雷",
        phone_masked="139****0001",
        tier="standard",
        points=0,
        balance_fen=0,
        coupons=[],
        active=True,
        version=1,
        identified_by=by,  # type: ignore[arg-type]
        spend_until=None,
    )


@pytest.fixture
def runner() -> Iterator[SyncRunner]:
    r = SyncRunner("test-members")
    r.start()
    yield r
    r.stop()


@pytest.fixture
def hq() -> ScriptedHQ:
    return ScriptedHQ()


class Link:
    """The sync status the service reads, switched by the test."""

    def __init__(self) -> None:
        self.online = True


@pytest.fixture
def link() -> Link:
    return Link()


# The till's local key (in the app: kept with the device credentials).
LOCAL_KEY = b"L" * 32


@pytest.fixture
def service(
    terminal: Terminal, clock: FakeClock, runner: SyncRunner, hq: ScriptedHQ, link: Link
) -> Iterator[MemberService]:
    s = MemberService(
        terminal.engine,
        clock,
        terminal.identity,
        runner,
        hq=lambda: hq,
        online=lambda: link.online,
        phone_key=LOCAL_KEY,
        sweep_every_s=3600,
    )
    yield s
    s.stop()


def member(clock: FakeClock) -> Member:
    now = clock.now()
    return Member(
        number=NUMBER,
        name="王芳",
        phone_masked="138****1234",
        tier="gold",
        points=1280,
        balance_fen=0,
        coupons=(),
        version=3,
        source=MemberSource.HQ,
        identified_by="code",
        seen_at=now,
        spend_until=now + timedelta(minutes=15),
        proof="CPM1.812345678903.1.AAAAAAAAAAAAAAAAAAAAAAAAAA",
    )


def holds(terminal: Terminal) -> list[MemberHold]:
    with read_session(terminal.engine) as s:
        return list(s.scalars(select(MemberHold)).all())


def states(terminal: Terminal) -> list[str]:
    return [h.state for h in holds(terminal)]


def answer(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return fn


def test_a_release_racing_its_hold_gives_the_hold_back_when_hq_makes_it(
    service, terminal, clock, hq
):
    """GIVEN a hold request HQ has not answered yet
    WHEN the cashier abandons the sale (HQ does not know the hold yet: unknown_hold), and
    then HQ makes the hold after all
    THEN the till releases it again; the cashier's hold request ends "hold_released", and
    the local hold ends released after two releases at HQ."""
    hq.gates["hold"] = threading.Event()
    hq.then("hold", answer(hold_data))
    hq.then("release_hold", HQRefused(404, "unknown_hold", "no such hold"))
    hq.then("release_hold", answer(lambda hold_id: None))
    draft = str(uuid7())
    pending = service.hold_points(draft, member(clock), 200)
    assert states(terminal) == ["requesting"]
    service.release_draft(draft)
    assert states(terminal) == ["releasing"]
    wait_until(lambda: states(terminal) == ["released"], what="released as unknown")
    hq.gates["hold"].set()
    with pytest.raises(MemberError) as refused:
        pending.result(T)
    assert refused.value.code == "hold_released"
    assert states(terminal) == ["released"]
    assert [name for name, _ in hq.calls].count("release_hold") == 2


def test_a_hold_a_sale_already_spent_is_left_captured(service, terminal, clock, hq):
    hq.then("hold", answer(hold_data))
    hq.then("release_hold", HQRefused(409, "hold_captured", "spent by sale X"))
    made = service.hold_stored_value("d", member(clock), 500).result(T)
    service.release(made.hold_id).result(T)
    assert states(terminal) == ["captured"]


def test_refusals_hq_adds_later_and_a_revoked_device_get_plain_codes(service, terminal, clock, hq):
    hq.then("hold", HQRefused(409, "some_new_rule", "HQ says no"))
    hq.then("hold", DeviceRevoked(401, "token_revoked", "revoked"))
    with pytest.raises(MemberError) as first:
        service.hold_points("d", member(clock), 1).result(T)
    assert (first.value.code, first.value.params["error"]) == ("hq_refused", "some_new_rule")
    with pytest.raises(MemberError) as second:
        service.hold_points("d", member(clock), 1).result(T)
    assert second.value.code == "device_revoked"
    assert states(terminal) == ["released", "released"]  # nothing was taken


def test_a_sign_up_over_the_lookup_limit_waits_in_the_queue_and_goes_with_the_sweep(
    service, terminal, hq
):
    hq.then("sign_up", HQRefused(429, "too_many_lookups", "slow down"))
    queued = service.sign_up("13900000001", "李雷", "privacy-2025-06", "1001").result(T)
    assert (queued.source, queued.number) == (MemberSource.SIGNUP, None)
    hq.then("sign_up", p.SignUpResponse(created=True, member=panel()))
    service.sweep().result(T)
    with read_session(terminal.engine) as s:
        (row,) = s.scalars(select(MemberSignup)).all()
    assert (row.state, row.member_number, row.phone_enc, row.attempts) == (
        "sent",
        NUMBER,
        None,
        2,
    )
    (_, first), (_, again) = hq.calls
    assert first.signup_id == again.signup_id and again.phone == "13900000001"


def test_a_refused_sign_up_is_marked_and_its_phone_erased(service, terminal, hq):
    hq.then("sign_up", HQRefused(422, "consent_required", "no consent"))
    with pytest.raises(MemberError) as refused:
        service.sign_up("13900000002", "韩梅梅", "v1", "1001").result(T)
    assert refused.value.code == "consent_required"
    with read_session(terminal.engine) as s:
        (row,) = s.scalars(select(MemberSignup)).all()
    assert (row.state, row.phone_enc) == ("refused", None)
    assert "consent_required" in (row.last_error or "")


def test_the_sweep_wakes_when_hq_comes_back_and_stops_cleanly(
    service, terminal, clock, hq, link, runner
):
    """GIVEN a hold whose answer was lost (releasing) while HQ stays unreachable
    WHEN the sync status turns online
    THEN the periodic sweep releases it without waiting for its period; stop() ends the
    sweep's task and leaves the sync thread running."""
    hq.then("hold", HQUnavailable("timed out"))
    with pytest.raises(MemberError) as lost:
        service.hold_points("d", member(clock), 5).result(T)
    assert lost.value.code == "offline"
    assert states(terminal) == ["releasing"]
    link.online = False
    service.start()
    service.sync_status_changed(False)
    hq.then("release_hold", answer(lambda hold_id: None))
    link.online = True
    service.sync_status_changed(True)
    wait_until(lambda: states(terminal) == ["released"], what="released by the sweep")

    async def sweep_tasks() -> list[str]:
        return [t.get_name() for t in asyncio.all_tasks() if t.get_name() == "members-sweep"]

    assert runner.submit(sweep_tasks()).result(T) == ["members-sweep"]
    service.stop()
    assert runner.submit(sweep_tasks()).result(T) == []
    assert runner.running
