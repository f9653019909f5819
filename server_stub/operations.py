"""What HQ staff do: stores, staff, devices, catalogue, prices, stock, settings.

The admin CLI and the admin HTTP API both call these functions, so the two can never
disagree. Each runs in its own write transaction, appends the changes terminals need to
the feed and its entry to the audit trail (:mod:`server_stub.audit`, as ``actor``) in
that same transaction. Refusals are :class:`server_stub.errors.ApiError` (the CLI prints
their detail).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from server_stub import auth, device_secrets, feed
from server_stub import models as m
from server_stub.audit import SYSTEM, Actor, audit_row, write_audit
from server_stub.db import REVOKE_CHANNEL, Database, RetryableWrite, WriteTx
from server_stub.errors import ApiError, unauthorised
from server_stub.member_keys import MemberKeys
from server_stub.schemas import (
    CatalogImportOut,
    DeviceOut,
    EnrollCodeOut,
    ItemIn,
    StaffIn,
)
from server_stub.stock import move_row, settle, stock_change
from sync_client.contract import protocol as p
from sync_client.contract import settings as settings_schema
from sync_client.contract.errors import ChainPosError
from sync_client.contract.money import parse_yuan
from sync_client.contract.pin import hash_pin

# A price published "now" may be up to this far in the past (clock skew of the caller).
PAST_TOLERANCE = timedelta(minutes=1)


def _now() -> datetime:
    return datetime.now(UTC)


def _upsert(conn: Any) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _audit(
    tx: WriteTx,
    actor: Actor,
    action: str,
    detail: dict[str, Any],
    now: datetime,
    store: str | None = None,
) -> None:
    write_audit(tx.conn, [audit_row(actor, action, None, detail, now, store)])


def _require_store(tx: WriteTx, code: str) -> None:
    found = tx.conn.execute(select(m.stores.c.code).where(m.stores.c.code == code)).first()
    if found is None:
        raise ApiError(404, "unknown_store", f"no store {code}")


def _require_item(tx: WriteTx, sku: str) -> str:
    unit = tx.conn.execute(select(m.items.c.unit).where(m.items.c.sku == sku)).scalar()
    if unit is None:
        raise ApiError(404, "unknown_sku", f"no item {sku}")
    return str(unit)


# -- stores and settings ----------------------------------------------------------------


def store_data(row: Any) -> p.StoreData:
    """The feed form of a ``stores`` row."""
    return p.StoreData(
        code=row.code,
        name=row.name,
        active=row.active,
        region=row.region or "",
        latitude=row.latitude,
        longitude=row.longitude,
    )


def add_store(
    db: Database,
    code: str,
    name: str,
    *,
    region: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    actor: Actor = SYSTEM,
) -> p.StoreData:
    """Creates a store and announces it to every terminal."""
    if (latitude is None) != (longitude is None):
        raise ApiError(422, "invalid_value", "give both latitude and longitude, or neither")
    data = p.StoreData(
        code=code, name=name, active=True, region=region, latitude=latitude, longitude=longitude
    )

    def run(tx: WriteTx) -> p.StoreData:
        now = _now()
        try:
            with tx.conn.begin_nested():
                tx.conn.execute(
                    insert(m.stores).values(
                        code=code,
                        name=name,
                        active=True,
                        created_at=now,
                        region=region,
                        latitude=latitude,
                        longitude=longitude,
                    )
                )
        except IntegrityError:
            raise ApiError(409, "store_exists", f"store {code} already exists") from None
        _audit(tx, actor, "store.add", {"name": name}, now, code)
        feed.append(tx, [feed.Pending("store", code, None, data)], now)
        return data

    return db.run_write(run)


def update_store(
    db: Database,
    code: str,
    *,
    name: str | None = None,
    region: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    clear_location: bool = False,
    actor: Actor = SYSTEM,
) -> p.StoreData:
    """Changes a store's name, region or coordinates and announces it to every terminal."""
    if (latitude is None) != (longitude is None):
        raise ApiError(422, "invalid_value", "give both latitude and longitude, or neither")
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = name
    if region is not None:
        values["region"] = region
    if latitude is not None:
        values.update(latitude=latitude, longitude=longitude)
    elif clear_location:
        values.update(latitude=None, longitude=None)
    if not values:
        raise ApiError(422, "nothing_to_change", "give a name, region or coordinates")

    def run(tx: WriteTx) -> p.StoreData:
        now = _now()
        _require_store(tx, code)
        tx.conn.execute(update(m.stores).where(m.stores.c.code == code).values(values))
        row = tx.conn.execute(select(m.stores).where(m.stores.c.code == code)).one()
        data = store_data(row)
        _audit(tx, actor, "store.update", {k: v for k, v in values.items()}, now, code)
        feed.append(tx, [feed.Pending("store", code, None, data)], now)
        return data

    return db.run_write(run)


