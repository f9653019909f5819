"""A till upgraded before its HQ: the sync client talks to an HQ of protocol 1.

The HQ here is a stand-in that answers exactly as a protocol-1 HQ did (its answers written
out from the version-1 contract): ``error`` in refusals and in the 410 resync answer,
``reason`` in push results, and a push body refused whole (422) unless its ``protocol`` is
1, as the version-1 ``PushRequest`` did. It is served by uvicorn on loopback, so the
client's real HTTP stack reads it. (``tests/server/test_protocol_versions.py`` is the other
direction: a version-1 till and the current HQ.)
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sync_client import DeviceRevoked, HQClient, HQRefused, ResyncNeeded
from tests.support import wait_until


class OlderHQ:
    """A protocol-1 HQ's answers. ``push_protocols`` records each push body's version."""

    CURSOR_AHEAD = 500

    def __init__(self) -> None:
        self.push_protocols: list[Any] = []
        self.app = Starlette(
            routes=[
                Route("/v1/sync/push", self.push, methods=["POST"]),
                Route("/v1/sync/pull", self.pull),
                Route("/v1/members/holds/{hold_id}", self.get_hold),
                Route("/v1/stock/{sku}", self.stock),
            ]
        )

    async def push(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.push_protocols.append(body.get("protocol"))
        if body.get("protocol") != 1:
            detail = [
                {"loc": ["body", "protocol"], "msg": "Input should be 1", "type": "literal_error"}
            ]
            return JSONResponse({"error": "invalid_request", "detail": detail}, 422)
        results = [
            {"index": 0, "id": body["events"][0]["id"], "status": "applied", "reason": None,
             "detail": None, "retryable": False},
        ] + [
            {"index": i, "id": ev["id"], "status": "rejected", "reason": "unknown_sale",
             "detail": "HQ has no such sale yet", "retryable": True}
            for i, ev in enumerate(body["events"][1:], start=1)
        ]  # fmt: skip
        return JSONResponse(
            {
                "protocol": 1,
                "results": results,
                "applied": 1,
                "duplicate": 0,
                "rejected": len(results) - 1,
                "head": 7,
            }
        )

    async def pull(self, request: Request) -> JSONResponse:
        after = int(request.query_params["after"])
        if after >= self.CURSOR_AHEAD:
            return JSONResponse(
                {
                    "error": "resync",
                    "detail": f"cursor {after} is ahead of HQ's head 7",
                    "oldest_after": 0,
                    "head": 7,
                    "snapshot": "/v1/sync/snapshot",
                },
                410,
            )
        page = {"after": after, "next_after": after, "head": after, "more": False, "changes": []}
        return JSONResponse({"protocol": 1, **page})

    async def get_hold(self, request: Request) -> JSONResponse:
        hold_id = request.path_params["hold_id"]
        return JSONResponse({"error": "unknown_hold", "detail": f"no hold {hold_id}"}, 404)

    async def stock(self, request: Request) -> JSONResponse:
        return JSONResponse({"error": "token_revoked", "detail": "device S001-T01 revoked"}, 401)


@pytest.fixture(scope="module")
def older_hq() -> Iterator[tuple[OlderHQ, str]]:
    stand_in = OlderHQ()
    config = uvicorn.Config(stand_in.app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn start")
    assert server.started, "uvicorn failed to start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield stand_in, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)


def event() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "device_seq": 1, "occurred_at": "2025-03-01T02:00:00Z"}


def run(url: str, work: Any) -> Any:
    async def main() -> Any:
        client = HQClient(url, "cpd_test", timeout=10)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_pushes_fall_back_to_version_1_and_read_the_reasons(older_hq: tuple[OlderHQ, str]):
    stand_in, url = older_hq
    stand_in.push_protocols.clear()

    async def work(client: HQClient) -> Any:
        first = await client.push([event(), event()])
        second = await client.push([event()])
        return first, second, client.push_protocol

    first, second, push_protocol = run(url, work)
    # Refused once in version 2, the same batch went again in 1; later pushes stay at 1.
    assert stand_in.push_protocols == [2, 1, 1]
    assert push_protocol == 1
    assert [(r.status, r.code, r.retryable) for r in first.results] == [
        ("applied", None, False),
        ("rejected", "unknown_sale", True),
    ]
    assert first.head == 7 and second.applied == 1


def test_a_pull_tells_the_client_to_push_in_version_1(older_hq: tuple[OlderHQ, str]):
    stand_in, url = older_hq
    stand_in.push_protocols.clear()

    async def work(client: HQClient) -> Any:
        page = await client.pull(0)
        await client.push([event()])
        return page

    page = run(url, work)
    assert page.protocol == 1
    assert stand_in.push_protocols == [1]  # no refused attempt first


def test_refusals_and_a_resync_are_read_by_their_old_names(older_hq: tuple[OlderHQ, str]):
    _, url = older_hq
    hold_id = uuid.uuid4()

    async def refused(client: HQClient) -> HQRefused:
        with pytest.raises(HQRefused) as caught:
            await client.get_hold(hold_id)
        return caught.value

    async def revoked(client: HQClient) -> DeviceRevoked:
        with pytest.raises(DeviceRevoked) as caught:
            await client.stock("SKU1")
        return caught.value

    async def resync(client: HQClient) -> ResyncNeeded:
        with pytest.raises(ResyncNeeded) as caught:
            await client.pull(OlderHQ.CURSOR_AHEAD)
        return caught.value

    unknown = run(url, refused)
    assert (unknown.status, unknown.code, unknown.detail) == (
        404,
        "unknown_hold",
        f"no hold {hold_id}",
    )
    gone = run(url, revoked)
    assert (gone.status, gone.code) == (401, "token_revoked")
    again = run(url, resync)
    assert again.snapshot_path == "/v1/sync/snapshot"
    assert "ahead" in again.message
