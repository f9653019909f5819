"""A till older than its HQ: answers carrying fields this till does not know yet.

The protocol's models refuse unknown fields, which is right for what HQ accepts from
tills; what a till reads from HQ must instead ignore fields a newer HQ added (at the top
of an answer, inside nested models, and in live messages), while an answer that is wrong in
a field the till does know is still refused. The stand-in HQ is served by uvicorn on
loopback, so the client's real HTTP stack reads it.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sync_client import HQClient, HQUnavailable
from sync_client._client import read_server_message
from sync_client._feed import validate_answer
from sync_client.contract import protocol as p
from tests.support import wait_until


def _level(store: str, **extra: Any) -> dict[str, Any]:
    return {
        "store": store,
        "store_name": f"门店 {store}",
        "on_hand_milli": 240_000,
        "reserved_milli": 0,
        "available_milli": 240_000,
        "updated_at": "2026-12-04T08:00:00Z",
        **extra,
    }


class NewerHQ:
    """Answers as a later HQ might: every model with one field more."""

    def __init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/v1/sync/push", self.push, methods=["POST"]),
                Route("/v1/stock/{sku}", self.stock),
            ]
        )

    async def push(self, request: Request) -> JSONResponse:
        body = await request.json()
        results = [
            {"index": i, "id": ev["id"], "status": "applied", "code": None, "params": {},
             "detail": None, "retryable": False, "ledger_seq": 900 + i}
            for i, ev in enumerate(body["events"])
        ]  # fmt: skip
        answer = {"protocol": 3, "results": results, "applied": len(results), "duplicate": 0,
                  "rejected": 0, "head": 7, "server_region": "cn-east"}  # fmt: skip
        return JSONResponse(answer)

    async def stock(self, request: Request) -> JSONResponse:
        sku = request.path_params["sku"]
        if sku == "BROKEN":  # a field the till knows, with the wrong type
            levels = [_level("S001", on_hand_milli="lots")]
        else:
            levels = [_level("S001", bin="A-3"), _level("S003", bin=None)]
        return JSONResponse({"sku": sku, "unit": "piece", "levels": levels, "as_of_seq": 41})


@pytest.fixture(scope="module")
def newer_hq() -> Iterator[str]:
    config = uvicorn.Config(NewerHQ().app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn start")
    assert server.started, "uvicorn failed to start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)


def run(url: str, work: Any) -> Any:
    async def main() -> Any:
        client = HQClient(url, "cpd_test", timeout=10)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_fields_a_newer_hq_added_are_ignored_at_every_level(newer_hq: str) -> None:
    events = [
        {"id": str(uuid.uuid4()), "device_seq": n, "occurred_at": "2025-03-01T02:00:00Z"}
        for n in (1, 2)
    ]

    async def work(client: HQClient) -> Any:
        return await client.push(events), await client.stock("DR001")

    pushed, lookup = run(newer_hq, work)
    assert [(r.status, str(r.id)) for r in pushed.results] == [
        ("applied", ev["id"]) for ev in events
    ]
    assert (pushed.applied, pushed.head) == (2, 7)
    assert isinstance(lookup, p.StockLookup)
    assert [(lv.store, lv.on_hand_milli) for lv in lookup.levels] == [
        ("S001", 240_000),
        ("S003", 240_000),
    ]


def test_a_wrong_value_in_a_known_field_is_still_refused(newer_hq: str) -> None:
    async def work(client: HQClient) -> Any:
        with pytest.raises(HQUnavailable) as caught:
            await client.stock("BROKEN")
        return caught.value

    refused = run(newer_hq, work)
    assert "not a StockLookup" in str(refused)


def test_validate_answer_keeps_strict_reading_for_everything_but_unknown_fields() -> None:
    good = validate_answer(p.StockLookup, b'{"sku": "A1", "unit": "piece", "levels": [], "x": 1}')
    assert good.sku == "A1"
    with pytest.raises(ValidationError):
        validate_answer(p.StockLookup, b'{"sku": "A1", "levels": [], "x": 1}')  # no unit
    with pytest.raises(ValueError):
        validate_answer(p.StockLookup, b"not json")


def test_a_live_message_with_a_new_field_is_read_and_a_bad_one_refused() -> None:
    beat = {"type": "heartbeat", "head": 9, "next_after": 9,
            "server_time": "2026-12-04T08:00:00Z", "load": 0.3}  # fmt: skip
    message = read_server_message(beat)
    assert isinstance(message, p.LiveHeartbeat) and message.head == 9
    with pytest.raises(ValidationError):
        read_server_message({**beat, "head": "nine"})
