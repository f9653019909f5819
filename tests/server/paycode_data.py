"""Writes payment-code sales and refunds straight into an HQ database, for the
reconciliation tests and benchmark (the way the tills' events land there is tested by
the push and returns suites)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert

from server_stub import models as m
from server_stub.db import Database


@dataclass(frozen=True, slots=True)
class HqPay:
    order_no: str
    amount_fen: int
    at: datetime


@dataclass(frozen=True, slots=True)
class HqRefund:
    return_id: str
    order_no: str
    amount_fen: int
    at: datetime


def write(
    db: Database, kind: str, pays: Iterable[HqPay], refunds: Iterable[HqRefund], store: str = "S001"
) -> None:
    sales, tenders, rets, refs = [], [], [], []
    for i, p in enumerate(pays):
        sid = uuid.uuid4()
        sales.append(
            {
                "sale_id": sid,
                "event_id": uuid.uuid4(),
                "store_code": store,
                "terminal": f"{store}-T01",
                "cashier": "1001",
                "receipt_no": f"R{i}",
                "started_at": p.at,
                "completed_at": p.at,
                "subtotal_fen": p.amount_fen,
                "discount_fen": 0,
                "rounding_fen": 0,
                "total_fen": p.amount_fen,
                "change_fen": 0,
                "received_at": p.at,
            }
        )
        tenders.append(
            {
                "sale_id": sid,
                "idx": 0,
                "kind": kind,
                "amount_fen": p.amount_fen,
                "tendered_fen": None,
                "reference": p.order_no,
            }
        )
    for i, r in enumerate(refunds):
        rid = uuid.UUID(r.return_id)
        rets.append(
            {
                "return_id": rid,
                "event_id": uuid.uuid4(),
                "store_code": store,
                "terminal": f"{store}-T01",
                "cashier": "1001",
                "receipt_no": f"RT{i}",
                "returned_at": r.at,
                "received_at": r.at,
                "refund_fen": r.amount_fen,
                "points_reversed": 0,
                "points_shortfall": 0,
                "conflict": False,
            }
        )
        refs.append(
            {
                "return_id": rid,
                "idx": 0,
                "kind": kind,
                "amount_fen": r.amount_fen,
                "reference": r.order_no,
            }
        )
    with db.write() as tx:
        if not tx.conn.execute(m.stores.select().where(m.stores.c.code == store)).first():
            tx.conn.execute(
                insert(m.stores),
                {
                    "code": store,
                    "name": store,
                    "active": True,
                    "created_at": datetime.now().astimezone(),
                },
            )
        for table, rows in (
            (m.sales, sales),
            (m.sale_tenders, tenders),
            (m.returns, rets),
            (m.return_refunds, refs),
        ):
            for start in range(0, len(rows), 5000):
                if rows[start : start + 5000]:
                    tx.conn.execute(insert(table), rows[start : start + 5000])
