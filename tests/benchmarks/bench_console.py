"""HQ console: the dashboard of a 1,000-store chain.

Seeds 1,000 stores, 2,000 terminals and a day of sales (bulk inserts), serves HQ on
uvicorn on a loopback port and measures, over HTTP:

* first paint: the complete HTML of ``GET /console/dashboard`` (p50/p99);
* sale → dashboard: a sale pushed by a till until the dashboard's Server-Sent Events
  stream announces it and the refreshed live fragment shows the new total (p50/p99).

Targets (issue 20): first paint p99 ≤ 300 ms; sale → dashboard p99 ≤ 1 s. Run with
``python -m tests.benchmarks --only console`` (``--quick``: 100 stores).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from server_stub import operations
from server_stub.audit import Actor
from server_stub.bulk import insert_rows
from server_stub.console import users
from server_stub.console.queries import day_start, today
from server_stub.db import Database, migrate
from server_stub.sales_summary import SummaryDelta
from server_stub.sales_summary import write as write_summary
from tests.benchmarks._stats import Options, percentiles_ms
from tests.server.conftest import start_hq_thread
from tests.server.support import Chain

PASSWORD = "bench console 1"


def _seed(db: Database, stores: int, sales_per_store: int) -> None:
    from server_stub import models as m

    now = datetime.now(UTC)
    codes = [f"S{i:04d}" for i in range(1, stores + 1)]
    with db.write() as tx:
        insert_rows(
            tx.conn,
            m.stores,
            [
                {
                    "code": c,
                    "name": f"门店{c}",
                    "active": True,
                    "created_at": now,
                    "region": f"R{i % 20:02d}",
                }
                for i, c in enumerate(codes)
            ],
        )
        insert_rows(
            tx.conn,
            m.devices,
            [
                {
                    "id": f"{c}-T{n:02d}",
                    "store_code": c,
                    "name": "收银台",
                    "token_hash": uuid.uuid4().hex + uuid.uuid4().hex[:32],
                    "receipt_secret": "x" * 44,
                    "created_at": now,
                    "revoked_at": None,
                    "last_seen_at": now,
                }
                for c in codes
                for n in (1, 2)
            ],
        )
        # The chain's day (Asia/Shanghai), the dashboard's "today": a UTC midnight would
        # put the whole seed on yesterday during the first eight hours of the local day.
        start = day_start(today())
        sales = []
        for c in codes:
            for k in range(sales_per_store):
                at = start + timedelta(seconds=k * 40)
                sales.append(
                    {
                        "sale_id": uuid.uuid4(),
                        "event_id": uuid.uuid4(),
                        "store_code": c,
                        "terminal": f"{c}-T01",
                        "cashier": "1001",
                        "receipt_no": f"R{k}",
                        "started_at": at,
                        "completed_at": min(at, now),
                        "subtotal_fen": 1600,
                        "discount_fen": 0,
                        "rounding_fen": 0,
                        "total_fen": 1600,
                        "change_fen": 0,
                        "received_at": now,
                        "voided_at": None,
                        "void_event_id": None,
                        "void_reason": None,
                        "void_supervisor": None,
                        "member_no": None,
                    }
                )
        for i in range(0, len(sales), 20_000):
            insert_rows(tx.conn, m.sales, sales[i : i + 20_000])
        # The per-store-per-day summary the ingest keeps for these sales.
        summary = SummaryDelta()
        for sale in sales:
            summary.sale(sale["store_code"], sale["completed_at"], sale["total_fen"], [])
        write_summary(tx.conn, summary)
    operations.import_catalog(
        db, operations.parse_catalog_csv("sku,name_zh,unit,price\nMT001,杨枝甘露,piece,16\n")
    )
    users.add_user(
        db,
        Actor("bench"),
        username="admin",
        display_name="A",
        password=PASSWORD,
        role="hq_admin",
        log2_n=10,
    )


def _sign_in(client: httpx.Client) -> None:
    import re

    page = client.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert token
    r = client.post(
        "/console/login",
        data={
            "login_token": token.group(1),
            "username": "admin",
            "password": PASSWORD,
            "next": "/console/dashboard",
        },
    )
    assert r.status_code == 303, r.text


def run(opts: Options) -> list[dict[str, Any]]:
    stores = 100 if opts.quick else 1000
    per_store = 30 if opts.quick else 300
    rounds = 20 if opts.quick else 100
    path = opts.scratch("console")
    url = f"sqlite:///{path}/hq.sqlite3"
    db = Database(url)
    migrate(db)
    _seed(db, stores, per_store)
    db.dispose()
    hq = start_hq_thread(url)
    results: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=hq.url, timeout=30) as client:
            _sign_in(client)
            client.get("/console/dashboard")  # warm caches and templates
            paint = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                r = client.get("/console/dashboard")
                paint.append(time.perf_counter() - t0)
                assert r.status_code == 200
            results.append(
                {
                    "bench": "console_dashboard_first_paint",
                    "stores": stores,
                    "terminals": stores * 2,
                    "sales": stores * per_store,
                    **percentiles_ms(paint),
                }
            )
            chain = Chain(hq.db, hq.url)
            device = chain.device("S0001")
            visible = []
            with client.stream("GET", "/console/dashboard/events") as events:
                lines = events.iter_lines()
                next(line for line in lines if line.startswith("data:"))  # hello
                for _ in range(rounds // 2):
                    sale = chain.sale(device, [("MT001", 1000)], price_fen=1600)
                    t0 = time.perf_counter()
                    r = httpx.post(
                        f"{hq.url}/v1/sync/push",
                        json={"events": [sale]},
                        headers=device.headers,
                        timeout=30,
                    )
                    assert r.status_code == 200
                    next(line for line in lines if line.startswith("event: sales"))
                    fragment = client.get("/console/dashboard/live")
                    assert fragment.status_code == 200
                    visible.append(time.perf_counter() - t0)
            results.append(
                {"bench": "console_sale_to_dashboard", "stores": stores, **percentiles_ms(visible)}
            )
    finally:
        hq.stop()
        hq.db.dispose()
    return results
