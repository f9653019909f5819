"""``chainpos-hq``: run HQ and push changes to the chain from a shell.

Every command takes ``--db URL`` (default: ``$CHAINPOS_HQ_DB``, else a SQLite file in
the user's data directory) and brings the schema up to date before it runs. Refusals
print ``error: ...`` on stderr and exit with status 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import logging
import os
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from server_stub import (
    audit,
    channel_load,
    counts,
    members,
    menu,
    operations,
    ops_pages,
    promotions,
    queries,
    reservations,
    returns,
    shifts,
    stock_alerts,
    transfers,
)
from server_stub.db import Database, default_sqlite_url, migrate
from server_stub.errors import ApiError
from server_stub.live import LiveSettings
from server_stub.member_keys import KeysError, MemberKeys, resolve_keys
from server_stub.schemas import MemberDetail, StaffIn
from server_stub.settings import Settings
from sync_client.contract.money import format_yuan, parse_yuan


def _db_url(args: argparse.Namespace) -> str:
    return args.db or os.environ.get("CHAINPOS_HQ_DB") or default_sqlite_url()


def _open(args: argparse.Namespace) -> Database:
    """The command's database, migrated; :func:`main` closes it when the command ends."""
    db = Database(_db_url(args), pool_size=2)
    args.opened.append(db)
    migrate(db)
    return db


def _keys(args: argparse.Namespace) -> MemberKeys:
    """The member keys for this database (``--keys``, ``$CHAINPOS_HQ_KEYS``, or beside a
    SQLite file)."""
    return resolve_keys(_db_url(args), args.keys)


def _actor() -> members.Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return members.Actor(f"cli:{user}")


def _when(text: str) -> datetime:
    """ISO 8601 with a UTC offset (``2025-06-01T14:00+08:00`` or ``...Z``)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a UTC offset, e.g. {text}+08:00")
    return value.astimezone(UTC)


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


# -- commands ---------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server_stub import server
    from server_stub.app import create_app

    if (args.tls_cert is None) != (args.tls_key is None):
        print("error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings(
        db_url=_db_url(args),
        host=args.host,
        port=args.port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        hq_url=args.hq_url,
        live=LiveSettings(heartbeat_s=args.heartbeat, queue_size=args.live_queue),
        member_keys=_keys(args),
        hold_sweep_s=args.hold_sweep_s,
        phone_lookups_per_minute=args.phone_lookups_per_minute,
        ops_pages=args.ops_pages,
    )
    plaintext = server.plaintext_warning(settings)
    if plaintext is not None:
        banner = "!" * 78
        print(f"{banner}\n{plaintext}\n{banner}", file=sys.stderr, flush=True)
        logging.getLogger("chainpos.hq").warning("%s", plaintext)
    db = Database(settings.db_url, pool_size=args.pool_size)
    migrate(db)
    try:
        sock = server.bind(settings)
    except OSError:
        db.dispose()
        raise
    port = sock.getsockname()[1]
    # The access log is chosen when the Config is made: it sets up uvicorn's loggers then.
    config = server.uvicorn_config(
        create_app(settings, db), settings, args.log_level.lower(), access_log=args.access_log
    )
    scheme = "https" if settings.tls_cert else "http"
    print(f"chainpos-hq listening on {scheme}://{settings.host}:{port} ({db.backend})", flush=True)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        db.dispose()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    _open(args)
    print("schema is up to date")
    return 0


def _where(s: Any) -> str:
    place = f"{s.latitude:.5f},{s.longitude:.5f}" if s.latitude is not None else "-"
    return f"{s.region or '-'}\t{place}"


def cmd_store_add(args: argparse.Namespace) -> int:
    store = operations.add_store(
        _open(args),
        args.code,
        args.name,
        region=args.region or "",
        latitude=args.lat,
        longitude=args.lon,
        actor=_actor(),
    )
    print(f"store {store.code} {store.name} added ({_where(store)})")
    return 0


def cmd_store_set(args: argparse.Namespace) -> int:
    store = operations.update_store(
        _open(args),
        args.code,
        name=args.name,
        region=args.region,
        latitude=args.lat,
        longitude=args.lon,
        clear_location=args.clear_location,
        actor=_actor(),
    )
    print(f"store {store.code} {store.name}: {_where(store)}")
    return 0


def cmd_store_region(args: argparse.Namespace) -> int:
    operations.set_store_region(_open(args), args.code, args.region or None)
    print(f"store {args.code}: region {args.region or '-'}")
    return 0


def _console_password(args: argparse.Namespace) -> str:
    if args.password:
        return str(args.password)
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ApiError(422, "invalid_value", "the two passwords differ")
    return first


def _print_console_user(u: Any) -> None:
    scope = u.store or u.region or "*"
    flags = ("" if u.active else " disabled") + (" totp" if u.totp else "")
    print(f"{u.username}\t{u.role}\t{scope}\t{u.display_name}{flags}")


def cmd_console_user_add(args: argparse.Namespace) -> int:
    from server_stub.console import users

    user = users.add_user(
        _open(args),
        _actor(),
        username=args.username,
        display_name=args.name or args.username,
        password=_console_password(args),
        role=args.role,
        region=args.region,
        store=args.store,
    )
    _print_console_user(user)
    return 0


def cmd_console_user_passwd(args: argparse.Namespace) -> int:
    from server_stub.console import users

    users.set_password(_open(args), _actor(), args.username, _console_password(args))
    print(f"{args.username}: password set; sessions ended")
    return 0


def cmd_console_user_disable(args: argparse.Namespace) -> int:
    from server_stub.console import users

    users.set_active(_open(args), _actor(), args.username, args.active)
    print(f"{args.username}: {'enabled' if args.active else 'disabled'}")
    return 0


def cmd_console_user_list(args: argparse.Namespace) -> int:
    from server_stub.console import users

    for user in users.list_users(_open(args)):
        _print_console_user(user)
    return 0


def cmd_store_list(args: argparse.Namespace) -> int:
    with _open(args).read() as conn:
        for s in queries.list_stores(conn):
            print(f"{s.code}\t{s.name}\t{'active' if s.active else 'inactive'}\t{_where(s)}")
    return 0


def cmd_config_set(args: argparse.Namespace) -> int:
    try:
        value = json.loads(args.value)
    except json.JSONDecodeError:
        value = args.value
    if isinstance(value, (list, dict, float)):
        print("error: a setting is text, a whole number, true/false or null", file=sys.stderr)
        return 1
    data = operations.set_config(_open(args), args.store, args.key, value, actor=_actor())
    print(f"{data.store or 'chain'}: {data.key} = {json.dumps(data.value, ensure_ascii=False)}")
    return 0


def cmd_staff_add(args: argparse.Namespace) -> int:
    pin = args.pin if args.pin is not None else getpass.getpass("PIN: ")
    staff = StaffIn(number=args.number, store=args.store, name=args.name, role=args.role, pin=pin)
    data = operations.add_staff(_open(args), staff, actor=_actor())
    print(f"staff {data.number} {data.name} ({data.role}) added to {data.store or 'HQ'}")
    return 0


def cmd_staff_list(args: argparse.Namespace) -> int:
    with _open(args).read() as conn:
        for s in queries.list_staff(conn, args.store):
            state = "active" if s.active else "inactive"
            print(f"{s.number}\t{s.store or 'HQ'}\t{s.name}\t{s.role}\t{state}")
    return 0


def cmd_staff_set_pin(args: argparse.Namespace) -> int:
    pin = args.pin if args.pin is not None else getpass.getpass("new PIN: ")
    operations.update_staff(_open(args), args.number, pin=pin, actor=_actor())
    print(f"PIN of {args.number} changed")
    return 0


def cmd_staff_active(args: argparse.Namespace) -> int:
    operations.update_staff(_open(args), args.number, active=args.active, actor=_actor())
    print(f"staff {args.number} {'enabled' if args.active else 'disabled'}")
    return 0


def cmd_enroll_code(args: argparse.Namespace) -> int:
    import qrcode

    hq_url = args.hq_url or os.environ.get("CHAINPOS_HQ_URL")
    out = operations.create_enroll_code(
        _open(args), args.store, args.ttl_hours, hq_url, actor=_actor()
    )
    print(f"enrolment code for {out.store}: {out.code}")
    print(f"valid until {out.expires_at.isoformat()} (one terminal, once)")
    qr = qrcode.QRCode(border=1)
    qr.add_data(out.qr_payload)
    qr.make(fit=True)
    qr.print_ascii(out=sys.stdout, invert=True)
    print(out.qr_payload)
    return 0


def cmd_device_list(args: argparse.Namespace) -> int:
    for d in operations.list_devices(_open(args), args.store):
        state = f"revoked {d.revoked_at.isoformat()}" if d.revoked_at else "active"
        seen = d.last_seen_at.isoformat() if d.last_seen_at else "never"
        print(f"{d.device_id}\t{d.name}\t{state}\tlast push {seen}")
    return 0


def cmd_device_revoke(args: argparse.Namespace) -> int:
    out = operations.revoke_device(_open(args), args.device_id, actor=_actor())
    print(f"device {out.device_id} revoked")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    token = operations.create_admin_token(_open(args), args.name, args.days or None, actor=_actor())
    print(token)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    operations.revoke_admin_token(_open(args), args.name, actor=_actor())
    print(f"admin token {args.name} revoked")
    return 0


def cmd_catalog_import(args: argparse.Namespace) -> int:
    try:
        text = Path(args.file).read_text(encoding=args.encoding)
    except (OSError, UnicodeDecodeError, LookupError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    try:
        items = operations.parse_catalog_csv(text)
    except operations.CatalogError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    out = operations.import_catalog(_open(args), items, actor=_actor())
    print(
        f"{out.created} created, {out.updated} updated, {out.unchanged} unchanged, "
        f"{out.prices} prices published"
    )
    return 0


def cmd_price_set(args: argparse.Namespace) -> int:
    try:
        fen = parse_yuan(args.price)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    versions = operations.set_price(
        _open(args), args.sku, fen, args.effective_at, args.store, actor=_actor()
    )
    for v in versions:
        scope = v.store or "chain-wide"
        print(
            f"price version {v.version}: {v.sku} = {v.price_fen / 100:.2f} yuan ({v.price_fen} "
            f"fen), {scope}, from {v.effective_at.isoformat()}"
        )
    return 0


def cmd_menu_import(args: argparse.Namespace) -> int:
    try:
        body = json.loads(Path(args.file).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    if not isinstance(body, dict):
        print(f"error: {args.file} is not a JSON object", file=sys.stderr)
        return 1
    out = menu.publish_menu(
        _open(args), body, store=args.store, effective_at=args.effective_at, actor=_actor()
    )
    print(
        f"menu version {out.version}: {len(out.categories)} categories, {len(out.groups)} "
        f"option groups, {len(out.tiles)} tiles, {out.store or 'chain-wide'}, from "
        f"{out.effective_at.isoformat()}"
    )
    return 0


def cmd_menu_show(args: argparse.Namespace) -> int:
    with _open(args).read() as conn:
        found = menu.menu_in_effect(conn, args.store, datetime.now(UTC))
    if found is None:
        print("no menu in effect")
        return 0
    print(json.dumps(found.model_dump(mode="json"), ensure_ascii=False, indent=2))
    return 0


LOCAL_TZ = ZoneInfo("Asia/Shanghai")
"""The stores' business day (as the tills count it)."""


