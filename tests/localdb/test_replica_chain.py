"""The replica's share of stock across the chain: every store's levels, stores' places,
this store's transfers and alerts, as HQ's feed delivers them."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text

from pos_app.localdb.engine import read_session
from pos_app.localdb.replica import LocalReplica
from pos_app.localdb.transfers import get_transfer
from sync_client.contract import protocol as p
from tests.localdb.conftest import NOW, STORE
from tests.localdb.test_replica import sell, shown_stock, stock

T1 = UUID("01900000-0000-7000-8000-000000000001")


def transfer(
    seq: int, state: str, *, shipped: int | None = None, to: str = STORE
) -> p.TransferChange:
    return p.TransferChange(
        seq=seq,
        key=str(T1),
        store="S003",
        created_at=NOW,
        data=p.TransferData(
            transfer_id=T1,
            transfer_no="S001-T01-X00001",
            from_store="S003",
            to_store=to,
            state=state,  # type: ignore[arg-type]
            lines=[p.TransferLineData(sku="MT001", requested_milli=48_000, shipped_milli=shipped)],
            requested_by="1001",
            requested_at=NOW,
            updated_at=NOW,
        ),
    )


def test_every_stores_levels_are_kept_and_this_stores_still_drives_the_shown_level(replica):
    """GIVEN stock changes for this store and two others
    WHEN they are applied
    THEN chain_stock holds all three with reserved/available/time, and the shown level is
    still this store's."""
    other = stock(2, 240_000, store="S003")
    replica.apply_changes([stock(1, 40_000), other, stock(3, 7_000, store="S002")], 3)
    with read_session(replica.engine) as s:
        rows = s.execute(
            text("SELECT store_code, on_hand_milli FROM chain_stock WHERE sku = 'MT001' ORDER BY 1")
        ).all()
    assert [tuple(r) for r in rows] == [("S001", 40_000), ("S002", 7_000), ("S003", 240_000)]
    assert shown_stock(replica) == 40_000


def test_stores_carry_their_region_and_coordinates(replica: LocalReplica):
    change = p.StoreChange(
        seq=1,
        key="S009",
        store=None,
        created_at=NOW,
        data=p.StoreData(
            code="S009", name="徐家汇店", region="华东", latitude=31.19, longitude=121.43
        ),
    )
    replica.apply_changes([change], 1)
    with read_session(replica.engine) as s:
        row = s.execute(
            text("SELECT region, latitude, longitude FROM store WHERE code = 'S009'")
        ).one()
    assert tuple(row) == ("华东", 31.19, 121.43)


def test_a_transfer_of_this_store_is_kept_and_a_later_state_replaces_it(replica):
    """GIVEN HQ's transfer S003 -> this store, first approved then shipped (48)
    WHEN both changes are applied
    THEN the till shows it shipped with 48 in transit; a transfer between two other
    stores is not kept."""
    replica.apply_changes([transfer(1, "approved")], 1)
    replica.apply_changes([transfer(2, "shipped", shipped=48_000)], 2)
    with read_session(replica.engine) as s:
        row = get_transfer(s, str(T1))
    assert row is not None
    assert (row.state, row.lines[0].shipped_milli, row.syncing) == ("shipped", 48_000, False)

    other = transfer(3, "requested", to="S002")
    other = other.model_copy(
        update={"data": other.data.model_copy(update={"transfer_id": UUID(int=7)})}
    )
    replica.apply_changes([other], 3)
    with read_session(replica.engine) as s:
        assert get_transfer(s, str(UUID(int=7))) is None


def test_alerts_of_this_store_only(replica):
    def alert(seq: int, alert_id: int, store: str, resolved: bool = False) -> p.AlertChange:
        return p.AlertChange(
            seq=seq,
            key=str(alert_id),
            store=store,
            created_at=NOW,
            data=p.StockAlertData(
                alert_id=alert_id,
                store=store,
                sku="MT001",
                kind="low",
                on_hand_milli=2_000,
                min_milli=10_000,
                created_at=NOW,
                resolved=resolved,
            ),
        )

    replica.apply_changes([alert(1, 1, STORE), alert(2, 2, "S002")], 2)
    replica.apply_changes([alert(3, 1, STORE, resolved=True)], 3)
    with read_session(replica.engine) as s:
        rows = s.execute(text("SELECT alert_id, resolved FROM stock_alert")).all()
    assert [tuple(r) for r in rows] == [(1, 1)]


# -- every store's levels in pages after a snapshot -------------------------------------------


def empty_snapshot(seq: int, *levels: p.StockData) -> p.Snapshot:
    return p.Snapshot(
        seq=seq,
        generated_at=NOW,
        store=STORE,
        stores=[],
        items=[],
        prices=[],
        stock=list(levels),
        config=[],
        staff=[],
    )


def page(seq: int, after: str, next_after: str | None, *levels: p.StockData) -> p.StockPage:
    return p.StockPage(seq=seq, after=after, next_after=next_after, levels=list(levels))


def chain_levels(replica: LocalReplica, sku: str = "MT001") -> dict[str, int]:
    with read_session(replica.engine) as s:
        rows = s.execute(
            text("SELECT store_code, on_hand_milli FROM chain_stock WHERE sku = :sku"),
            {"sku": sku},
        ).all()
    return {str(r[0]): int(r[1]) for r in rows}


