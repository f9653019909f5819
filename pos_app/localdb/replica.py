"""The terminal database as the sync client's :class:`~sync_client.replica.Replica`:
outbox out, HQ's changes in.

Every method is synchronous and opens its own short transaction (``BEGIN IMMEDIATE`` for
writes). The sync loop calls them on a worker thread, never on its event loop, and never
on the GUI thread. Each method is safe to repeat: applying the same change or the same
push answer twice leaves the database as once.

Stock for this till's unsynced sales is kept by :mod:`pos_app.localdb.pending_stock`;
this module only tells it which sales HQ counted, refused or got back.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text

from pos_app.localdb import menu as menus
from pos_app.localdb import pending_stock, pickups, transfers
from pos_app.localdb.audit_outbox import AUDIT_CURSOR_KEY, queue_audit
from pos_app.localdb.engine import raw_write_transaction, read_session, write_session
from pos_app.localdb.pinyin import pinyin_keys
from pos_app.localdb.store import get_setting, set_setting
from pos_app.localdb.types import from_utc_text, to_utc_text
from sync_client.contract import protocol as p
from sync_client.contract import settings as schema
from sync_client.replica import (
    AckSummary,
    ApplySummary,
    OutboxItem,
    Problem,
    QuarantinedChange,
    RejectedEvent,
)

log = logging.getLogger("chainpos.sync")

CURSOR_KEY = "sync.cursor"
STOCK_AFTER_KEY = "sync.stock_after"
"""Where fetching every store's levels after a snapshot stands (a JSON string, ``""`` for
the first page); absent or null when there is nothing to fetch."""
OFFSET_KEY = "sync.clock_offset_ms"
LAST_GOOD_KEY = "config.last_good"
"""The last value of each HQ setting that passed the settings schema (a JSON object)."""

SETTING_KEYS_RESERVED = frozenset(
    {
        "store_code",
        "terminal_id",
        "receipt_secret",
        "hq_url",
        CURSOR_KEY,
        STOCK_AFTER_KEY,
        OFFSET_KEY,
        AUDIT_CURSOR_KEY,
        LAST_GOOD_KEY,
    }
)
"""Local settings HQ's config may never overwrite (identity and sync state)."""

_DATA_ERRORS: tuple[type[Exception], ...] = (
    sqlite3.IntegrityError,
    sqlite3.DataError,
    sqlite3.InterfaceError,
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
)
"""What applying a change can fail with because of what the change holds: the change is
quarantined. Anything else (the disk, a locked database) fails the whole page, which is
pulled again."""


class ChangeRefused(ValueError):
    """A change this till will not apply (a setting the schema refuses)."""