def cmd_menu_sold_out(args: argparse.Namespace) -> int:
    day = args.date or datetime.now(UTC).astimezone(LOCAL_TZ).date()
    with _open(args).read() as conn:
        rows = menu.sold_out_list(conn, args.store, day)
    for r in rows:
        print(f"{r.sku}\t{r.at.isoformat()}\t{r.staff}\t{r.terminal}")
    if not rows:
        print(f"nothing sold out at {args.store} on {day.isoformat()}")
    return 0


def _read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ApiError(422, "invalid_value", f"cannot read {path}: {exc}") from exc


def _promo_line(data: Any) -> str:
    d = data.definition
    scope = d.get("scope") or {}
    where = ",".join(list(scope.get("regions") or []) + list(scope.get("stores") or []))
    return (
        f"{data.id}\tv{data.version}\t{d.get('kind')}\t{d.get('name_zh')}\t"
        f"{where or 'chain-wide'}\t{d.get('starts_at')} .. {d.get('ends_at') or '-'}"
    )


def cmd_promo_add(args: argparse.Namespace) -> int:
    """Publishes the promotion(s) of a JSON file: one object, or a list of them."""
    body = _read_json(args.file)
    bodies = body if isinstance(body, list) else [body]
    db = _open(args)
    for one in bodies:
        out = promotions.add_promotion(db, one, actor=_actor())
        print(f"promotion {out.id} version {out.version}: {out.definition['name_zh']}")
    return 0


