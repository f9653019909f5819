"""Fixtures for HQ tests: real databases, real uvicorn, real clients.

Why these fixtures exist:

* ``backend`` runs every integration test twice, on SQLite and on PostgreSQL. The
  PostgreSQL half runs when ``CHAINPOS_TEST_PG_URL`` names a server (for example
  ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and is skipped, visibly, when not.
* ``db_url`` gives each test module a database of its own: a SQLite file in a temporary
  directory, or a freshly created PostgreSQL database that is dropped afterwards, so that
  parallel runs on one server never collide and the LISTEN/NOTIFY channels are private.
* ``hq`` runs the real app on uvicorn in a background thread on a free loopback port,
  with the same settings ``chainpos-hq serve`` uses (frame limit, lifespan, live hub).
  Tests talk to it over real HTTP and WebSocket connections.
* ``chain`` sets up what a test needs through the same operations the admin CLI uses:
  stores with unique codes (tests share a module's database), items, staff, enrolled
  devices; and builds terminal events.
* :func:`start_hq_process` runs ``chainpos-hq serve`` as a subprocess, for tests that kill
  it or run two of them on one PostgreSQL database.

Waiting is always "poll until true, with a deadline" (:func:`wait_until`), never a sleep
sized to the machine's speed.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from sqlalchemy import make_url

from server_stub import operations
from server_stub import server as server_options
from server_stub.app import create_app
from server_stub.db import Database, migrate
from server_stub.live import LiveSettings
from server_stub.schemas import ItemIn, StaffIn
from server_stub.settings import Settings

with warnings.catch_warnings():
    # Starlette 1.x asks for the "httpx2" fork and warns at import when it finds plain
    # httpx; the test client works the same with httpx, which the project depends on.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

PG_URL = os.environ.get("CHAINPOS_TEST_PG_URL")
REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0

__all__ = ["TestClient"]


def wait_until(predicate: Callable[[], Any], timeout: float = DEADLINE_S, what: str = "") -> Any:
    """Polls ``predicate`` until it returns something truthy; fails after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.01)


# -- databases ----------------------------------------------------------------------------


def _pg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_pg_database(prefix: str = "chainpos_t") -> Iterator[str]:
    """Creates a PostgreSQL database on the ``CHAINPOS_TEST_PG_URL`` server; drops it after."""
    assert PG_URL is not None
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(_pg_conninfo(PG_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_pg_conninfo(PG_URL), autocommit=True) as admin:
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


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "pg",
        id="pg",
        marks=[
            pytest.mark.pg,
            pytest.mark.skipif(PG_URL is None, reason="CHAINPOS_TEST_PG_URL is not set"),
        ],
    ),
]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def db_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(backend, tmp_path_factory.mktemp("hqdb")) as url:
        yield url


# -- servers ------------------------------------------------------------------------------


@dataclass
class RunningHQ:
    """An HQ app served by uvicorn on a loopback port."""

    url: str
    db: Database
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread
    app: Any

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/v1/sync/live"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        assert not self.thread.is_alive(), "uvicorn did not stop"


def start_hq_thread(
    db_url: str, *, live: LiveSettings | None = None, ssl: tuple[Path, Path] | None = None
) -> RunningHQ:
    """Serves a new app on ``db_url`` in a background thread; returns once it accepts."""
    settings = Settings(
        db_url=db_url,
        port=0,
        live=live or LiveSettings(heartbeat_s=5.0),
        hq_url="http://127.0.0.1",
        tls_cert=ssl[0] if ssl else None,
        tls_key=ssl[1] if ssl else None,
    )
    db = Database(db_url)
    app = create_app(settings, db)
    sock = server_options.bind(settings)
    port = sock.getsockname()[1]
    config = server_options.uvicorn_config(app, settings, "warning")
    config.timeout_graceful_shutdown = 2
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn start")
    assert server.started, "uvicorn failed to start"
    scheme = "https" if ssl else "http"
    return RunningHQ(f"{scheme}://127.0.0.1:{port}", db, settings, server, thread, app)


@pytest.fixture(scope="module")
def hq(db_url: str) -> Iterator[RunningHQ]:
    running = start_hq_thread(db_url)
    yield running
    running.stop()
    running.db.dispose()


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


def start_hq_process(db_url: str, *extra: str) -> HQProcess:
    """Starts ``python -m server_stub.cli serve --port 0`` and waits for its address."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
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
        return {"Authorization": f"Bearer {self.token}"}


class Chain:
    """Builds stores, items, staff and devices in one HQ database, and terminal events."""

    def __init__(self, db: Database, url: str) -> None:
        self.db = db
        self.url = url
        self._seq = itertools.count(1)

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

    def device(self, store: str, client: httpx.Client | None = None) -> Device:
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
    ) -> dict[str, Any]:
        """A ``sale.completed`` event selling ``(sku, qty_milli)`` lines at one price."""
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
            "cashier": "1001",
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
                "staff": "1001",
            }
        )


@pytest.fixture(scope="module")
def chain(hq: RunningHQ) -> Chain:
    return Chain(hq.db, hq.url)


@pytest.fixture
def client(hq: RunningHQ) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hq.url, timeout=30) as c:
        yield c
