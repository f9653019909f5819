"""Scope and roles of the console's transfer, count, reservation, return, sale and
reconciliation pages, checked by crafting requests (SQLite, and PostgreSQL when set):
a record of another store is refused whatever its id, an action needs the right role and
the record's store in scope, and a refused action changes nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from server_stub import models as m
from server_stub import operations, reservations
from server_stub.audit import SYSTEM
from server_stub.db import Database
from sync_client.contract import protocol as p
from tests.console.conftest import Browser

Make = Callable[[str], Browser]


@pytest.fixture(scope="module")
def records(console_db: Database) -> dict[str, str]:
    """A transfer S003 → S001, a count, a sale and a return at S001, and an online order
    holding stock at S001."""
    now = datetime.now(UTC)
    ids = {k: uuid.uuid4() for k in ("transfer", "count", "sale", "return")}
    with console_db.write() as tx:
        c = tx.conn
        c.execute(
            insert(m.transfers).values(
                transfer_id=ids["transfer"],
                transfer_no="X1",
                from_store="S003",
                to_store="S001",
                state="requested",
                requested_by="1001",
                requested_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        c.execute(
            insert(m.stock_count_sessions).values(
                count_id=ids["count"],
                count_no="C1",
                store_code="S001",
                terminal="S001-T01",
                staff="1001",
                zone="前场",
                started_at=now,
                submitted_at=now,
                state="pending",
                created_at=now,
            )
        )
        c.execute(
            insert(m.sales).values(
                sale_id=ids["sale"],
                event_id=uuid.uuid4(),
                store_code="S001",
                terminal="S001-T01",
                cashier="1001",
                receipt_no="R1",
                started_at=now,
                completed_at=now,
                subtotal_fen=1600,
                discount_fen=0,
                rounding_fen=0,
                total_fen=1600,
                change_fen=0,
                received_at=now,
            )
        )
        c.execute(
            insert(m.returns).values(
                return_id=ids["return"],
                event_id=uuid.uuid4(),
                store_code="S001",
                terminal="S001-T01",
                cashier="1001",
                receipt_no="RT1",
                returned_at=now,
                received_at=now,
                sale_id=ids["sale"],
                refund_fen=1600,
                points_reversed=0,
                points_shortfall=0,
                conflict=False,
            )
        )
    operations.move_stock(console_db, "receive", "S001", "MT001", 5_000, "到货")
    reservations.add_channel(console_db, "app", ["S001"], SYSTEM)
    _, held = reservations.reserve(
        console_db,
        reservations.ChannelIdentity("app", frozenset({"S001"})),
        p.ReservationRequest(
            order_id="A-1", store="S001", lines=[p.SkuQty(sku="MT001", qty_milli=1_000)]
        ),
    )
    return {**{k: str(v) for k, v in ids.items()}, "reservation": str(held.reservation_id)}


def _status(db: Database, reservation_id: str) -> str:
    r = m.reservations
    with db.read() as conn:
        return str(
            conn.execute(select(r.c.status).where(r.c.id == uuid.UUID(reservation_id))).scalar()
        )


@pytest.mark.parametrize(
    "path",
    [
        "/console/transfers/{transfer}",
        "/console/counts/{count}",
        "/console/returns/{return}",
        "/console/sales/{sale}",
    ],
)
def test_another_stores_record_is_refused_by_id(
    browser_for: Make, records: dict[str, str], path: str
) -> None:
    url = path.format(**records)
    assert browser_for("s001").get(url).status_code == 200
    assert browser_for("admin").get(url).status_code == 200
    refused = browser_for("s002").get(url)
    assert refused.status_code == 403
    assert "门店仅能操作本店数据" in refused.text


def test_an_unknown_or_malformed_id_is_not_found(browser_for: Make) -> None:
    b = browser_for("admin")
    for path in (f"/console/transfers/{uuid.uuid4()}", "/console/returns/not-an-id"):
        r = b.get(path)
        assert r.status_code == 404
        assert "找不到这条记录" in r.text


def test_a_reservation_is_cancelled_only_by_a_writer_of_its_store(
    browser_for: Make, console_db: Database, records: dict[str, str]
) -> None:
    url = f"/console/reservations/{records['reservation']}/cancel"
    assert browser_for("s002").post(url).status_code == 403
    assert browser_for("audit").post(url).status_code == 403
    assert _status(console_db, records["reservation"]) == "reserved"
    done = browser_for("east").post(url)
    assert done.status_code == 303
    assert _status(console_db, records["reservation"]) == "cancelled"
    again = browser_for("east").post(url)
    assert again.status_code == 303  # cancelling again changes nothing


def test_only_hq_admins_run_a_reconciliation_and_a_bad_bill_is_explained(
    browser_for: Make, console_db: Database
) -> None:
    form = {"provider": "wechat", "day": "2026-12-01"}
    files = {"statement": ("bill.csv", b"not,a,bill\n1,2,3\n", "text/csv")}
    for user in ("s001", "east", "audit"):
        r = browser_for(user).post("/console/reconcile", form, files=files)
        assert r.status_code == 403, user
    r = browser_for("admin").post("/console/reconcile", form, files=files)
    assert r.status_code == 422
    assert "无法读取对账单" in r.text
    with console_db.read() as conn:
        kinds = conn.execute(select(m.discrepancies.c.kind)).scalars().all()
    assert [k for k in kinds if k.startswith("payment_")] == []


def test_a_refused_and_a_cancelled_transfer_show_how_they_ended(
    browser_for: Make, console_db: Database
) -> None:
    """GIVEN S001 refused S002's request (out of stock) and S002 cancelled another WHEN
    the regional manager opens each THEN the steps end with 已拒绝 (by whom, why) and
    已撤销; neither claims an approval."""
    now = datetime.now(UTC)
    refused, cancelled = uuid.uuid4(), uuid.uuid4()
    with console_db.write() as tx:
        for tid, state, extra in (
            (
                refused,
                "refused",
                {"decided_by": "1001", "decided_at": now, "refused_reason": "缺货"},
            ),
            (cancelled, "cancelled", {}),
        ):
            tx.conn.execute(
                insert(m.transfers).values(
                    transfer_id=tid,
                    transfer_no=f"X-{state}",
                    from_store="S001",
                    to_store="S002",
                    state=state,
                    requested_by="2001",
                    requested_at=now,
                    created_at=now,
                    updated_at=now,
                    **extra,
                )
            )
    b = browser_for("east")
    page = b.get(f"/console/transfers/{refused}").text
    assert re.findall(r'data-step="(\w+)"', page) == ["requested", "refused"]
    assert "已拒绝" in page and "缺货" in page
    page = b.get(f"/console/transfers/{cancelled}").text
    assert re.findall(r'data-step="(\w+)"', page) == ["requested", "cancelled"]
    assert "已撤销" in page