def cmd_promo_list(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    with _open(args).read() as conn:
        rows = promotions.all_latest(conn) if args.all else promotions.live_promotions(conn, now)
    for data in rows:
        print(_promo_line(data))
    if not rows:
        print("no promotions")
    return 0


def cmd_promo_show(args: argparse.Namespace) -> int:
    with _open(args).read() as conn:
        data = promotions.latest(conn, args.id)
    print(json.dumps(data.definition, ensure_ascii=False, indent=2, sort_keys=True))
    return 0


def cmd_promo_end(args: argparse.Namespace) -> int:
    out = promotions.end_promotion(_open(args), args.id, args.at, actor=_actor())
    print(f"promotion {out.id} version {out.version}: ends {out.definition.get('ends_at')}")
    return 0


def cmd_promo_report(args: argparse.Namespace) -> int:
    """Usage, cost and sales by promotion and store; low stores; 限量 overruns."""
    until = args.until or datetime.now(UTC)
    since = args.since or until - timedelta(days=7)
    with _open(args).read() as conn:
        rep = promotions.report(conn, since, until, zone=LOCAL_TZ, promotion_id=args.id)
    print("promotion\tstore\tsales\tusage\tdiscount\tsales amount\tpieces")
    for u in rep.chain + rep.stores:
        print(
            f"{u.promotion_id} {u.name}\t{u.store or 'chain'}\t{u.sales}/{u.store_sales}\t"
            f"{u.usage_rate:.1%}\t{format_yuan(u.discount_fen)}\t{format_yuan(u.sales_fen)}\t"
            f"{u.pieces}"
        )
    for u in rep.low:
        print(
            f"LOW: promotion {u.promotion_id} at {u.store}: usage {u.usage_rate:.1%} "
            f"({u.sales}/{u.store_sales} sales), far below the chain's"
        )
    for o in rep.overruns:
        print(
            f"OVERRUN: promotion {o.promotion_id} at {o.store} on {o.day.isoformat()}: "
            f"sold {o.sold} against a limit of {o.limit} (+{o.over}, tills offline)"
        )
    if not rep.chain:
        print("no sale used a promotion in this period")
    return 0


def cmd_stock_move(args: argparse.Namespace) -> int:
    db = _open(args)
    unit = operations.item_unit(db, args.sku)
    try:
        qty = operations.parse_qty(args.qty, unit)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    level = operations.move_stock(
        db, args.kind, args.store, args.sku, qty, args.reason, actor=_actor()
    )
    print(
        f"{level.store} {level.sku}: on hand {_qty(level.on_hand_milli, unit)}, "
        f"available {_qty(level.available_milli, unit)}"
    )
    return 0


def _qty(milli: int, unit: str) -> str:
    return f"{milli / 1000:g} kg" if unit == "kg" else f"{milli / 1000:g}"


def cmd_stock_show(args: argparse.Namespace) -> int:
    with _open(args).read() as conn:
        out = queries.stock_lookup(conn, args.sku)
    for lv in out.levels:
        print(
            f"{lv.store}\t{lv.store_name}\ton hand {_qty(lv.on_hand_milli, out.unit)}\t"
            f"reserved {_qty(lv.reserved_milli, out.unit)}\t{lv.updated_at.isoformat()}"
        )
    return 0


def cmd_safety_set(args: argparse.Namespace) -> int:
    db = _open(args)
    unit = operations.item_unit(db, args.sku)
    try:
        lo, hi = operations.parse_qty(args.min, unit), operations.parse_qty(args.max, unit)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = stock_alerts.set_safety(db, args.sku, args.store, lo, hi)
    print(
        f"{out.sku} {out.store or 'chain-wide'}: min {_qty(out.min_milli, unit)}, "
        f"max {_qty(out.max_milli, unit)}"
    )
    return 0


def cmd_stock_alerts(args: argparse.Namespace) -> int:
    with _open(args).read() as conn:
        found = stock_alerts.list_alerts(
            conn, store=args.store, kind=args.kind, open_only=not args.all, limit=args.limit
        )
    for a in found:
        state = "resolved" if a.resolved else "open"
        extra = f"\tqty {a.qty_milli / 1000:g}" if a.qty_milli is not None else ""
        minimum = f"\tmin {a.min_milli / 1000:g}" if a.min_milli is not None else ""
        print(
            f"#{a.alert_id}\t{a.created_at.isoformat()}\t{a.store}\t{a.sku}\t{a.kind}\t"
            f"on hand {a.on_hand_milli / 1000:g}{minimum}{extra}\t{state}"
            f"{chr(9) + a.ref if a.ref else ''}"
        )
    if not found:
        print("no stock alerts")
    return 0


def cmd_stock_alert_resolve(args: argparse.Namespace) -> int:
    a = stock_alerts.resolve_alert(_open(args), args.alert_id)
    print(f"alert #{a.alert_id} ({a.store} {a.sku} {a.kind}) resolved")
    return 0


def cmd_stock_proposals(args: argparse.Namespace) -> int:
    with _open(args).read() as conn:
        found = stock_alerts.proposals(conn, args.store)
    for x in found:
        km = f"{x.distance_km:.1f} km" if x.distance_km is not None else "-"
        print(
            f"{x.sku}\t{x.from_store} -> {x.to_store}\t{x.qty_milli / 1000:g}\t"
            f"({x.to_store} has {x.to_on_hand_milli / 1000:g}, min {x.to_min_milli / 1000:g}; "
            f"{x.from_store} has {x.from_on_hand_milli / 1000:g}, max "
            f"{x.from_max_milli / 1000:g})\t{km}"
        )
    if not found:
        print("no proposals")
    return 0


def cmd_counts_list(args: argparse.Namespace) -> int:
    with _open(args).read() as conn:
        for c in counts.list_counts(conn, store=args.store, state=args.state, limit=args.limit):
            print(
                f"{c.count_id}\t{c.count_no}\t{c.store}\t{c.zone or '-'}\t{c.state}\t"
                f"submitted {c.submitted_at.isoformat()}"
            )
    return 0


def cmd_counts_show(args: argparse.Namespace) -> int:
    with _open(args).read() as conn:
        c = counts.count_detail(conn, _uuid(args.count_id))
    if c is None:
        raise ApiError(404, "unknown_count", f"no stock count {args.count_id}")
    if args.json:
        _print_json(c.model_dump(mode="json"))
        return 0
    print(f"count {c.count_no} ({c.count_id}) {c.store} zone {c.zone or '-'}: {c.state}")
    if c.decided_by:
        print(f"  decided by {c.decided_by} at {c.decided_at.isoformat() if c.decided_at else '-'}")
    for ln in c.lines:
        exp = "-" if ln.expected_milli is None else f"{ln.expected_milli / 1000:g}"
        diff = "-" if ln.difference_milli is None else f"{ln.difference_milli / 1000:+g}"
        print(
            f"  {ln.sku}\tcounted {ln.counted_milli / 1000:g}\texpected {exp}\t"
            f"difference {diff}\tat {ln.counted_at.isoformat()}"
        )
    return 0


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ApiError(422, "invalid_value", f"not an id: {text!r}") from None


def _print_transfer(t: Any) -> None:
    print(
        f"{t.transfer_id}\t{t.transfer_no}\t{t.from_store} -> {t.to_store}\t{t.state}\t"
        f"requested {t.requested_at.isoformat()} by {t.requested_by}"
    )


def cmd_transfers_list(args: argparse.Namespace) -> int:
    states = [args.state] if args.state else None
    with _open(args).read() as conn:
        found = transfers.list_transfers(conn, store=args.store, states=states, limit=args.limit)
    for t in found:
        _print_transfer(t)
    if not found:
        print("no transfers")
    return 0


def cmd_transfers_show(args: argparse.Namespace) -> int:
    with _open(args).read() as conn:
        t = transfers.get_transfer(conn, _uuid(args.transfer_id))
    if t is None:
        raise ApiError(404, "unknown_transfer", f"no transfer {args.transfer_id}")
    if args.json:
        _print_json(t.data().model_dump(mode="json"))
        return 0
    _print_transfer(t)
    for what, who, when in (
        ("decided", t.decided_by, t.decided_at),
        ("shipped", t.shipped_by, t.shipped_at),
        ("received", t.received_by, t.received_at),
    ):
        if who:
            print(f"  {what} by {who} at {when.isoformat() if when else '-'}")
    if t.refused_reason:
        print(f"  refused: {t.refused_reason}")
    for ln in t.lines:
        cells = [
            f"{name} {'-' if v is None else f'{v / 1000:g}'}"
            for name, v in (
                ("requested", ln.requested),
                ("approved", ln.approved),
                ("shipped", ln.shipped),
                ("received", ln.received),
            )
        ]
        print(f"  {ln.sku}\t" + "\t".join(cells))
    return 0


def cmd_feed_prune(args: argparse.Namespace) -> int:
    n = operations.prune_feed(_open(args), timedelta(days=args.older_than_days))
    print(f"{n} changes pruned; terminals behind them will resync")
    return 0


def cmd_report_stale(args: argparse.Namespace) -> int:
    since = args.since or datetime.now(UTC) - timedelta(days=1)
    with _open(args).read() as conn:
        out = queries.stale_report(conn, since, args.store)
    _print_json(out.model_dump(mode="json"))
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _signed(fen: int | None) -> str:
    if fen is None:
        return "-"
    return ("+" if fen > 0 else "") + _yuan(fen)


def _local(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone().strftime("%Y-%m-%d %H:%M")


def cmd_shifts_list(args: argparse.Namespace) -> int:
    """Every shift: who, when, float, expected, counted, over/short, then per tender."""
    with _open(args).read() as conn:
        rows = shifts.list_shifts(conn, args.store, args.date)
    if args.json:
        _print_json([dataclasses.asdict(r) for r in rows])
        return 0
    print("store\tterminal\tshift\tcashier\topened\tclosed\tfloat\texpected\tcounted\tover/short")
    for r in rows:
        print(
            "\t".join(
                (
                    r.store,
                    r.terminal,
                    r.shift_no or str(r.shift_id),
                    r.closed_by or r.opened_by or "-",
                    _local(r.opened_at),
                    _local(r.closed_at) if r.closed_at else "open",
                    "-" if r.float_fen is None else _yuan(r.float_fen),
                    "-" if r.expected_cash_fen is None else _yuan(r.expected_cash_fen),
                    "-" if r.counted_cash_fen is None else _yuan(r.counted_cash_fen),
                    _signed(r.over_short_fen),
                )
            )
        )
        for t in r.tenders:
            counted = "-" if t.counted_fen is None else _yuan(t.counted_fen)
            print(
                f"\t  {t.kind}\texpected {_yuan(t.expected_fen)}\tcounted {counted}"
                f"\tover/short {_signed(t.over_short_fen)}\t{t.count} tenders"
            )
    return 0


def cmd_shifts_over_short(args: argparse.Namespace) -> int:
    """Over/short of closed shifts by store or by cashier over business dates."""
    with _open(args).read() as conn:
        rows = shifts.over_short(conn, args.by, args.date_from, args.date_to)
    if args.json:
        _print_json([{**dataclasses.asdict(r), "net_fen": r.net_fen} for r in rows])
        return 0
    print(f"{args.by}\tshifts\tover\tshort\tnet")
    for r in rows:
        print(
            f"{r.key}\t{r.shifts}\t{_yuan(r.over_fen)}\t{_yuan(r.short_fen)}\t{_signed(r.net_fen)}"
        )
    return 0


def cmd_keys_generate(args: argparse.Namespace) -> int:
    keys = MemberKeys.generate()
    if args.out is None:
        print(keys.to_json())
        return 0
    try:
        keys.save(Path(args.out))
    except FileExistsError:
        print(f"error: {args.out} exists; it may hold the keys in use", file=sys.stderr)
        return 1
    print(f"member keys written to {args.out} (owner-only); keep a copy off this machine")
    return 0


def _yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


def _print_member(d: MemberDetail) -> None:
    state = "active" if d.active else "closed"
    print(f"member {d.number}  {d.name}  {d.phone}  tier {d.tier}  {state}")
    print(f"  points {d.points}  stored value {_yuan(d.balance_fen)} yuan  card #{d.card_version}")
    print(f"  ledger sums: points {d.ledger_points}, stored value {_yuan(d.ledger_balance_fen)}")
    print(f"  consent {d.consent_version} at {d.consent_at.isoformat()}")
    for c in d.coupons:
        print(
            f"  coupon {c.coupon_id}  {c.name}  {_yuan(c.value_fen)} off from "
            f"{_yuan(c.min_spend_fen)}  until {c.valid_until.isoformat()}"
        )
    for h in d.holds:
        print(
            f"  hold {h.hold_id}  {h.kind} {h.amount}  {h.status}  {h.store}  "
            f"expires {h.expires_at.isoformat()}"
        )
    for e in d.ledger:
        print(
            f"  {e.at.isoformat()}  {e.account:<12} {e.delta:+d} -> {e.balance_after}  "
            f"{e.kind} {e.ref}{'  ' + e.note if e.note else ''}"
        )


def cmd_member_add(args: argparse.Namespace) -> int:
    d = members.add_member(
        _open(args),
        _keys(args),
        _actor(),
        name=args.name,
        phone=args.phone,
        tier=args.tier,
        consent_version=args.consent,
    )
    print(f"member {d.number} added: {d.name} {d.phone}")
    return 0


def cmd_member_show(args: argparse.Namespace) -> int:
    d = members.show_member(_open(args), _keys(args), _actor(), args.number, reveal=args.reveal)
    if args.json:
        _print_json(d.model_dump(mode="json"))
    else:
        _print_member(d)
    return 0


def cmd_member_qr(args: argparse.Namespace) -> int:
    import qrcode

    out = members.member_code(
        _open(args),
        _keys(args),
        _actor(),
        args.number,
        ttl_s=args.ttl,
        card=args.card,
        new_card=args.new_card,
    )
    qr = qrcode.QRCode(border=1, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(out.code)
    qr.make(fit=True)
    qr.print_ascii(out=sys.stdout, invert=True)
    print(out.code)
    if out.expires_at is not None:
        print(f"member code for {out.number}, valid until {out.expires_at.isoformat()}")
    else:
        print(f"card code for {out.number} (card #{out.card_version}; older cards are refused)")
    return 0


def cmd_member_search(args: argparse.Namespace) -> int:
    found = members.search_members(
        _open(args),
        _keys(args),
        _actor(),
        phone=args.phone,
        name=args.name,
        number=args.number,
        limit=args.limit,
    )
    for s in found:
        state = "active" if s.active else "closed"
        print(
            f"{s.number}\t{s.name}\t{s.phone_masked}\t{s.tier}\tpoints {s.points}\t"
            f"stored value {_yuan(s.balance_fen)}\t{state}"
        )
    if not found:
        print("no member found")
    return 0


def cmd_member_adjust(args: argparse.Namespace) -> int:
    balance = 0
    if args.balance is not None:
        text = args.balance.strip()
        sign = -1 if text.startswith("-") else 1
        try:
            balance = sign * parse_yuan(text.lstrip("+-"))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    d = members.adjust_member(
        _open(args),
        _keys(args),
        _actor(),
        args.number,
        reason=args.reason,
        points=args.points,
        balance_fen=balance,
        tier=args.tier,
        active=args.active,
        name=args.name,
    )
    _print_member(d)
    return 0


def cmd_member_coupon(args: argparse.Namespace) -> int:
    try:
        value = parse_yuan(args.value)
        minimum = parse_yuan(args.min_spend)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    start = args.valid_from or datetime.now(UTC)
    until = args.until or start + timedelta(days=args.days)
    c = members.issue_coupon(
        _open(args),
        _actor(),
        args.number,
        name=args.name,
        value_fen=value,
        min_spend_fen=minimum,
        valid_from=args.valid_from,
        valid_until=until,
    )
    print(
        f"coupon {c.coupon_id}: {c.name}, {_yuan(c.value_fen)} yuan off, until {until.isoformat()}"
    )
    return 0


def cmd_member_sweep(args: argparse.Namespace) -> int:
    n = members.sweep_expired(_open(args))
    print(f"{n} expired holds given back")
    return 0


def cmd_audit_list(args: argparse.Namespace) -> int:
    for e in audit.audit_entries(
        _open(args), member=args.member, action=args.action, device=args.device, limit=args.limit
    ):
        detail = json.dumps(e.detail, ensure_ascii=False, sort_keys=True)
        print(
            f"{e.id}\t{e.at.isoformat()}\t{e.actor}\t{e.action}\t{e.store or '-'}\t"
            f"{e.member or '-'}\t{detail}"
        )
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Exit 0 when the chain is whole; 3 at the first edited, inserted or deleted entry."""
    verdict = audit.verify(_open(args))
    if verdict.problem is not None:
        p = verdict.problem
        print(f"audit chain BROKEN: {p.message}", file=sys.stderr)
        print(f"{p.kind}\tentry {p.entry_id}\t{p.at.isoformat() if p.at else '-'}")
        return 3
    print(
        f"audit chain intact: {verdict.entries} entries, head {verdict.head_id} "
        f"{verdict.head_hash} (keep this hash elsewhere to catch a rewritten chain)"
    )
    return 0


def cmd_returns_list(args: argparse.Namespace) -> int:
    for r in returns.list_returns(
        _open(args), store=args.store, since=args.since, limit=args.limit
    ):
        flag = "\tDISCREPANCY" if r.conflict else ""
        print(
            f"{r.returned_at.isoformat()}\t{r.return_id}\t{r.store}\t{r.receipt_no}\t"
            f"{r.refund_fen / 100:.2f}\tsale {r.sale_id or '-'}{flag}"
        )
    return 0


def cmd_returns_show(args: argparse.Namespace) -> int:
    d = returns.show_return(_open(args), args.return_id)
    if d is None:
        print(f"error: no return {args.return_id}", file=sys.stderr)
        return 1
    _print_json(
        {
            **dataclasses.asdict(d.summary),
            "cashier": d.cashier,
            "lines": d.lines,
            "refunds": d.refunds,
            "approvals": d.approvals,
        }
    )
    return 0


def cmd_discrepancies_list(args: argparse.Namespace) -> int:
    found = returns.list_discrepancies(
        _open(args), store=args.store, open_only=args.open, kind=args.kind
    )
    for d in found:
        state = "open" if d.resolved_at is None else f"resolved by {d.resolved_by}"
        print(f"{d.id}\t{d.created_at.isoformat()}\t{d.store}\t{d.kind}\t{state}\t{d.detail}")
    return 0


def cmd_discrepancies_resolve(args: argparse.Namespace) -> int:
    d = returns.resolve_discrepancy(_open(args), args.id, args.by, args.note, _actor().name)
    print(f"discrepancy {d.id} resolved by {d.resolved_by}: {d.resolution}")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from server_stub import reconcile

    day = date.fromisoformat(args.date)
    if args.statement is None:
        with _open(args).read() as conn:
            kept = reconcile.latest_run(conn, args.provider, day)
        if kept is None:
            print(f"no {args.provider} reconciliation kept for {day.isoformat()}", file=sys.stderr)
            return 1
        print(kept.text())
        return 0 if kept.clean else 3
    text = Path(args.statement).read_text(encoding=args.encoding)
    report = reconcile.reconcile(
        _open(args), args.provider, text, day, datetime.now(UTC), actor=_actor().name
    )
    print(report.text())
    return 0 if report.clean else 3


def cmd_channel_add(args: argparse.Namespace) -> int:
    stores = [x.strip() for x in args.stores.split(",") if x.strip()]
    token = reservations.add_channel(_open(args), args.name, stores, _actor())
    print(f"channel {args.name} sells from {', '.join(sorted(set(stores)))}")
    print(f"token (shown once): {token}")
    return 0


def cmd_channel_list(args: argparse.Namespace) -> int:
    for c in reservations.list_channels(_open(args)):
        state = "active" if c.active else "revoked"
        print(f"{c.name}\t{state}\t{','.join(c.stores)}\t{c.created_at.isoformat()}")
    return 0


def cmd_channel_revoke(args: argparse.Namespace) -> int:
    reservations.revoke_channel(_open(args), args.name, _actor())
    print(f"channel {args.name} revoked")
    return 0


def cmd_channel_load(args: argparse.Namespace) -> int:
    if args.confirm_ratio + args.cancel_ratio > 1:
        print("error: --confirm-ratio plus --cancel-ratio is more than 1", file=sys.stderr)
        return 2
    plan = channel_load.LoadPlan(
        hq_url=args.hq,
        token=args.token,
        store=args.store,
        skus=tuple(x.strip() for x in args.sku.split(",") if x.strip()),
        rate=args.rate,
        duration_s=args.duration,
        confirm_ratio=args.confirm_ratio,
        cancel_ratio=args.cancel_ratio,
        ttl_s=args.ttl,
        pickup_ratio=args.pickup_ratio,
        workers=args.workers,
    )
    for line in channel_load.run_load(plan).lines():
        print(line)
    return 0


def cmd_reservations_list(args: argparse.Namespace) -> int:
    for d in reservations.list_reservations(_open(args), args.store, args.status, args.limit):
        lines = " ".join(f"{x.sku}x{x.qty_milli / 1000:g}" for x in d.lines)
        extra = " pickup" + (" ready" if d.ready else "") if d.pickup else ""
        print(
            f"{d.reserved_at.isoformat()}\t{d.channel}:{d.order_id}\t{d.store}\t{d.status}"
            f"{extra}\t{lines}\t{d.sale_id or '-'}"
        )
    return 0


def cmd_conflicts_list(args: argparse.Namespace) -> int:
    for c in reservations.list_conflicts(_open(args), args.store, args.limit):
        print(
            f"{c.id}\t{c.created_at.isoformat()}\t{c.store}\t{c.sku}\t"
            f"on hand {c.on_hand_milli / 1000:g} < reserved {c.reserved_milli / 1000:g}\t"
            f"sale {c.sale_ref or '-'}\torders {', '.join(c.orders) or '-'}"
        )
    return 0


# -- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="sqlite:///path or postgresql+psycopg://user@host/db (default: $CHAINPOS_HQ_DB "
        "or a SQLite file in the user data directory)",
    )
    common.add_argument(
        "--keys",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="member keys file (default: $CHAINPOS_HQ_KEYS, or <sqlite file>.keys)",
    )
    parser = argparse.ArgumentParser(
        prog="chainpos-hq", description="ChainPOS HQ service and admin tools.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        parent: Any, name: str, func: Any, help_text: str, **kw: Any
    ) -> argparse.ArgumentParser:
        sub_parser: argparse.ArgumentParser = parent.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        sub_parser.set_defaults(func=func, **kw)
        return sub_parser

    s = add(sub, "serve", cmd_serve, "run the HQ web service")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000, help="0: any free port (printed)")
    s.add_argument("--tls-cert", type=Path, default=None, metavar="FILE")
    s.add_argument("--tls-key", type=Path, default=None, metavar="FILE")
    s.add_argument("--hq-url", default=os.environ.get("CHAINPOS_HQ_URL"), help="for QR codes")
    s.add_argument("--heartbeat", type=float, default=15.0, help="live heartbeat seconds")
    s.add_argument("--live-queue", type=int, default=256, help="messages per connection")
    s.add_argument("--pool-size", type=int, default=10, help="database connections")
    s.add_argument("--log-level", default="info")
    s.add_argument("--access-log", action="store_true")
    s.add_argument("--hold-sweep-s", type=float, default=30.0, help="expired-hold sweep period")
    s.add_argument(
        "--phone-lookups-per-minute", type=int, default=30, help="per terminal, this process"
    )
    s.add_argument(
        "--ops-pages",
        choices=ops_pages.MODES,
        default=os.environ.get("CHAINPOS_HQ_OPS_PAGES", "on"),
        help="/docs, /redoc, /openapi.json and /metrics: on (public), token (admin token) "
        "or off; production: off or token (default $CHAINPOS_HQ_OPS_PAGES or on)",
    )

    add(sub, "migrate", cmd_migrate, "bring the database schema up to date")
    from server_stub.paysim.__main__ import add_arguments as add_paysim_arguments

    add_paysim_arguments(
        add(
            sub,
            "paysim",
            cmd_paysim,
            "run the payment gateway simulator (WeChat Pay, Alipay and UnionPay payment "
            "codes; the demo and tests only, never a store's gateway)",
        )
    )
    provision_p = add(
        sub,
        "paysim-merchant",
        cmd_paysim_merchant,
        "register a store's merchants with the gateway simulator and print its "
        "payment.providers setting and the secrets for the till's keyring (JSON)",
    )
    provision_p.add_argument("--data", required=True, help="the simulator's data folder")
    provision_p.add_argument("--url", required=True, help="the simulator's address")
    provision_p.add_argument(
        "--tls-url",
        default="https://127.0.0.1:8781",
        help="the simulator's HTTPS address (WeChat Pay, for its certificate calls)",
    )
    provision_p.add_argument("store", help="e.g. S001")
    r = add(
        sub,
        "reconcile",
        cmd_reconcile,
        "compare a payment provider's daily statement with the tenders the tills pushed; "
        "exit 3 (and an alert per difference) when anything does not match; without "
        "--statement, show the day's last kept run",
    )
    r.add_argument("--provider", required=True, choices=["wechat", "alipay", "unionpay"])
    r.add_argument(
        "--statement",
        default=None,
        metavar="FILE",
        help="the provider's bill CSV (omitted: the day's last kept run, no bill needed)",
    )
    r.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the bill's day")
    r.add_argument("--encoding", default="utf-8", help="the bill's encoding (gbk for Alipay's)")

    store = sub.add_parser("store", help="stores").add_subparsers(dest="sub", required=True)
    s = add(store, "add", cmd_store_add, "add a store")
    s.add_argument("code", help="e.g. S001")
    s.add_argument("name")
    s.add_argument("--region", default="", help="e.g. 华东 (orders stores nearest first)")
    s.add_argument("--lat", type=float, default=None, help="latitude, WGS-84 degrees")
    s.add_argument("--lon", type=float, default=None, help="longitude, WGS-84 degrees")
    s = add(store, "set", cmd_store_set, "change a store's name, region or coordinates")
    s.add_argument("code")
    s.add_argument("--name", default=None)
    s.add_argument("--region", default=None)
    s.add_argument("--lat", type=float, default=None)
    s.add_argument("--lon", type=float, default=None)
    s.add_argument("--clear-location", action="store_true", help="remove the coordinates")
    add(store, "list", cmd_store_list, "list stores")
    s = add(store, "set-region", cmd_store_region, "put a store in a region (console scope)")
    s.add_argument("code")
    s.add_argument("region", help="e.g. east; empty: no region")

    cuser = sub.add_parser("console-user", help="HQ console users").add_subparsers(
        dest="sub", required=True
    )
    s = add(cuser, "add", cmd_console_user_add, "add a console user")
    s.add_argument("username")
    s.add_argument(
        "--role",
        required=True,
        choices=["hq_admin", "regional_manager", "store_manager", "auditor"],
    )
    s.add_argument("--name", default=None, help="display name")
    s.add_argument("--region", default=None, help="for a regional manager")
    s.add_argument("--store", default=None, help="for a store manager")
    s.add_argument("--password", default=None, help="prompted if omitted")
    s = add(cuser, "passwd", cmd_console_user_passwd, "set a console user's password")
    s.add_argument("username")
    s.add_argument("--password", default=None, help="prompted if omitted")
    s = add(cuser, "disable", cmd_console_user_disable, "disable a console user", active=False)
    s.add_argument("username")
    s = add(cuser, "enable", cmd_console_user_disable, "enable a console user", active=True)
    s.add_argument("username")
    add(cuser, "list", cmd_console_user_list, "list console users")

    config = sub.add_parser("config", help="settings").add_subparsers(dest="sub", required=True)
    s = add(config, "set", cmd_config_set, "set a setting (VALUE null removes it)")
    s.add_argument("key")
    s.add_argument("value", help="text, a whole number, true/false or null")
    s.add_argument("--store", default=None, help="only for this store")

    staff = sub.add_parser("staff", help="staff").add_subparsers(dest="sub", required=True)
    s = add(staff, "add", cmd_staff_add, "add a staff member")
    s.add_argument("--store", default=None, help="store code (omit for hq_admin)")
    s.add_argument("--number", required=True)
    s.add_argument("--name", required=True)
    s.add_argument(
        "--role", required=True, choices=["cashier", "supervisor", "manager", "hq_admin"]
    )
    s.add_argument("--pin", default=None, help="4-8 digits (prompted if omitted)")
    s = add(staff, "list", cmd_staff_list, "list staff")
    s.add_argument("--store", default=None)
    s = add(staff, "set-pin", cmd_staff_set_pin, "change a PIN")
    s.add_argument("number")
    s.add_argument("--pin", default=None)
    s = add(staff, "disable", cmd_staff_active, "take a staff member off", active=False)
    s.add_argument("number")
    s = add(staff, "enable", cmd_staff_active, "put a staff member back on", active=True)
    s.add_argument("number")

    device = sub.add_parser("device", help="terminals").add_subparsers(dest="sub", required=True)
    s = add(device, "enroll-code", cmd_enroll_code, "print a one-time enrolment code and QR")
    s.add_argument("--store", required=True)
    s.add_argument("--ttl-hours", type=int, default=24)
    s.add_argument("--hq-url", default=None, help="URL terminals use (default $CHAINPOS_HQ_URL)")
    s = add(device, "list", cmd_device_list, "list terminals")
    s.add_argument("--store", default=None)
    s = add(device, "revoke", cmd_device_revoke, "revoke a terminal's token")
    s.add_argument("device_id")

    admin = sub.add_parser("admin", help="admin API").add_subparsers(dest="sub", required=True)
    token = admin.add_parser("token", help="admin API tokens").add_subparsers(
        dest="sub2", required=True
    )
    s = add(token, "create", cmd_token_create, "create an admin API token (printed once)")
    s.add_argument("name")
    s.add_argument("--days", type=int, default=90, help="lifetime; 0 = no expiry")
    s = add(token, "revoke", cmd_token_revoke, "revoke an admin API token")
    s.add_argument("name")

    catalog = sub.add_parser("catalog", help="catalogue").add_subparsers(dest="sub", required=True)
    s = add(catalog, "import", cmd_catalog_import, "create or update items from a CSV file")
    s.add_argument("file")
    s.add_argument("--encoding", default="utf-8-sig", help="e.g. gb18030 for Excel exports")

    price = sub.add_parser("price", help="prices").add_subparsers(dest="sub", required=True)
    s = add(price, "set", cmd_price_set, "publish a price version")
    s.add_argument("sku")
    s.add_argument("price", help="in yuan, e.g. 18 or 18.50")
    s.add_argument("--effective-at", type=_when, default=None, help="ISO 8601 with offset")
    s.add_argument("--store", action="append", default=None, help="repeat for several stores")

    menu_p = sub.add_parser("menu", help="menu: tiles, categories, drink options")
    menu_sub = menu_p.add_subparsers(dest="sub", required=True)
    s = add(menu_sub, "import", cmd_menu_import, "publish a menu version from a JSON file")
    s.add_argument("file", help="JSON: categories, groups (option groups), tiles")
    s.add_argument("--store", default=None, help="a store's own menu (default: chain-wide)")
    s.add_argument("--effective-at", type=_when, default=None, help="ISO 8601 with offset")
    s = add(menu_sub, "show", cmd_menu_show, "the menu in effect now, as JSON")
    s.add_argument("--store", default=None, help="as a store's tills see it")
    s = add(menu_sub, "sold-out", cmd_menu_sold_out, "items a store has sold out (估清) today")
    s.add_argument("--store", required=True)
    s.add_argument("--date", type=date.fromisoformat, default=None, help="YYYY-MM-DD")

    promo_p = sub.add_parser("promo", help="promotions pushed to every store")
    promo_sub = promo_p.add_subparsers(dest="sub", required=True)
    s = add(promo_sub, "add", cmd_promo_add, "publish promotions from a JSON file")
    s.add_argument("file", help="JSON: one promotion definition or a list of them")
    s = add(promo_sub, "list", cmd_promo_list, "promotions not ended (--all: every one)")
    s.add_argument("--all", action="store_true")
    s = add(promo_sub, "show", cmd_promo_show, "a promotion's newest version, as JSON")
    s.add_argument("id", type=int)
    s = add(promo_sub, "end", cmd_promo_end, "end a promotion (now, or --at)")
    s.add_argument("id", type=int)
    s.add_argument("--at", type=_when, default=None, help="ISO 8601 with offset")
    s = add(promo_sub, "report", cmd_promo_report, "usage, cost and sales by promotion and store")
    s.add_argument("--id", type=int, default=None, help="one promotion")
    s.add_argument("--since", type=_when, default=None, help="ISO 8601 (default: 7 days ago)")
    s.add_argument("--until", type=_when, default=None, help="ISO 8601 (default: now)")

    stock = sub.add_parser("stock", help="stock").add_subparsers(dest="sub", required=True)
    for kind in ("receive", "adjust"):
        s = add(stock, kind, cmd_stock_move, f"{kind} stock", kind=kind)
        s.add_argument("--store", required=True)
        s.add_argument("sku")
        s.add_argument("qty", help="pieces, or kg with up to 3 decimals (adjust: signed)")
        s.add_argument("--reason", required=True)
    s = add(stock, "show", cmd_stock_show, "levels of an item in every store")
    s.add_argument("sku")
    safety = stock.add_parser("safety", help="safety stock").add_subparsers(
        dest="sub2", required=True
    )
    s = add(safety, "set", cmd_safety_set, "set an item's minimum and maximum")
    s.add_argument("sku")
    s.add_argument("--min", required=True, help="pieces, or kg")
    s.add_argument("--max", required=True, help="pieces, or kg")
    s.add_argument("--store", default=None, help="only this store (default: chain-wide)")
    s = add(stock, "alerts", cmd_stock_alerts, "stock alerts, newest first")
    s.add_argument("--store", default=None)
    s.add_argument(
        "--kind", default=None, choices=["low", "negative", "count_variance", "transfer_shortfall"]
    )
    s.add_argument("--all", action="store_true", help="resolved ones too")
    s.add_argument("--limit", type=int, default=100)
    s = add(stock, "resolve-alert", cmd_stock_alert_resolve, "close a stock alert")
    s.add_argument("alert_id", type=int)
    s = add(stock, "proposals", cmd_stock_proposals, "proposed transfers, nearest donor first")
    s.add_argument("--store", default=None, help="only to this store (default: chain-wide)")
    stock_counts = stock.add_parser("counts", help="stock counts").add_subparsers(
        dest="sub2", required=True
    )
    s = add(stock_counts, "list", cmd_counts_list, "stock counts, newest first")
    s.add_argument("--store", default=None)
    s.add_argument("--state", default=None, choices=["pending", "approved", "rejected"])
    s.add_argument("--limit", type=int, default=50)
    s = add(stock_counts, "show", cmd_counts_show, "a count's lines: the variance report")
    s.add_argument("count_id")
    s.add_argument("--json", action="store_true")

    xfer = sub.add_parser("transfers", help="transfers between stores").add_subparsers(
        dest="sub", required=True
    )
    s = add(xfer, "list", cmd_transfers_list, "transfers, newest first")
    s.add_argument("--store", default=None, help="from or to this store")
    s.add_argument(
        "--state",
        default=None,
        choices=["requested", "approved", "refused", "shipped", "received", "cancelled"],
    )
    s.add_argument("--limit", type=int, default=50)
    s = add(xfer, "show", cmd_transfers_show, "a transfer with its lines")
    s.add_argument("transfer_id")
    s.add_argument("--json", action="store_true")

    feed_p = sub.add_parser("feed", help="change feed").add_subparsers(dest="sub", required=True)
    s = add(feed_p, "prune", cmd_feed_prune, "delete old changes (terminals behind resync)")
    s.add_argument("--older-than-days", type=float, required=True)

    keys = sub.add_parser("keys", help="member keys").add_subparsers(dest="sub", required=True)
    s = add(keys, "generate", cmd_keys_generate, "make a new member keys file")
    s.add_argument("--out", default=None, help="file to create (default: print)")

    member = sub.add_parser("member", help="members").add_subparsers(dest="sub", required=True)
    s = add(member, "add", cmd_member_add, "enrol a member")
    s.add_argument("--name", required=True)
    s.add_argument("--phone", required=True, help="mainland China mobile number")
    s.add_argument("--tier", default="standard")
    s.add_argument(
        "--consent", required=True, metavar="VERSION", help="privacy notice version agreed to"
    )
    s = add(member, "show", cmd_member_show, "show a member (phone masked)")
    s.add_argument("number")
    s.add_argument("--reveal", action="store_true", help="show the full phone number (audited)")
    s.add_argument("--json", action="store_true")
    s = add(member, "qr", cmd_member_qr, "print a signed member code (or card code) as a QR")
    s.add_argument("number")
    s.add_argument("--ttl", type=int, default=300, help="seconds an app code is valid")
    s.add_argument("--card", action="store_true", help="the static code of the plastic card")
    s.add_argument(
        "--new-card", action="store_true", help="issue a new card; older cards are refused"
    )
    s = add(member, "search", cmd_member_search, "find members")
    group = s.add_mutually_exclusive_group(required=True)
    group.add_argument("--phone")
    group.add_argument("--name", help="name prefix")
    group.add_argument("--number")
    s.add_argument("--limit", type=int, default=20)
    s = add(member, "adjust", cmd_member_adjust, "correct points, stored value, tier or status")
    s.add_argument("number")
    s.add_argument("--points", type=int, default=0, help="signed, e.g. -200")
    s.add_argument("--balance", default=None, help="signed yuan, e.g. 50 or -12.50")
    s.add_argument("--tier", default=None)
    s.add_argument("--name", default=None)
    s.add_argument("--disable", dest="active", action="store_const", const=False, default=None)
    s.add_argument("--enable", dest="active", action="store_const", const=True)
    s.add_argument("--reason", required=True)
    s = add(member, "coupon", cmd_member_coupon, "give a member a coupon")
    s.add_argument("number")
    s.add_argument("--name", required=True, help="e.g. 满30减5")
    s.add_argument("--value", required=True, help="yuan off")
    s.add_argument("--min-spend", default="0", help="yuan")
    s.add_argument("--days", type=float, default=30.0, help="valid for (default 30)")
    s.add_argument("--from", dest="valid_from", type=_when, default=None)
    s.add_argument("--until", type=_when, default=None, help="instead of --days")
    add(member, "sweep-holds", cmd_member_sweep, "give back expired holds now")

    audit_p = sub.add_parser("audit", help="audit log").add_subparsers(dest="sub", required=True)
    s = add(audit_p, "list", cmd_audit_list, "newest audit entries")
    s.add_argument("--member", default=None)
    s.add_argument("--device", default=None, help="entries recorded at this till")
    s.add_argument("--action", default=None, help="e.g. member.identify, price.set")
    s.add_argument("--limit", type=int, default=50)
    add(audit_p, "verify", cmd_audit_verify, "check the audit chain; exit 3 if it was tampered")

    rets = sub.add_parser("returns", help="returns").add_subparsers(dest="sub", required=True)
    s = add(rets, "list", cmd_returns_list, "returns, newest first")
    s.add_argument("--store", default=None)
    s.add_argument("--since", type=_when, default=None)
    s.add_argument("--limit", type=int, default=200)
    s = add(rets, "show", cmd_returns_show, "one return with its lines and refunds")
    s.add_argument("return_id", type=uuid.UUID, metavar="RETURN_ID")

    disc = sub.add_parser("discrepancies", help="discrepancies for a manager").add_subparsers(
        dest="sub", required=True
    )
    s = add(disc, "list", cmd_discrepancies_list, "discrepancies, newest first")
    s.add_argument("--store", default=None)
    s.add_argument("--open", action="store_true", help="only those not resolved")
    s.add_argument(
        "--kind", default=None, help="only one kind, e.g. unverified_staff, double_return"
    )
    s = add(disc, "resolve", cmd_discrepancies_resolve, "settle a discrepancy")
    s.add_argument("id", type=int, metavar="ID")
    s.add_argument("--by", required=True, metavar="STAFF", help="a manager's staff number")
    s.add_argument("--note", required=True)

    chan = sub.add_parser("channel", help="online channels").add_subparsers(
        dest="sub", required=True
    )
    s = add(chan, "add", cmd_channel_add, "add an online channel; prints its token once")
    s.add_argument("name", metavar="NAME")
    s.add_argument("--stores", required=True, help="store codes it sells from: S001,S002")
    add(chan, "list", cmd_channel_list, "online channels")
    s = add(chan, "revoke", cmd_channel_revoke, "revoke a channel's token")
    s.add_argument("name", metavar="NAME")
    s = add(
        chan,
        "load",
        cmd_channel_load,
        "place, confirm, cancel and let expire online orders at a rate against a running HQ",
    )
    s.add_argument("--hq", required=True, metavar="URL")
    s.add_argument("--token", required=True, help="a channel token (cpc_...)")
    s.add_argument("--store", required=True)
    s.add_argument("--sku", required=True, help="items to order, comma-separated")
    s.add_argument("--rate", type=float, default=10.0, help="orders per second")
    s.add_argument("--duration", type=float, default=10.0, help="seconds")
    s.add_argument("--confirm-ratio", type=float, default=0.6)
    s.add_argument("--cancel-ratio", type=float, default=0.2)
    s.add_argument("--pickup-ratio", type=float, default=0.0)
    s.add_argument("--ttl", type=int, default=60, help="seconds an unconfirmed order holds")
    s.add_argument("--workers", type=int, default=16, help="concurrent requests")

    resv = sub.add_parser("reservations", help="online orders' stock reservations")
    resv_sub = resv.add_subparsers(dest="sub", required=True)
    s = add(resv_sub, "list", cmd_reservations_list, "reservations, newest first")
    s.add_argument("--store", default=None)
    s.add_argument(
        "--status",
        default=None,
        choices=["reserved", "confirmed", "cancelled", "expired", "collected"],
    )
    s.add_argument("--limit", type=int, default=200)

    confl = sub.add_parser("conflicts", help="till sales of reserved stock").add_subparsers(
        dest="sub", required=True
    )
    s = add(confl, "list", cmd_conflicts_list, "till sales that sold stock online orders held")
    s.add_argument("--store", default=None)
    s.add_argument("--limit", type=int, default=200)

    report = sub.add_parser("report", help="reports").add_subparsers(dest="sub", required=True)
    s = add(report, "stale-prices", cmd_report_stale, "sale lines priced at a stale version")
    s.add_argument("--since", type=_when, default=None, help="default: 24 hours ago")
    s.add_argument("--store", default=None)

    shift_p = sub.add_parser("shifts", help="shifts").add_subparsers(dest="sub", required=True)
    s = add(shift_p, "list", cmd_shifts_list, "shifts: who, when, float, expected, counted")
    s.add_argument("--store", default=None)
    s.add_argument("--date", type=_day, default=None, help="business date YYYY-MM-DD")
    s.add_argument("--json", action="store_true")
    s = add(shift_p, "over-short", cmd_shifts_over_short, "over/short by store or cashier")
    s.add_argument("--by", choices=("store", "cashier"), required=True)
    s.add_argument("--from", dest="date_from", type=_day, default=None, help="YYYY-MM-DD")
    s.add_argument("--to", dest="date_to", type=_day, default=None, help="YYYY-MM-DD")
    s.add_argument("--json", action="store_true")
    return parser


def cmd_paysim(args: argparse.Namespace) -> int:
    from server_stub.paysim.server import serve

    return serve(args)


def cmd_paysim_merchant(args: argparse.Namespace) -> int:
    from server_stub.paysim.merchants import provider_settings, provision

    accounts = provision(Path(args.data), args.store)
    providers = provider_settings(accounts, args.url, args.tls_url)
    print(
        json.dumps(
            {
                "payment.providers": json.dumps(providers),
                "payment.simulator": True,
                "keyring": {
                    f"chainpos-payments {args.store}:{w}": a.secret for w, a in accounts.items()
                },
            },
            ensure_ascii=False,
            indent=1,
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``chainpos-hq``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "db"):
        args.db = None
    if not hasattr(args, "keys"):
        args.keys = None
    args.opened = []
    try:
        return int(args.func(args))
    except ApiError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    except KeysError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # pydantic validation of typed input
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for db in args.opened:
            db.dispose()


if __name__ == "__main__":
    sys.exit(main())
