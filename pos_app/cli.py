"""``chainpos``: the terminal's command line.

* ``chainpos demo``: the terminal on demo data (milk-tea chain, store S001) with a virtual
  printer; creates its database on first use.
* ``chainpos run``: the terminal on its own database (enrolled before).
* ``chainpos config [KEY [VALUE]]``: show or change a store setting (rounding, discount
  limit, languages, printer profile).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

_STARTED = time.perf_counter()


def _demo_db(args: argparse.Namespace) -> Path:
    from pos_app.app import default_data_dir

    return Path(args.db) if args.db else default_data_dir() / f"demo-{args.store}" / "terminal.db"


def cmd_demo(args: argparse.Namespace) -> int:
    from pos_app.app import build_terminal, run_gui
    from pos_app.localdb.engine import open_database, read_session, write_session
    from pos_app.localdb.seed import load_demo
    from pos_app.localdb.store import all_settings, set_setting

    db = _demo_db(args)
    if args.fresh and db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    engine = open_database(db)
    with read_session(engine) as session:
        seeded = "store_code" in all_settings(session)
    if not seeded:
        print(f"Creating demo data for store {args.store} in {db} ...", flush=True)
        load_demo(engine, store_code=args.store, terminal_id=f"{args.store}-T01")
        with write_session(engine) as session:
            set_setting(session, "rounding", "jiao")
            session.commit()
    engine.dispose()
    terminal = build_terminal(db, language=args.lang)
    _print_demo_staff(args.store)
    return run_gui(terminal, exit_when_ready=args.exit_when_ready, started_at=_STARTED)


def _print_demo_staff(store: str) -> None:
    from pos_app.localdb.seed import load_demo_json

    staff = [p for p in load_demo_json()["staff"] if p["store"] == store]
    print("Demo staff (number / PIN / role):")
    for p in staff:
        print(f"  {p['number']} / {p['pin']} / {p['role']}  {p['name']}")


def cmd_run(args: argparse.Namespace) -> int:
    from pos_app.app import NotEnrolled, build_terminal, default_data_dir, run_gui

    db = Path(args.db) if args.db else default_data_dir() / "terminal.db"
    try:
        terminal = build_terminal(db, language=args.lang)
    except NotEnrolled:
        print(
            f"{db}: this terminal is not set up for a store yet; "
            "try `chainpos demo` for the demo store.",
            file=sys.stderr,
        )
        return 2
    return run_gui(terminal, exit_when_ready=args.exit_when_ready, started_at=_STARTED)


# Store settings a manager may change, with what each accepts.
SETTINGS: dict[str, tuple[str, ...] | type] = {
    "rounding": ("none", "jiao", "yuan"),
    "discount_limit_bp": int,
    "language": ("zh_CN", "en"),
    "receipt_language": ("zh_CN", "en"),
    "printer_profile": (
        "generic-80-gb18030",
        "generic-80-gbk",
        "generic-58-gbk",
        "xprinter-58",
        "xprinter-80",
    ),
}


def cmd_config(args: argparse.Namespace) -> int:
    from pos_app.app import default_data_dir
    from pos_app.localdb.engine import open_database, read_session, write_session
    from pos_app.localdb.store import all_settings, set_setting

    db = Path(args.db) if args.db else default_data_dir() / "terminal.db"
    engine = open_database(db)
    try:
        if args.key is None:
            with read_session(engine) as session:
                current = all_settings(session)
            for key in SETTINGS:
                print(f"{key} = {current.get(key, '(default)')}")
            return 0
        if args.key not in SETTINGS:
            print(f"unknown setting {args.key!r}; known: {', '.join(SETTINGS)}", file=sys.stderr)
            return 2
        allowed = SETTINGS[args.key]
        value: object = args.value
        if allowed is int:
            try:
                value = int(args.value)
            except (TypeError, ValueError):
                print(f"{args.key} takes a whole number", file=sys.stderr)
                return 2
            if not 0 <= int(value) <= 10_000:
                print(f"{args.key} is in basis points: 0 to 10000", file=sys.stderr)
                return 2
        elif isinstance(allowed, tuple) and args.value not in allowed:
            print(f"{args.key} takes one of: {', '.join(allowed)}", file=sys.stderr)
            return 2
        with write_session(engine) as session:
            set_setting(session, args.key, value)
            session.commit()
        print(f"{args.key} = {value} (takes effect at the next start)")
        return 0
    finally:
        engine.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chainpos", description="ChainPOS terminal")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, help_text in (
        ("demo", cmd_demo, "run the terminal on demo data with virtual devices"),
        ("run", cmd_run, "run the terminal on its own database"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(func=func)
        p.add_argument("--db", help="terminal database file")
        p.add_argument("--lang", choices=["zh_CN", "en"], help="screen language")
        p.add_argument(
            "--exit-when-ready",
            action="store_true",
            help="quit as soon as the terminal is ready to scan (start-up timing)",
        )
        if name == "demo":
            p.add_argument("--store", default="S001", choices=["S001", "S002", "S003"])
            p.add_argument("--fresh", action="store_true", help="recreate the demo database")
    p = sub.add_parser("config", help="show or change a store setting of this terminal")
    p.set_defaults(func=cmd_config)
    p.add_argument("--db", help="terminal database file")
    p.add_argument("key", nargs="?", help="setting name; omit to list them")
    p.add_argument("value", nargs="?", help="new value")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
