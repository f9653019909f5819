"""LocalReplica and promotions: the newest version kept, a repeat or an older version
changing nothing, a promotion the till cannot read set aside while the rest of the page
applies, and the snapshot replacing what it no longer carries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pos_app.domain.promotions import PromoContext, PromoLine
from pos_app.localdb import promotions as promo_repo
from pos_app.localdb.engine import read_session
from sync_client.contract import protocol as p
from tests.localdb.conftest import NOW, STORE


def _definition(pid: int, version: int, **change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": pid,
        "version": version,
        "name_zh": "第二件半价",
        "kind": "nth_item",
        "params": {"n": 2, "percent_bp": 5000},
        "targets": {"items": ["MT001"]},
        "starts_at": (NOW - timedelta(days=1)).isoformat(),
    }
    body.update(change)
    return body


def _change(seq: int, pid: int, version: int, **change: Any) -> p.PromotionChange:
    data = p.PromotionData(id=pid, version=version, definition=_definition(pid, version, **change))
    return p.PromotionChange(seq=seq, key=str(pid), store=None, created_at=NOW, data=data)


def _priced(replica, cups: int = 2) -> int:
    with read_session(replica.engine) as s:
        book = promo_repo.load_book(s)
    line = PromoLine(1, "MT001", None, 1800, cups * 1000, 1800 * cups, cups)
    return book.price([line], PromoContext(NOW, STORE)).discount_fen


def test_the_newest_version_is_kept_and_an_older_one_changes_nothing(replica):
    """v1 then v2 (ended an hour ago): v2 is held, the promotion no longer prices; v1
    arriving again afterwards changes nothing."""
    assert replica.apply_changes([_change(3, 7, 1)], 3).quarantined == 0
    assert _priced(replica) == 900
    ended = (NOW - timedelta(hours=1)).isoformat()
    replica.apply_changes([_change(4, 7, 2, ends_at=ended)], 4)
    assert _priced(replica) == 0
    replica.apply_changes([_change(5, 7, 1)], 5)
    assert _priced(replica) == 0
    assert replica.problems() == []


def test_a_promotion_the_till_cannot_read_is_quarantined_and_the_rest_applies(replica):
    good = _change(3, 8, 1)
    bad = _change(4, 9, 1, params={"n": 1, "percent_bp": 5000})
    summary = replica.apply_changes([good, bad], 4)
    assert summary.quarantined == 1
    assert [(q.kind, q.key) for q in replica.problems()] == [("promotion", "9")]
    assert _priced(replica) == 900


def test_the_snapshot_replaces_the_promotions_and_sets_a_bad_one_aside(replica):
    replica.apply_changes([_change(3, 7, 1)], 3)
    data = [
        p.PromotionData(
            id=8, version=1, definition=_definition(8, 1, params={"n": 3, "percent_bp": 10000})
        ),
        p.PromotionData(id=9, version=2, definition=_definition(9, 1)),
    ]
    replica.apply_snapshot(
        p.Snapshot(
            seq=50,
            generated_at=NOW,
            store=STORE,
            stores=[],
            items=[],
            prices=[],
            stock=[],
            config=[],
            staff=[],
            promotions=data,
        )
    )
    assert _priced(replica, 3) == 1800  # only promotion 8: the third cup free
    assert [(q.kind, q.key) for q in replica.problems()] == [("promotion", "9")]