def set_store_region(
    db: Database, code: str, region: str | None, *, actor: Actor = SYSTEM
) -> p.StoreData:
    """Puts a store in a region (None: in none). Regions scope the HQ console's regional
    managers and region-wide prices, and order other stores on the tills' stock screen."""
    return update_store(db, code, region=region or "", actor=actor)


def region_stores(db: Database, region: str) -> list[str]:
    """The codes of the active stores of ``region``.

    Raises:
        ApiError: 404 ``unknown_region`` when no store is in it.
    """
    with db.read() as conn:
        codes = list(
            conn.execute(
                select(m.stores.c.code)
                .where(m.stores.c.region == region, m.stores.c.active.is_(True))
                .order_by(m.stores.c.code)
            ).scalars()
        )
    if not codes:
        raise ApiError(404, "unknown_region", f"no store in region {region}")
    return codes


def set_config(
    db: Database, store: str | None, key: str, value: p.ConfigValue, *, actor: Actor = SYSTEM
) -> p.ConfigData:
    """Sets (or with ``value`` None removes) a setting, chain-wide or for one store.

    The value is checked against the settings schema (:mod:`sync_client.contract.settings`):
    422 ``unknown_setting`` for a key no till reads, 422 ``bad_setting`` for a value the
    key does not accept, so a bad value never reaches the tills."""
    try:
        value = settings_schema.validate(key, value)
    except ChainPosError as exc:
        raise ApiError.of(422, exc) from None
    data = p.ConfigData(store=store, key=key, value=value)
    scope = store or "*"

    def run(tx: WriteTx) -> p.ConfigData:
        now = _now()
        if store is not None:
            _require_store(tx, store)
        tx.conn.execute(delete(m.config).where(m.config.c.scope == scope, m.config.c.key == key))
        if value is not None:
            tx.conn.execute(
                insert(m.config).values(
                    scope=scope, key=key, value_json=json.dumps(value), updated_at=now
                )
            )
        _audit(tx, actor, "config.set", {"key": key, "value": value}, now, store)
        feed.append(tx, [feed.Pending("config", f"{scope}:{key}", store, data)], now)
        return data

    return db.run_write(run)


# -- staff ------------------------------------------------------------------------------