def test_a_snapshot_starts_the_fetch_of_every_stores_levels_and_pages_move_it_on(replica):
    """GIVEN a till that applied a snapshot at seq 10
    WHEN two pages of other stores' levels arrive, the second the last
    THEN the fetch starts at "" and stands at the first page's last key in between, and
    ends (None) with both pages' levels kept; the same first page again changes nothing."""
    assert replica.stock_pages_after() is None
    replica.apply_snapshot(empty_snapshot(10, stock(10, 40_000).data))
    assert replica.stock_pages_after() == ""
    first = page(12, "", "S002:MT001", stock(1, 7_000, store="S002").data)
    assert replica.apply_stock_page(first) is True
    assert replica.stock_pages_after() == "S002:MT001"
    last = page(12, "S002:MT001", None, stock(1, 240_000, store="S003").data)
    assert replica.apply_stock_page(last) is True
    assert replica.stock_pages_after() is None
    assert replica.apply_stock_page(first) is False
    assert chain_levels(replica) == {"S001": 40_000, "S002": 7_000, "S003": 240_000}


def test_a_page_never_undoes_a_later_feed_change_and_a_later_page_wins_over_an_older_change(
    replica,
):
    """GIVEN a till after a snapshot at seq 10, which applied S003's level 200 from the
    feed's change 15 and S002's level 5 from change 11
    WHEN a page as of seq 13 brings S003 at 240 and S002 at 9
    THEN S003 stays at 200 (change 15 is newer than the page) and S002 becomes 9 (the page
    is newer than change 11); a feed change 12 arriving late does not undo the page."""
    replica.apply_snapshot(empty_snapshot(10))
    replica.apply_changes([stock(11, 5_000, store="S002"), stock(15, 200_000, store="S003")], 15)
    levels = [stock(1, 9_000, store="S002").data, stock(1, 240_000, store="S003").data]
    assert replica.apply_stock_page(page(13, "", None, *levels)) is True
    assert chain_levels(replica) == {"S002": 9_000, "S003": 200_000}
    replica.apply_changes([stock(12, 1_000, store="S002")], 16)  # below the cursor: skipped
    assert chain_levels(replica)["S002"] == 9_000


def test_a_page_keeps_this_stores_shown_level_on_the_feeds_cursor(replica):
    """GIVEN this store's level 40 from a snapshot at seq 10 and a sale of 3 at the till
    WHEN a page as of seq 20 brings this store's level 37 (HQ counted the sale already)
    THEN the till still shows 37 = 40 - 3, not 34: the shown level follows the feed's
    cursor, which the page does not move; the page updates the chain look-up's row only."""
    replica.apply_snapshot(empty_snapshot(10, stock(10, 40_000).data))
    sell(replica, 3_000)
    assert shown_stock(replica) == 37_000
    assert replica.apply_stock_page(page(20, "", None, stock(1, 37_000).data)) is True
    assert shown_stock(replica) == 37_000
    assert replica.cursor() == 10
    assert chain_levels(replica)["S001"] == 37_000


def test_a_resync_fetches_every_level_again_even_those_of_a_later_seq(replica):
    """GIVEN a till holding S003's level 200 from change 50 of an HQ database since replaced
    WHEN a snapshot of the new database at seq 5 and a page as of seq 6 arrive
    THEN the page's level 240 replaces it: seqs of the old database do not count."""
    replica.apply_changes([stock(50, 200_000, store="S003")], 50)
    replica.apply_snapshot(empty_snapshot(5))
    assert replica.stock_pages_after() == ""
    levels = [stock(1, 240_000, store="S003").data]
    assert replica.apply_stock_page(page(6, "", None, *levels)) is True
    assert chain_levels(replica) == {"S003": 240_000}


def test_an_alert_keeps_the_quantity_hq_sent(replica):
    """GIVEN HQ's low alert 4 short and a transfer shortfall of 2 for this store
    WHEN the feed brings them (and the snapshot brings the low one again)
    THEN the till keeps both quantities."""

    def alert(alert_id: int, kind: str, qty: int) -> p.StockAlertData:
        return p.StockAlertData(
            alert_id=alert_id,
            store=STORE,
            sku="MT001",
            kind=kind,  # type: ignore[arg-type]
            on_hand_milli=6_000,
            min_milli=10_000 if kind == "low" else None,
            created_at=NOW,
            qty_milli=qty,
        )

    low, short = alert(1, "low", 4_000), alert(2, "transfer_shortfall", 2_000)
    replica.apply_changes(
        [
            p.AlertChange(seq=i, key=str(a.alert_id), store=STORE, created_at=NOW, data=a)
            for i, a in enumerate((low, short), start=1)
        ],
        2,
    )

    def kept() -> list[tuple[int, int, int]]:
        with read_session(replica.engine) as s:
            rows = s.execute(
                text("SELECT alert_id, qty_milli, resolved FROM stock_alert ORDER BY alert_id")
            ).all()
        return [tuple(r) for r in rows]  # type: ignore[misc]

    assert kept() == [(1, 4_000, 0), (2, 2_000, 0)]
    snap = empty_snapshot(3).model_copy(update={"alerts": [low]})
    replica.apply_snapshot(snap)
    assert kept() == [(1, 4_000, 0), (2, 2_000, 1)]  # closed at HQ meanwhile
