"""``chainpos``: the terminal's command line.

* ``chainpos demo``: an embedded HQ and two terminals (stores S001 and S002) on the demo
  milk-tea chain, with virtual printers; creates everything on first use.
  ``chainpos demo --standalone`` (or ``--db FILE``): one terminal without HQ.
* ``chainpos run``: the terminal on its own database; the first start enrols it with HQ.
* ``chainpos sim --hq URL --terminals N --sales-per-minute R``: headless terminals selling
  against a real HQ, for load and soak tests.
* ``chainpos config [KEY [VALUE]]``: show or change a store setting (rounding, discount
  limit, languages, printer profile).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

_STARTED = time.perf_counter()


def _demo_db(args: argparse.Namespace) -> Path:
    from pos_app.app import default_data_dir

    return Path(args.db) if args.db else default_data_dir() / f"demo-{args.store}" / "terminal.db"


def cmd_demo(args: argparse.Namespace) -> int:
    if args.standalone or args.db:
        return _standalone_demo(args)
    from pos_app import demo
    from pos_app.app import default_data_dir, run_gui

    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir() / "demo-chain"
    chain = demo.prepare(data_dir, fresh=args.fresh, language=args.lang)
    try:
        demo.print_guide(chain)
        terminals, chain.terminals = chain.terminals, []
        return run_gui(
            terminals,
            exit_when_ready=args.exit_when_ready,
            started_at=_STARTED,
            on_ready=lambda windows: demo.show_controls(chain, terminals, windows),
            # A developer's second monitor is no customer's: the controls open them.
            customer_displays=False,
        )
    finally:
        chain.close()
        print("Demo stopped: HQ, the payment gateway simulator and the tills.", flush=True)


def _standalone_demo(args: argparse.Namespace) -> int:
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
    from pos_app.app import NotEnrolled, build_terminal, default_data_dir, enroll_gui, run_gui

    db = Path(args.db) if args.db else default_data_dir() / "terminal.db"
    verify: bool | str = args.ca_file or True
    if args.allow_insecure_hq:
        os.environ["CHAINPOS_ALLOW_INSECURE_HQ"] = "1"  # read by the enrolment service
    try:
        terminal = build_terminal(db, language=args.lang, verify=verify)
    except NotEnrolled:
        if args.exit_when_ready:
            print(
                f"{db}: this terminal is not enrolled with HQ yet; start `chainpos run` "
                "to enrol it, or try `chainpos demo`.",
                file=sys.stderr,
            )
            return 2
        if not enroll_gui(db, language=args.lang, verify=verify):
            return 2
        terminal = build_terminal(db, language=args.lang, verify=verify)
    return run_gui(terminal, exit_when_ready=args.exit_when_ready, started_at=_STARTED)


def cmd_sim(args: argparse.Namespace) -> int:
    from pos_app.sim import run_sim

    return run_sim(args)


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
    "label_printer": str,
    # The customer display on a second screen: "auto" opens it when one is connected.
    "customer_display": ("auto", "off"),
}


LABEL_PRINTER_VALUES = "none, virtual, network:HOST[:PORT], file:PATH"


def label_printer_setting(value: str) -> dict[str, object] | None:
    """The ``label_printer`` setting for a value of ``chainpos config label_printer``:
    ``none``, ``virtual``, ``network:HOST[:PORT]`` or ``file:PATH`` (None: not valid)."""
    kind, _, rest = value.partition(":")
    if value in ("none", "virtual"):
        return {"backend": value}
    if kind == "network" and rest:
        host, _, port = rest.partition(":")
        if port and not port.isdigit():
            return None
        return {"backend": "network", "host": host, "port": int(port or 9100)}
    if kind == "file" and rest:
        return {"backend": "file", "path": rest}
    return None


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
        elif args.key == "label_printer":
            value = label_printer_setting(args.value or "")
            if value is None:
                print(f"{args.key} takes one of: {LABEL_PRINTER_VALUES}", file=sys.stderr)
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
            p.add_argument(
                "--standalone", action="store_true", help="one terminal on demo data, no HQ"
            )
            p.add_argument("--data-dir", help="demo folder (HQ and terminal databases)")
            p.add_argument(
                "--store", default="S001", choices=["S001", "S002", "S003"], help="standalone"
            )
            p.add_argument("--fresh", action="store_true", help="recreate the demo data")
        else:
            p.add_argument("--ca-file", help="CA bundle HQ's TLS certificate is checked with")
            p.add_argument(
                "--allow-insecure-hq",
                action="store_true",
                help="lab only: enrol with a plain http:// HQ on another machine "
                "(same as CHAINPOS_ALLOW_INSECURE_HQ=1)",
            )
    p = sub.add_parser("sim", help="headless terminals selling against a real HQ")
    p.set_defaults(func=cmd_sim)
    p.add_argument("--hq", required=True, help="HQ's URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--terminals", type=int, default=10)
    p.add_argument("--sales-per-minute", type=float, default=60.0, help="per terminal")
    p.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = until Ctrl-C")
    p.add_argument(
        "--admin-token",
        default=None,
        help="admin token to mint enrolment codes (default $CHAINPOS_ADMIN_TOKEN)",
    )
    p.add_argument("--stores", default="", help="comma-separated store codes (default: all)")
    p.add_argument("--data-dir", help="where the simulated terminals keep their databases")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--report-every", type=float, default=10.0, help="seconds between reports")
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