def add_staff(db: Database, staff: StaffIn, *, actor: Actor = SYSTEM) -> p.StaffData:
    """Creates a staff member with a scrypt PIN hash and ships it to their store."""
    if staff.store is None and staff.role != "hq_admin":
        raise ApiError(422, "store_required", "only hq_admin staff may be chain-wide")
    data = p.StaffData(
        number=staff.number,
        store=staff.store,
        name=staff.name,
        role=staff.role,
        pin_hash=hash_pin(staff.pin),
        active=True,
    )

    def run(tx: WriteTx) -> p.StaffData:
        now = _now()
        if staff.store is not None:
            _require_store(tx, staff.store)
        try:
            with tx.conn.begin_nested():
                tx.conn.execute(
                    insert(m.staff).values(
                        number=data.number,
                        store_code=data.store,
                        name=data.name,
                        role=data.role,
                        pin_hash=data.pin_hash,
                        active=True,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise ApiError(409, "staff_exists", f"staff number {staff.number} exists") from None
        detail = {"number": data.number, "name": data.name, "role": data.role}
        _audit(tx, actor, "staff.add", detail, now, data.store)
        if data.role != "hq_admin":  # HQ admins never sign in at a till: not shipped
            feed.append(tx, [feed.Pending("staff", data.number, data.store, data)], now)
        return data

    return db.run_write(run)


def update_staff(
    db: Database,
    number: str,
    *,
    pin: str | None = None,
    active: bool | None = None,
    actor: Actor = SYSTEM,
) -> p.StaffData:
    """Changes a staff member's PIN or active flag. Deactivating records when
    (``deactivated_at``): events a till made offline before that moment still name an
    active staff member (:func:`server_stub.approvals.check_staff`)."""

    def run(tx: WriteTx) -> p.StaffData:
        now = _now()
        row = tx.conn.execute(select(m.staff).where(m.staff.c.number == number)).first()
        if row is None:
            raise ApiError(404, "unknown_staff", f"no staff number {number}")
        values: dict[str, Any] = {"updated_at": now}
        if pin is not None:
            if not re.fullmatch(r"[0-9]{4,8}", pin):
                raise ApiError(422, "bad_pin", "a PIN is 4 to 8 digits")
            values["pin_hash"] = hash_pin(pin)
        if active is not None:
            values["active"] = active
            if not active and row.active:
                values["deactivated_at"] = now
            elif active:
                values["deactivated_at"] = None
        tx.conn.execute(update(m.staff).where(m.staff.c.number == number).values(values))
        data = p.StaffData(
            number=number,
            store=row.store_code,
            name=row.name,
            role=row.role,
            pin_hash=values.get("pin_hash", row.pin_hash),
            active=values.get("active", row.active),
        )
        detail: dict[str, Any] = {"number": number, "pin_reset": pin is not None}
        if active is not None:
            detail["active"] = active
        _audit(tx, actor, "staff.update", detail, now, data.store)
        if data.role != "hq_admin":
            feed.append(tx, [feed.Pending("staff", number, data.store, data)], now)
        return data

    return db.run_write(run)


# -- devices ----------------------------------------------------------------------------


def create_enroll_code(
    db: Database,
    store: str,
    ttl_hours: int = 24,
    hq_url: str | None = None,
    *,
    actor: Actor = SYSTEM,
) -> EnrollCodeOut:
    """A one-time code (and its QR payload) that lets one terminal join ``store``."""
    code = auth.new_enroll_code()

    def run(tx: WriteTx) -> EnrollCodeOut:
        now = _now()
        _require_store(tx, store)
        expires = now + timedelta(hours=ttl_hours)
        tx.conn.execute(
            insert(m.enroll_codes).values(
                code_hash=auth.enroll_code_hash(code),
                store_code=store,
                created_at=now,
                expires_at=expires,
            )
        )
        _audit(tx, actor, "device.enroll_code", {"expires_at": expires.isoformat()}, now, store)
        qr = json.dumps(
            {"chainpos": "enroll", "v": 1, "hq": hq_url, "store": store, "code": code},
            separators=(",", ":"),
        )
        return EnrollCodeOut(code=code, store=store, expires_at=expires, qr_payload=qr)

    return db.run_write(run)


_DEVICE_NO = re.compile(r"-T(\d+)$")


def enroll(db: Database, keys: MemberKeys, request: p.EnrollRequest) -> p.EnrollResponse:
    """Turns a one-time code into a device identity, token and receipt secret (stored
    sealed under ``keys``, :mod:`server_stub.device_secrets`).

    Raises:
        ApiError: 401 for an unknown, used or expired code; 403 if the code is for
            another store.
    """
    token = auth.new_token(auth.DEVICE_TOKEN_PREFIX)
    raw_secret = secrets.token_bytes(32)
    secret = base64.b64encode(raw_secret).decode("ascii")

    def run(tx: WriteTx) -> p.EnrollResponse:
        now = _now()
        conn = tx.conn
        code_hash = auth.enroll_code_hash(request.code)
        row = conn.execute(
            select(m.enroll_codes).where(m.enroll_codes.c.code_hash == code_hash)
        ).first()
        if row is None:
            raise unauthorised("enroll_code_invalid", "unknown enrolment code")
        if row.used_at is not None:
            raise unauthorised("enroll_code_used", "this enrolment code was already used")
        if row.expires_at <= now:
            raise unauthorised("enroll_code_expired", "this enrolment code has expired")
        if row.store_code != request.store:
            raise ApiError(403, "wrong_store", f"this code is not for store {request.store}")
        taken = conn.execute(
            select(m.devices.c.id).where(m.devices.c.store_code == request.store)
        ).scalars()
        numbers = [int(mt.group(1)) for d in taken if (mt := _DEVICE_NO.search(d))]
        device_id = f"{request.store}-T{max(numbers, default=0) + 1:02d}"
        used = conn.execute(
            update(m.enroll_codes)
            .where(m.enroll_codes.c.code_hash == code_hash, m.enroll_codes.c.used_at.is_(None))
            .values(used_at=now, device_id=device_id)
        ).rowcount
        if used != 1:
            raise RetryableWrite("enrolment code used concurrently")
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(m.devices).values(
                        id=device_id,
                        store_code=request.store,
                        name=request.device_name,
                        token_hash=auth.token_hash(token),
                        receipt_secret=device_secrets.seal(keys, device_id, raw_secret),
                        created_at=now,
                    )
                )
        except IntegrityError:
            raise RetryableWrite("device number taken concurrently") from None
        _audit(
            tx,
            Actor(f"device:{device_id}", request.store),
            "device.enrolled",
            {"name": request.device_name},
            now,
        )
        return p.EnrollResponse(
            device_id=device_id,
            store=request.store,
            token=token,
            receipt_secret=secret,
            hq_time=now,
        )

    return db.run_write(run)


def _device_out(row: Any) -> DeviceOut:
    return DeviceOut(
        device_id=row.id,
        store=row.store_code,
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_seen_at=row.last_seen_at,
    )


def revoke_device(db: Database, device_id: str, *, actor: Actor = SYSTEM) -> DeviceOut:
    """Revokes a device's token: every later call gets 401 and open live channels close."""

    def run(tx: WriteTx) -> DeviceOut:
        now = _now()
        tx.conn.execute(
            update(m.devices)
            .where(m.devices.c.id == device_id, m.devices.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        row = tx.conn.execute(select(m.devices).where(m.devices.c.id == device_id)).first()
        if row is None:
            raise ApiError(404, "unknown_device", f"no device {device_id}")
        _audit(tx, actor, "device.revoke", {"device": device_id}, now, row.store_code)
        return _device_out(row)

    out = db.run_write(run)
    db.signal(REVOKE_CHANNEL, device_id)
    return out


def list_devices(db: Database, store: str | None = None) -> list[DeviceOut]:
    """Devices, optionally of one store, in id order."""
    q = select(m.devices).order_by(m.devices.c.id)
    if store:
        q = q.where(m.devices.c.store_code == store)
    with db.read() as conn:
        return [_device_out(r) for r in conn.execute(q)]


def create_admin_token(
    db: Database, name: str, days: int | None = 90, *, actor: Actor = SYSTEM
) -> str:
    """A new admin API token (role hq_admin), shown once."""
    token = auth.new_token(auth.ADMIN_TOKEN_PREFIX)

    def run(tx: WriteTx) -> str:
        now = _now()
        try:
            with tx.conn.begin_nested():
                tx.conn.execute(
                    insert(m.admin_tokens).values(
                        name=name,
                        token_hash=auth.token_hash(token),
                        created_at=now,
                        expires_at=now + timedelta(days=days) if days else None,
                    )
                )
        except IntegrityError:
            raise ApiError(409, "token_exists", f"an admin token named {name!r} exists") from None
        _audit(tx, actor, "token.create", {"name": name, "days": days}, now)
        return token

    return db.run_write(run)


def revoke_admin_token(db: Database, name: str, *, actor: Actor = SYSTEM) -> None:
    """Revokes an admin token by name."""

    def run(tx: WriteTx) -> None:
        now = _now()
        done = tx.conn.execute(
            update(m.admin_tokens)
            .where(m.admin_tokens.c.name == name, m.admin_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
        if done != 1:
            raise ApiError(404, "unknown_token", f"no active admin token named {name!r}")
        _audit(tx, actor, "token.revoke", {"name": name}, now)

    db.run_write(run)


# -- catalogue and prices ---------------------------------------------------------------


class CatalogError(ApiError):
    """Rows of an import that cannot be taken; nothing was imported."""

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:20]) + (
            f" (+{len(problems) - 20} more)" if len(problems) > 20 else ""
        )
        super().__init__(422, "catalog_invalid", shown)
        self.problems = problems


CSV_COLUMNS = ("sku", "name_zh", "name_en", "unit", "barcodes", "category", "active", "price")


def parse_catalog_csv(text: str) -> list[ItemIn]:
    """Reads a catalogue CSV (header row; columns :data:`CSV_COLUMNS`, the last four
    optional). ``barcodes`` are separated by ``|``; ``price`` is in yuan; ``active`` is
    1/0/true/false.

    Raises:
        CatalogError: listing every bad row (nothing is imported then).
    """
    try:
        return _parse_catalog_rows(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:  # e.g. a lone carriage return inside an unquoted field
        raise CatalogError([f"not a readable CSV file: {exc}"]) from None


def _parse_catalog_rows(reader: csv.DictReader[str]) -> list[ItemIn]:
    missing = {"sku", "name_zh", "unit"} - set(reader.fieldnames or ())
    if missing:
        raise CatalogError([f"header lacks column(s): {', '.join(sorted(missing))}"])
    unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
    if unknown:
        raise CatalogError([f"unknown column(s): {', '.join(sorted(unknown))}"])
    items: list[ItemIn] = []
    problems: list[str] = []
    for line_no, row in enumerate(reader, start=2):
        try:
            price = row.get("price") or ""
            active = (row.get("active") or "1").strip().lower()
            if active not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(f"active must be 1 or 0, not {active!r}")
            items.append(
                ItemIn(
                    sku=(row.get("sku") or "").strip(),
                    name_zh=(row.get("name_zh") or "").strip(),
                    name_en=(row.get("name_en") or "").strip(),
                    unit=(row.get("unit") or "").strip(),  # type: ignore[arg-type]
                    barcodes=[
                        b.strip() for b in (row.get("barcodes") or "").split("|") if b.strip()
                    ],
                    category=(row.get("category") or "").strip(),
                    active=active in ("1", "true", "yes"),
                    price_fen=parse_yuan(price) if price.strip() else None,
                )
            )
        except ValidationError as exc:
            msgs = ", ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            problems.append(f"line {line_no}: {msgs}")
        except ValueError as exc:
            problems.append(f"line {line_no}: {exc}")
    if problems:
        raise CatalogError(problems)
    return items


def import_catalog(db: Database, items: list[ItemIn], *, actor: Actor = SYSTEM) -> CatalogImportOut:
    """Creates or updates items (and chain-wide prices) atomically: all rows or none.

    Raises:
        CatalogError: duplicate skus, or a barcode claimed by two items.
    """
    problems: list[str] = []
    by_sku: dict[str, ItemIn] = {}
    for it in items:
        if it.sku in by_sku:
            problems.append(f"sku {it.sku} appears twice")
        by_sku[it.sku] = it
    claimed: dict[str, str] = {}
    for it in items:
        for code in it.barcodes:
            other = claimed.setdefault(code, it.sku)
            if other != it.sku:
                problems.append(f"barcode {code} given to both {other} and {it.sku}")
    if problems:
        raise CatalogError(problems)

    def run(tx: WriteTx) -> CatalogImportOut:
        conn = tx.conn
        now = _now()
        skus = list(by_sku)
        existing: dict[str, p.ItemData] = {}
        barcodes_of: dict[str, list[str]] = {}
        for chunk in _chunks(skus, 1000):
            for r in conn.execute(
                select(m.item_barcodes.c.sku, m.item_barcodes.c.barcode)
                .where(m.item_barcodes.c.sku.in_(chunk))
                .order_by(m.item_barcodes.c.barcode)
            ):
                barcodes_of.setdefault(r.sku, []).append(r.barcode)
            for r in conn.execute(select(m.items).where(m.items.c.sku.in_(chunk))):
                existing[r.sku] = p.ItemData(
                    sku=r.sku,
                    name_zh=r.name_zh,
                    name_en=r.name_en,
                    unit=r.unit,
                    barcodes=barcodes_of.get(r.sku, []),
                    category=r.category,
                    active=r.active,
                )
        owners: dict[str, str] = {}
        for chunk in _chunks(list(claimed), 1000):
            for r in conn.execute(
                select(m.item_barcodes.c.barcode, m.item_barcodes.c.sku).where(
                    m.item_barcodes.c.barcode.in_(chunk)
                )
            ):
                owners[r.barcode] = r.sku
        clashes = [
            f"barcode {code} belongs to {owners[code]}, not {sku}"
            for code, sku in claimed.items()
            if code in owners and owners[code] != sku and owners[code] not in by_sku
        ]
        if clashes:
            raise CatalogError(clashes)
        changed: list[p.ItemData] = []
        created = updated = 0
        for it in items:
            data = p.ItemData(
                sku=it.sku,
                name_zh=it.name_zh,
                name_en=it.name_en,
                unit=it.unit,
                barcodes=sorted(set(it.barcodes)),
                category=it.category,
                active=it.active,
            )
            old = existing.get(it.sku)
            if old is None:
                created += 1
            elif old.model_copy(update={"barcodes": sorted(old.barcodes)}) != data:
                updated += 1
            else:
                continue
            changed.append(data)
        changes: list[feed.Pending] = []
        if changed:
            # Barcodes move first so that one passed from item A to item B never collides.
            for chunk in _chunks([d.sku for d in changed], 1000):
                conn.execute(delete(m.item_barcodes).where(m.item_barcodes.c.sku.in_(chunk)))
            ins = _upsert(conn)(m.items)
            stmt = ins.on_conflict_do_update(
                index_elements=[m.items.c.sku],
                set_={
                    c: getattr(ins.excluded, c)
                    for c in ("name_zh", "name_en", "unit", "category", "active", "updated_at")
                },
            )
            conn.execute(
                stmt,
                [
                    {
                        "sku": d.sku,
                        "name_zh": d.name_zh,
                        "name_en": d.name_en,
                        "unit": d.unit,
                        "category": d.category,
                        "active": d.active,
                        "updated_at": now,
                    }
                    for d in changed
                ],
            )
            rows = [{"barcode": b, "sku": d.sku} for d in changed for b in d.barcodes]
            if rows:
                conn.execute(insert(m.item_barcodes), rows)
            changes.extend(feed.Pending("item", d.sku, None, d) for d in changed)
        priced = {it.sku: it.price_fen for it in items if it.price_fen is not None}
        current = _chain_prices_in_effect(tx, list(priced), now)
        new_prices = [(sku, fen) for sku, fen in priced.items() if current.get(sku) != fen]
        if new_prices:
            versions = _insert_prices(tx, [(sku, fen, now, None) for sku, fen in new_prices], now)
            changes.extend(feed.Pending("price", str(v.version), None, v) for v in versions)
        out = CatalogImportOut(
            created=created,
            updated=updated,
            unchanged=len(items) - created - updated,
            prices=len(new_prices),
        )
        _audit(tx, actor, "catalog.import", {"rows": len(items), **out.model_dump()}, now)
        feed.append(tx, changes, now)
        return out

    return db.run_write(run)


def _chunks(values: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _chain_prices_in_effect(tx: WriteTx, skus: list[str], at: datetime) -> dict[str, int]:
    pv = m.price_versions
    out: dict[str, tuple[datetime, int, int]] = {}
    for chunk in _chunks(skus, 1000):
        rows = tx.conn.execute(
            select(pv.c.sku, pv.c.id, pv.c.price_fen, pv.c.effective_at).where(
                pv.c.sku.in_(chunk), pv.c.store_code.is_(None), pv.c.effective_at <= at
            )
        )
        for r in rows:
            best = out.get(r.sku)
            if best is None or (r.effective_at, r.id) > (best[0], best[1]):
                out[r.sku] = (r.effective_at, r.id, r.price_fen)
    return {sku: v[2] for sku, v in out.items()}


def _insert_prices(
    tx: WriteTx, rows: list[tuple[str, int, datetime, str | None]], now: datetime
) -> list[p.PriceData]:
    pv = m.price_versions
    result = tx.conn.execute(
        insert(pv).returning(pv.c.id, sort_by_parameter_order=True),
        [
            {
                "sku": sku,
                "price_fen": fen,
                "effective_at": eff,
                "store_code": store,
                "created_at": now,
            }
            for sku, fen, eff, store in rows
        ],
    )
    ids = [int(r.id) for r in result]
    return [
        p.PriceData(version=vid, sku=sku, price_fen=fen, effective_at=eff, store=store)
        for vid, (sku, fen, eff, store) in zip(ids, rows, strict=True)
    ]


def set_price(
    db: Database,
    sku: str,
    price_fen: int,
    effective_at: datetime | None = None,
    stores: list[str] | None = None,
    *,
    actor: Actor = SYSTEM,
) -> list[p.PriceData]:
    """Publishes a price version, chain-wide or one per listed store.

    Published ahead of time, it reaches terminals now and they switch at ``effective_at``.

    Raises:
        ApiError: unknown item or store (404), ``effective_at`` in the past (422).
    """
    if effective_at is not None and effective_at.tzinfo is None:
        raise ApiError(422, "naive_time", "effective_at needs a UTC offset, e.g. +08:00")

    def run(tx: WriteTx) -> list[p.PriceData]:
        now = _now()
        eff = effective_at or now
        if eff < now - PAST_TOLERANCE:
            raise ApiError(422, "effective_in_past", f"effective_at {eff.isoformat()} is past")
        _require_item(tx, sku)
        scopes: list[str | None] = list(dict.fromkeys(stores)) if stores else [None]
        for store in scopes:
            if store is not None:
                _require_store(tx, store)
        versions = _insert_prices(tx, [(sku, price_fen, eff, s) for s in scopes], now)
        for v in versions:
            detail = {
                "sku": sku,
                "price_fen": price_fen,
                "effective_at": eff.isoformat(),
                "version": v.version,
            }
            _audit(tx, actor, "price.set", detail, now, v.store)
        feed.append(tx, [feed.Pending("price", str(v.version), v.store, v) for v in versions], now)
        return versions

    return db.run_write(run)


def cancel_price(db: Database, version: int, *, actor: Actor = SYSTEM) -> p.PriceData:
    """Cancels a price version published ahead of time, before its moment.

    Terminals hold every future version they were sent and have no way to drop one, so
    the cancellation is itself a version: same item, same scope, same ``effective_at``, and
    the price that would apply there without the cancelled one — in its scope, else (for
    a store) the chain-wide one. Being newer, it wins the tie at that moment on every
    terminal and in every snapshot. For a store with no earlier price of its own this
    pins the store to the chain price of that moment (a later chain-wide change then
    needs a store price too).

    Returns:
        The superseding version.

    Raises:
        ApiError: 404 ``unknown_price``; 409 ``price_not_scheduled`` when the version is
            already in effect or already cancelled; 409 ``price_cancel_impossible`` when
            no earlier price exists to fall back to.
    """
    pv, pc = m.price_versions, m.price_cancellations

    def run(tx: WriteTx) -> p.PriceData:
        now = _now()
        conn = tx.conn
        row = conn.execute(select(pv).where(pv.c.id == version)).first()
        if row is None:
            raise ApiError(404, "unknown_price", f"no price version {version}")
        cancelled = conn.execute(select(pc.c.version).where(pc.c.version == version)).first()
        if row.effective_at <= now or cancelled is not None:
            raise ApiError(409, "price_not_scheduled", f"version {version} is not scheduled")
        gone = select(pc.c.version)
        fallback = None
        scopes = [row.store_code] + ([None] if row.store_code is not None else [])
        for scope in scopes:
            fallback = conn.execute(
                select(pv.c.price_fen)
                .where(
                    pv.c.sku == row.sku,
                    pv.c.store_code.is_(None) if scope is None else pv.c.store_code == scope,
                    pv.c.effective_at <= row.effective_at,
                    pv.c.id != version,
                    pv.c.id.not_in(gone),
                )
                .order_by(pv.c.effective_at.desc(), pv.c.id.desc())
                .limit(1)
            ).scalar()
            if fallback is not None:
                break
        if fallback is None:
            raise ApiError(
                409, "price_cancel_impossible", f"no earlier price of {row.sku} to go back to"
            )
        (new,) = _insert_prices(
            tx, [(row.sku, int(fallback), row.effective_at, row.store_code)], now
        )
        conn.execute(
            insert(pc).values(
                version=version, superseded_by=new.version, actor=actor.name[:80], cancelled_at=now
            )
        )
        detail = {"sku": row.sku, "version": version, "superseded_by": new.version}
        _audit(tx, actor, "price.cancel", detail, now, row.store_code)
        feed.append(tx, [feed.Pending("price", str(new.version), new.store, new)], now)
        return new

    return db.run_write(run)


# -- stock ------------------------------------------------------------------------------


def parse_qty(text: str, unit: str) -> int:
    """A quantity typed by staff -> thousandths: whole pieces, or kg with up to 3 decimals."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not a quantity: {text!r}") from None
    milli = value * 1000
    if not value.is_finite() or milli != milli.to_integral_value():
        raise ValueError(f"at most 3 decimals: {text!r}")
    if unit == "piece" and value != value.to_integral_value():
        raise ValueError(f"pieces are counted whole: {text!r}")
    return int(milli)


def item_unit(db: Database, sku: str) -> str:
    """The unit of an item ("piece" or "kg")."""
    with db.read() as conn:
        unit = conn.execute(select(m.items.c.unit).where(m.items.c.sku == sku)).scalar()
    if unit is None:
        raise ApiError(404, "unknown_sku", f"no item {sku}")
    return str(unit)


def move_stock(
    db: Database,
    kind: str,
    store: str,
    sku: str,
    qty_milli: int,
    reason: str,
    *,
    actor: Actor = SYSTEM,
) -> p.StockData:
    """Records goods received (``kind="receive"``, qty > 0) or a correction
    (``"adjust"``, signed) in the ledger and the store's level."""
    if kind == "receive" and qty_milli <= 0:
        raise ApiError(422, "bad_quantity", "a receipt adds a positive quantity")
    if kind == "adjust" and qty_milli == 0:
        raise ApiError(422, "bad_quantity", "an adjustment of zero changes nothing")

    def run(tx: WriteTx) -> p.StockData:
        now = _now()
        _require_store(tx, store)
        _require_item(tx, sku)
        tx.conn.execute(
            insert(m.stock_moves).values(
                move_row(store, sku, qty_milli, kind, None, now, now, note=reason)
            )
        )
        settled = settle(tx.conn, {(store, sku): (False, qty_milli)}, now)
        on_hand, reserved = settled.levels[(store, sku)]
        detail = {"sku": sku, "qty_milli": qty_milli, "reason": reason, "on_hand_milli": on_hand}
        _audit(tx, actor, f"stock.{kind}", detail, now, store)
        feed.append(tx, settled.changes, now)
        change = stock_change(store, sku, on_hand, reserved, now)
        assert isinstance(change.data, p.StockData)
        return change.data

    return db.run_write(run)


def prune_feed(db: Database, older_than: timedelta) -> int:
    """Deletes feed changes older than ``older_than``; returns how many."""
    return db.run_write(lambda tx: feed.prune(tx, older_than))
