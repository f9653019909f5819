"""The sync client needs nothing of the till but its :class:`sync_client.Replica` port.

A replica kept in memory here, with no terminal database behind it, is synced against a
real HQ (SQLite, loopback): if the client reached past the port, this would fail.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from pos_app.domain.ids import uuid7
from pos_app.localdb.seed import load_demo_json
from server_stub import operations
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from sync_client import (
    AckSummary,
    ApplySummary,
    Credentials,
    OutboxItem,
    Problem,
    QuarantinedChange,
    Replica,
    SyncClient,
    SyncRunner,
)
from sync_client.contract import protocol as p
from tests.server.member_helpers import new_phone
from tests.server.support import fresh_database, wait_until
from tests.support import sell_without_shifts
from tests.sync.conftest import FAST, start_hq

STORE = "S001"


class MemoryReplica:
    """An outbox and a cursor in memory; remembers what HQ answered and sent."""

    def __init__(self, outbox: Iterable[OutboxItem]) -> None:
        self.outbox = {it.seq: it for it in outbox}
        self.answers: dict[str, str] = {}
        self.prices: dict[int, int] = {}
        self.snapshots = 0
        self._cursor = 0
        self._offset_ms = 0.0
        self._lock = threading.Lock()

    def cursor(self) -> int:
        return self._cursor

    def clock_offset_ms(self) -> float:
        return self._offset_ms

    def save_clock_offset_ms(self, offset_ms: float) -> None:
        self._offset_ms = offset_ms

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return len(self.outbox), 0

    def pending(self, limit: int) -> list[OutboxItem]:
        with self._lock:
            return [self.outbox[s] for s in sorted(self.outbox)][:limit]

    def record_push_failure(self, items: Sequence[OutboxItem], error: str) -> None:
        pass

    def apply_push_answer(self, items: Sequence[OutboxItem], answer: p.PushResponse) -> AckSummary:
        removed = 0
        with self._lock:
            for result in answer.results:
                item = items[result.index]
                self.answers[item.event_id] = result.status
                if result.status in ("applied", "duplicate") and item.seq in self.outbox:
                    del self.outbox[item.seq]
                    removed += 1
        return AckSummary(removed, 0, 0, ())

    def apply_changes(
        self,
        changes: Iterable[Any],
        next_after: int,
        quarantine: Sequence[QuarantinedChange] = (),
        skipped: int = 0,
    ) -> ApplySummary:
        with self._lock:
            if next_after <= self._cursor:
                return ApplySummary(0, self._cursor, frozenset())
            fresh = [c for c in changes if self._cursor < c.seq <= next_after]
            for c in fresh:
                if c.kind == "price":
                    self.prices[c.data.version] = c.data.price_fen
            self._cursor = next_after
            return ApplySummary(len(fresh), next_after, frozenset(c.kind for c in fresh))

    def problems(self, *, unreported: bool = False, limit: int = 100) -> list[Problem]:
        return []

    def mark_reported(self, ids: Sequence[int]) -> None:
        pass

    def apply_snapshot(self, snap: p.Snapshot) -> None:
        with self._lock:
            self.snapshots += 1
            self._cursor = snap.seq

    def stock_pages_after(self) -> str | None:
        return None  # this replica keeps no levels

    def apply_stock_page(self, page: p.StockPage) -> bool:
        return False


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[EmbeddedHQ]:
    with fresh_database("sqlite", tmp_path, migrated=True) as url:
        server = start_hq(url)
        seed_chain(server.db, load_demo_json())
        sell_without_shifts(server.db)
        yield server
        server.stop()


def a_sale(device_id: str, seq: int) -> OutboxItem:
    now = datetime.now(UTC)
    sale = p.SaleCompleted(
        sale_id=uuid7(),
        receipt_no=f"{device_id}-000{seq}",
        store=STORE,
        terminal=device_id,
        cashier="1001",
        started_at=now - timedelta(minutes=1),
        completed_at=now,
        lines=[
            p.SaleLine(
                line_no=1,
                sku="MT001",
                name="芋泥波波",
                unit="piece",
                qty_milli=1000,
                unit_price_fen=1500,
                price_version=1,
                list_amount_fen=1500,
                discount_fen=0,
                amount_fen=1500,
            )
        ],
        subtotal_fen=1500,
        discount_fen=0,
        rounding_fen=0,
        total_fen=1500,
        tenders=[p.Tender(kind="cash", amount_fen=1500, tendered_fen=2000)],
        change_fen=500,
    )
    return OutboxItem(seq, str(uuid7()), sale.type, now, sale.model_dump_json(), 0)


def test_the_client_pushes_and_applies_through_any_replica(hq: EmbeddedHQ) -> None:
    """GIVEN a device enrolled at HQ whose replica is a few dicts, holding one sale
    WHEN the sync client runs against it and HQ publishes a price
    THEN HQ takes the sale (it leaves the replica's outbox), and the price change arrives
    in the replica with the cursor at HQ's head."""
    code = operations.create_enroll_code(hq.db, STORE).code
    assert hq.keys is not None
    request = p.EnrollRequest(store=STORE, code=code, device_name="port")
    who = operations.enroll(hq.db, hq.keys, request)
    creds = Credentials(hq.url, STORE, who.device_id, who.token, b"x" * 32)
    sale = a_sale(who.device_id, 1)
    replica = MemoryReplica([sale])
    port: Replica = replica  # the fake satisfies the port (checked by mypy)
    runner = SyncRunner("port-test")
    runner.start()
    client = SyncClient(port, creds, config=FAST)
    task = runner.submit(client.run())
    try:
        wait_until(lambda: client.status.online, what="client online")
        wait_until(lambda: not replica.outbox, what="the sale pushed")
        assert replica.answers == {sale.event_id: "applied"}
        (published,) = operations.set_price(hq.db, "MT001", 1700)
        wait_until(lambda: published.version in replica.prices, what="the price applied")
        assert replica.prices[published.version] == 1700
        wait_until(lambda: replica.cursor() >= client.status.head > 0, what="cursor at head")
    finally:
        task.cancel()
        client.finished.wait(10)
        runner.stop()


def test_the_port_imports_without_the_client_or_the_app() -> None:
    """GIVEN a fresh interpreter
    WHEN it imports ``sync_client.replica`` (what the terminal database implements)
    THEN neither the app, the ORM, the network libraries nor pydantic were loaded."""
    heavy = ("pos_app", "sqlalchemy", "httpx", "websockets", "pydantic", "sync_client._client")
    probe = (
        "import sys, sync_client.replica; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


def test_the_till_reads_every_change_kind_the_protocol_defines() -> None:
    """GIVEN the protocol's change kinds WHEN the till's lenient feed reader meets one
    THEN it knows it: a kind the protocol defines is never skipped as unknown."""
    from sync_client import _feed
    from sync_client.contract import protocol as p

    assert set(_feed._BY_KIND) == set(p.CHANGE_KINDS)


class FailingReplica(MemoryReplica):
    """A replica whose database refuses every write of HQ's changes until ``heal()``."""

    def __init__(self) -> None:
        super().__init__([])
        self.broken = threading.Event()
        self.broken.set()

    def heal(self) -> None:
        self.broken.clear()

    def apply_changes(
        self,
        changes: Iterable[Any],
        next_after: int,
        quarantine: Sequence[QuarantinedChange] = (),
        skipped: int = 0,
    ) -> ApplySummary:
        if self.broken.is_set():
            raise sqlite3.OperationalError("database is locked")
        return super().apply_changes(changes, next_after, quarantine, skipped)


def test_a_replica_fault_is_recorded_and_sync_carries_on_once_it_passes(
    hq: EmbeddedHQ,
) -> None:
    """GIVEN an enrolled device whose database refuses to take HQ's changes (a fault the
    sync client has no rule for)
    WHEN the client runs and HQ publishes a price
    THEN the client does not stop: its status is offline and its last error names the
    fault; and once the database takes writes again, the price arrives and it is online."""
    code = operations.create_enroll_code(hq.db, STORE).code
    assert hq.keys is not None
    request = p.EnrollRequest(store=STORE, code=code, device_name="fault")
    who = operations.enroll(hq.db, hq.keys, request)
    creds = Credentials(hq.url, STORE, who.device_id, who.token, b"x" * 32)
    replica = FailingReplica()
    runner = SyncRunner("fault-test")
    runner.start()
    client = SyncClient(replica, creds, config=FAST)
    task = runner.submit(client.run())
    try:
        (published,) = operations.set_price(hq.db, "MT001", 1700)
        wait_until(
            lambda: "OperationalError: database is locked" in (client.status.last_error or ""),
            what="the fault recorded",
        )
        assert client.status.state == "offline"
        assert not task.done()
        replica.heal()
        wait_until(lambda: published.version in replica.prices, what="the price applied")
        wait_until(lambda: client.status.online, what="client online")
    finally:
        task.cancel()
        client.finished.wait(10)
        runner.stop()


def a_topup_for_signup(device_id: str, seq: int, signup_id: UUID) -> OutboxItem:
    now = datetime.now(UTC)
    topup = p.MemberToppedUp(
        topup_id=uuid7(),
        receipt_no=f"{device_id}-T00{seq}",
        store=STORE,
        terminal=device_id,
        cashier="1001",
        completed_at=now,
        signup_id=signup_id,
        amount_fen=10000,
        tenders=[p.Tender(kind="cash", amount_fen=10000, tendered_fen=10000)],
    )
    return OutboxItem(seq, str(uuid7()), topup.type, now, topup.model_dump_json(), 0)


def test_a_top_up_waiting_for_its_sign_up_goes_as_soon_as_the_outbox_is_notified(
    hq: EmbeddedHQ,
) -> None:
    """GIVEN a till whose outbox holds a top-up naming a sign-up HQ has not seen (HQ says
    retry later), with a long retry backoff (15-30 s for the next attempt)
    WHEN the sign-up reaches HQ and the till notifies its outbox (as the member service
    does once HQ accepted the sign-up)
    THEN the top-up is sent again at once and HQ applies it, without waiting out the
    backoff."""
    code = operations.create_enroll_code(hq.db, STORE).code
    assert hq.keys is not None
    request = p.EnrollRequest(store=STORE, code=code, device_name="topup")
    who = operations.enroll(hq.db, hq.keys, request)
    creds = Credentials(hq.url, STORE, who.device_id, who.token, b"x" * 32)
    signup_id = uuid7()
    topup = a_topup_for_signup(who.device_id, 1, signup_id)
    replica = MemoryReplica([topup])
    slow = replace(FAST, backoff_base_s=30.0, backoff_cap_s=60.0)
    runner = SyncRunner("topup-test")
    runner.start()
    client = SyncClient(replica, creds, config=slow)
    task = runner.submit(client.run())
    try:
        wait_until(lambda: topup.event_id in replica.answers, what="the top-up refused for now")
        assert replica.answers[topup.event_id] == "rejected" and replica.outbox
        sign_up = p.SignUpRequest(
            signup_id=signup_id,
            phone=new_phone(),
            name="张伟",
            consent=True,
            consent_version="privacy-2025-06",
            signed_up_at=datetime.now(UTC),
        )
        runner.submit(client.hq.sign_up(sign_up)).result(10)
        runner.call_soon(client.notify_outbox)
        wait_until(lambda: not replica.outbox, timeout=10, what="the top-up applied")
        assert replica.answers[topup.event_id] == "applied"
    finally:
        task.cancel()
        client.finished.wait(10)
        runner.stop()
