"""The port through which the sync client reads and writes the terminal's own database.

:class:`SyncClient` knows the terminal database only as a :class:`Replica`; the
application implements it (``pos_app.localdb.replica.LocalReplica``) and the composition
root hands it over. Everything that crosses the port is a frozen dataclass or a contract
model, because the client calls the replica on a worker thread.

Light on purpose: the standard library only at run time (the contract's models appear in
annotations), so the terminal database can implement the port without pulling in httpx,
websockets or the client.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sync_client.contract import protocol as p

__all__ = [
    "AckSummary",
    "ApplySummary",
    "OutboxItem",
    "RejectedEvent",
    "Replica",
]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """An outbox row ready to push. ``payload`` is the event's JSON as stored."""

    seq: int
    event_id: str
    type: str
    occurred_at: datetime
    payload: str
    attempts: int

    def wire(self) -> dict[str, Any]:
        """The event as :class:`protocol.Event` JSON, without re-validating the payload."""
        return {
            "id": self.event_id,
            "device_seq": self.seq,
            "occurred_at": self.occurred_at.isoformat(),
            "payload": json.loads(self.payload),
        }


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An event HQ refused for good: kept for the store manager, never retried blindly."""

    seq: int
    event_id: str
    type: str
    occurred_at: datetime
    error: str
    summary: str


@dataclass(frozen=True, slots=True)
class AckSummary:
    """What one push answer did to the outbox."""

    removed: int
    rejected: int
    retry_later: int
    retry_errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ApplySummary:
    """What one page of HQ's changes did: how many applied, the cursor now, which kinds."""

    applied: int
    cursor: int
    kinds: frozenset[str]


class Replica(Protocol):
    """The terminal database as the sync client uses it.

    Every method is synchronous and may block on the disk: the client calls them on its
    database executor, never on its event loop. Each is safe to repeat: the same change or
    push answer applied twice leaves the database as applied once.
    """

    def cursor(self) -> int:
        """The feed seq up to which HQ's changes are applied."""
        ...

    def clock_offset_ms(self) -> float:
        """HQ's clock minus this machine's, as last measured (milliseconds)."""
        ...

    def save_clock_offset_ms(self, offset_ms: float) -> None: ...

    def counts(self) -> tuple[int, int]:
        """(pending, rejected) outbox events."""
        ...

    def pending(self, limit: int) -> list[OutboxItem]:
        """The oldest pending events, in local sequence order."""
        ...

    def record_push_failure(self, items: Sequence[OutboxItem], error: str) -> None:
        """Counts an attempt that got no answer (network, timeout, HQ fault)."""
        ...

    def apply_push_answer(self, items: Sequence[OutboxItem], answer: p.PushResponse) -> AckSummary:
        """Removes the events HQ took, parks the ones it refused, in one transaction."""
        ...

    def apply_changes(
        self,
        changes: Iterable[
            p.ItemChange
            | p.PriceChange
            | p.StockChange
            | p.StoreChange
            | p.ConfigChange
            | p.StaffChange
            | p.MemberChange
        ],
        next_after: int,
    ) -> ApplySummary:
        """Applies the changes above the cursor and moves it to ``next_after``, atomically."""
        ...

    def apply_snapshot(self, snap: p.Snapshot) -> None:
        """Replaces HQ-owned data with the snapshot and continues from its seq; the
        outbox is untouched."""
        ...
