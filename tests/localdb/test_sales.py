"""Recording a sale: the sale, its lines and tenders, the stock decrement and the outbox
event are written together or not at all."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import Engine, func, select, text

from pos_app.domain.ids import uuid7
from pos_app.localdb.engine import raw_write_transaction, read_session, write_session
from pos_app.localdb.models import OutboxEvent, Sale, SaleLine, SaleTender
from pos_app.localdb.pending_stock import stock_on_hand
from pos_app.localdb.sales import (
    LineRecord,
    OutboxRecord,
    SaleRecord,
    TenderRecord,
    get_sale,
    last_sale,
    outbox_depth,
    record_sale,
)
from pos_app.localdb.store import next_counter, next_counter_db
from pos_app.localdb.types import to_utc_text
from tests.localdb.conftest import NOW, STORE, TERMINAL


def _item_id(engine: Engine, sku: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT id FROM item WHERE sku=:s"), {"s": sku}).scalar_one())


def _sale(engine: Engine, receipt_no: str, at=NOW) -> tuple[SaleRecord, OutboxRecord]:
    taro, walnuts = _item_id(engine, "MT001"), _item_id(engine, "SN001")
    sale_id = str(uuid7())
    lines = (
        LineRecord(
            1, taro, "MT001", "6954321100014", "芋泥波波", "piece", 2000, 1500, 1, 3000, 0, 3000
        ),
        LineRecord(
            2, walnuts, "SN001", "PLU:00101", "琥珀核桃仁", "kg", 356, 9800, 39, 3489, 0, 3489
        ),
        LineRecord(3, taro, "MT001", None, "芋泥波波", "piece", 1000, 1500, 1, 1500, 150, 1350),
    )
    tenders = (TenderRecord("card", 5000, None, "REF1"), TenderRecord("cash", 2839, 5000, None))
    sale = SaleRecord(
        id=sale_id,
        receipt_no=receipt_no,
        store_code=STORE,
        terminal_id=TERMINAL,
        cashier="1001",
        started_at=at - timedelta(minutes=1),
        completed_at=at,
        subtotal_fen=7989,
        discount_fen=150,
        rounding_fen=0,
        total_fen=7839,
        change_fen=2161,
        reference="CPS1.X",
        lines=lines,
        tenders=tenders,
    )
    event = OutboxRecord(str(uuid7()), "sale.completed", at, json.dumps({"sale_id": sale_id}))
    return sale, event


def _count(engine: Engine, model: type) -> int:
    with read_session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_record_sale_writes_everything_in_one_commit(demo_engine: Engine) -> None:
    """GIVEN a paid sale of two cups of 芋泥波波 (two lines) and 356 g of walnuts
    WHEN it is recorded and committed
    THEN the sale, 3 lines, 2 tenders, the stock decrement (3 cups, 356 g) and one
    pending outbox event exist, and the sale reads back exactly as recorded."""
    taro, walnuts = _item_id(demo_engine, "MT001"), _item_id(demo_engine, "SN001")
    with read_session(demo_engine) as session:
        taro_before = stock_on_hand(session, taro)
        walnuts_before = stock_on_hand(session, walnuts)
    sale, event = _sale(demo_engine, "S001-T01-000001")
    with raw_write_transaction(demo_engine) as db:
        seq = record_sale(db, sale, event)
        db.commit()
    assert seq >= 1
    with read_session(demo_engine) as session:
        assert get_sale(session, sale.id) == sale
        assert last_sale(session, TERMINAL) == sale
        assert stock_on_hand(session, taro) == taro_before - 3000
        assert stock_on_hand(session, walnuts) == walnuts_before - 356
        assert outbox_depth(session) == 1
        row = session.get(OutboxEvent, seq)
        assert row is not None
        assert (row.event_id, row.type, row.payload, row.state) == (
            event.event_id,
            "sale.completed",
            event.payload,
            "pending",
        )


def test_an_exception_before_commit_leaves_no_trace(demo_engine: Engine) -> None:
    """GIVEN a sale being recorded
    WHEN something fails after record_sale wrote its rows but before the commit
    THEN no sale, line, tender, outbox row or stock change exists afterwards."""
    taro = _item_id(demo_engine, "MT001")
    with read_session(demo_engine) as session:
        stock_before = stock_on_hand(session, taro)
    sale, event = _sale(demo_engine, "S001-T01-000001")
    with (
        pytest.raises(RuntimeError, match="printer caught fire"),
        raw_write_transaction(demo_engine) as db,
    ):
        next_counter_db(db, "receipt")
        record_sale(db, sale, event)
        raise RuntimeError("printer caught fire")
    for model in (Sale, SaleLine, SaleTender, OutboxEvent):
        assert _count(demo_engine, model) == 0, model.__name__
    with read_session(demo_engine) as session:
        assert stock_on_hand(session, taro) == stock_before
        assert get_sale(session, sale.id) is None
        assert session.execute(text("SELECT COUNT(*) FROM counter")).scalar() == 0


def test_a_duplicate_receipt_number_rolls_the_whole_sale_back(demo_engine: Engine) -> None:
    first, first_event = _sale(demo_engine, "S001-T01-000001")
    with raw_write_transaction(demo_engine) as db:
        record_sale(db, first, first_event)
        db.commit()
    second, second_event = _sale(demo_engine, "S001-T01-000001")
    with (
        pytest.raises(sqlite3.IntegrityError, match=r"UNIQUE constraint failed: sale\.receipt_no"),
        raw_write_transaction(demo_engine) as db,
    ):
        record_sale(db, second, second_event)
        db.commit()
    assert _count(demo_engine, Sale) == 1
    assert _count(demo_engine, SaleLine) == 3
    assert _count(demo_engine, OutboxEvent) == 1


def test_outbox_sequence_strictly_increases(demo_engine: Engine) -> None:
    """GIVEN three sales recorded one after another, the newest already acknowledged by HQ
    and deleted from the outbox
    WHEN a fourth sale is recorded
    THEN every sequence number is larger than the one before and the deleted number is
    not reused (HQ would take the new event for the one it already has)."""
    seqs = []
    for n in range(1, 4):
        sale, event = _sale(demo_engine, f"S001-T01-{n:06d}", at=NOW + timedelta(seconds=n))
        with raw_write_transaction(demo_engine) as db:
            seqs.append(record_sale(db, sale, event))
            db.commit()
    with write_session(demo_engine) as session:
        session.execute(text("DELETE FROM outbox WHERE seq = :s"), {"s": seqs[-1]})
        session.commit()
    sale, event = _sale(demo_engine, "S001-T01-000004", at=NOW + timedelta(seconds=4))
    with raw_write_transaction(demo_engine) as db:
        seqs.append(record_sale(db, sale, event))
        db.commit()
    assert all(a < b for a, b in pairwise(seqs))
    with read_session(demo_engine) as session:
        assert outbox_depth(session) == 3
        newest = last_sale(session, TERMINAL)
    assert newest is not None and newest.receipt_no == "S001-T01-000004"


def test_receipt_counter_counts_up_from_one(demo_engine: Engine) -> None:
    with write_session(demo_engine) as session:
        values = [next_counter(session, "receipt") for _ in range(3)]
        other = next_counter(session, "void")
        session.commit()
    assert values == [1, 2, 3]
    assert other == 1


def test_the_rows_are_stored_as_the_models_read_them(demo_engine: Engine) -> None:
    """GIVEN a sale written on the raw connection (below the ORM)
    WHEN its rows are read as SQLite stores them
    THEN times are fixed-width UTC text, units and tender kinds their names, the event
    pending with no attempts: what the ORM wrote before and what every reader expects."""
    sale, event = _sale(demo_engine, "S001-T01-000001")
    with raw_write_transaction(demo_engine) as db:
        seq = record_sale(db, sale, event)
        db.commit()
    with demo_engine.connect() as conn:
        started, completed, status = conn.execute(
            text("SELECT started_at, completed_at, status FROM sale WHERE id = :i"), {"i": sale.id}
        ).one()
        units = conn.execute(
            text("SELECT unit FROM sale_line WHERE sale_id = :i ORDER BY line_no"), {"i": sale.id}
        ).all()
        kinds = conn.execute(
            text("SELECT kind, tendered_fen FROM sale_tender WHERE sale_id = :i ORDER BY idx"),
            {"i": sale.id},
        ).all()
        outbox = conn.execute(
            text("SELECT occurred_at, state, attempts, last_error FROM outbox WHERE seq = :s"),
            {"s": seq},
        ).one()
    assert (started, completed, status) == (
        to_utc_text(sale.started_at),
        to_utc_text(sale.completed_at),
        "completed",
    )
    assert started.endswith("Z") and len(started) == 27
    assert [u for (u,) in units] == ["piece", "kg", "piece"]
    assert [tuple(k) for k in kinds] == [("card", None), ("cash", 5000)]
    assert tuple(outbox) == (to_utc_text(event.occurred_at), "pending", 0, None)
