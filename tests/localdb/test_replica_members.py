"""The terminal's member cache follows HQ's feed: a member change with a newer version
drops the cached copy (the till identifies the member again to see the new balance), and a
resync from a snapshot, which skips the changes in between, drops every cached member."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from pos_app.localdb.engine import open_database, read_session, write_session
from pos_app.localdb.models import MemberCache
from pos_app.localdb.replica import LocalReplica
from sync_client.contract import protocol as p

NOW = datetime(2025, 6, 1, 3, 0, tzinfo=UTC)


def cached(engine) -> dict[str, int]:
    with read_session(engine) as s:
        return {r.number: r.version for r in s.scalars(select(MemberCache))}


def test_a_newer_member_version_drops_the_cached_copy_and_a_snapshot_drops_all(
    tmp_path: Path,
) -> None:
    engine = open_database(tmp_path / "t.db")
    try:
        with write_session(engine) as s:
            for number, version in (("100000000001", 5), ("100000000002", 5), ("1000003", 5)):
                s.add(
                    MemberCache(
                        number=number,
                        name="x",
                        phone_masked="",
                        tier="standard",
                        points=0,
                        balance_fen=0,
                        coupons="[]",
                        version=version,
                        seen_at=NOW,
                    )
                )
            s.commit()
        replica = LocalReplica(engine, "S001")

        def change(seq: int, number: str, version: int) -> p.MemberChange:
            return p.MemberChange(
                seq=seq,
                key=number,
                store=None,
                created_at=NOW,
                data=p.MemberData(number=number, version=version),
            )

        replica.apply_changes(
            [
                change(1, "100000000001", 6),  # changed after it was cached
                change(2, "100000000002", 5),  # the change it was cached at
                change(3, "100000000002", 4),  # an older one
                change(4, "999999999999", 9),  # never cached here
            ],
            4,
        )
        assert cached(engine) == {"100000000002": 5, "1000003": 5}
        assert replica.cursor() == 4

        replica.apply_snapshot(
            p.Snapshot(
                seq=10,
                generated_at=NOW,
                store="S001",
                stores=[],
                items=[],
                prices=[],
                stock=[],
                config=[],
                staff=[],
            )
        )
        assert cached(engine) == {}
    finally:
        engine.dispose()
