"""LocalReplica: HQ's changes and push answers written to the terminal database.

What a till shows must follow from HQ's feed and its own sales alone, however often the
same page or answer arrives and whatever fails half-way.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text

from pos_app.domain.ids import uuid7
from pos_app.localdb.catalog import find_by_code
from pos_app.localdb.engine import read_session, write_session
from pos_app.localdb.pending_stock import stock_on_hand
from pos_app.localdb.replica import LocalReplica
from pos_app.localdb.sales import (
    LineRecord,
    OutboxRecord,
    SaleRecord,
    TenderRecord,
    record_sale,
)
from pos_app.localdb.store import get_setting, get_staff
from sync_client.contract import protocol as p
from tests.localdb.conftest import NOW, STORE

TARO = "MT001"  # 芋泥波波, 15.00 at version 1 in the demo data


def price(seq: int, version: int, fen: int, *, sku: str = TARO, at=NOW, store=None) -> Any:
    return p.PriceChange(
        seq=seq,
        key=str(version),
        store=store,
        created_at=NOW,
        data=p.PriceData(version=version, sku=sku, price_fen=fen, effective_at=at, store=store),
    )


def stock(seq: int, on_hand: int, *, sku: str = TARO, store: str = STORE) -> Any:
    return p.StockChange(
        seq=seq,
        key=f"{store}:{sku}",
        store=store,
        created_at=NOW,
        data=p.StockData(
            store=store,
            sku=sku,
            on_hand_milli=on_hand,
            reserved_milli=0,
            available_milli=on_hand,
            updated_at=NOW,
        ),
    )


def shown_price(replica: LocalReplica, sku: str = TARO, at=NOW) -> tuple[int | None, int | None]:
    with read_session(replica.engine) as s:
        row = find_by_code(s, sku, STORE, at)
    assert row is not None
    return row.price_fen, row.price_version


def item_id(replica: LocalReplica, sku: str = TARO) -> int:
    with read_session(replica.engine) as s:
        return int(s.execute(text("SELECT id FROM item WHERE sku = :s"), {"s": sku}).scalar_one())


def shown_stock(replica: LocalReplica, sku: str = TARO) -> int | None:
    with read_session(replica.engine) as s:
        return stock_on_hand(s, item_id(replica, sku))


def hq_level(replica: LocalReplica, sku: str = TARO) -> int:
    with read_session(replica.engine) as s:
        return int(
            s.execute(
                text("SELECT hq_qty_milli FROM stock_level WHERE item_id = :i"),
                {"i": item_id(replica, sku)},
            ).scalar_one()
        )


def sell(replica: LocalReplica, qty_milli: int, sku: str = TARO) -> str:
    """Records a sale of ``qty_milli`` of ``sku`` as checkout does; returns its event id.

    The event names only its sale: what the sale took off the stock must come from its
    ``sale_line`` rows, never from the event's JSON."""
    sale_id, event_id = str(uuid7()), str(uuid7())
    line = LineRecord(
        1, item_id(replica, sku), sku, None, "x", "piece", qty_milli, 1500, 1, 0, 0, 0
    )
    sale = SaleRecord(
        id=sale_id,
        receipt_no=f"R-{sale_id}",
        store_code=STORE,
        terminal_id="S001-T01",
        cashier="1001",
        started_at=NOW - timedelta(minutes=1),
        completed_at=NOW,
        subtotal_fen=0,
        discount_fen=0,
        rounding_fen=0,
        total_fen=0,
        change_fen=0,
        reference="",
        lines=(line,),
        tenders=(TenderRecord("cash", 0, 0, None),),
    )
    payload = json.dumps({"sale_id": sale_id})
    with write_session(replica.engine) as s:
        record_sale(s, sale, OutboxRecord(event_id, "sale.completed", NOW, payload))
        s.commit()
    return event_id


def accept_all(replica: LocalReplica, head: int) -> p.PushResponse:
    """Pushes every pending event and applies HQ's answer "applied, stock change by
    ``head``"."""
    items = replica.pending(100)
    answer = p.PushResponse(
        results=[
            p.EventResult(index=i, id=UUID(it.event_id), status="applied")
            for i, it in enumerate(items)
        ],
        applied=len(items),
        duplicate=0,
        rejected=0,
        head=head,
    )
    replica.apply_push_answer(items, answer)
    return answer


def synchronous_of_pooled_connections(replica: LocalReplica) -> set[int]:
    """The ``synchronous`` level of every connection the pool hands out next."""
    conns = [replica.engine.connect() for _ in range(3)]
    try:
        return {int(c.exec_driver_sql("PRAGMA synchronous").scalar_one()) for c in conns}
    finally:
        for c in conns:
            c.close()


# -- prices and the cursor ----------------------------------------------------------------------


