"""WS /v1/sync/live with real websockets clients against real uvicorn.

This module's HQ uses short heartbeats (0.5 s), a short hello timeout and a four-message
send queue, so that dead and slow clients show up within a test's patience.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from server_stub import live, operations
from server_stub.live import LiveSettings
from server_stub.schemas import ItemIn
from sync_client.contract import protocol as p
from tests.server.conftest import REPO, Chain, RunningHQ, start_hq_thread
from tests.server.helpers import head
from tests.server.live_client import LiveTerminal


@pytest.fixture(scope="module")
def hq(db_url: str) -> Iterator[RunningHQ]:
    running = start_hq_thread(
        db_url,
        live=LiveSettings(
            heartbeat_s=0.5,
            queue_size=4,
            hello_timeout_s=1.0,
            poll_interval_s=0.2,
            revoke_check_s=0.2,
        ),
    )
    yield running
    running.stop()
    running.db.dispose()


def test_hello_catches_up_then_streams_changes_as_they_commit(hq: RunningHQ, chain: Chain):
    store = chain.store()
    dev = chain.device(store)
    start = head(hq.db)
    early = chain.item(price_fen=1000)

    async def scenario() -> None:
        async with LiveTerminal(hq.ws_url, dev.token, start) as t:
            await t.wait_for(lambda t: early in t.keys("item"))
            assert t.welcome is not None and t.welcome["device_id"] == dev.device_id
            assert t.welcome["store"] == store and t.welcome["heartbeat_s"] == 0.5
            admin = {"Authorization": f"Bearer {chain.admin_token()}"}
            async with httpx.AsyncClient(base_url=hq.url) as c:
                r = await c.post(
                    "/v1/admin/prices", json={"sku": early, "price_fen": 1800}, headers=admin
                )
                assert r.status_code == 201
            version = str(r.json()["versions"][0]["version"])
            await t.wait_for(lambda t: version in t.keys("price"))
            assert t.gaps == 0
            seqs = [c["seq"] for c in t.changes]
            assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
            assert t.cursor >= max(seqs)
            price = next(c for c in t.changes if c["kind"] == "price" and c["key"] == version)
            assert p.PriceChange.model_validate(price).data.price_fen == 1800

    asyncio.run(scenario())


def test_change_committed_by_another_process_arrives(hq: RunningHQ, chain: Chain, db_url: str):
    """GIVEN a terminal on the live channel WHEN HQ staff run ``chainpos-hq price set``
    (another process, writing straight to the database) THEN the terminal gets it."""
    store = chain.store()
    dev = chain.device(store)
    sku = chain.item(price_fen=1600)

    async def scenario() -> None:
        async with LiveTerminal(hq.ws_url, dev.token, head(hq.db)) as t:
            await t.wait_for(lambda t: t.welcome is not None)
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "server_stub.cli",
                "price",
                "set",
                sku,
                "18",
                "--db",
                db_url,
                cwd=REPO,
                stdout=subprocess.PIPE,
            )
            out, _ = await proc.communicate()
            assert proc.returncode == 0
            version = re.search(rb"price version (\d+)", out).group(1).decode()
            await t.wait_for(lambda t: version in t.keys("price"))

    asyncio.run(scenario())


def test_each_device_gets_only_what_it_may_see(hq: RunningHQ, chain: Chain):
    a, b = chain.store(), chain.store()
    dev_a, dev_b = chain.device(a), chain.device(b)
    sku = chain.item()
    start = head(hq.db)

    async def scenario() -> None:
        async with (
            LiveTerminal(hq.ws_url, dev_a.token, start) as all_stock,
            LiveTerminal(hq.ws_url, dev_b.token, start, stock="own") as own_stock,
        ):
            await asyncio.to_thread(operations.set_config, hq.db, a, "receipt.header", "A店")
            await asyncio.to_thread(operations.move_stock, hq.db, "receive", a, sku, 5000, "in")
            await asyncio.to_thread(operations.set_config, hq.db, b, "receipt.header", "B店")
            await all_stock.wait_for(lambda t: t.cursor >= head(hq.db))
            await own_stock.wait_for(lambda t: t.cursor >= head(hq.db))
            assert all_stock.keys("config") == [f"{a}:receipt.header"]
            assert all_stock.keys("stock") == [f"{a}:{sku}"]
            assert own_stock.keys("config") == [f"{b}:receipt.header"]
            assert own_stock.keys("stock") == []
            assert all_stock.gaps == own_stock.gaps == 0

    asyncio.run(scenario())


@pytest.mark.parametrize("window", [live.RECENT_ROWS, 2], ids=["in-memory", "past-the-window"])
def test_a_terminal_back_after_missing_changes_gets_them_and_only_its_own(
    hq: RunningHQ, chain: Chain, window: int, monkeypatch: pytest.MonkeyPatch
):
    """GIVEN a terminal on the live channel (so the hub reads each change as it commits)
    WHEN three changes commit and two terminals of two stores then connect from before them
    (the hub keeping its newest rows, or only the last two so the database answers)
    THEN each gets what it missed, and only what it may see."""
    monkeypatch.setattr(live, "RECENT_ROWS", window)
    a, b = chain.store(), chain.store()
    dev_a, dev_b, watcher = chain.device(a), chain.device(b), chain.device(a)
    sku = chain.item()
    start = head(hq.db)

    async def scenario() -> None:
        async with LiveTerminal(hq.ws_url, watcher.token, start) as w:
            await asyncio.to_thread(operations.set_config, hq.db, a, "receipt.header", "A店")
            await asyncio.to_thread(operations.move_stock, hq.db, "receive", a, sku, 5000, "in")
            await asyncio.to_thread(operations.set_config, hq.db, b, "receipt.header", "B店")
            await w.wait_for(lambda t: t.cursor >= head(hq.db))
            async with (
                LiveTerminal(hq.ws_url, dev_a.token, start) as all_stock,
                LiveTerminal(hq.ws_url, dev_b.token, start, stock="own") as own_stock,
            ):
                await all_stock.wait_for(lambda t: t.cursor >= head(hq.db))
                await own_stock.wait_for(lambda t: t.cursor >= head(hq.db))
                assert all_stock.keys("config") == [f"{a}:receipt.header"]
                assert all_stock.keys("stock") == [f"{a}:{sku}"]
                assert own_stock.keys("config") == [f"{b}:receipt.header"]
                assert own_stock.keys("stock") == []
                assert all_stock.gaps == own_stock.gaps == 0

    asyncio.run(scenario())


def test_handshake_without_a_valid_token_is_refused(hq: RunningHQ):
    async def scenario() -> None:
        for headers in ({}, {"Authorization": "Bearer cpd_nope"}):
            with pytest.raises(InvalidStatus) as info:
                async with connect(hq.ws_url, additional_headers=headers, proxy=None):
                    pass
            assert info.value.response.status_code == 401
            assert json.loads(info.value.response.body)["code"] in (
                "unauthorised",
                "invalid_token",
            )

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("hello", "code"),
    [
        ("not json", p.CLOSE_BAD_MESSAGE),
        ({"type": "ack", "seq": 1}, p.CLOSE_BAD_MESSAGE),
        ({"type": "hello", "after": -1}, p.CLOSE_BAD_MESSAGE),
        ({"type": "hello", "after": 0, "protocol": 99}, p.CLOSE_BAD_MESSAGE),
        ({"type": "hello", "after": 10**9}, p.CLOSE_RESYNC),
        (None, p.CLOSE_BAD_MESSAGE),  # says nothing: closed after the hello timeout
    ],
)
def test_bad_hello_closes_with_a_precise_code(hq: RunningHQ, chain: Chain, hello, code):
    dev = chain.device(chain.store())

    async def scenario() -> None:
        async with connect(hq.ws_url, additional_headers=dev.headers, proxy=None) as ws:
            if hello is not None:
                await ws.send(hello if isinstance(hello, str) else json.dumps(hello))
            received = []
            with pytest.raises(ConnectionClosed):
                while True:
                    received.append(json.loads(await ws.recv()))
            assert ws.close_code == code
            if code == p.CLOSE_RESYNC:
                assert received[-1]["type"] == "resync"
                assert received[-1]["snapshot"] == "/v1/sync/snapshot"

    asyncio.run(scenario())


def test_hello_for_another_store_is_forbidden(hq: RunningHQ, chain: Chain):
    mine, theirs = chain.store(), chain.store()
    dev = chain.device(mine)

    async def scenario() -> None:
        hello = {"type": "hello", "after": 0, "store": theirs}
        async with LiveTerminal(hq.ws_url, dev.token, 0, hello=hello) as t:
            await t.wait_for(lambda t: t.close_code is not None)
        assert t.close_code == p.CLOSE_FORBIDDEN

    asyncio.run(scenario())


def test_revoking_a_device_closes_its_open_connection(hq: RunningHQ, chain: Chain, db_url: str):
    store = chain.store()
    by_api, by_cli, bystander = chain.device(store), chain.device(store), chain.device(store)
    admin = {"Authorization": f"Bearer {chain.admin_token()}"}

    async def scenario() -> None:
        async with (
            LiveTerminal(hq.ws_url, by_api.token, head(hq.db)) as t1,
            LiveTerminal(hq.ws_url, by_cli.token, head(hq.db)) as t2,
            LiveTerminal(hq.ws_url, bystander.token, head(hq.db)) as t3,
        ):
            async with httpx.AsyncClient(base_url=hq.url) as c:
                r = await c.post(f"/v1/admin/devices/{by_api.device_id}/revoke", headers=admin)
                assert r.status_code == 200
            await t1.wait_for(lambda t: t.close_code is not None)
            assert t1.close_code == p.CLOSE_UNAUTHORISED
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "server_stub.cli",
                "device",
                "revoke",
                by_cli.device_id,
                "--db",
                db_url,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
            )
            assert await proc.wait() == 0
            await t2.wait_for(lambda t: t.close_code is not None)
            assert t2.close_code == p.CLOSE_UNAUTHORISED
            assert t3.close_code is None

    asyncio.run(scenario())


def test_silent_client_is_dropped_and_a_live_one_stays(hq: RunningHQ, chain: Chain):
    store = chain.store()
    quiet, chatty = chain.device(store), chain.device(store)

    async def scenario() -> None:
        async with (
            LiveTerminal(hq.ws_url, quiet.token, head(hq.db), ack=False) as silent,
            LiveTerminal(hq.ws_url, chatty.token, head(hq.db)) as alive,
        ):
            await silent.wait_for(lambda t: t.close_code is not None)
            assert silent.close_code == p.CLOSE_HEARTBEAT_TIMEOUT
            beats = sum(1 for m in alive.messages if m["type"] == "heartbeat")
            await alive.wait_for(
                lambda t: sum(1 for m in t.messages if m["type"] == "heartbeat") > beats + 3
            )
            assert alive.close_code is None

    asyncio.run(scenario())


def test_slow_reader_is_dropped_without_holding_up_others(hq: RunningHQ, chain: Chain):
    """GIVEN one terminal that stops reading and one that reads WHEN HQ publishes large
    catalogue changes THEN the stuck one is closed with 4409 and the other gets all."""
    store = chain.store()
    stuck_dev, good_dev = chain.device(store), chain.device(store)
    tag = uuid.uuid4().hex[:6].upper()

    def publish(round_no: int) -> None:
        operations.import_catalog(
            hq.db,
            [
                ItemIn(sku=f"BIG{tag}-{i}", name_zh="长" * 190 + str(round_no), unit="piece")
                for i in range(200)
            ],
        )

    def too_slow_drops() -> int:
        text = httpx.get(hq.url + "/metrics").text
        found = re.search(r'chainpos_live_dropped_total\{reason="too_slow"\} (\d+)', text)
        return int(found.group(1)) if found else 0

    async def keep_acking(ws) -> None:
        # Alive (it answers) but never reads: a terminal on a choked link.
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send(json.dumps({"type": "ack", "seq": 0}))
                await asyncio.sleep(0.05)

    async def scenario() -> None:
        before = await asyncio.to_thread(too_slow_drops)
        async with (
            LiveTerminal(hq.ws_url, good_dev.token, head(hq.db)) as good,
            connect(
                hq.ws_url, additional_headers=stuck_dev.headers, proxy=None, max_queue=1
            ) as stuck,
        ):
            await stuck.send(json.dumps({"type": "hello", "after": head(hq.db)}))
            acking = asyncio.create_task(keep_acking(stuck))
            rounds = 0
            while await asyncio.to_thread(too_slow_drops) == before:
                assert rounds < 300, "the stuck reader was never dropped"
                await asyncio.to_thread(publish, rounds)
                rounds += 1
            last = f"BIG{tag}-199"
            await good.wait_for(
                lambda t: any(
                    c["key"] == last and c["data"]["name_zh"].endswith(str(rounds - 1))
                    for c in t.changes
                )
            )
            assert good.close_code is None and good.gaps == 0
            with pytest.raises(ConnectionClosed):
                while True:
                    await stuck.recv()
            assert stuck.close_code == p.CLOSE_TOO_SLOW
            acking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acking

    asyncio.run(scenario())


def test_frame_over_the_limit_closes_with_1009(hq: RunningHQ, chain: Chain):
    dev = chain.device(chain.store())

    async def scenario() -> None:
        async with connect(hq.ws_url, additional_headers=dev.headers, proxy=None) as ws:
            await ws.send(json.dumps({"type": "hello", "after": head(hq.db)}))
            await ws.recv()  # welcome
            await ws.send(json.dumps({"type": "ack", "seq": 0, "pad": "x" * (1 << 20)}))
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.recv()
            assert ws.close_code == 1009

    asyncio.run(scenario())
