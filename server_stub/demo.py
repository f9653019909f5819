"""Filling an HQ database with a demo chain (the terminal's ``resources/demo`` data).

The data arrive as a dict (HQ does not read the terminal's files): stores, staff with
PINs, items with a price, and an opening stock for every store. Everything goes through
the same operations as the admin CLI, so the change feed carries it to terminals.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from server_stub import models as m
from server_stub import operations
from server_stub.db import Database
from server_stub.schemas import ItemIn, StaffIn

DEMO_STOCK_PIECES = 240
DEMO_STOCK_KG = 20


def seed_chain(db: Database, data: dict[str, Any], *, stock: bool = True) -> bool:
    """Seeds an empty HQ database; returns False (and does nothing) if it has stores."""
    with db.read() as conn:
        if conn.execute(select(func.count()).select_from(m.stores)).scalar_one():
            return False
    for s in data["stores"]:
        operations.add_store(db, s["code"], s["name_zh"])
    for person in data["staff"]:
        operations.add_staff(
            db,
            StaffIn(
                number=person["number"],
                store=person.get("store"),
                name=person["name"],
                role=person["role"],
                pin=person["pin"],
            ),
        )
    items = [
        ItemIn(
            sku=it["sku"],
            name_zh=it["name_zh"],
            name_en=it.get("name_en", ""),
            unit=it["unit"],
            barcodes=it.get("barcodes", []),
            category=it.get("category", ""),
            price_fen=it["price_fen"],
        )
        for it in data["items"]
    ]
    operations.import_catalog(db, items)
    if stock:
        for s in data["stores"]:
            for it in data["items"]:
                qty = DEMO_STOCK_KG * 1000 if it["unit"] == "kg" else DEMO_STOCK_PIECES * 1000
                operations.move_stock(db, "receive", s["code"], it["sku"], qty, "opening stock")
    return True
