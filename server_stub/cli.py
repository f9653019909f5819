"""``chainpos-hq``: run HQ and push changes to the chain from a shell.

Every command takes ``--db URL`` (default: ``$CHAINPOS_HQ_DB``, else a SQLite file in
the user's data directory) and brings the schema up to date before it runs. Refusals
print ``error: ...`` on stderr and exit with status 1.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from server_stub import operations, queries
from server_stub.db import Database, default_sqlite_url, migrate
from server_stub.errors import ApiError
from server_stub.live import LiveSettings
from server_stub.schemas import StaffIn
from server_stub.settings import Settings


def _db_url(args: argparse.Namespace) -> str:
    return args.db or os.environ.get("CHAINPOS_HQ_DB") or default_sqlite_url()


def _open(args: argparse.Namespace) -> Database:
    """The command's database, migrated; :func:`main` closes it when the command ends."""
    db = Database(_db_url(args), pool_size=2)
    args.opened.append(db)
    migrate(db)
    return db


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
    )
    db = Database(settings.db_url, pool_size=args.pool_size)
    migrate(db)
    sock = server.bind(settings)
    port = sock.getsockname()[1]
    config = server.uvicorn_config(create_app(settings, db), settings, args.log_level.lower())
    config.access_log = args.access_log
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


def cmd_store_add(args: argparse.Namespace) -> int:
    store = operations.add_store(_open(args), args.code, args.name)
    print(f"store {store.code} {store.name} added")
    return 0


def cmd_store_list(args: argparse.Namespace) -> int:
    with _open(args).read() as conn:
        for s in queries.list_stores(conn):
            print(f"{s.code}\t{s.name}\t{'active' if s.active else 'inactive'}")
    return 0


def cmd_config_set(args: argparse.Namespace) -> int:
    try:
        value = json.loads(args.value)
    except json.JSONDecodeError:
        value = args.value
    if isinstance(value, (list, dict, float)):
        print("error: a setting is text, a whole number, true/false or null", file=sys.stderr)
        return 1
    data = operations.set_config(_open(args), args.store, args.key, value)
    print(f"{data.store or 'chain'}: {data.key} = {json.dumps(data.value, ensure_ascii=False)}")
    return 0


def cmd_staff_add(args: argparse.Namespace) -> int:
    pin = args.pin if args.pin is not None else getpass.getpass("PIN: ")
    staff = StaffIn(number=args.number, store=args.store, name=args.name, role=args.role, pin=pin)
    data = operations.add_staff(_open(args), staff)
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
    operations.update_staff(_open(args), args.number, pin=pin)
    print(f"PIN of {args.number} changed")
    return 0


def cmd_staff_active(args: argparse.Namespace) -> int:
    operations.update_staff(_open(args), args.number, active=args.active)
    print(f"staff {args.number} {'enabled' if args.active else 'disabled'}")
    return 0


def cmd_enroll_code(args: argparse.Namespace) -> int:
    import qrcode

    hq_url = args.hq_url or os.environ.get("CHAINPOS_HQ_URL")
    out = operations.create_enroll_code(_open(args), args.store, args.ttl_hours, hq_url)
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
    out = operations.revoke_device(_open(args), args.device_id)
    print(f"device {out.device_id} revoked")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    token = operations.create_admin_token(_open(args), args.name, args.days or None)
    print(token)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    operations.revoke_admin_token(_open(args), args.name)
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
    out = operations.import_catalog(_open(args), items)
    print(
        f"{out.created} created, {out.updated} updated, {out.unchanged} unchanged, "
        f"{out.prices} prices published"
    )
    return 0


def cmd_price_set(args: argparse.Namespace) -> int:
    try:
        fen = operations.parse_yuan(args.price)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    versions = operations.set_price(_open(args), args.sku, fen, args.effective_at, args.store)
    for v in versions:
        scope = v.store or "chain-wide"
        print(
            f"price version {v.version}: {v.sku} = {v.price_fen / 100:.2f} yuan ({v.price_fen} "
            f"fen), {scope}, from {v.effective_at.isoformat()}"
        )
    return 0


def cmd_stock_move(args: argparse.Namespace) -> int:
    db = _open(args)
    unit = operations.item_unit(db, args.sku)
    try:
        qty = operations.parse_qty(args.qty, unit)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    level = operations.move_stock(db, args.kind, args.store, args.sku, qty, args.reason)
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

    add(sub, "migrate", cmd_migrate, "bring the database schema up to date")

    store = sub.add_parser("store", help="stores").add_subparsers(dest="sub", required=True)
    s = add(store, "add", cmd_store_add, "add a store")
    s.add_argument("code", help="e.g. S001")
    s.add_argument("name")
    add(store, "list", cmd_store_list, "list stores")

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

    stock = sub.add_parser("stock", help="stock").add_subparsers(dest="sub", required=True)
    for kind in ("receive", "adjust"):
        s = add(stock, kind, cmd_stock_move, f"{kind} stock", kind=kind)
        s.add_argument("--store", required=True)
        s.add_argument("sku")
        s.add_argument("qty", help="pieces, or kg with up to 3 decimals (adjust: signed)")
        s.add_argument("--reason", required=True)
    s = add(stock, "show", cmd_stock_show, "levels of an item in every store")
    s.add_argument("sku")

    feed_p = sub.add_parser("feed", help="change feed").add_subparsers(dest="sub", required=True)
    s = add(feed_p, "prune", cmd_feed_prune, "delete old changes (terminals behind resync)")
    s.add_argument("--older-than-days", type=float, required=True)

    report = sub.add_parser("report", help="reports").add_subparsers(dest="sub", required=True)
    s = add(report, "stale-prices", cmd_report_stale, "sale lines priced at a stale version")
    s.add_argument("--since", type=_when, default=None, help="default: 24 hours ago")
    s.add_argument("--store", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``chainpos-hq``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "db"):
        args.db = None
    args.opened = []
    try:
        return int(args.func(args))
    except ApiError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    except ValueError as exc:  # pydantic validation of typed input
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for db in args.opened:
            db.dispose()


if __name__ == "__main__":
    sys.exit(main())
