"""LocalReplica and the menu: versions stored whole, other stores' versions ignored, bad
parts reported once through the quarantine, the snapshot replacing what it supersedes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from pos_app.localdb import menu as menu_repo
from pos_app.localdb.engine import read_session
from pos_app.localdb.replica import LocalReplica
from sync_client.contract import protocol as p
from tests.localdb.conftest import NOW, STORE


def _menu(version: int, *, store: str | None = None, at=NOW, tiles=None, groups=None):
    return p.MenuData(
        version=version,
        store=store,
        effective_at=at,
        categories=[p.MenuCategory(code="tea", name_zh="奶茶")],
        groups=groups
        if groups is not None
        else [
            p.MenuOptionGroup(
                code="ice",
                name_zh="温度",
                min_choices=1,
                choices=[p.MenuChoice(code="less", name_zh="少冰", default=True)],
            )
        ],
        tiles=tiles
        if tiles is not None
        else [p.MenuTile(sku="MT001", category="tea", groups=["ice"])],
    )


def _change(seq: int, menu: p.MenuData) -> p.MenuChange:
    return p.MenuChange(seq=seq, key=str(menu.version), store=menu.store, created_at=NOW, data=menu)


def _versions(replica: LocalReplica) -> list[int]:
    with read_session(replica.engine) as s:
        return [int(r[0]) for r in s.execute(text("SELECT version FROM menu_version ORDER BY 1"))]


def test_menus_are_stored_whole_and_the_store_version_wins_from_its_moment(replica):
    """A chain menu (v10), this store's own from tomorrow (v11), another store's (v12):
    v12 is not kept; today v10 is in force, tomorrow v11; a repeat changes nothing."""
    changes = [
        _change(3, _menu(10)),
        _change(4, _menu(11, store=STORE, at=NOW + timedelta(days=1))),
        _change(5, _menu(12, store="S999")),
    ]
    summary = replica.apply_changes(changes, 5)
    assert summary.quarantined == 0 and "menu" in summary.kinds
    assert 12 not in _versions(replica)
    with read_session(replica.engine) as s:
        assert menu_repo.menu_version_in_force(s, STORE, NOW + timedelta(hours=1)) == 10
        assert menu_repo.menu_version_in_force(s, STORE, NOW + timedelta(days=2)) == 11
        found = menu_repo.menu_in_force(s, STORE, NOW + timedelta(hours=1))
    assert found is not None and found.menu.tiles[0].sku == "MT001"
    replica.apply_changes(changes, 6)
    assert replica.problems() == []


def test_a_bad_tile_and_an_empty_group_are_reported_and_the_menu_still_applies(replica):
    menu = _menu(
        20,
        groups=[p.MenuOptionGroup(code="ice", name_zh="温度", choices=[])],
        tiles=[
            p.MenuTile(sku="MT001", category="tea", groups=["ice"]),
            p.MenuTile(sku="GONE01", category="tea"),
            p.MenuTile(sku="MT002", category="coffee"),
        ],
    )
    summary = replica.apply_changes([_change(3, menu)], 3)
    assert summary.quarantined == 4
    assert sorted((q.kind, q.key, q.error) for q in replica.problems()) == [
        ("menu", "20:group:ice", "option group has no choices"),
        ("menu", "20:tile:GONE01", "tile of an item this till does not have"),
        ("menu", "20:tile:MT001", "option group(s) left out: ice"),
        ("menu", "20:tile:MT002", "no category coffee"),
    ]
    assert 20 in _versions(replica) and replica.cursor() == 3


def test_a_snapshot_replaces_the_menu_versions_it_supersedes(replica):
    replica.apply_changes([_change(3, _menu(30)), _change(4, _menu(31))], 4)
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
            menus=[_menu(31), _menu(32, store=STORE)],
        )
    )
    assert _versions(replica) == [31, 32]
    assert replica.cursor() == 50


def _sold(seq: int, sku: str, on: bool, at, store: str = STORE) -> p.SoldOutChange:
    data = p.SoldOutData(store=store, sku=sku, business_date=at.date(), sold_out=on, at=at)
    return p.SoldOutChange(seq=seq, key=f"{store}:{sku}", store=store, created_at=at, data=data)


def test_sold_out_from_another_till_follows_the_latest_report(replica):
    """Another till of the store marks 珍珠奶茶 sold out, then back: this till follows; a
    report older than the one it has (a late push from an offline till) changes nothing;
    another store's report is ignored."""
    day = NOW.date().isoformat()
    replica.apply_changes([_sold(3, "MT002", True, NOW)], 3)
    with read_session(replica.engine) as s:
        assert menu_repo.sold_out_skus(s, day) == {"MT002"}
    replica.apply_changes([_sold(4, "MT002", False, NOW + timedelta(minutes=5))], 4)
    replica.apply_changes([_sold(5, "MT002", True, NOW + timedelta(minutes=1))], 5)
    replica.apply_changes([_sold(6, "MT003", True, NOW, store="S999")], 6)
    with read_session(replica.engine) as s:
        assert menu_repo.sold_out_skus(s, day) == set()
    assert replica.problems() == []
