"""Transfer steps pushed through a faulty network to an HQ process that is killed while
it applies one: every level converges and nothing is counted twice."""

from __future__ import annotations

import threading
from urllib.parse import urlparse

import httpx
import pytest

from server_stub import operations
from server_stub.db import Database
from tests.faults.proxy import FaultProxy
from tests.server.conftest import Chain, start_hq_process, wait_until
from tests.server.helpers import feed_changes, level
from tests.server.stock_helpers import WATER, alerts, ledger_sum, moves, request, step
from tests.server.test_processes import _write_transaction_open, killable_db  # noqa: F401

pytestmark = pytest.mark.slow  # real HQ processes, a fault proxy, SIGKILL


def _port(url: str) -> int:
    port = urlparse(url).port
    assert port is not None
    return port


def _push_until_answered(url: str, device, events) -> list[str]:
    """Pushes like the till's outbox: again after any network error, until answered."""
    for _ in range(20):
        try:
            with httpx.Client(base_url=url, timeout=60) as c:
                r = c.post("/v1/sync/push", json={"events": events}, headers=device.headers)
        except httpx.HTTPError:
            continue
        assert r.status_code == 200, r.text
        return [x["status"] for x in r.json()["results"]]
    raise AssertionError("push never answered")


def test_ship_and_receive_survive_lost_answers_and_a_killed_hq(killable_db: str):  # noqa: F811
    """GIVEN S003 with 240 矿泉水 and S002 with 5, a transfer of 48 requested and approved
    (the approval's answer cut after HQ committed it)
    WHEN S003 ships in a push of 300 sales and HQ is SIGKILLed while that push's
    transaction is open, HQ restarts behind the same proxy address and the till pushes
    again; then S002 receives 46 and that answer is cut too
    THEN every step is applied exactly once: S003 is down by the 48 shipped and what it
    sold, S002 up by 46, the ledger sums to both levels, one shortfall alert per store,
    and the last stock change in the feed equals each level."""
    db = Database(killable_db)
    hq = start_hq_process(killable_db)
    proxy = FaultProxy(upstream=("127.0.0.1", _port(hq.url))).start()
    try:
        chain = Chain(db, hq.url)
        s3, s2 = chain.store("城东店"), chain.store("城西店")
        water = chain.item(price_fen=200, name_zh=WATER)
        goods = [chain.item() for _ in range(10)]
        operations.move_stock(db, "receive", s3, water, 240_000, "opening")
        operations.move_stock(db, "receive", s2, water, 5_000, "opening")
        for sku in goods:
            operations.move_stock(db, "receive", s3, sku, 1_000_000, "opening")
        dev3, dev2 = chain.device(s3), chain.device(s2)
        boss3, boss2 = chain.staff(s3, role="manager"), chain.staff(s2, role="manager")

        tid, asked = request(chain, dev2, s3, boss2, [(water, 48_000)])
        assert _push_until_answered(proxy.url, dev2, [asked]) == ["applied"]
        approved = step(chain, dev3, "approved", tid, boss3, [(water, 48_000)])
        proxy.cut_next_response(after_bytes=20, request=b"POST /v1/sync/push")
        assert _push_until_answered(proxy.url, dev3, [approved]) == ["duplicate"]

        sales = [chain.sale(dev3, [(sku, 1000) for sku in goods]) for _ in range(300)]
        shipped = step(chain, dev3, "shipped", tid, boss3, [(water, 48_000)])
        batch = [*sales, shipped]
        errors: list[BaseException] = []

        def push_once() -> None:
            try:
                with httpx.Client(base_url=proxy.url, timeout=60) as c:
                    c.post("/v1/sync/push", json={"events": batch}, headers=dev3.headers)
            except httpx.HTTPError as exc:
                errors.append(exc)

        pusher = threading.Thread(target=push_once)
        pusher.start()
        wait_until(lambda: _write_transaction_open(killable_db), what="push transaction")
        hq.kill()
        pusher.join(30)
        assert errors, "the push was answered before HQ was killed"
        assert len(moves(db, s3, water, "transfer_out")) in (0, 1)

        hq = start_hq_process(killable_db)
        proxy.set_upstream(("127.0.0.1", _port(hq.url)))
        assert set(_push_until_answered(proxy.url, dev3, batch)) <= {"applied", "duplicate"}
        assert _push_until_answered(proxy.url, dev3, batch) == ["duplicate"] * len(batch)

        received = step(chain, dev2, "received", tid, boss2, [(water, 46_000)])
        proxy.cut_next_response(after_bytes=20, request=b"POST /v1/sync/push")
        assert _push_until_answered(proxy.url, dev2, [received]) == ["duplicate"]
        assert _push_until_answered(proxy.url, dev2, [received]) == ["duplicate"]
    finally:
        proxy.stop()
        hq.stop()

    assert level(db, s3, water) == 192_000
    assert level(db, s2, water) == 51_000
    assert moves(db, s3, water, "transfer_out") == [-48_000]
    assert moves(db, s2, water, "transfer_in") == [46_000]
    for sku in goods:
        assert level(db, s3, sku) == 1_000_000 - 300 * 1000
    for store, sku in [(s3, water), (s2, water), *((s3, g) for g in goods)]:
        assert ledger_sum(db, store, sku) == level(db, store, sku)
        last = feed_changes(db, "stock", f"{store}:{sku}")[-1]
        assert f'"on_hand_milli":{level(db, store, sku)}' in last
    for store in (s2, s3):
        assert [a.qty_milli for a in alerts(db, store, water, "transfer_shortfall")] == [2_000]
    db.dispose()
