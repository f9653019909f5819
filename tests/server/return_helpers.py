"""Returns for HQ tests: sales pushed over HTTP, authorisations asked over HTTP, return
events built the way a till builds them (refunds from the contract's arithmetic)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from server_stub import models as m
from server_stub.db import Database
from sync_client.contract.refunds import line_refund_fen
from sync_client.contract.salerefs import SaleRef
from tests.server.support import Chain, Device


def push(client: httpx.Client, dev: Device, *events: dict[str, Any]) -> list[dict[str, Any]]:
    r = client.post("/v1/sync/push", json={"events": list(events)}, headers=dev.headers)
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def sold(
    client: httpx.Client, chain: Chain, dev: Device, lines: list[tuple[str, int]], **kw: Any
) -> dict[str, Any]:
    """A sale pushed to HQ; its event."""
    ev = chain.sale(dev, lines, **kw)
    assert push(client, dev, ev)[0]["status"] == "applied"
    return ev


def ref_of(dev: Device, sale_event: dict[str, Any]) -> str:
    """The receipt QR of a sale, signed by the device that made it."""
    sale_id = uuid.UUID(sale_event["payload"]["sale_id"])
    secret = base64.b64decode(dev.receipt_secret)
    return SaleRef(sale_id, dev.store, dev.device_id).sign(secret)


def authorise(
    client: httpx.Client,
    dev: Device,
    sale_event: dict[str, Any],
    lines: dict[int, int],
    *,
    auth_id: uuid.UUID | None = None,
    ttl_s: int | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {
        "auth_id": str(auth_id or uuid.uuid4()),
        "sale_id": sale_event["payload"]["sale_id"],
        "lines": [{"line_no": k, "qty_milli": v} for k, v in sorted(lines.items())],
    }
    if ttl_s is not None:
        body["ttl_s"] = ttl_s
    return client.post("/v1/returns/authorisations", json=body, headers=dev.headers)


def returned(
    chain: Chain,
    dev: Device,
    sale_event: dict[str, Any],
    lines: dict[int, int],
    *,
    auth_id: str | None = None,
    returned_before: dict[int, int] | None = None,
    refunds: list[dict[str, Any]] | None = None,
    approvals: list[dict[str, Any]] | None = None,
    restock: str = "sellable",
    return_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A ``sale.returned`` event at ``dev``'s store returning ``{line_no: qty_milli}``,
    refunded in cash (or by ``refunds``) as the contract computes it."""
    sale = sale_event["payload"]
    before = returned_before or {}
    out_lines = []
    total = 0
    for n, (line_no, qty) in enumerate(sorted(lines.items()), start=1):
        orig = sale["lines"][line_no - 1]
        fen = line_refund_fen(orig["amount_fen"], orig["qty_milli"], before.get(line_no, 0), qty)
        total += fen
        out_lines.append(
            {
                "line_no": n,
                "original_line_no": line_no,
                "sku": orig["sku"],
                "name": orig["name"],
                "unit": orig["unit"],
                "qty_milli": qty,
                "unit_price_fen": orig["unit_price_fen"],
                "refund_fen": fen,
                "restock": restock,
                "reason": "changed_mind",
            }
        )
    payload = {
        "type": "sale.returned",
        "return_id": str(return_id or uuid.uuid4()),
        "receipt_no": f"RT{uuid.uuid4().hex[:8]}",
        "store": dev.store,
        "terminal": dev.device_id,
        "cashier": chain.cashier(dev.store),
        "returned_at": datetime.now(UTC).isoformat(),
        "original": {
            "sale_id": sale["sale_id"],
            "store": sale["store"],
            "terminal": sale["terminal"],
            "receipt_no": sale["receipt_no"],
        },
        "authorisation": auth_id,
        "lines": out_lines,
        "refund_fen": total,
        "refunds": refunds
        if refunds is not None
        else ([{"kind": "cash", "amount_fen": total}] if total else []),
        "approvals": approvals or [],
    }
    return chain.event(payload)


def line_counts(db: Database, sale_event: dict[str, Any], line_no: int = 1) -> tuple[int, int, int]:
    """(returned_milli, held_milli, refunded_fen) of a sale line at HQ."""
    sl = m.sale_lines
    with db.read() as conn:
        row = conn.execute(
            select(sl.c.returned_milli, sl.c.held_milli, sl.c.refunded_fen).where(
                sl.c.sale_id == uuid.UUID(sale_event["payload"]["sale_id"]),
                sl.c.line_no == line_no,
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def auth_status(db: Database, auth_id: str) -> str:
    with db.read() as conn:
        return str(
            conn.execute(
                select(m.return_auths.c.status).where(
                    m.return_auths.c.auth_id == uuid.UUID(auth_id)
                )
            ).scalar_one()
        )
