"""Prices from the console: scheduled per store, cancelled before their moment, and what
a terminal's replica makes of the cancellation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from server_stub import feed, operations
from server_stub import models as m
from server_stub.db import Database
from server_stub.queries import snapshot
from tests.console.conftest import Browser

Make = Callable[[str], Browser]


def _in_effect(db: Database, store: str, sku: str, at: datetime) -> int:
    """The price a terminal of ``store`` charges at ``at``, by the protocol's rule."""
    with db.read() as conn:
        prices = [p for p in snapshot(conn, store).prices if p.sku == sku and p.effective_at <= at]
    own = [p for p in prices if p.store == store]
    pool = own or [p for p in prices if p.store is None]
    return max(pool, key=lambda p: (p.effective_at, p.version)).price_fen


def test_a_store_manager_schedules_and_cancels_a_price_for_their_store(
    browser_for: Make, console_db: Database
) -> None:
    """GIVEN MT001 at ¥16 chain-wide WHEN the manager of S001 schedules ¥12 for tomorrow
    and cancels it THEN the change is listed as scheduled, then cancelled, and at that
    moment S001 still charges ¥16 (a newer version at the same moment supersedes it)."""
    b = browser_for("s001")
    when = datetime.now(UTC) + timedelta(days=1)
    local = when.astimezone(operations_tz()).strftime("%Y-%m-%dT%H:%M")
    r = b.post(
        "/console/prices",
        {"sku": "MT001", "price": "12", "scope": "store", "store": "S001", "effective_at": local},
    )
    assert r.status_code == 303, r.text
    page = b.get("/console/prices?sku=MT001").text
    assert "待生效" in page and "¥12.00" in page
    with console_db.read() as conn:
        version = conn.execute(
            select(m.price_versions.c.id).where(m.price_versions.c.price_fen == 1200)
        ).scalar_one()
    moment = when.replace(second=0, microsecond=0) + timedelta(seconds=1)
    assert _in_effect(console_db, "S001", "MT001", moment) == 1200
    head_before = _head(console_db)
    assert b.post(f"/console/prices/{version}/cancel").status_code == 303
    assert "已取消" in b.get("/console/prices?sku=MT001").text
    assert _in_effect(console_db, "S001", "MT001", moment) == 1600
    assert _head(console_db) == head_before + 1  # terminals receive the superseding version
    r = b.post(f"/console/prices/{version}/cancel")
    assert r.status_code == 409


def test_a_price_in_effect_cannot_be_cancelled(browser_for: Make, console_db: Database) -> None:
    (now_version,) = operations.set_price(console_db, "MT002", 1850, None, ["S001"])
    r = browser_for("s001").post(f"/console/prices/{now_version.version}/cancel")
    assert r.status_code == 409
    assert "已生效" in r.text


def _head(db: Database) -> int:
    with db.read() as conn:
        return feed.state(conn).last_seq


def operations_tz():  # type: ignore[no-untyped-def]
    from server_stub.console.queries import LOCAL_TZ

    return LOCAL_TZ
