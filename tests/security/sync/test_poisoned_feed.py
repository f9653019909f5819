"""Item 1: nothing HQ sends can stop a till. A change the till cannot read or apply is
quarantined, reported to HQ and shown; the changes after it are applied."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from pos_app.localdb.engine import open_database, read_session
from pos_app.localdb.replica import LocalReplica
from pos_app.localdb.seed import load_demo
from pos_app.localdb.store import get_setting
from server_stub import models as m
from server_stub import operations
from sync_client._feed import LenientChanges, read_changes
from sync_client.contract import protocol as p
from tests.support import fast_hash, wait_until

STORE = "S001"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).isoformat()


def _price(seq: int, version: int, fen: int, **extra: object) -> dict[str, object]:
    data = {"version": version, "sku": "MT001", "price_fen": fen, "effective_at": NOW}
    data.update(extra)
    return {
        "seq": seq,
        "key": str(version),
        "store": None,
        "created_at": NOW,
        "kind": "price",
        "data": data,
    }


def _config(seq: int, key: str, value: object) -> dict[str, object]:
    return {
        "seq": seq,
        "key": f"{STORE}:{key}",
        "store": STORE,
        "created_at": NOW,
        "kind": "config",
        "data": {"store": STORE, "key": key, "value": value},
    }


@pytest.fixture
def replica(tmp_path: Path) -> LocalReplica:
    engine = open_database(tmp_path / "till.db")
    load_demo(engine, store_code=STORE, terminal_id="S001-T01", pin_hasher=fast_hash)
    return LocalReplica(engine, STORE)


def _prices(replica: LocalReplica) -> dict[int, int]:
    with read_session(replica.engine) as s:
        rows = s.execute(m_price_query()).all()
    return {int(v): int(f) for v, f in rows}


def m_price_query():  # the till's price table, by version
    from sqlalchemy import text

    return text("SELECT version, price_fen FROM price WHERE version >= 900")


def test_a_poisoned_page_applies_around_the_bad_changes(replica: LocalReplica):
    """GIVEN a page from a newer HQ: a price with a field this till does not know, a
    change of an unknown kind, a price that fails validation, a setting the schema
    refuses, then a good price
    WHEN the till reads and applies it
    THEN both good prices are applied (the unknown field ignored), the unknown kind is
    skipped and counted, the invalid price and the bad setting are quarantined and listed
    as problems, the rounding stays as it was, and the cursor is past all of them."""
    page = [
        _price(1, 901, 1600, newer_hq_field="x"),
        {"seq": 2, "kind": "coupon_campaign", "key": "C1", "data": {}},
        _price(3, 902, -5),
        _config(4, "rounding", "bogus"),
        _price(5, 903, 1800),
    ]
    batch = read_changes(page)
    summary = replica.apply_changes(batch.changes, 5, batch.quarantine, batch.skipped)
    assert _prices(replica) == {901: 1600, 903: 1800}
    assert (summary.skipped, summary.quarantined, summary.cursor) == (1, 2, 5)
    assert replica.cursor() == 5
    problems = replica.problems()
    assert sorted((x.seq, x.kind) for x in problems) == [(3, "price"), (4, "config")]
    assert "rounding" in next(x.error for x in problems if x.kind == "config")
    with read_session(replica.engine) as s:
        assert get_setting(s, "rounding", "none") == "none"


def test_a_live_message_with_a_poisoned_change_still_delivers_the_others(
    replica: LocalReplica,
):
    """GIVEN a live ``changes`` frame whose first change misses a required field
    WHEN the till reads it
    THEN the frame is not dropped: the good change is applied, the bad one quarantined."""
    bad = _price(1, 904, 1500)
    del bad["data"]["price_fen"]  # type: ignore[attr-defined]
    frame = json.dumps(
        {"type": "changes", "after": 0, "next_after": 2, "changes": [bad, _price(2, 905, 1700)]}
    )
    msg = LenientChanges.model_validate_json(frame)
    batch = read_changes(msg.changes)
    replica.apply_changes(batch.changes, msg.next_after, batch.quarantine, batch.skipped)
    assert _prices(replica) == {905: 1700}
    assert [x.seq for x in replica.problems(unreported=True)] == [1]


def test_a_poisoned_feed_at_hq_is_quarantined_reported_and_passed(hq, terminals):
    """GIVEN HQ's feed holding a change with a field from a newer HQ, a change of an
    unknown kind and a change that cannot be read, followed by a good price
    WHEN a till catches up
    THEN the good price and the newer-HQ change reach the till, the unreadable change is
    quarantined, HQ stores and audits the till's report, and the till's status shows it."""
    till = terminals(STORE, start=False)  # enrolled (from a snapshot), not yet syncing
    operations.set_config(hq.db, STORE, "receipt.header", "欢迎")
    operations.set_config(hq.db, STORE, "receipt.footer", "谢谢")
    operations.set_config(hq.db, STORE, "void.approval_above_fen", 30000)

    def poison(tx) -> None:
        rows = tx.conn.execute(
            select(m.feed.c.seq, m.feed.c.body).order_by(m.feed.c.seq.desc()).limit(3)
        ).all()
        newer, unknown, broken = rows[2], rows[1], rows[0]
        body = json.loads(newer.body)
        body["data"]["newer_hq_field"] = {"nested": True}
        body["newer_top_field"] = 1
        tx.conn.execute(
            update(m.feed).where(m.feed.c.seq == newer.seq).values(body=json.dumps(body))
        )
        body = json.loads(unknown.body)
        body["kind"] = "loyalty_campaign"
        tx.conn.execute(
            update(m.feed)
            .where(m.feed.c.seq == unknown.seq)
            .values(kind="loyalty_campaign", body=json.dumps(body))
        )
        body = json.loads(broken.body)
        body["data"]["value"] = {"not": "a scalar"}
        tx.conn.execute(
            update(m.feed).where(m.feed.c.seq == broken.seq).values(body=json.dumps(body))
        )

    hq.db.run_write(poison)
    operations.set_price(hq.db, "MT001", 2100)
    till.start()
    wait_until(lambda: till.item("MT001").price_fen == 2100, what="the price after the poison")
    with read_session(till.terminal.engine) as s:
        assert get_setting(s, "receipt.header") == "欢迎"
        assert get_setting(s, "void.approval_above_fen") is None  # the unreadable one
    sync = till.terminal.sync
    assert sync is not None
    wait_until(lambda: sync.status.problems_unreported == 0 and sync.status.quarantined == 1)

    def reported():
        with hq.db.read() as conn:
            return conn.execute(
                select(m.sync_problems.c.kind, m.sync_problems.c.key, m.sync_problems.c.protocol)
            ).all()

    rows = wait_until(reported, what="HQ storing the report")
    assert [(r.kind, r.key, r.protocol) for r in rows] == [
        ("config", f"{STORE}:void.approval_above_fen", p.PROTOCOL_VERSION)
    ]
    with hq.db.read() as conn:
        actions = conn.execute(
            select(m.audit_log.c.action).where(m.audit_log.c.action == "sync.problem")
        ).all()
    assert len(actions) == 1
    details = sync.details()
    assert [x.kind for x in details.problems] == ["config"]
    assert details.problems[0].reported
