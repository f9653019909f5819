"""Filling an HQ database with a demo chain (the terminal's ``resources/demo`` data).

The data arrive as a dict (HQ does not read the terminal's files): stores, staff with
PINs, items with a price, and an opening stock for every store. Everything goes through
the same operations as the admin CLI, so the change feed carries it to terminals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from server_stub import members, menu, operations
from server_stub import models as m
from server_stub.db import Database
from server_stub.member_keys import MemberKeys
from server_stub.schemas import ItemIn, StaffIn
from sync_client.contract.phonecrypt import PhoneCipher

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
    if data.get("menu"):
        menu.publish_menu(db, data["menu"])
    return True


DEMO_MEMBERS = (
    # name, phone, tier, points, stored value (fen), coupon (name, value, min spend) or None
    ("林晓雨", "13800138000", "gold", 1280, 5000, ("满30减5", 500, 3000)),
    ("李明", "13900139000", "standard", 780, 0, None),
)


@dataclass(frozen=True)
class DemoMember:
    name: str
    number: str
    phone: str
    card_code: str


def seed_members(db: Database, keys: MemberKeys) -> list[DemoMember]:
    """The demo's members (made once, through HQ's own operations) with their card codes:
    a card code never expires, so it can be typed or pasted at a till's scan field."""
    actor = members.Actor("cli:demo")
    cipher = PhoneCipher(keys)
    out = []
    for name, phone, tier, points, balance, coupon in DEMO_MEMBERS:
        with db.read() as conn:
            row = members.find_by_phone(conn, cipher, phone)
        if row is None:
            number = members.add_member(
                db, keys, actor, name=name, phone=phone, tier=tier, consent_version="demo"
            ).number
            if points or balance:
                members.adjust_member(
                    db,
                    keys,
                    actor,
                    number,
                    reason="demo opening",
                    points=points,
                    balance_fen=balance,
                )
            if coupon is not None:
                members.issue_coupon(
                    db,
                    actor,
                    number,
                    name=coupon[0],
                    value_fen=coupon[1],
                    min_spend_fen=coupon[2],
                    valid_until=datetime.now(UTC) + timedelta(days=365),
                )
        else:
            number = str(row.number)
        code = members.member_code(db, keys, actor, number, card=True).code
        out.append(DemoMember(name, number, phone, code))
    return out