def test_a_price_change_and_the_cursor_commit_together_and_repeat_harmlessly(replica):
    """GIVEN a terminal at cursor 0 showing 15.00 for taro milk tea
    WHEN a live page with a new price version (seq 1) is applied, then the same page again
    THEN the till shows the new price and version, the cursor is 1, and the second apply
    changes nothing and reports nothing applied."""
    page = [price(1, 1001, 1700)]
    first = replica.apply_changes(page, 1)
    assert (first.applied, first.cursor, first.kinds) == (1, 1, frozenset({"price"}))
    assert shown_price(replica) == (1700, 1001)
    assert replica.cursor() == 1

    again = replica.apply_changes(page, 1)
    assert (again.applied, again.cursor, again.kinds) == (0, 1, frozenset())
    assert shown_price(replica) == (1700, 1001)
    with read_session(replica.engine) as s:
        assert s.execute(text("SELECT COUNT(*) FROM price WHERE version = 1001")).scalar() == 1


def test_changes_at_or_below_the_cursor_are_skipped_and_the_latest_of_a_key_wins(replica):
    """GIVEN a terminal that applied up to seq 5
    WHEN a page (5, 8] arrives holding seq 4 and 5 again, and two versions of one price
    key (seq 6 and 8, in any order)
    THEN only seq 6..8 count, the later write of version 1002 wins, and the cursor is 8."""
    replica.apply_changes([price(5, 1001, 1600)], 5)
    page = [price(8, 1002, 1900), price(4, 1001, 9999), price(5, 1001, 9999), price(6, 1002, 1800)]
    summary = replica.apply_changes(page, 8)
    assert (summary.applied, summary.cursor) == (2, 8)
    assert shown_price(replica) == (1900, 1002)
    with read_session(replica.engine) as s:
        assert s.execute(text("SELECT price_fen FROM price WHERE version = 1001")).scalar() == 1600


def test_an_empty_page_moves_the_cursor(replica):
    """GIVEN a terminal at cursor 3
    WHEN HQ says nothing it may see happened up to 10 (other stores' changes)
    THEN the cursor is 10 and nothing was applied."""
    replica.apply_changes([], 3)
    summary = replica.apply_changes([], 10)
    assert (summary.applied, summary.cursor, summary.kinds) == (0, 10, frozenset())
    assert replica.cursor() == 10


def test_a_price_published_ahead_switches_at_effective_at(replica):
    """GIVEN a price version effective in one hour and a store price for another store
    WHEN both are applied
    THEN the till keeps 15.00 until that hour and shows 16.00 from it; the other store's
    price never applies here."""
    later = NOW + timedelta(hours=1)
    replica.apply_changes(
        [price(1, 1001, 1600, at=later), price(2, 1002, 100, store="S002", at=NOW)], 2
    )
    assert shown_price(replica, at=NOW) == (1500, 1)
    assert shown_price(replica, at=later) == (1600, 1001)


def test_a_store_price_beats_the_chain_price(replica):
    """GIVEN a chain-wide and an own-store version in force
    WHEN both are applied (the chain one newer)
    THEN the till uses the store's version."""
    replica.apply_changes([price(1, 1001, 1400, store=STORE), price(2, 1002, 1700)], 2)
    assert shown_price(replica) == (1400, 1001)


def test_a_price_for_an_unknown_item_is_skipped_and_the_cursor_still_moves(replica):
    """GIVEN a price change for an sku this terminal does not have
    WHEN it is applied
    THEN no price row appears for it, nothing fails, and the cursor moves past it."""
    summary = replica.apply_changes([price(1, 1001, 500, sku="NOPE-1")], 1)
    assert summary.cursor == 1
    with read_session(replica.engine) as s:
        assert s.execute(text("SELECT COUNT(*) FROM price WHERE version = 1001")).scalar() == 0


