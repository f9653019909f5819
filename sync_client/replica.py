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
    "Problem",
    "QuarantinedChange",
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
    """What one page of HQ's changes did: how many applied, the cursor now, which kinds;
    how many were quarantined (kept, not applied) and how many skipped (kinds this till
    does not know)."""

    applied: int
    cursor: int
    kinds: frozenset[str]
    quarantined: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class QuarantinedChange:
    """A change from HQ the till could not read or apply. ``seq`` is None when the change
    did not even say where it is in the feed; ``body`` is its JSON as received."""

    seq: int | None
    kind: str
    key: str
    body: str
    error: str


@dataclass(frozen=True, slots=True)
class Problem:
    """A quarantined change (``kind`` its change kind) or a setting the till could not
    use (``kind`` ``setting``), as kept and reported to HQ. ``at`` is UTC."""

    id: int
    seq: int | None
    kind: str
    key: str
    body: str
    error: str
    at: datetime
    reported: bool


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
        quarantine: Sequence[QuarantinedChange] = (),
        skipped: int = 0,
    ) -> ApplySummary:
        """Applies the changes above the cursor and moves it to ``next_after``, atomically.

        A change that fails to apply for what it holds is quarantined instead of failing
        the page; ``quarantine`` (changes the client could not read) is stored in the same
        transaction that moves the cursor past them. ``skipped`` is only counted."""
        ...

    def problems(self, *, unreported: bool = False, limit: int = 100) -> list[Problem]:
        """Quarantined changes and unusable settings, newest first (only those HQ has not
        been told of with ``unreported``, oldest first then)."""
        ...

    def mark_reported(self, ids: Sequence[int]) -> None:
        """HQ has stored these problems."""
        ...

    def apply_snapshot(self, snap: p.Snapshot) -> None:
        """Replaces HQ-owned data with the snapshot and continues from its seq; the
        outbox is untouched. Every store's levels are to be fetched again from the start
        (:meth:`stock_pages_after` answers ``""``)."""
        ...

    def stock_pages_after(self) -> str | None:
        """Where fetching every store's levels (:class:`~protocol.StockPage`) stands: the
        key to fetch after (``""``: from the first page), None when there is nothing to
        fetch. Kept in the database, so a restart resumes where the fetch stopped."""
        ...

    def apply_stock_page(self, page: p.StockPage) -> bool:
        """Stores a page of levels and moves the fetch on to ``page.next_after``, in one
        transaction. A level replaces the one held only when it is as new or newer (by
        the feed seq each is as of), so a page never undoes a later feed change. False,
        and nothing written, when the fetch does not stand at ``page.after`` (a resync
        restarted it, or the page came twice)."""
        ...
