"""What the reservation tests share: channels, levels and the 64-order race.

The race runs over real HTTP against any number of HQ base URLs (one in-thread HQ, or
two HQ processes on one PostgreSQL database), with threads released together by a
barrier; tills push sales of the same item meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from server_stub import models as m
from server_stub import operations, reservations
from server_stub.audit import SYSTEM
from server_stub.db import Database
from tests.server.support import Chain, Device


def add_channel(db: Database, name: str, stores: list[str]) -> dict[str, str]:
    """A channel for ``stores``; its auth headers."""
    token = reservations.add_channel(db, name, stores, SYSTEM)
    return {"Authorization": f"Bearer {token}"}


def stock_in(db: Database, store: str, sku: str, qty_milli: int) -> None:
    operations.move_stock(db, "receive", store, sku, qty_milli, "test stock")


def level(db: Database, store: str, sku: str) -> tuple[int, int]:
    """(on hand, reserved) of a level."""
    sl = m.stock_levels
    with db.read() as conn:
        row = conn.execute(
            select(sl.c.on_hand_milli, sl.c.reserved_milli).where(
                sl.c.store_code == store, sl.c.sku == sku
            )
        ).one()
    return int(row.on_hand_milli), int(row.reserved_milli)


def conflicts(db: Database, store: str) -> int:
    c = m.reservation_conflicts
    with db.read() as conn:
        return int(conn.execute(select(func.count()).where(c.c.store_code == store)).scalar_one())


def order(store: str, order_id: str, lines: list[tuple[str, int]], **kw: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "store": store,
        "lines": [{"sku": s, "qty_milli": q} for s, q in lines],
        **kw,
    }


def together(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Runs the callables on threads released at the same instant; their results."""
    results: list[Any] = [None] * len(jobs)
    go = threading.Barrier(len(jobs))

    def run(i: int) -> None:
        go.wait()
        try:
            results[i] = jobs[i]()
        except Exception as exc:  # reported by the caller's assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    return results


@dataclass(frozen=True)
class RaceOutcome:
    reserved: list[dict[str, Any]]
    refused: list[dict[str, Any]]
    sold_milli: int
    on_hand: int
    reserved_milli: int


def race_for_last_units(
    db: Database,
    chain: Chain,
    urls: list[str],
    *,
    orders: int = 64,
    units: int = 10,
    till_sales: int = 4,
) -> RaceOutcome:
    """``orders`` one-unit reservations from three channels for the last ``units`` of an
    item at one store, spread over ``urls``, while ``till_sales`` one-unit sales of it are
    pushed from two tills at the same moment."""
    store = chain.store()
    sku = chain.item()
    stock_in(db, store, sku, units * 1000)
    tills: list[Device] = [chain.device(store) for _ in range(2)]
    channels = [add_channel(db, f"race-{store}-{i}", [store]) for i in range(3)]
    clients = [httpx.Client(base_url=urls[i % len(urls)], timeout=120) for i in range(orders)]
    till_clients = [
        httpx.Client(base_url=urls[i % len(urls)], timeout=120) for i in range(till_sales)
    ]
    try:
        jobs: list[Callable[[], Any]] = []
        for i in range(orders):
            body = order(store, f"o-{i}", [(sku, 1000)])
            jobs.append(
                lambda i=i, body=body: clients[i].post(
                    "/v1/channel/reservations", json=body, headers=channels[i % 3]
                )
            )
        sales = [chain.sale(tills[i % 2], [(sku, 1000)]) for i in range(till_sales)]
        for i in range(till_sales):
            jobs.append(
                lambda i=i: till_clients[i].post(
                    "/v1/sync/push", json={"events": [sales[i]]}, headers=tills[i % 2].headers
                )
            )
        answers = together(jobs)
    finally:
        for c in clients + till_clients:
            c.close()
    bad = [a for a in answers if isinstance(a, Exception)]
    assert bad == []
    reserved = [a.json() for a in answers[:orders] if a.status_code == 201]
    refused = [a.json() for a in answers[:orders] if a.status_code == 409]
    assert len(reserved) + len(refused) == orders, [a.text for a in answers[:orders]]
    for push in answers[orders:]:
        assert push.status_code == 200 and push.json()["applied"] == 1, push.text
    on_hand, reserved_milli = level(db, store, sku)
    return RaceOutcome(reserved, refused, till_sales * 1000, on_hand, reserved_milli)


def check_race(db: Database, out: RaceOutcome, units: int = 10) -> None:
    """The invariants of :func:`race_for_last_units`."""
    assert len(out.reserved) <= units
    assert out.on_hand == units * 1000 - out.sold_milli
    assert out.reserved_milli == 1000 * len(out.reserved)
    # Every refusal names the short line, with what was available when it was decided.
    for body in out.refused:
        assert body["code"] == "insufficient_stock"
        assert len(body["short"]) == 1
        short = body["short"][0]
        assert short["requested_milli"] == 1000 and 0 <= short["available_milli"] < 1000
    # The last refusal saw less than a unit available, and sales only take more away:
    # so nothing is left over that an order could have had.
    if out.refused:
        assert out.on_hand - out.reserved_milli < 1000
    assert all(r["status"] == "reserved" for r in out.reserved)