def test_a_failure_half_way_leaves_neither_changes_nor_cursor(replica, monkeypatch):
    """GIVEN a page with a price and a stock change
    WHEN writing the stock change fails
    THEN the price is not there either, the cursor has not moved (the page will be pulled
    again), and every pooled connection still commits sales with synchronous=FULL."""
    import pos_app.localdb.replica as local

    def broken(*_args: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(local, "_bulk_stock", broken)
    with pytest.raises(RuntimeError):
        replica.apply_changes([price(1, 1001, 1700), stock(2, 5000)], 2)
    assert replica.cursor() == 0
    assert shown_price(replica) == (1500, 1)
    assert synchronous_of_pooled_connections(replica) == {2}


def test_applying_changes_hands_back_connections_that_fsync_sales(replica):
    """GIVEN HQ's changes committed without waiting for the disk
    WHEN a sale takes a connection from the pool afterwards
    THEN it runs at synchronous=FULL."""
    replica.apply_changes([price(1, 1001, 1700)], 1)
    assert synchronous_of_pooled_connections(replica) == {2}


# -- other kinds ---------------------------------------------------------------------------------


def test_items_stores_config_and_staff_from_the_feed(replica):
    """GIVEN a page with a new item, its price, a renamed store, config and a staff change
    WHEN it is applied
    THEN the item sells by its barcode at its price and is found by pinyin, the store is
    renamed, the store's config value wins over the chain's, reserved settings stay
    untouched, a null value removes a setting, and the cashier's new PIN hash is there
    while their failed-attempt count is kept."""
    with write_session(replica.engine) as s:
        s.execute(text("UPDATE staff SET failed_attempts = 2 WHERE number = '1001'"))
        s.commit()
    item = p.ItemChange(
        seq=1,
        key="NEW-1",
        store=None,
        created_at=NOW,
        data=p.ItemData(sku="NEW-1", name_zh="黑糖珍珠", unit="piece", barcodes=["6900000000017"]),
    )
    store = p.StoreChange(
        seq=3, key="S001", store=None, created_at=NOW, data=p.StoreData(code="S001", name="新名字")
    )

    def config(seq: int, scope: str | None, key: str, value: Any) -> p.ConfigChange:
        return p.ConfigChange(
            seq=seq,
            key=f"{scope or '*'}:{key}",
            store=scope,
            created_at=NOW,
            data=p.ConfigData(store=scope, key=key, value=value),
        )

    staff = p.StaffChange(
        seq=9,
        key="1001",
        store=STORE,
        created_at=NOW,
        data=p.StaffData(
            number="1001", store=STORE, name="王芳", role="supervisor", pin_hash="scrypt$new"
        ),
    )
    page = [
        item,
        price(2, 1001, 800, sku="NEW-1"),
        store,
        config(4, None, "receipt.footer", "chain"),
        config(5, STORE, "receipt.footer", "store"),
        config(6, None, "store_code", "S999"),
        config(7, None, "till.sound", True),
        config(8, None, "till.sound", None),
        staff,
    ]
    summary = replica.apply_changes(page, 9)
    assert summary.kinds == frozenset({"item", "price", "store", "config", "staff"})
    with read_session(replica.engine) as s:
        row = find_by_code(s, "6900000000017", STORE, NOW)
        assert row is not None and (row.sku, row.price_fen, row.price_version) == (
            "NEW-1",
            800,
            1001,
        )
        pinyin = s.execute(text("SELECT pinyin_initials FROM item WHERE sku='NEW-1'")).scalar()
        assert pinyin == "htzz"
        assert s.execute(text("SELECT name_zh FROM store WHERE code='S001'")).scalar() == "新名字"
        assert get_setting(s, "receipt.footer") == "store"
        assert get_setting(s, "store_code") == STORE
        assert get_setting(s, "till.sound") is None
        cashier = get_staff(s, "1001")
        assert cashier is not None
        assert (cashier.role, cashier.pin_hash, cashier.failed_attempts) == (
            "supervisor",
            "scrypt$new",
            2,
        )


# -- stock ---------------------------------------------------------------------------------------


def test_hq_stock_levels_for_this_store_only(replica):
    """GIVEN stock changes for this store and another
    WHEN they are applied
    THEN the till shows this store's level and ignores the other's."""
    replica.apply_changes([stock(1, 40_000), stock(2, 1_000, store="S002")], 2)
    assert shown_stock(replica) == 40_000


def test_a_sale_counts_once_until_hq_counted_it_and_then_once_from_hq(replica):
    """GIVEN HQ's level of 40 and a sale of 3 at the till
    WHEN the push answer names feed seq 2 for the sale's stock change while the cursor is
    at 1, then HQ's level 37 (seq 2) arrives
    THEN the till shows 37 throughout: 40 - 3 before, and HQ's 37 (not 34) after."""
    replica.apply_changes([stock(1, 40_000)], 1)
    sell(replica, 3_000)
    assert shown_stock(replica) == 37_000
    accept_all(replica, head=2)
    assert shown_stock(replica) == 37_000
    replica.apply_changes([stock(2, 37_000)], 2)
    assert shown_stock(replica) == 37_000
    with read_session(replica.engine) as s:
        assert s.execute(text("SELECT COUNT(*) FROM stock_pending")).scalar() == 0


def test_a_push_answer_after_the_cursor_passed_its_head_stops_subtracting_at_once(replica):
    """GIVEN a sale of 3 pushed, and HQ's level 37 counting it (seq 2) already applied
    WHEN the push answer naming seq 2 is applied (same answer twice)
    THEN the till shows HQ's 37 and nothing stays pending."""
    replica.apply_changes([stock(1, 40_000)], 1)
    sell(replica, 3_000)
    items = replica.pending(10)
    replica.apply_changes([stock(2, 37_000)], 2)
    assert shown_stock(replica) == 34_000  # HQ already counted the sale; the till not yet
    answer = p.PushResponse(
        results=[p.EventResult(index=0, id=UUID(items[0].event_id), status="applied")],
        applied=1,
        duplicate=0,
        rejected=0,
        head=2,
    )
    replica.apply_push_answer(items, answer)
    replica.apply_push_answer(items, answer)
    assert shown_stock(replica) == 37_000
    assert replica.counts() == (0, 0)


def test_a_refused_sale_stops_being_subtracted(replica):
    """GIVEN a sale of 3 at the till
    WHEN HQ refuses it for good
    THEN the till shows HQ's level again and the event waits as refused."""
    replica.apply_changes([stock(1, 40_000)], 1)
    sell(replica, 3_000)
    items = replica.pending(10)
    answer = p.PushResponse(
        results=[
            p.EventResult(index=0, id=UUID(items[0].event_id), status="rejected", code="invalid")
        ],
        applied=0,
        duplicate=0,
        rejected=1,
        head=1,
    )
    replica.apply_push_answer(items, answer)
    assert shown_stock(replica) == 40_000
    assert replica.counts() == (0, 1)
    assert replica.retry_rejected(items[0].seq)
    assert shown_stock(replica) == 37_000
    assert replica.counts() == (1, 0)


def answer_for(items: list[Any], statuses: list[str], head: int) -> p.PushResponse:
    """HQ's answer giving ``statuses[i]`` to ``items[i]`` ("rejected" for good)."""
    return p.PushResponse(
        results=[
            p.EventResult(
                index=i,
                id=UUID(it.event_id),
                status=status,  # type: ignore[arg-type]
                code="invalid" if status == "rejected" else None,
            )
            for i, (it, status) in enumerate(zip(items, statuses, strict=True))
        ],
        applied=statuses.count("applied"),
        duplicate=0,
        rejected=statuses.count("rejected"),
        head=head,
    )


def test_one_answer_that_takes_a_sale_and_refuses_another_settles_both(replica):
    """GIVEN HQ's level 40 (cursor 1) and two sales of 3 and 2 at the till
    WHEN one answer takes the first (its stock change by seq 3) and refuses the second
    THEN the till shows 37 (the refused sale no longer subtracted, the taken one until
    HQ's level counts it), and 37 again once HQ's level 37 at seq 3 arrives."""
    replica.apply_changes([stock(1, 40_000)], 1)
    sell(replica, 3_000)
    sell(replica, 2_000)
    assert shown_stock(replica) == 35_000
    items = replica.pending(10)
    replica.apply_push_answer(items, answer_for(items, ["applied", "rejected"], head=3))
    assert shown_stock(replica) == 37_000
    assert replica.counts() == (0, 1)
    replica.apply_changes([stock(3, 37_000)], 3)
    assert shown_stock(replica) == 37_000


@pytest.mark.parametrize(
    ("snapshot_seq", "hq_on_hand", "shown"),
    [
        (6, 37_000, 35_000),  # the snapshot counts the taken sale: only the unsent one left
        (4, 40_000, 35_000),  # it does not yet: both still subtracted from HQ's 40
    ],
)
def test_a_snapshot_rebuilds_the_subtraction_from_the_sales_hq_has_not_counted(
    replica, snapshot_seq, hq_on_hand, shown
):
    """GIVEN HQ's level 40 (cursor 1); a sale of 3 HQ took with its stock change by seq 5,
    a sale of 2 not yet sent, and a sale of 1 HQ refused
    WHEN a snapshot at seq 6 (level 37, counting the taken sale) or at seq 4 (level 40,
    not counting it) replaces HQ's data
    THEN the till shows 35 either way: HQ's level minus exactly the sales it does not
    count; and with the seq-4 snapshot, reaching seq 5 releases the taken sale."""
    replica.apply_changes([stock(1, 40_000)], 1)
    sell(replica, 3_000)
    items = replica.pending(10)
    replica.apply_push_answer(items, answer_for(items, ["applied"], head=5))
    sell(replica, 1_000)
    refused = replica.pending(10)
    replica.apply_push_answer(refused, answer_for(refused, ["rejected"], head=5))
    sell(replica, 2_000)
    level = stock(snapshot_seq, hq_on_hand).data
    replica.apply_snapshot(
        p.Snapshot(
            seq=snapshot_seq,
            generated_at=NOW,
            store=STORE,
            stores=[],
            items=[],
            prices=[],
            stock=[level],
            config=[],
            staff=[],
        )
    )
    assert shown_stock(replica) == shown
    assert replica.cursor() == snapshot_seq
    if snapshot_seq < 5:
        replica.apply_changes([stock(5, 37_000)], 5)
        assert shown_stock(replica) == 35_000
