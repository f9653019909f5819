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
from tests.localdb.test_replica import shown_stock, stock

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
