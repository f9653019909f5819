"""Builders for the stock-across-the-chain tests: transfer steps, counts and goods
received as a till would push them, and reads of HQ's ledger and feed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from server_stub import models as m
from server_stub.db import Database
from tests.server.support import Chain, Device

WATER = "矿泉水"


def now() -> datetime:
    return datetime.now(UTC)


def step(
    chain: Chain,
    device: Device,
    kind: str,
    transfer_id: uuid.UUID,
    staff: str,
    lines: list[tuple[str, int]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``transfer.<kind>`` event from ``device``'s store."""
    payload: dict[str, Any] = {
        "type": f"transfer.{kind}",
        "transfer_id": str(transfer_id),
        "store": device.store,
        "terminal": device.device_id,
        "staff": staff,
        "at": (extra.pop("at", None) or now()).isoformat(),
        "lines": [{"sku": sku, "qty_milli": qty} for sku, qty in lines or []],
        **extra,
    }
    return chain.event(payload)


def request(
    chain: Chain,
    device: Device,
    from_store: str,
    staff: str,
    lines: list[tuple[str, int]],
    transfer_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, dict[str, Any]]:
    tid = transfer_id or uuid.uuid4()
    ev = step(
        chain,
        device,
        "requested",
        tid,
        staff,
        lines,
        from_store=from_store,
        transfer_no=f"{device.device_id}-X{tid.hex[:6]}",
    )
    return tid, ev


def push(client: httpx.Client, device: Device, events: list[dict[str, Any]]) -> list[str]:
    """Pushes; per event ``applied``/``duplicate`` or ``rejected:<reason>``."""
    r = client.post("/v1/sync/push", json={"events": events}, headers=device.headers)
    assert r.status_code == 200, r.text
    return [
        x["status"] if x["status"] != "rejected" else f"rejected:{x['code']}"
        for x in r.json()["results"]
    ]


def push_full(client: httpx.Client, device: Device, events: list[dict[str, Any]]) -> Any:
    r = client.post("/v1/sync/push", json={"events": events}, headers=device.headers)
    assert r.status_code == 200, r.text
    return r.json()


def ledger_sum(db: Database, store: str, sku: str) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                select(func.coalesce(func.sum(m.stock_moves.c.delta_milli), 0)).where(
                    m.stock_moves.c.store_code == store, m.stock_moves.c.sku == sku
                )
            ).scalar_one()
        )


def moves(db: Database, store: str, sku: str, reason: str | None = None) -> list[int]:
    sm = m.stock_moves
    q = select(sm.c.delta_milli).where(sm.c.store_code == store, sm.c.sku == sku)
    if reason is not None:
        q = q.where(sm.c.reason == reason)
    with db.read() as conn:
        return [int(x) for x in conn.execute(q.order_by(sm.c.id)).scalars()]


def pulled(client: httpx.Client, device: Device, kind: str) -> list[dict[str, Any]]:
    """Every change of ``kind`` the device receives when pulling from the start."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        r = client.get(
            "/v1/sync/pull", params={"after": after, "limit": 5000}, headers=device.headers
        )
        assert r.status_code == 200, r.text
        page = r.json()
        out.extend(c for c in page["changes"] if c["kind"] == kind)
        after = page["next_after"]
        if not page["more"]:
            return out


def alerts(db: Database, store: str, sku: str, kind: str | None = None) -> list[Any]:
    a = m.stock_alerts
    q = select(a).where(a.c.store_code == store, a.c.sku == sku)
    if kind is not None:
        q = q.where(a.c.kind == kind)
    with db.read() as conn:
        return list(conn.execute(q.order_by(a.c.id)))


def audit_actions(db: Database, action: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(
            select(m.audit_log.c.detail).where(m.audit_log.c.action == action)
        ).scalars()
        return [json.loads(r) for r in rows]
