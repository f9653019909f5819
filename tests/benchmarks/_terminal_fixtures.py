"""Terminal databases for ``bench_terminal``: the demo store plus N generated items.

A database is built under a temporary name and renamed when complete, so a run that was
interrupted never leaves a half-built file that a later run would reuse. An existing file
is reused when it holds the demo store S001, exactly ``60 demo + n`` items and PIN hashes
of the requested cost.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

from pos_app.localdb.engine import open_database, write_session
from pos_app.localdb.seed import generate_catalog, load_demo, load_demo_json
from pos_app.localdb.store import set_setting
from sync_client.contract.pin import DEFAULT_N, hash_pin

STORE = "S001"
TERMINAL = "S001-T01"
FAST_PIN_N = 2**4
DEMO_STAFF = ("1001", "1234")  # cashier 王芳 in S001


def _fast_hasher(pin: str) -> str:
    return hash_pin(pin, n=FAST_PIN_N)


def _log(msg: str) -> None:
    print(f"[bench_terminal] {msg}", file=sys.stderr, flush=True)


def _demo_item_count() -> int:
    return len(load_demo_json()["items"])


def _matches(path: Path, n: int, pin_n: int) -> bool:
    if not path.exists():
        return False
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            items = con.execute("SELECT COUNT(*) FROM item").fetchone()[0]
            store = con.execute("SELECT value FROM setting WHERE key='store_code'").fetchone()
            pin = con.execute("SELECT pin_hash FROM staff WHERE number=?", (DEMO_STAFF[0],))
            pin_row = pin.fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return (
        items == _demo_item_count() + n
        and store is not None
        and store[0] == f'"{STORE}"'
        and pin_row is not None
        and pin_row[0].startswith(f"scrypt${pin_n}$")
    )


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _checkpoint(path: Path) -> None:
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def demo_catalog_db(directory: Path, n: int, *, realistic_pins: bool) -> tuple[Path, bool]:
    """A demo database for store S001 with ``n`` generated items; returns (path, reused).

    ``realistic_pins`` keeps the application's own scrypt cost for staff PINs (what a real
    terminal signs in against); otherwise PINs are hashed cheaply to save set-up time.
    """
    pin_n = DEFAULT_N if realistic_pins else FAST_PIN_N
    path = directory / f"demo-{STORE}-{n}-pin{pin_n}.db"
    if _matches(path, n, pin_n):
        return path, True
    _remove_db(path)
    tmp = directory / f"{path.name}.building"
    _remove_db(tmp)
    started = time.perf_counter()
    _log(f"building {path.name} ({n:,} generated items) ...")
    engine = open_database(tmp)
    try:
        if realistic_pins:
            load_demo(engine, store_code=STORE, terminal_id=TERMINAL)
        else:
            load_demo(engine, store_code=STORE, terminal_id=TERMINAL, pin_hasher=_fast_hasher)
        # What `chainpos demo` sets when it seeds its own database.
        with write_session(engine) as session:
            set_setting(session, "rounding", "jiao")
            set_setting(session, "shift.required", False)
            session.commit()
        generate_catalog(engine, n)
    finally:
        engine.dispose()
    _checkpoint(tmp)
    os.replace(tmp, path)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    if not _matches(path, n, pin_n):
        raise RuntimeError(f"{path}: built database does not hold the expected items")
    _log(f"built {path.name} in {time.perf_counter() - started:.1f}s")
    return path, False


def fresh_copy(source: Path, target: Path) -> Path:
    """A private copy of a (checkpointed) database, for benchmarks that write to it."""
    _checkpoint(source)
    _remove_db(target)
    shutil.copyfile(source, target)
    return target
