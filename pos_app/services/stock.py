"""Stock across the chain at the till: look an item up at every store, transfers (调拨)
between stores, stock counts (盘点), goods received (收货) and this store's alerts.

Look-ups read local data only (``chain_stock``, fed by HQ's feed for every store), so
they work offline and show how old each level is. Every step (a transfer step, a count
submitted or decided, goods received) is ONE ``BEGIN IMMEDIATE`` transaction writing the
local rows, the outbox event for HQ, the audit entry and, where one prints, the print
job: each works offline and syncs through the outbox. HQ is the authority: it checks
the role and the store of every step again, and a step it refuses comes back on the
transfer with HQ's reason (like a refused sale).

Roles at the till: a store manager (or HQ admin) requests, approves, refuses, ships,
receives and cancels transfers, approves counts and books goods in; anyone signed in
looks up and counts. No Qt here.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol
from uuid import UUID

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from hardware import Align, Columns, Document, Rule, Text, document_to_dict
from pos_app.domain.ids import uuid7
from pos_app.domain.roles import Role
from pos_app.localdb import print_jobs
from pos_app.localdb import transfers as repo
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.models import OutboxEvent
from pos_app.localdb.pending_stock import stock_on_hand
from pos_app.localdb.store import audit, get_store, next_counter
from pos_app.localdb.transfers import TransferRow
from pos_app.localdb.types import from_utc_text, to_utc_text
from pos_app.services.auth import StaffMember
from pos_app.services.catalog import CatalogService
from pos_app.services.errors import ScanError, ServiceError
from pos_app.services.ports import Clock, TerminalIdentity
from sync_client import HQRefused, HQUnavailable, SyncRunner
from sync_client.contract import protocol as p

__all__ = [
    "AlertInfo",
    "CountInfo",
    "CountLineInfo",
    "ItemRef",
    "StockError",
    "StockService",
    "StockView",
    "StoreLevel",
    "TransferRow",
    "VarianceLine",
    "age_parts",
    "haversine_km",
]


class StockError(ServiceError):
    """A stock action refused at the till: ``not_manager``, ``transfer_wrong_store``
    (a step only the other store of the transfer may take), ``transfer_state`` (the step does not
    follow the transfer's state; ``params["state"]``), ``unknown_transfer``,
    ``bad_quantity``, ``nothing_counted``, ``count_state``, ``unknown_count``,
    ``refusal_reason_required``, ``proposals_offline``, ``hq_unavailable``,
    ``hq_refused`` (HQ's code in ``params["error"]``)."""


class StockHQ(Protocol):
    """What the stock service asks HQ online (``sync_client.HQClient`` is one)."""

    async def stock_proposals(self, store: str) -> p.ProposalList: ...


@dataclass(frozen=True, slots=True)
class ItemRef:
    """An item found by scan, pinyin or name."""

    item_id: int
    sku: str
    name_zh: str
    name_en: str
    unit: str


@dataclass(frozen=True, slots=True)
class StoreLevel:
    """One store's level of the item. ``own``: this store (its level counts this till's
    unsynced sales). ``updated_at``: HQ's time of the level (None: never reported);
    ``distance_km`` when both stores have coordinates."""

    store: str
    name: str
    own: bool
    region: str
    distance_km: float | None
    on_hand_milli: int
    reserved_milli: int
    available_milli: int
    in_transit_milli: int
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class StockView:
    item: ItemRef
    levels: tuple[StoreLevel, ...]
    """This store first, then nearest first (distance, else same region, else code)."""


@dataclass(frozen=True, slots=True)
class AlertInfo:
    """One of this store's open stock alerts. ``qty_milli`` as HQ sent it: how much short
    (``low``, ``transfer_shortfall``) or the signed count difference (``count_variance``)."""

    alert_id: int
    sku: str
    name: str
    kind: str
    on_hand_milli: int
    min_milli: int | None
    created_at: datetime
    qty_milli: int | None = None

    @property
    def short_milli(self) -> int | None:
        """How much is missing: below the minimum (``low``; worked out from the minimum
        when HQ sent no quantity) or not arrived (``transfer_shortfall``); else None."""
        if self.kind == "low":
            if self.qty_milli is not None:
                return self.qty_milli
            return None if self.min_milli is None else self.min_milli - self.on_hand_milli
        if self.kind == "transfer_shortfall":
            return self.qty_milli
        return None


@dataclass(frozen=True, slots=True)
class CountLineInfo:
    sku: str
    item_id: int
    name: str
    counted_milli: int
    counted_at: datetime


@dataclass(frozen=True, slots=True)
class CountInfo:
    id: str
    count_no: str
    zone: str
    staff: str
    status: str
    started_at: datetime
    submitted_at: datetime | None
    lines: tuple[CountLineInfo, ...]


@dataclass(frozen=True, slots=True)
class VarianceLine:
    """Counted against the book level at the count moment: the shown level now plus
    what this till sold of the item since it was counted (an estimate; HQ's figure,
    from its ledger by event time, is the one that counts)."""

    sku: str
    name: str
    book_milli: int
    counted_milli: int

    @property
    def variance_milli(self) -> int:
        return self.counted_milli - self.book_milli


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two WGS-84 points, in km."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class _Place:
    """A store as the stock look-up lists it. ``key`` orders the other stores: with a
    distance first (nearest first), then this store's region, then by code."""

    name: str
    region: str
    distance_km: float | None
    key: tuple[int, float, int, str]


@dataclass(frozen=True, slots=True)
class _Places:
    store: str
    listing: tuple[tuple[Any, ...], ...]
    own_region: str
    by_code: dict[str, _Place]

    @classmethod
    def build(cls, store: str, listing: tuple[tuple[Any, ...], ...]) -> _Places:
        own = next((r for r in listing if r[0] == store), None)
        region = str(own[2] or "") if own is not None else ""
        lat0, lon0 = (own[3], own[4]) if own is not None else (None, None)
        by_code: dict[str, _Place] = {}
        for code, name, reg, lat, lon in listing:
            code, reg = str(code), str(reg or "")
            dist = None
            if lat0 is not None and lon0 is not None and lat is not None and lon is not None:
                dist = haversine_km(lat0, lon0, float(lat), float(lon))
            key = (
                0 if dist is not None else 1,
                dist or 0.0,
                0 if region and reg == region else 1,
                code,
            )
            by_code[code] = _Place(str(name), reg, dist, key)
        return cls(store, listing, region, by_code)


def age_parts(updated_at: datetime | None, now: datetime) -> tuple[str, int]:
    """How old a level is, for ``stock.age.<unit>``: ``("s", 3)`` for 3 秒前, then
    minutes, hours, days; ``("never", 0)`` without a level."""
    if updated_at is None:
        return "never", 0
    seconds = max(0, int((now - updated_at).total_seconds()))
    if seconds < 60:
        return "s", seconds
    if seconds < 3600:
        return "min", seconds // 60
    if seconds < 86400:
        return "h", seconds // 3600
    return "d", seconds // 86400


def _utc(stored: str) -> datetime:
    """A stored UTC time (``2026-12-04T01:02:03.000000Z``): ``fromisoformat`` reads it in
    well under a microsecond, where ``strptime`` took a look-up of 1,000 stores past its
    20 ms budget."""
    return datetime.fromisoformat(stored)


def _is_manager(staff: StaffMember) -> bool:
    return staff.role.rank >= Role.MANAGER.rank


def qty_text(qty_milli: int) -> str:
    """A quantity in thousandths as on paper: ``48`` or ``1.25``."""
    if qty_milli % 1000 == 0:
        return str(qty_milli // 1000)
    return f"{qty_milli / 1000:.3f}".rstrip("0")


class StockService:
    """Stock use cases for one till. Methods block briefly on SQLite (milliseconds);
    :meth:`proposals` asks HQ on the sync thread and returns a future at once."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        identity: TerminalIdentity,
        catalog: CatalogService,
        *,
        runner: SyncRunner | None = None,
        hq: Callable[[], StockHQ] | None = None,
        online: Callable[[], bool] = lambda: False,
        after_commit: Callable[[], object] | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._identity = identity
        self._catalog = catalog
        self._runner = runner
        self._hq = hq
        self._online = online
        self._after_commit = after_commit
        self._places_cache: _Places | None = None

    @property
    def store(self) -> str:
        return self._identity.store_code

    @property
    def online(self) -> bool:
        return self._online()

    def _done(self) -> None:
        if self._after_commit is not None:
            self._after_commit()

    # -- look-up -------------------------------------------------------------------------

    def find(self, query: str, limit: int = 30) -> list[ItemRef]:
        """Items for a scan (barcode, PLU) or a search (pinyin initials, name)."""
        query = query.strip()
        if not query:
            return []
        try:
            hit = self._catalog.scan(query)
        except ScanError as exc:
            if exc.code == "needs_weight":
                return [self._item_by_sku(str(exc.params["sku"]))]
            hit = None
        if hit is not None:
            it = hit.item
            return [ItemRef(it.item_id, it.sku, it.name_zh, it.name_en, it.unit.value)]
        return [
            ItemRef(h.row.item_id, h.row.sku, h.row.name_zh, h.row.name_en, h.row.unit)
            for h in self._catalog.search(query, limit)
        ]

    def _item_by_sku(self, sku: str) -> ItemRef:
        with read_session(self._engine) as s:
            return self._item(s, sku)

    @staticmethod
    def _item(s: Session, sku: str) -> ItemRef:
        r = s.execute(
            text("SELECT id, sku, name_zh, name_en, unit FROM item WHERE sku = :s"), {"s": sku}
        ).first()
        if r is None:
            raise StockError("unknown_code", f"no item {sku}", key=sku)
        return ItemRef(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]))

    def lookup(self, sku: str) -> StockView:
        """The item's level at every store that has one: this store first (its shown
        level), then nearest first. Local data only. In transit: to this store, from its
        own transfers (with steps not yet at HQ); to another store, HQ's figure."""
        store = self.store
        with read_session(self._engine) as s:
            item = self._item(s, sku)
            places = self._places(s, store)
            rows = s.execute(
                text(
                    "SELECT store_code, on_hand_milli, reserved_milli, available_milli, "
                    "updated_at, in_transit_milli FROM chain_stock WHERE sku = :sku"
                ),
                {"sku": sku},
            ).all()
            transit = repo.in_transit_to(s, sku)
            shown = stock_on_hand(s, item.item_id)
        known = places.by_code
        # Levels of one feed page share HQ's time: parse each distinct text once.
        times: dict[str, datetime] = {}
        mine: StoreLevel | None = None
        others: list[tuple[tuple[int, float, int, str], StoreLevel]] = []
        for code, on_hand, reserved, available, raw_at, hq_transit in rows:
            at = times.get(raw_at)
            if at is None:
                at = times[raw_at] = _utc(raw_at)
            place = known.get(code)
            if place is None:
                place = _Place(code, "", None, (1, 0.0, 1, code))
            if code == store:
                on_hand = on_hand if shown is None else shown
                mine = StoreLevel(
                    code, place.name, True, place.region, None, on_hand, reserved,
                    on_hand - reserved, transit.get(code, 0), at,
                )  # fmt: skip
                continue
            # Another store: HQ's figure (it knows every transfer). While this store's own
            # shipment to it waits to be pushed, HQ's figure lacks it: the larger of the
            # two shows at least that shipment until HQ's figure catches up.
            level = StoreLevel(
                code, place.name, False, place.region, place.distance_km, on_hand, reserved,
                available, max(hq_transit, transit.get(code, 0)), at,
            )  # fmt: skip
            others.append((place.key, level))
        if mine is None:
            on_hand = shown or 0
            own = known.get(store)
            mine = StoreLevel(
                store, own.name if own is not None else store, True,
                places.own_region, None, on_hand, 0, on_hand, transit.get(store, 0), None,
            )  # fmt: skip
        others.sort(key=lambda kl: kl[0])
        return StockView(item, (mine, *(lv for _k, lv in others)))

    def _places(self, s: Session, store: str) -> _Places:
        """Every store's name, region, distance from this one and order key. Distances are
        computed once per store list: the list is read on each look-up (1,000 rows, under
        a millisecond) and the computed places are reused while it is unchanged."""
        rows = s.execute(text("SELECT code, name_zh, region, latitude, longitude FROM store")).all()
        listing = tuple(tuple(r) for r in rows)
        cached = self._places_cache
        if cached is not None and cached.store == store and cached.listing == listing:
            return cached
        places = _Places.build(store, listing)
        self._places_cache = places
        return places

    def alerts(self) -> list[AlertInfo]:
        """This store's open stock alerts, newest first."""
        with read_session(self._engine) as s:
            rows = s.execute(
                text(
                    "SELECT a.alert_id, a.sku, COALESCE(i.name_zh, a.sku), a.kind, "
                    "a.on_hand_milli, a.min_milli, a.created_at, a.qty_milli FROM stock_alert a "
                    "LEFT JOIN item i ON i.sku = a.sku WHERE a.store_code = :s "
                    "AND a.resolved = 0 ORDER BY a.created_at DESC, a.alert_id DESC"
                ),
                {"s": self.store},
            ).all()
        return [
            AlertInfo(
                int(r[0]),
                str(r[1]),
                str(r[2]),
                str(r[3]),
                int(r[4]),
                r[5],
                from_utc_text(r[6]),
                None if r[7] is None else int(r[7]),
            )
            for r in rows
        ]

    def alert_count(self) -> int:
        with read_session(self._engine) as s:
            return int(
                s.execute(
                    text("SELECT COUNT(*) FROM stock_alert WHERE store_code = :s AND resolved = 0"),
                    {"s": self.store},
                ).scalar_one()
            )

    # -- transfers -----------------------------------------------------------------------

    def transfers(self) -> list[TransferRow]:
        """This store's transfers, in and out, most recently changed first."""
        with read_session(self._engine) as s:
            return repo.list_transfers(s, self.store)

    def transfer(self, transfer_id: str) -> TransferRow:
        with read_session(self._engine) as s:
            row = repo.get_transfer(s, transfer_id)
        if row is None:
            raise StockError("unknown_transfer", f"no transfer {transfer_id}")
        return row

    def steps_for(self, staff: StaffMember | None, row: TransferRow) -> tuple[str, ...]:
        """The steps ``staff`` may take on ``row`` at this till now (for the buttons)."""
        if staff is None or not _is_manager(staff):
            return ()
        if row.state == "requested" and row.from_store == self.store:
            return ("approve", "refuse")
        if row.state == "requested" and row.to_store == self.store:
            return ("cancel",)
        if row.state == "approved" and row.from_store == self.store:
            return ("ship",)
        if row.state == "shipped" and row.to_store == self.store:
            return ("receive",)
        return ()

    def request_transfer(
        self,
        staff: StaffMember,
        from_store: str,
        lines: Sequence[tuple[str, int]],
        note: str | None = None,
    ) -> TransferRow:
        """Asks ``from_store`` for goods: ``lines`` (sku, qty_milli).

        Raises:
            StockError: ``not_manager``, ``transfer_wrong_store`` (this store),
                ``bad_quantity``.
        """
        self._manager(staff)
        if from_store == self.store:
            raise StockError("transfer_wrong_store", "a store cannot ask itself for goods")
        clean = _positive(lines)
        now = self._clock.now()
        transfer_id = uuid7()
        with write_session(self._engine) as s:
            for sku, _q in clean:
                self._item(s, sku)
            no = f"{self._identity.terminal_id}-X{next_counter(s, 'transfer'):05d}"
            event_id = self._outbox(
                s,
                p.TransferStep(
                    type="transfer.requested",
                    transfer_id=transfer_id,
                    store=self.store,
                    terminal=self._identity.terminal_id,
                    staff=staff.number,
                    at=now,
                    transfer_no=no,
                    from_store=from_store,
                    lines=[p.SkuQty(sku=sku, qty_milli=q) for sku, q in clean],
                    note=note,
                ),
                now,
            )
            repo.insert_transfer(
                s,
                transfer_id=str(transfer_id),
                transfer_no=no,
                from_store=from_store,
                to_store=self.store,
                requested_by=staff.number,
                at=now,
                note=note,
                lines=clean,
                event_id=event_id,
            )
            audit(s, now, staff.number, "transfer.requested", transfer_no=no, from_store=from_store)
            row = repo.get_transfer(s, str(transfer_id))
            s.commit()
        self._done()
        assert row is not None
        return row

    def approve(
        self, staff: StaffMember, transfer_id: str, lines: Sequence[tuple[str, int]] | None = None
    ) -> TransferRow:
        """The sending store agrees; ``lines`` may lower quantities (default: as asked)."""
        return self._step(staff, transfer_id, "approved", lines)

    def refuse(self, staff: StaffMember, transfer_id: str, reason: str) -> TransferRow:
        reason = reason.strip()
        if not reason:
            raise StockError("refusal_reason_required", "a refusal gives a reason")
        return self._step(staff, transfer_id, "refused", None, reason=reason)

    def cancel(self, staff: StaffMember, transfer_id: str) -> TransferRow:
        return self._step(staff, transfer_id, "cancelled", None)

    def ship(
        self, staff: StaffMember, transfer_id: str, lines: Sequence[tuple[str, int]] | None = None
    ) -> TransferRow:
        """The goods leave (default: the approved quantities); the slip prints."""
        return self._step(staff, transfer_id, "shipped", lines)

    def receive(
        self, staff: StaffMember, transfer_id: str, lines: Sequence[tuple[str, int]] | None = None
    ) -> TransferRow:
        """What arrived, counted per line (default: as shipped); the slip prints."""
        return self._step(staff, transfer_id, "received", lines)

    _STEPS: ClassVar[dict[str, tuple[str, str]]] = {
        # state reached: (state before, the store that takes it: "from" / "to")
        "approved": ("requested", "from"),
        "refused": ("requested", "from"),
        "cancelled": ("requested", "to"),
        "shipped": ("approved", "from"),
        "received": ("shipped", "to"),
    }

    def _step(
        self,
        staff: StaffMember,
        transfer_id: str,
        state: str,
        lines: Sequence[tuple[str, int]] | None,
        *,
        reason: str | None = None,
    ) -> TransferRow:
        self._manager(staff)
        before, side = self._STEPS[state]
        now = self._clock.now()
        with write_session(self._engine) as s:
            row = repo.get_transfer(s, transfer_id)
            if row is None:
                raise StockError("unknown_transfer", f"no transfer {transfer_id}")
            taker = row.from_store if side == "from" else row.to_store
            if taker != self.store:
                raise StockError(
                    "transfer_wrong_store", f"{state} is for store {taker}", store=taker
                )
            if row.state != before:
                raise StockError(
                    "transfer_state", f"{row.transfer_no} is {row.state}", state=row.state
                )
            chosen = self._step_lines(row, state, lines)
            event_id = self._outbox(
                s,
                p.TransferStep(
                    type=f"transfer.{state}",  # type: ignore[arg-type]
                    transfer_id=UUID(transfer_id),
                    store=self.store,
                    terminal=self._identity.terminal_id,
                    staff=staff.number,
                    at=now,
                    transfer_no=row.transfer_no,
                    lines=[p.SkuQty(sku=sku, qty_milli=q) for sku, q in chosen],
                    reason=reason,
                ),
                now,
            )
            repo.record_step(s, transfer_id, state, now, event_id, chosen, reason)
            audit(s, now, staff.number, f"transfer.{state}", transfer_no=row.transfer_no)
            after = repo.get_transfer(s, transfer_id)
            assert after is not None
            if state in ("shipped", "received"):
                self._print(s, self._slip(s, after, staff, now), staff, now)
            s.commit()
        self._done()
        return after

    @staticmethod
    def _step_lines(
        row: TransferRow, state: str, lines: Sequence[tuple[str, int]] | None
    ) -> list[tuple[str, int]]:
        if state in ("refused", "cancelled"):
            return []
        known = {ln.sku: ln for ln in row.lines}
        if lines is None:
            if state == "approved":
                return [(ln.sku, ln.requested_milli) for ln in row.lines]
            if state == "shipped":
                return [
                    (ln.sku, ln.approved_milli if ln.approved_milli is not None else 0)
                    for ln in row.lines
                ]
            return [(ln.sku, ln.shipped_milli or 0) for ln in row.lines]
        out: dict[str, int] = {}
        for sku, q in lines:
            if sku not in known or q < 0 or sku in out:
                raise StockError("bad_quantity", f"{sku} {q} is not a line of the transfer")
            out[sku] = q
        # A line left out: nothing of it (approved 0, none shipped, none arrived).
        return [(ln.sku, out.get(ln.sku, 0)) for ln in row.lines]

    def proposals(self) -> concurrent.futures.Future[list[p.TransferProposal]]:
        """HQ's proposals of transfers to this store (online only)."""
        if self._runner is None or self._hq is None or not self._online():
            f: concurrent.futures.Future[list[p.TransferProposal]] = concurrent.futures.Future()
            f.set_exception(StockError("proposals_offline", "proposals come from HQ"))
            return f
        return self._runner.submit(self._ask_proposals())

    async def _ask_proposals(self) -> list[p.TransferProposal]:
        assert self._hq is not None
        try:
            answer = await self._hq().stock_proposals(self.store)
        except HQUnavailable as exc:
            raise StockError("hq_unavailable", str(exc)) from exc
        except HQRefused as exc:
            raise StockError("hq_refused", str(exc), error=exc.code) from exc
        return [pr for pr in answer.proposals if pr.to_store == self.store]

    def request_from_proposal(
        self, staff: StaffMember, proposal: p.TransferProposal
    ) -> TransferRow:
        """Turns one of HQ's proposals into a request, with one action."""
        if proposal.to_store != self.store:
            raise StockError("transfer_wrong_store", "the proposal is for another store")
        return self.request_transfer(
            staff, proposal.from_store, [(proposal.sku, proposal.qty_milli)], note="HQ 建议"
        )

    # -- counts --------------------------------------------------------------------------

    def open_count(self) -> CountInfo | None:
        """The count being taken at this till (open or waiting for approval), if any."""
        with read_session(self._engine) as s:
            r = s.execute(
                text(
                    "SELECT id FROM stock_count WHERE status IN ('open', 'submitted') "
                    "ORDER BY started_at DESC LIMIT 1"
                )
            ).first()
            return None if r is None else self._count(s, str(r[0]))

    def count(self, count_id: str) -> CountInfo:
        with read_session(self._engine) as s:
            return self._count(s, count_id)

    @staticmethod
    def _count(s: Session, count_id: str) -> CountInfo:
        r = s.execute(
            text(
                "SELECT id, count_no, zone, staff, status, started_at, submitted_at "
                "FROM stock_count WHERE id = :c"
            ),
            {"c": count_id},
        ).first()
        if r is None:
            raise StockError("unknown_count", f"no count {count_id}")
        lines = s.execute(
            text(
                "SELECT l.sku, l.item_id, COALESCE(i.name_zh, l.sku), l.counted_milli, "
                "l.counted_at FROM stock_count_line l LEFT JOIN item i ON i.id = l.item_id "
                "WHERE l.count_id = :c ORDER BY l.rowid"
            ),
            {"c": count_id},
        ).all()
        return CountInfo(
            str(r[0]),
            str(r[1]),
            str(r[2]),
            str(r[3]),
            str(r[4]),
            from_utc_text(r[5]),
            None if r[6] is None else from_utc_text(r[6]),
            tuple(
                CountLineInfo(str(ln[0]), int(ln[1]), str(ln[2]), int(ln[3]), from_utc_text(ln[4]))
                for ln in lines
            ),
        )

    def start_count(self, staff: StaffMember, zone: str = "") -> CountInfo:
        """Starts counting a zone ("" for the whole store); selling goes on meanwhile."""
        now = self._clock.now()
        with write_session(self._engine) as s:
            busy = s.execute(
                text("SELECT count_no FROM stock_count WHERE status = 'open' LIMIT 1")
            ).first()
            if busy is not None:
                raise StockError("count_state", "a count is open", count_no=str(busy[0]))
            count_id = str(uuid7())
            no = f"{self._identity.terminal_id}-C{next_counter(s, 'stock_count'):05d}"
            s.execute(
                text(
                    "INSERT INTO stock_count (id, count_no, zone, staff, status, started_at) "
                    "VALUES (:id, :no, :z, :st, 'open', :at)"
                ),
                {"id": count_id, "no": no, "z": zone.strip(), "st": staff.number,
                 "at": to_utc_text(now)},
            )  # fmt: skip
            audit(s, now, staff.number, "stock.count_started", count_no=no, zone=zone)
            s.commit()
            return self._count(s, count_id)

    def count_item(self, count_id: str, item: ItemRef, qty_milli: int = 1000) -> CountInfo:
        """One scan: adds ``qty_milli`` to the item's line and records when it was counted."""
        if qty_milli <= 0:
            raise StockError("bad_quantity", "a counted quantity is positive")
        now = self._clock.now()
        with write_session(self._engine) as s:
            self._open(s, count_id, "open")
            s.execute(
                text(
                    "INSERT INTO stock_count_line (count_id, sku, item_id, counted_milli, "
                    "counted_at) VALUES (:c, :sku, :i, :q, :at) ON CONFLICT(count_id, sku) "
                    "DO UPDATE SET counted_milli = counted_milli + excluded.counted_milli, "
                    "counted_at = excluded.counted_at"
                ),
                {"c": count_id, "sku": item.sku, "i": item.item_id, "q": qty_milli,
                 "at": to_utc_text(now)},
            )  # fmt: skip
            s.commit()
            return self._count(s, count_id)

    def set_counted(self, count_id: str, sku: str, qty_milli: int) -> CountInfo:
        """Corrects a line's quantity (0 removes it)."""
        if qty_milli < 0:
            raise StockError("bad_quantity", "a counted quantity is not negative")
        now = self._clock.now()
        with write_session(self._engine) as s:
            self._open(s, count_id, "open")
            if qty_milli == 0:
                s.execute(
                    text("DELETE FROM stock_count_line WHERE count_id = :c AND sku = :s"),
                    {"c": count_id, "s": sku},
                )
            else:
                s.execute(
                    text(
                        "UPDATE stock_count_line SET counted_milli = :q, counted_at = :at "
                        "WHERE count_id = :c AND sku = :s"
                    ),
                    {"q": qty_milli, "at": to_utc_text(now), "c": count_id, "s": sku},
                )
            s.commit()
            return self._count(s, count_id)

    @staticmethod
    def _open(s: Session, count_id: str, status: str) -> None:
        r = s.execute(text("SELECT status FROM stock_count WHERE id = :c"), {"c": count_id}).first()
        if r is None:
            raise StockError("unknown_count", f"no count {count_id}")
        if r[0] != status:
            raise StockError("count_state", f"the count is {r[0]}", state=str(r[0]))

    def submit_count(self, staff: StaffMember, count_id: str) -> CountInfo:
        """Submits the count for a manager's approval (``stock.count_submitted``)."""
        now = self._clock.now()
        with write_session(self._engine) as s:
            self._open(s, count_id, "open")
            info = self._count(s, count_id)
            if not info.lines:
                raise StockError("nothing_counted", "nothing was counted")
            self._outbox(
                s,
                p.StockCountSubmitted(
                    count_id=UUID(count_id),
                    count_no=info.count_no,
                    store=self.store,
                    terminal=self._identity.terminal_id,
                    staff=staff.number,
                    zone=info.zone,
                    started_at=info.started_at,
                    submitted_at=now,
                    lines=[
                        p.CountLine(sku=ln.sku, counted_milli=ln.counted_milli,
                                    counted_at=ln.counted_at)
                        for ln in info.lines
                    ],
                ),
                now,
            )  # fmt: skip
            s.execute(
                text(
                    "UPDATE stock_count SET status = 'submitted', submitted_at = :at WHERE id = :c"
                ),
                {"at": to_utc_text(now), "c": count_id},
            )
            audit(s, now, staff.number, "stock.count_submitted", count_no=info.count_no)
            s.commit()
            info = self._count(s, count_id)
        self._done()
        return info

    def variance(self, count_id: str) -> list[VarianceLine]:
        """The count against the book level at each line's count moment (see
        :class:`VarianceLine`), biggest difference first."""
        with read_session(self._engine) as s:
            return self._variance(s, self._count(s, count_id))

    def _variance(self, s: Session, info: CountInfo) -> list[VarianceLine]:
        out = []
        for ln in info.lines:
            shown = stock_on_hand(s, ln.item_id) or 0
            sold_since = int(
                s.execute(
                    text(
                        "SELECT COALESCE(SUM(l.qty_milli), 0) FROM sale_line l "
                        "JOIN sale x ON x.id = l.sale_id WHERE l.item_id = :i "
                        "AND x.completed_at > :at AND x.status = 'completed'"
                    ),
                    {"i": ln.item_id, "at": to_utc_text(ln.counted_at)},
                ).scalar_one()
            )
            out.append(VarianceLine(ln.sku, ln.name, shown + sold_since, ln.counted_milli))
        out.sort(key=lambda v: (-abs(v.variance_milli), v.sku))
        return out

    def decide_count(
        self, staff: StaffMember, count_id: str, approved: bool, note: str | None = None
    ) -> CountInfo:
        """A manager approves (the differences become adjustments at HQ) or rejects the
        count; the variance report prints either way."""
        self._manager(staff)
        now = self._clock.now()
        with write_session(self._engine) as s:
            self._open(s, count_id, "submitted")
            info = self._count(s, count_id)
            self._outbox(
                s,
                p.StockCountDecided(
                    count_id=UUID(count_id),
                    store=self.store,
                    terminal=self._identity.terminal_id,
                    staff=staff.number,
                    decided_at=now,
                    approved=approved,
                    note=note,
                ),
                now,
            )
            status = "approved" if approved else "rejected"
            s.execute(
                text(
                    "UPDATE stock_count SET status = :st, decided_by = :by, decided_at = :at "
                    "WHERE id = :c"
                ),
                {"st": status, "by": staff.number, "at": to_utc_text(now), "c": count_id},
            )
            doc = self._variance_report(s, info, self._variance(s, info), status, staff, now)
            self._print(s, doc, staff, now)
            audit(s, now, staff.number, f"stock.count_{status}", count_no=info.count_no)
            s.commit()
            info = self._count(s, count_id)
        self._done()
        return info

    # -- goods received ------------------------------------------------------------------

    def receive_goods(
        self, staff: StaffMember, lines: Sequence[tuple[str, int]], document: str | None = None
    ) -> str:
        """Books goods in from the warehouse or a supplier (``stock.received``); returns
        the receipt's id.

        Raises:
            StockError: ``not_manager``, ``bad_quantity``.
        """
        self._manager(staff)
        merged: dict[str, int] = {}
        for sku, q in _positive(lines):
            merged[sku] = merged.get(sku, 0) + q
        now = self._clock.now()
        receipt_id = uuid7()
        doc_no = (document or "").strip() or None
        with write_session(self._engine) as s:
            for sku in merged:
                self._item(s, sku)
            self._outbox(
                s,
                p.StockReceived(
                    receipt_id=receipt_id,
                    store=self.store,
                    terminal=self._identity.terminal_id,
                    staff=staff.number,
                    received_at=now,
                    document=doc_no,
                    lines=[p.SkuQty(sku=k, qty_milli=v) for k, v in merged.items()],
                ),
                now,
            )
            s.execute(
                text(
                    "INSERT INTO stock_receipt (id, document, staff, received_at, lines) "
                    "VALUES (:id, :d, :st, :at, :l)"
                ),
                {
                    "id": str(receipt_id),
                    "d": doc_no,
                    "st": staff.number,
                    "at": to_utc_text(now),
                    "l": json.dumps([{"sku": k, "qty_milli": v} for k, v in merged.items()]),
                },
            )
            audit(s, now, staff.number, "stock.received", document=doc_no, lines=len(merged))
            s.commit()
        self._done()
        return str(receipt_id)

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _manager(staff: StaffMember) -> None:
        if not _is_manager(staff):
            raise StockError("not_manager", "a store manager does this", staff=staff.number)

    @staticmethod
    def _outbox(s: Session, payload: Any, now: datetime) -> str:
        event_id = str(uuid7())
        s.add(
            OutboxEvent(
                event_id=event_id,
                type=payload.type,
                occurred_at=now,
                payload=payload.model_dump_json(),
                state="pending",
                attempts=0,
            )
        )
        s.flush()
        return event_id

    def _store_name(self, s: Session, code: str) -> str:
        info = get_store(s, code)
        return f"{info.name_zh} ({code})" if info is not None else code

    def _print(self, s: Session, doc: Document, staff: StaffMember, now: datetime) -> None:
        print_jobs.add_job(
            s,
            kind="report",
            created_at=now,
            document=json.dumps(document_to_dict(doc), ensure_ascii=False),
            requested_by=staff.number,
        )

    def _slip(self, s: Session, row: TransferRow, staff: StaffMember, now: datetime) -> Document:
        """The transfer slip (调拨单), Chinese first: travels with the goods."""
        blocks: list[Any] = [
            Text("调拨单 Transfer slip", align=Align.CENTER, bold=True, double=True),
            Text(row.transfer_no, align=Align.CENTER),
            Rule(),
            Columns("调出 From", self._store_name(s, row.from_store)),
            Columns("调入 To", self._store_name(s, row.to_store)),
            Columns("状态 State", _STATE_ZH.get(row.state, row.state)),
            Columns("经办 Staff", f"{staff.name} ({staff.number})"),
            Columns("时间 Time", now.astimezone().strftime("%Y-%m-%d %H:%M")),
            Rule(),
            Columns("商品 Item", "申请/发货/实收"),
        ]
        for ln in row.lines:
            figures = "/".join(
                "-" if q is None else qty_text(q)
                for q in (ln.requested_milli, ln.shipped_milli, ln.received_milli)
            )
            blocks.append(Columns(f"{ln.name} {ln.sku}", figures))
            if ln.received_milli is not None and ln.shipped_milli is not None:
                short = ln.shipped_milli - ln.received_milli
                if short > 0:
                    blocks.append(Columns("  短缺 Short", qty_text(short), bold=True))
        blocks += [Rule(), Columns("签收 Signed", "________")]
        return Document(tuple(blocks), cut=True, open_drawer=False)

    def _variance_report(
        self,
        s: Session,
        info: CountInfo,
        lines: list[VarianceLine],
        status: str,
        staff: StaffMember,
        now: datetime,
    ) -> Document:
        blocks: list[Any] = [
            Text("盘点差异报告 Count variance", align=Align.CENTER, bold=True, double=True),
            Text(info.count_no, align=Align.CENTER),
            Rule(),
            Columns("门店 Store", self._store_name(s, self.store)),
            Columns("区域 Zone", info.zone or "全店 Whole store"),
            Columns(
                "结果 Result", "已批准 Approved" if status == "approved" else "已驳回 Rejected"
            ),
            Columns("审批 Manager", f"{staff.name} ({staff.number})"),
            Columns("时间 Time", now.astimezone().strftime("%Y-%m-%d %H:%M")),
            Rule(),
            Columns("商品 Item", "账面/实盘/差异"),
        ]
        for v in lines:
            diff = ("+" if v.variance_milli > 0 else "") + qty_text(v.variance_milli)
            blocks.append(
                Columns(
                    f"{v.name} {v.sku}",
                    f"{qty_text(v.book_milli)}/{qty_text(v.counted_milli)}/{diff}",
                )
            )
        blocks += [Rule(), Text("账面为估算, 以总部为准 Book is an estimate; HQ's figure counts")]
        return Document(tuple(blocks), cut=True, open_drawer=False)


_STATE_ZH = {
    "requested": "已申请 Requested",
    "approved": "已批准 Approved",
    "refused": "已拒绝 Refused",
    "shipped": "已发货 Shipped",
    "received": "已收货 Received",
    "cancelled": "已取消 Cancelled",
}


def _positive(lines: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    clean = [(sku, int(q)) for sku, q in lines if q]
    if not clean or any(q <= 0 for _sku, q in clean):
        raise StockError("bad_quantity", "quantities are positive")
    if len({sku for sku, _q in clean}) != len(clean):
        raise StockError("bad_quantity", "an item is listed twice")
    return clean
