"""Test support shared by HQ's tests and benchmarks: throw-away databases, HQ as a
subprocess, and a builder for chain data and terminal events.

Waiting is always "poll until true, with a deadline" (:func:`wait_until`), never a sleep
sized to the machine's speed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import make_url

from server_stub import operations
from server_stub.db import Database, migrate
from server_stub.member_keys import MemberKeys
from server_stub.schemas import ItemIn, StaffIn
from sync_client.contract.protocol import PROTOCOL_HEADER, PROTOCOL_VERSION
from tests.support import wait_until

PG_URL = os.environ.get("CHAINPOS_TEST_PG_URL")
REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0


# -- databases ----------------------------------------------------------------------------


def _pg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_pg_database(prefix: str = "chainpos_t", server_url: str | None = None) -> Iterator[str]:
    """Creates a database on the PostgreSQL server of ``server_url`` (default
    ``CHAINPOS_TEST_PG_URL``); drops it afterwards."""
    server = server_url or PG_URL
    assert server is not None
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(_pg_conninfo(server), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_pg_conninfo(server), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(backend: str, tmp: Path, *, migrated: bool = True) -> Iterator[str]:
    """A new HQ database of the given backend (with the schema unless ``migrated=False``);
    its URL."""
    with (
        nullcontext(f"sqlite:///{tmp / f'hq-{secrets.token_hex(4)}.sqlite3'}")
        if backend == "sqlite"
        else fresh_pg_database()
    ) as url:
        if migrated:
            db = Database(url)
            migrate(db)
            db.dispose()
        yield url


# -- HQ as a process -------------------------------------------------------------------


@dataclass
class HQProcess:
    """``chainpos-hq serve`` in a subprocess."""

    proc: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)
    drain: threading.Thread | None = None

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/v1/sync/live"

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, open transactions are lost."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._close_pipe()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(10)
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.drain is not None:
            self.drain.join(10)
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()


def keys_file_for(db_url: str) -> Path:
    """A member keys file for the database ``db_url``, the same for every process that
    serves it (made on first use). SQLite HQ keeps one beside its file by itself; a
    PostgreSQL HQ refuses to start without one."""
    url = make_url(db_url)
    name = Path(url.database or "hq").name
    folder = Path(tempfile.gettempdir()) / "chainpos-test-keys"
    path = folder / f"{url.get_backend_name()}-{name}.keys"
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            MemberKeys.generate().save(path)
    return path


def start_hq_process(db_url: str, *extra: str) -> HQProcess:
    """Starts ``python -m server_stub.cli serve --port 0`` and waits for its address."""
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        CHAINPOS_HQ_KEYS=str(keys_file_for(db_url)),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server_stub.cli",
            "serve",
            "--db",
            db_url,
            "--port",
            "0",
            "--log-level",
            "warning",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        found = re.search(r"listening on (\S+)", line)
        if found:
            break
    else:
        raise AssertionError("HQ process exited before listening:\n" + "".join(lines))
    hq = HQProcess(proc, found.group(1), lines)
    # Keep draining its output so that a chatty process never blocks on a full pipe.
    hq.drain = threading.Thread(target=lambda: hq.output.extend(proc.stdout or ()), daemon=True)
    hq.drain.start()
    wait_until(lambda: _healthy(hq.url), what="HQ process health")
    return hq


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# -- chain data ---------------------------------------------------------------------------

_codes = itertools.count(1)


@dataclass(frozen=True)
class Device:
    """An enrolled terminal."""

    device_id: str
    store: str
    token: str
    receipt_secret: str

    @property
    def headers(self) -> dict[str, str]:
        """What a current till sends: its token and the protocol version it speaks."""
        return {"Authorization": f"Bearer {self.token}", PROTOCOL_HEADER: str(PROTOCOL_VERSION)}


class Chain:
    """Builds stores, items, staff and devices in one HQ database, and terminal events."""

    def __init__(self, db: Database, url: str) -> None:
        self.db = db
        self.url = url
        self._seq = itertools.count(1)
        self._cashiers: dict[str, str] = {}

    def store(self, name: str = "门店") -> str:
        code = f"T{os.getpid() % 1000:03d}{next(_codes):04d}"
        operations.add_store(self.db, code, f"{name} {code}")
        return code

    def item(self, price_fen: int | None = 1600, unit: str = "piece", **kw: Any) -> str:
        sku = kw.pop("sku", None) or f"SKU{next(_codes):05d}"
        operations.import_catalog(
            self.db,
            [
                ItemIn(
                    sku=sku,
                    name_zh=kw.pop("name_zh", "杨枝甘露"),
                    unit=unit,
                    price_fen=price_fen,
                    **kw,
                )
            ],  # type: ignore[arg-type]
        )
        return sku

    def staff(self, store: str | None, role: str = "supervisor", pin: str = "1234") -> str:
        number = f"{next(_codes):06d}"
        operations.add_staff(
            self.db,
            StaffIn(number=number, store=store, name="王芳", role=role, pin=pin),  # type: ignore[arg-type]
        )
        return number

    def cashier(self, store: str) -> str:
        """The store's own cashier at HQ (made on first use), whom the event builders name:
        HQ checks the staff every event names against its own staff list."""
        found = self._cashiers.get(store)
        if found is None:
            found = self._cashiers[store] = self.staff(store, "cashier")
        return found

    def device(self, store: str, client: httpx.Client | None = None) -> Device:
        """A terminal enrolled at ``store``, whose cashier (:meth:`cashier`) HQ knows from
        here on."""
        self.cashier(store)
        code = operations.create_enroll_code(self.db, store).code
        body = {"store": store, "code": code, "device_name": "收银台"}
        own = client is None
        client = client or httpx.Client(base_url=self.url, timeout=30)
        try:
            r = client.post("/v1/devices/enroll", json=body)
        finally:
            if own:
                client.close()
        assert r.status_code == 200, r.text
        j = r.json()
        return Device(j["device_id"], j["store"], j["token"], j["receipt_secret"])

    def admin_token(self) -> str:
        return operations.create_admin_token(self.db, f"t-{secrets.token_hex(6)}")

    # -- events ---------------------------------------------------------------------------

    def sale(
        self,
        device: Device,
        lines: list[tuple[str, int]],
        *,
        price_fen: int = 1600,
        price_version: int = 1,
        sale_id: uuid.UUID | None = None,
        event_id: uuid.UUID | None = None,
        when: datetime | None = None,
        cashier: str | None = None,
    ) -> dict[str, Any]:
        """A ``sale.completed`` event selling ``(sku, qty_milli)`` lines at one price, by
        ``cashier`` (default: the store's own cashier, :meth:`cashier`)."""
        when = when or datetime.now(UTC)
        sale_lines = []
        total = 0
        for n, (sku, qty) in enumerate(lines, start=1):
            amount = price_fen * qty // 1000
            total += amount
            sale_lines.append(
                {
                    "line_no": n,
                    "sku": sku,
                    "name": "杨枝甘露",
                    "unit": "piece",
                    "qty_milli": qty,
                    "unit_price_fen": price_fen,
                    "price_version": price_version,
                    "list_amount_fen": amount,
                    "discount_fen": 0,
                    "amount_fen": amount,
                }
            )
        payload = {
            "type": "sale.completed",
            "sale_id": str(sale_id or uuid.uuid4()),
            "receipt_no": f"R{next(self._seq):06d}",
            "store": device.store,
            "terminal": device.device_id,
            "cashier": cashier or self.cashier(device.store),
            "started_at": when.isoformat(),
            "completed_at": when.isoformat(),
            "lines": sale_lines,
            "subtotal_fen": total,
            "discount_fen": 0,
            "rounding_fen": 0,
            "total_fen": total,
            "tenders": [{"kind": "cash", "amount_fen": total, "tendered_fen": total}],
            "change_fen": 0,
        }
        return self.event(payload, event_id=event_id)

    def event(
        self, payload: dict[str, Any], *, event_id: uuid.UUID | None = None
    ) -> dict[str, Any]:
        return {
            "id": str(event_id or uuid.uuid4()),
            "device_seq": next(self._seq),
            "occurred_at": datetime.now(UTC).isoformat(),
            "payload": payload,
        }

    def void(self, device: Device, sale_event: dict[str, Any], supervisor: str) -> dict[str, Any]:
        return self.event(
            {
                "type": "sale.voided",
                "sale_id": sale_event["payload"]["sale_id"],
                "store": device.store,
                "terminal": device.device_id,
                "voided_at": datetime.now(UTC).isoformat(),
                "reason": "顾客取消",
                "supervisor": supervisor,
            }
        )

    def count(self, device: Device, sku: str, counted_milli: int) -> dict[str, Any]:
        return self.event(
            {
                "type": "stock.counted",
                "store": device.store,
                "terminal": device.device_id,
                "sku": sku,
                "counted_milli": counted_milli,
                "counted_at": datetime.now(UTC).isoformat(),
                "staff": self.cashier(device.store),
            }
        )