class LocalReplica:
    """One terminal database as the sync client's replica (of ``store``'s view of HQ)."""

    def __init__(self, engine: Engine, store: str) -> None:
        self.engine = engine
        self.store = store

    # -- state ---------------------------------------------------------------------------

    def cursor(self) -> int:
        with read_session(self.engine) as s:
            return int(get_setting(s, CURSOR_KEY, 0))

    def clock_offset_ms(self) -> float:
        with read_session(self.engine) as s:
            return float(get_setting(s, OFFSET_KEY, 0.0))

    def save_clock_offset_ms(self, offset_ms: float) -> None:
        with write_session(self.engine) as s:
            set_setting(s, OFFSET_KEY, round(offset_ms, 3))
            s.commit()

    def counts(self) -> tuple[int, int]:
        """(pending, rejected) outbox rows."""
        with read_session(self.engine) as s:
            rows = s.execute(text("SELECT state, COUNT(*) FROM outbox GROUP BY state")).all()
        by = {str(r[0]): int(r[1]) for r in rows}
        return by.get("pending", 0), by.get("rejected", 0)

    # -- outbox --------------------------------------------------------------------------

    def pending(self, limit: int) -> list[OutboxItem]:
        """The oldest pending events, in local sequence order (audit entries recorded
        since the last call join the outbox first, :mod:`pos_app.localdb.audit_outbox`)."""
        queue_audit(self.engine, self.store)
        with read_session(self.engine) as s:
            rows = s.execute(
                text(
                    "SELECT seq, event_id, type, occurred_at, payload, attempts FROM outbox "
                    "WHERE state = 'pending' ORDER BY seq LIMIT :n"
                ),
                {"n": limit},
            ).all()
        return [
            OutboxItem(int(r[0]), str(r[1]), str(r[2]), from_utc_text(r[3]), str(r[4]), int(r[5]))
            for r in rows
        ]

    def rejected(self) -> list[RejectedEvent]:
        with read_session(self.engine) as s:
            rows = s.execute(
                text(
                    "SELECT seq, event_id, type, occurred_at, last_error, payload FROM outbox "
                    "WHERE state = 'rejected' ORDER BY seq"
                )
            ).all()
        out = []
        for r in rows:
            payload = json.loads(r[5])
            summary = str(
                payload.get("receipt_no")
                or payload.get("transfer_no")
                or payload.get("count_no")
                or payload.get("sku")
                or ""
            )
            out.append(
                RejectedEvent(
                    int(r[0]), str(r[1]), str(r[2]), from_utc_text(r[3]), str(r[4] or ""), summary
                )
            )
        return out

    def record_push_failure(self, items: Sequence[OutboxItem], error: str) -> None:
        """Counts an attempt that got no answer (network, timeout, HQ fault)."""
        if not items:
            return
        with write_session(self.engine) as s:
            s.execute(
                text(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = :e "
                    "WHERE seq = :seq AND state = 'pending'"
                ),
                [{"seq": it.seq, "e": error[:500]} for it in items],
            )
            s.commit()

    def apply_push_answer(self, items: Sequence[OutboxItem], answer: p.PushResponse) -> AckSummary:
        """Removes accepted events, parks refused ones, in one transaction.

        Results are matched to events by position and checked by id: a result that does not
        name the event sent at its index is ignored (the event stays pending).
        """
        removed = rejected = retry = 0
        errors: list[str] = []
        with raw_write_transaction(self.engine, durable=False) as db:
            stock = pending_stock.PushSettlement(db, _get_cursor(db), answer.head)
            sales = pending_stock.sales_of_events(db, (it.seq for it in items))
            for result in answer.results:
                if not 0 <= result.index < len(items):
                    continue
                item = items[result.index]
                if result.id is None or str(result.id) != item.event_id:
                    continue
                if result.status in ("applied", "duplicate"):
                    deleted = db.execute(
                        "DELETE FROM outbox WHERE seq = :seq AND state = 'pending'",
                        {"seq": item.seq},
                    )
                    if not deleted.rowcount:
                        continue
                    removed += 1
                    if item.seq in sales:
                        stock.counted_by_hq(sales[item.seq])
                elif result.retryable:
                    retry += 1
                    err = f"{result.code}: {result.detail or ''}".strip()
                    errors.append(err)
                    db.execute(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = :e "
                        "WHERE seq = :seq",
                        {"seq": item.seq, "e": err[:500]},
                    )
                else:
                    rejected += 1
                    err = f"{result.code}: {result.detail or ''}".strip()
                    changed = db.execute(
                        "UPDATE outbox SET state = 'rejected', attempts = attempts + 1, "
                        "last_error = :e WHERE seq = :seq AND state = 'pending'",
                        {"seq": item.seq, "e": err[:500]},
                    )
                    if changed.rowcount and item.seq in sales:
                        # The manager sees the refused sale; stock shows HQ's level.
                        stock.never_counted(sales[item.seq])
            stock.write()
            db.commit()
        return AckSummary(removed, rejected, retry, tuple(errors))

    def retry_rejected(self, seq: int) -> bool:
        """Puts a refused event back in the queue (the manager's decision, after a fix)."""
        with raw_write_transaction(self.engine) as db:
            changed = db.execute(
                "UPDATE outbox SET state = 'pending' WHERE seq = :seq AND state = 'rejected'",
                {"seq": seq},
            )
            if not changed.rowcount:
                return False
            sale_id = pending_stock.sales_of_events(db, (seq,)).get(seq)
            if sale_id is not None:
                pending_stock.resell(db, sale_id)
            db.commit()
        return True

    # -- changes -------------------------------------------------------------------------

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
            | p.TransferChange
            | p.AlertChange
            | p.PickupChange
            | p.MenuChange
            | p.SoldOutChange
        ],
        next_after: int,
        quarantine: Sequence[QuarantinedChange] = (),
        skipped: int = 0,
    ) -> ApplySummary:
        """Applies the changes above the cursor and moves it to ``next_after``.

        A change that cannot be applied for what it holds (a setting the schema refuses,
        a row the database refuses) is quarantined: kept with its error in ``quarantine``,
        in the same transaction that moves the cursor past it, so one bad change never
        stops the ones after it. ``quarantine`` brings the changes the client could not
        even read; ``skipped`` (kinds this till does not know) is only counted.

        Changes at or below the cursor are repeats and skipped; a cursor already at or past
        ``next_after`` makes this a no-op. One transaction: the cursor never runs ahead of
        what was applied. Within a page, later changes of the same thing win, and kinds are
        written in dependency order (stores, items, then what refers to items), each kind
        in one statement executed for many rows.

        This runs for every live message (usually one change), so it talks to SQLite
        directly: through SQLAlchemy the statements' own cost was a tenth of the call.
        """
        by_kind: dict[str, dict[str, Any]] = defaultdict(dict)
        seqs: dict[tuple[str, str], int] = {}
        applied = 0
        bad: list[QuarantinedChange] = []
        with raw_write_transaction(self.engine, durable=False) as db:
            cursor = _get_cursor(db)
            if next_after <= cursor:
                return ApplySummary(0, cursor, frozenset())
            for change in sorted(changes, key=lambda c: c.seq):
                if change.seq <= cursor or change.seq > next_after:
                    continue
                applied += 1
                by_kind[change.kind][change.key] = change
                seqs[(change.kind, change.key)] = change.seq
            if by_kind:
                db.execute("SAVEPOINT page")
                try:
                    self._apply_kinds(db, by_kind)
                except _DATA_ERRORS:
                    # One change spoils the page: apply them one by one, each in its own
                    # savepoint, and quarantine the ones that fail.
                    db.execute("ROLLBACK TO page")
                    bad.extend(self._apply_one_by_one(db, by_kind))
                db.execute("RELEASE page")
                failed_now = {(q.kind, q.key) for q in bad}
                # A menu is kept whole; the parts this till cannot use are reported.
                bad.extend(
                    menus.menu_problems(
                        db,
                        [
                            (c.seq, c.data)
                            for key, c in by_kind.get("menu", {}).items()
                            if ("menu", key) not in failed_now
                        ],
                        self.store,
                    )
                )
            bad.extend(q for q in quarantine if q.seq is None or cursor < q.seq <= next_after)
            _quarantine(db, bad)
            _put_setting(db, CURSOR_KEY, next_after)
            pending_stock.release_until(db, next_after)
            db.commit()
        for q in bad:
            log.warning("sync: change %s %s:%s quarantined: %s", q.seq, q.kind, q.key, q.error)
        failed = {(q.kind, q.key) for q in bad if (q.kind, q.key) in seqs}
        kinds = frozenset(k for k, v in by_kind.items() if any((k, key) not in failed for key in v))
        return ApplySummary(
            applied - len(failed), next_after, kinds, quarantined=len(bad), skipped=skipped
        )

    def _apply_kinds(self, db: sqlite3.Connection, by_kind: dict[str, dict[str, Any]]) -> None:
        """Writes the latest change of each thing, kinds in dependency order (stores,
        items, then what refers to items), each kind in one statement for many rows."""

        def data(kind: str) -> list[Any]:
            return [c.data for c in by_kind.get(kind, {}).values()]

        _bulk_stores(db, data("store"))
        _bulk_items(db, data("item"))
        _bulk_prices(db, data("price"))
        stock = by_kind.get("stock", {}).values()
        _bulk_stock(db, self.store, [(c.seq, c.data) for c in stock])
        for cfg in data("config"):
            if cfg.store is None or cfg.store == self.store:
                _store_config(db, cfg)
                problem = _effective_config(db, self.store, cfg.key)
                if problem is not None:
                    raise ChangeRefused(problem)
        for staff in data("staff"):
            _upsert_staff(db, self.store, staff)
        _drop_stale_members(db, data("member"))
        transfers.apply_transfers(db, self.store, data("transfer"))
        transfers.apply_alerts(db, self.store, data("alert"))
        pickups.apply_pickups(db, self.store, data("pickup"))
        menus.apply_menus(db, [m for m in data("menu") if m.store in (None, self.store)])
        menus.apply_sold_out(db, self.store, data("sold_out"))

    def _apply_one_by_one(
        self, db: sqlite3.Connection, by_kind: dict[str, dict[str, Any]]
    ) -> list[QuarantinedChange]:
        bad: list[QuarantinedChange] = []
        kinds = (
            "store",
            "item",
            "price",
            "stock",
            "config",
            "staff",
            "member",
            "transfer",
            "alert",
            "pickup",
            "menu",
            "sold_out",
        )
        for kind in kinds:
            for key, change in by_kind.get(kind, {}).items():
                db.execute("SAVEPOINT one")
                try:
                    self._apply_kinds(db, {kind: {key: change}})
                except _DATA_ERRORS as exc:
                    db.execute("ROLLBACK TO one")
                    bad.append(
                        QuarantinedChange(
                            change.seq,
                            kind,
                            key,
                            change.model_dump_json(),
                            f"{type(exc).__name__}: {exc}"[:500],
                        )
                    )
                db.execute("RELEASE one")
        return bad

    # -- problems ------------------------------------------------------------------------

    def problems(self, *, unreported: bool = False, limit: int = 100) -> list[Problem]:
        where, order = ("WHERE reported_at IS NULL", "id") if unreported else ("", "id DESC")
        with read_session(self.engine) as s:
            rows = s.execute(
                text(
                    "SELECT id, seq, kind, key, body, error, at, reported_at FROM quarantine "
                    f"{where} ORDER BY {order} LIMIT :n"
                ),
                {"n": limit},
            ).all()
        return [
            Problem(
                int(r[0]),
                None if r[1] is None else int(r[1]),
                str(r[2]),
                str(r[3]),
                str(r[4]),
                str(r[5]),
                from_utc_text(r[6]),
                r[7] is not None,
            )
            for r in rows
        ]

    def mark_reported(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with raw_write_transaction(self.engine, durable=False) as db:
            db.executemany(
                "UPDATE quarantine SET reported_at = ? WHERE id = ? AND reported_at IS NULL",
                [(to_utc_text(datetime.now(UTC)), i) for i in ids],
            )
            db.commit()

    def apply_snapshot(self, snap: p.Snapshot) -> None:
        """Replaces HQ-owned data with the snapshot and continues from its seq.

        The outbox and local sales are untouched; stock bookkeeping is rebuilt from them.
        """
        with raw_write_transaction(self.engine, durable=False) as db:
            _bulk_stores(db, snap.stores)
            _bulk_items(db, snap.items)
            # Price versions are immutable at HQ, and the snapshot holds every version in
            # effect or later: what it does not carry is superseded.
            db.execute("DELETE FROM price")
            _bulk_prices(db, snap.prices)
            db.execute("UPDATE stock_level SET hq_qty_milli = 0")
            # Other stores' levels stay (shown with their time) until the pages of every
            # store's levels replace them: fetched from the start again, each page taking
            # a level whatever seq it was as of before (seqs of a replaced HQ database
            # do not compare).
            db.execute("UPDATE chain_stock SET as_of_seq = 0")
            _bulk_stock(db, self.store, [(snap.seq, d) for d in snap.stock])
            _put_setting(db, STOCK_AFTER_KEY, "")
            db.execute("DELETE FROM hq_config")
            for cfg in snap.config:
                _store_config(db, cfg)
            refused = []
            for key in sorted(_config_keys(db) | {c.key for c in snap.config}):
                problem = _effective_config(db, self.store, key)
                if problem is not None:
                    body = [c.model_dump_json() for c in snap.config if c.key == key]
                    refused.append(
                        QuarantinedChange(snap.seq, "config", key, "\n".join(body), problem)
                    )
            _quarantine(db, refused)
            for staff in snap.staff:
                _upsert_staff(db, self.store, staff)
            # The snapshot holds the open transfers of this store (what is on its way here
            # shows in transit at once) and its open alerts: alerts closed meanwhile are
            # not in it any more.
            transfers.apply_transfers(db, self.store, snap.transfers)
            db.execute("UPDATE stock_alert SET resolved = 1 WHERE resolved = 0")
            transfers.apply_alerts(db, self.store, snap.alerts)
            # Orders collected or cancelled meanwhile are not in the snapshot any more.
            db.execute("UPDATE pickup_order SET status = 'gone' WHERE status = 'confirmed'")
            pickups.apply_pickups(db, self.store, snap.pickups)
            # Menu versions are immutable at HQ and the snapshot holds every one in effect
            # or later, as for prices.
            db.execute("DELETE FROM menu_version")
            menus.apply_menus(db, snap.menus)
            menus.apply_sold_out(db, self.store, snap.sold_out)
            _quarantine(
                db, menus.menu_problems(db, [(snap.seq, m) for m in snap.menus], self.store)
            )
            # The member changes between the old cursor and the snapshot are lost, so any
            # cached member may be stale: forget them (identifying them again re-caches).
            db.execute("DELETE FROM member_cache")
            _put_setting(db, CURSOR_KEY, snap.seq)
            pending_stock.rebuild(db, snap.seq)
            db.commit()

    def stock_pages_after(self) -> str | None:
        with read_session(self.engine) as s:
            after = get_setting(s, STOCK_AFTER_KEY)
        return None if after is None else str(after)

    def apply_stock_page(self, page: p.StockPage) -> bool:
        with raw_write_transaction(self.engine, durable=False) as db:
            row = db.execute(
                "SELECT value FROM setting WHERE key = ?", (STOCK_AFTER_KEY,)
            ).fetchone()
            if row is None or json.loads(row[0]) != page.after:
                return False
            # Only chain_stock: this store's shown level (stock_level) follows the feed's
            # cursor, which a page's seq is not.
            _bulk_stock(db, self.store, [(page.seq, d) for d in page.levels], own=False)
            if page.next_after is None:
                db.execute("DELETE FROM setting WHERE key = ?", (STOCK_AFTER_KEY,))
            else:
                _put_setting(db, STOCK_AFTER_KEY, page.next_after)
            db.commit()
        return True


# -- helpers (inside the caller's transaction, on its sqlite3 connection) ---------------------


def _get_cursor(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM setting WHERE key = ?", (CURSOR_KEY,)).fetchone()
    return 0 if row is None else int(json.loads(row[0]))


def _put_setting(db: sqlite3.Connection, key: str, value: Any) -> None:
    """``set_setting`` in one statement (the hot path of every applied change)."""
    db.execute(
        "INSERT INTO setting (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value, ensure_ascii=False)),
    )


def _bulk_stores(db: sqlite3.Connection, stores: list[p.StoreData]) -> None:
    if stores:
        db.executemany(
            "INSERT INTO store (code, name_zh, name_en, address_zh, address_en, phone, active, "
            "region, latitude, longitude) VALUES (:c, :n, :n, '', '', '', :a, :r, :lat, :lon) "
            "ON CONFLICT(code) DO UPDATE SET name_zh = excluded.name_zh, "
            "active = excluded.active, region = excluded.region, "
            "latitude = excluded.latitude, longitude = excluded.longitude",
            [
                {
                    "c": d.code,
                    "n": d.name,
                    "a": d.active,
                    "r": d.region,
                    "lat": d.latitude,
                    "lon": d.longitude,
                }
                for d in stores
            ],
        )


def _bulk_items(db: sqlite3.Connection, items: list[p.ItemData]) -> None:
    if not items:
        return
    known: dict[str, tuple[str, str, str]] = {}
    skus = [it.sku for it in items]
    for i in range(0, len(skus), 500):
        chunk = skus[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        for r in db.execute(
            f"SELECT sku, name_zh, pinyin_initials, pinyin_full FROM item WHERE sku IN ({marks})",
            chunk,
        ):
            known[str(r[0])] = (str(r[1]), str(r[2]), str(r[3]))
    rows = []
    for it in items:
        old = known.get(it.sku)
        if old is not None and old[0] == it.name_zh:
            initials, full = old[1], old[2]  # pinyin is the costly part: reuse it
        else:
            initials, full = pinyin_keys(it.name_zh)
        rows.append(
            {
                "sku": it.sku,
                "zh": it.name_zh,
                "en": it.name_en,
                "unit": it.unit,
                "cat": it.category or None,
                "pi": initials,
                "pf": full,
                "active": it.active,
            }
        )
    db.executemany(
        "INSERT INTO item (sku, name_zh, name_en, unit, category, pinyin_initials, "
        "pinyin_full, active) VALUES (:sku, :zh, :en, :unit, :cat, :pi, :pf, :active) "
        "ON CONFLICT(sku) DO UPDATE SET name_zh = excluded.name_zh, "
        "name_en = excluded.name_en, unit = excluded.unit, category = excluded.category, "
        "pinyin_initials = excluded.pinyin_initials, pinyin_full = excluded.pinyin_full, "
        "active = excluded.active",
        rows,
    )
    db.executemany(
        "DELETE FROM barcode WHERE item_id = (SELECT id FROM item WHERE sku = ?)",
        [(it.sku,) for it in items],
    )
    codes = [(code, it.sku) for it in items for code in it.barcodes]
    if codes:
        db.executemany(
            "INSERT OR REPLACE INTO barcode (code, item_id) SELECT ?, id FROM item WHERE sku = ?",
            codes,
        )


def _bulk_prices(db: sqlite3.Connection, prices: list[p.PriceData]) -> None:
    """Price versions; one for an item this terminal does not have is skipped (HQ
    publishes an item before its prices, so it can only come from a feed this terminal
    does not fully see)."""
    if not prices:
        return
    db.executemany(
        "INSERT INTO price (version, item_id, store_code, price_fen, effective_at) "
        "SELECT ?, id, ?, ?, ? FROM item WHERE sku = ? "
        "ON CONFLICT(version) DO UPDATE SET item_id = excluded.item_id, "
        "store_code = excluded.store_code, price_fen = excluded.price_fen, "
        "effective_at = excluded.effective_at",
        [(d.version, d.store, d.price_fen, to_utc_text(d.effective_at), d.sku) for d in prices],
    )


def _bulk_stock(
    db: sqlite3.Connection,
    store: str,
    levels: list[tuple[int, p.StockData]],
    *,
    own: bool = True,
) -> None:
    """Every store's level, each with the feed seq it is as of, into ``chain_stock`` (the
    stock screen's look-up), where it replaces only a level as of the same seq or an
    older one; with ``own``, this store's also into ``stock_level``, which the shown level
    subtracts local sales from."""
    if not levels:
        return
    db.executemany(
        "INSERT INTO chain_stock (store_code, sku, on_hand_milli, reserved_milli, "
        "available_milli, updated_at, as_of_seq, in_transit_milli) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(store_code, sku) DO UPDATE SET on_hand_milli = excluded.on_hand_milli, "
        "reserved_milli = excluded.reserved_milli, available_milli = excluded.available_milli, "
        "updated_at = excluded.updated_at, as_of_seq = excluded.as_of_seq, "
        "in_transit_milli = excluded.in_transit_milli "
        "WHERE excluded.as_of_seq >= chain_stock.as_of_seq",
        [
            (
                d.store,
                d.sku,
                d.on_hand_milli,
                d.reserved_milli,
                d.available_milli,
                to_utc_text(d.updated_at),
                seq,
                d.in_transit_milli,
            )
            for seq, d in levels
        ],
    )
    mine = [(d.on_hand_milli, d.sku) for _seq, d in levels if d.store == store] if own else []
    if mine:
        db.executemany(
            "INSERT INTO stock_level (item_id, hq_qty_milli, local_sold_milli) "
            "SELECT id, ?, 0 FROM item WHERE sku = ? "
            "ON CONFLICT(item_id) DO UPDATE SET hq_qty_milli = excluded.hq_qty_milli",
            mine,
        )


def _upsert_staff(db: sqlite3.Connection, store: str, data: p.StaffData) -> None:
    """A staff member of this store or chain-wide; a sign-in lockout in progress stays.
    An HQ admin is never kept (an older HQ may still send one): they cannot sign in here."""
    if data.role == "hq_admin":
        db.execute("DELETE FROM staff WHERE number = ?", (data.number,))
        return
    if data.store is not None and data.store != store:
        return
    db.execute(
        "INSERT INTO staff (number, name, role, store_code, pin_hash, active, failed_attempts) "
        "VALUES (:n, :name, :role, :s, :h, :a, 0) ON CONFLICT(number) DO UPDATE SET "
        "name = excluded.name, role = excluded.role, store_code = excluded.store_code, "
        "pin_hash = excluded.pin_hash, active = excluded.active",
        {
            "n": data.number,
            "name": data.name,
            "role": data.role,
            "s": data.store,
            "h": data.pin_hash,
            "a": data.active,
        },
    )


def _drop_stale_members(db: sqlite3.Connection, members: list[p.MemberData]) -> None:
    """Forgets cached members whose account changed at HQ since they were cached."""
    if members:
        db.executemany(
            "DELETE FROM member_cache WHERE number = ? AND version < ?",
            [(m.number, m.version) for m in members],
        )


def _store_config(db: sqlite3.Connection, cfg: p.ConfigData) -> None:
    scope = cfg.store or "*"
    if cfg.value is None:
        db.execute("DELETE FROM hq_config WHERE scope = ? AND key = ?", (scope, cfg.key))
    else:
        db.execute(
            "INSERT INTO hq_config (scope, key, value) VALUES (:s, :k, :v) "
            "ON CONFLICT(scope, key) DO UPDATE SET value = excluded.value",
            {"s": scope, "k": cfg.key, "v": json.dumps(cfg.value)},
        )


def _config_keys(db: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in db.execute("SELECT DISTINCT key FROM hq_config")}


def _effective_config(db: sqlite3.Connection, store: str, key: str) -> str | None:
    """Copies the value in force for ``store`` into ``setting`` (or removes it), when the
    settings schema accepts it; returns why not otherwise (``setting`` keeps the last good
    value then). Reserved local keys are never touched."""
    if key in SETTING_KEYS_RESERVED:
        return None
    row = db.execute(
        "SELECT value FROM hq_config WHERE key = ? AND scope IN (?, '*') "
        "ORDER BY scope = '*' LIMIT 1",
        (key, store),
    ).fetchone()
    if not schema.is_known(key):
        return None if row is None else f"unknown setting {key} ignored"
    if row is None:
        db.execute("DELETE FROM setting WHERE key = ?", (key,))
        return None
    value = json.loads(row[0])
    problem = schema.problem(key, value)
    if problem is not None:
        return problem
    _put_setting(db, key, value)
    _remember_good(db, key, value)
    return None


def _remember_good(db: sqlite3.Connection, key: str, value: Any) -> None:
    row = db.execute("SELECT value FROM setting WHERE key = ?", (LAST_GOOD_KEY,)).fetchone()
    good = _json_object(None if row is None else row[0])
    if good.get(key) != value:
        good[key] = value
        _put_setting(db, LAST_GOOD_KEY, good)


def _json_object(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _quarantine(db: sqlite3.Connection, bad: Sequence[QuarantinedChange]) -> None:
    if bad:
        now = to_utc_text(datetime.now(UTC))
        db.executemany(
            "INSERT INTO quarantine (seq, kind, key, body, error, at) VALUES (?, ?, ?, ?, ?, ?)",
            [(q.seq, q.kind[:32], q.key[:200], q.body, q.error[:1000], now) for q in bad],
        )


# -- settings on start -------------------------------------------------------------------------


def check_settings(engine: Engine) -> schema.SettingsReading:
    """Checks every HQ setting the till has stored against the settings schema, at start.

    A value the schema refuses (or that is not even JSON) is replaced in ``setting`` by
    the last good value (or removed, so the default applies), logged and recorded as a
    problem for HQ (``kind`` ``setting``, once per bad value). The good values become
    the last good ones. Returns the settings in force. Never raises for a bad value:
    no setting may stop a till from starting.
    """
    with raw_write_transaction(engine) as db:
        stored: dict[str, Any] = {}
        raw_of: dict[str, str] = {}
        for key, raw in db.execute("SELECT key, value FROM setting"):
            key = str(key)
            if key in SETTING_KEYS_RESERVED or not schema.is_known(key):
                continue
            raw_of[key] = str(raw)
            try:
                stored[key] = json.loads(raw)
            except ValueError:
                stored[key] = {"not JSON": raw}  # no setting is an object: refused below
        row = db.execute("SELECT value FROM setting WHERE key = ?", (LAST_GOOD_KEY,)).fetchone()
        last_good = _json_object(None if row is None else row[0])
        reading = schema.read_settings(stored, last_good)
        if reading.problems:
            known = {
                (str(r[0]), str(r[1]))
                for r in db.execute("SELECT key, body FROM quarantine WHERE kind = 'setting'")
            }
            new = []
            for key, why in reading.problems:
                log.warning("setting %s = %s refused at start: %s", key, raw_of[key][:80], why)
                if (key, raw_of[key]) not in known:
                    new.append(QuarantinedChange(None, "setting", key, raw_of[key], why))
                fallback = last_good.get(key)
                if fallback is not None and schema.problem(key, fallback) is None:
                    _put_setting(db, key, fallback)
                else:
                    db.execute("DELETE FROM setting WHERE key = ?", (key,))
            _quarantine(db, new)
        bad = {k for k, _ in reading.problems}
        good = {k: v for k, v in stored.items() if k not in bad}
        if any(last_good.get(k) != v for k, v in good.items()):
            _put_setting(db, LAST_GOOD_KEY, {**last_good, **good})
        db.commit()
    return reading
