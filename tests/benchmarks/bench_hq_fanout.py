"""HQ live fan-out: one price change reaching N connected terminals.

``chainpos-hq serve`` runs in its own process; N terminals (distinct enrolled devices)
connect to ``WS /v1/sync/live`` from two client processes (asyncio, websockets), so
the clients' work does not run inside HQ. Each round, this process publishes one price
through the admin API and notes the time; every client notes when each of its
connections receives the change. Latency is receive time minus publish time (one clock,
one machine), over every terminal and round: it includes HQ's commit, the wake-up, the
hub's fan-out, the network stack and the client processes' own scheduling. Memory per
connection is the growth of HQ's resident set while the terminals connect, divided by N.

In the same run, the same client processes connect the same number of terminals to a bare
``websockets`` server (``--raw-server``: it answers a hello with a welcome and does nothing
else) which broadcasts the same frame (HQ's message for the last price change, its key
renamed per round) with ``websockets.broadcast``; ``raw_p50_ms``/``raw_p99_ms`` are that
floor and ``ratio_p50``/``ratio_p99`` HQ's figures over it.

Sizes: N = 100, 1,000, 2,000 (``--quick``: 100; ``HQ_FANOUT_SIZES=1000`` picks).
Goal: p99 <= 500 ms at 2,000.
Runs on SQLite, and on PostgreSQL when a server answers (see bench_hq_ingest).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from server_stub import models as m
from server_stub import operations
from server_stub.db import Database
from sync_client.contract import protocol as p
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks.bench_hq_ingest import backends, hq_database
from tests.server.support import REPO, Chain, start_hq_process

CLIENT_PROCESSES = 2
ROUND_TIMEOUT_S = 60.0


def _enroll(hq_url: str, request: p.EnrollRequest) -> p.EnrollResponse:
    """Enrols through HQ's own API, so the receipt secret is sealed with the keys of the HQ
    process that serves the terminals."""
    r = httpx.post(f"{hq_url}/v1/devices/enroll", json=request.model_dump(mode="json"), timeout=30)
    r.raise_for_status()
    return p.EnrollResponse.model_validate_json(r.content)


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# -- client process -----------------------------------------------------------------------


async def _client(ws_url: str, tokens: list[str], after: int) -> None:
    """Connects one terminal per token, then reports on stdout and obeys stdin."""
    from websockets.asyncio.client import connect

    received: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    reported: set[str] = set()
    out = sys.stdout
    ready = asyncio.Event()
    connected = 0
    gate = asyncio.Semaphore(100)

    async def terminal(token: str) -> None:
        nonlocal connected
        async with gate:
            ws = await connect(
                ws_url,
                additional_headers={"Authorization": f"Bearer {token}"},
                proxy=None,
                open_timeout=120,
                ping_interval=None,
                compression=None,
            )
            await ws.send(json.dumps({"type": "hello", "after": after}))
            while json.loads(await ws.recv())["type"] != "welcome":
                pass
        connected += 1
        if connected == len(tokens):
            ready.set()
        async for text in ws:
            now = time.time()
            msg = json.loads(text)
            if msg["type"] == "heartbeat":
                await ws.send(json.dumps({"type": "ack", "seq": msg["next_after"]}))
                continue
            if msg["type"] != "changes":
                continue
            for change in msg["changes"]:
                if change["kind"] == "price":
                    key = change["key"]
                    received.setdefault(key, []).append(now)
                    counts[key] = counts.get(key, 0) + 1
                    if counts[key] == len(tokens) and key not in reported:
                        reported.add(key)
                        out.write(f"GOT {key}\n")
                        out.flush()

    tasks = [asyncio.create_task(terminal(t)) for t in tokens]
    await ready.wait()
    out.write(f"READY {len(tokens)}\n")
    out.flush()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "DONE"
    out.write(json.dumps(received) + "\n")
    out.flush()
    for t in tasks:
        t.cancel()


def client_main() -> None:
    _raise_fd_limit()
    ws_url, tokens_file, after = sys.argv[2], sys.argv[3], int(sys.argv[4])
    tokens = json.loads(Path(tokens_file).read_text())
    asyncio.run(_client(ws_url, tokens, after))


# -- benchmark ----------------------------------------------------------------------------


def _read_line(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"fan-out client exited while waiting for {prefix}")
        if line.startswith(prefix):
            return line.strip()


# -- bare websockets server: the floor HQ's fan-out is compared with ------------------------


async def _raw_server() -> None:
    """Accepts live connections like HQ (hello -> welcome), then broadcasts the frame in
    the file named by each ``SEND <path>`` line on stdin and answers ``SENT``."""
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    connections: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # hello
        await ws.send(json.dumps({"type": "welcome"}))
        connections.add(ws)
        try:
            await ws.wait_closed()
        finally:
            connections.discard(ws)

    async with serve(
        handler, "127.0.0.1", 0, ping_interval=None, compression=None, backlog=4096
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"LISTENING ws://127.0.0.1:{port}/", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            cmd = line.split()
            if not cmd or cmd[0] == "DONE":
                return
            broadcast(connections, Path(cmd[1]).read_text())
            print("SENT", flush=True)


def _spawn_clients(
    ws_url: str, tokens: list[str], head: int, scratch: Path, tag: str
) -> list[subprocess.Popen[str]]:
    clients = []
    share = -(-len(tokens) // CLIENT_PROCESSES)
    for k in range(CLIENT_PROCESSES):
        part = tokens[k * share : (k + 1) * share]
        if not part:
            continue
        tokens_file = scratch / f"tokens-{tag}-{len(tokens)}-{k}.json"
        tokens_file.write_text(json.dumps(part))
        clients.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.benchmarks.bench_hq_fanout",
                    "--client",
                    ws_url,
                    str(tokens_file),
                    str(head),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=REPO,
            )
        )
    for c in clients:
        _read_line(c, "READY")
    return clients


def _collect(clients: list[subprocess.Popen[str]], published: dict[str, float]) -> list[float]:
    latencies: list[float] = []
    for c in clients:
        assert c.stdin is not None
        c.stdin.write("DONE\n")
        c.stdin.flush()
        received = json.loads(_read_line(c, "{"))
        for version, times in received.items():
            latencies.extend(t - published[version] for t in times)
    return latencies


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for c in procs:
        c.kill()
        c.wait(10)
        for stream in (c.stdin, c.stdout):
            if stream is not None:
                stream.close()


def _raw_fanout(frame: str, tokens: list[str], rounds: int, scratch: Path) -> list[float]:
    """Latencies of the same frame broadcast by a bare websockets server to as many
    connections from the same kind of client processes."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.bench_hq_fanout", "--raw-server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    clients: list[subprocess.Popen[str]] = []
    try:
        url = _read_line(server, "LISTENING").split()[1]
        clients = _spawn_clients(url, tokens, 0, scratch, "raw")
        change = json.loads(frame)
        published: dict[str, float] = {}
        assert server.stdin is not None
        for r in range(rounds):
            key = f"raw{r}"
            change["key"] = key
            path = scratch / f"raw-frame-{r}.json"
            path.write_text(
                json.dumps(
                    {"type": "changes", "after": 0, "next_after": 0, "changes": [change]},
                    separators=(",", ":"),
                )
            )
            published[key] = time.time()
            server.stdin.write(f"SEND {path}\n")
            server.stdin.flush()
            _read_line(server, "SENT")
            for c in clients:
                got = _read_line(c, "GOT")
                assert got == f"GOT {key}", got
        return _collect(clients, published)
    finally:
        _stop([*clients, server])


def _fanout(url: str, db: Database, n: int, rounds: int, scratch: Path) -> dict[str, Any]:
    hq = start_hq_process(url, "--heartbeat", "60", "--live-queue", "256", "--pool-size", "20")
    clients: list[subprocess.Popen[str]] = []
    try:
        chain = Chain(db, hq.url)
        stores = [chain.store() for _ in range(max(1, n // 20))]
        sku = chain.item(price_fen=1600)
        tokens = []
        for i in range(n):
            store = stores[i % len(stores)]
            code = operations.create_enroll_code(db, store).code
            req = p.EnrollRequest(store=store, code=code, device_name=f"bench {i}")
            tokens.append(_enroll(hq.url, req).token)
        admin = {"Authorization": f"Bearer {chain.admin_token()}"}
        head = httpx.get(hq.url + "/healthz").json()["feed_seq"]
        rss_before = _rss_kib(hq.proc.pid)
        clients = _spawn_clients(hq.ws_url, tokens, head, scratch, "hq")
        rss_after = _rss_kib(hq.proc.pid)
        published: dict[str, float] = {}
        with httpx.Client(base_url=hq.url, timeout=60, headers=admin) as http:
            for r in range(rounds):
                t0 = time.time()
                resp = http.post("/v1/admin/prices", json={"sku": sku, "price_fen": 1700 + r})
                resp.raise_for_status()
                version = str(resp.json()["versions"][0]["version"])
                published[version] = t0
                for c in clients:
                    got = _read_line(c, "GOT")
                    assert got == f"GOT {version}", got
        latencies = _collect(clients, published)
        assert len(latencies) == n * rounds
        _stop(clients)
        clients = []
        with db.read() as conn:
            frame = (
                conn.execute(
                    select(m.feed.c.body)
                    .where(m.feed.c.kind == "price")
                    .order_by(m.feed.c.seq.desc())
                )
                .scalars()
                .first()
            )
        assert frame is not None
        raw = _raw_fanout(frame, tokens, rounds, scratch)
        assert len(raw) == n * rounds
        ours, floor = percentiles_ms(latencies), percentiles_ms(raw)
        return {
            "n": n,
            "rounds": rounds,
            **ours,
            "rss_per_connection_kib": round((rss_after - rss_before) / n, 1),
            "raw_p50_ms": floor["p50_ms"],
            "raw_p99_ms": floor["p99_ms"],
            "ratio_p50": round(ours["p50_ms"] / floor["p50_ms"], 2),
            "ratio_p99": round(ours["p99_ms"] / floor["p99_ms"], 2),
        }
    finally:
        _stop(clients)
        hq.stop()


def run(opts: Options) -> Iterator[dict[str, Any]]:
    _raise_fd_limit()
    chosen = os.environ.get("HQ_FANOUT_SIZES", "")  # e.g. "1000"
    sizes = (
        [int(x) for x in chosen.split(",")]
        if chosen
        else [100]
        if opts.quick
        else [100, 1000, 2000]
    )
    for backend in backends():
        for n in sizes:
            with hq_database(backend, opts, f"hq-fanout-{backend}-{n}") as url:
                db = Database(url)
                try:
                    result = _fanout(url, db, n, 3 if opts.quick else 5, opts.scratch("hq-fanout"))
                finally:
                    db.dispose()
            yield {"name": "hq_fanout", "backend": backend, **result}


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--client":
    client_main()
elif __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--raw-server":
    _raise_fd_limit()
    asyncio.run(_raw_server())
elif __name__ == "__main__":
    sys.exit(os.EX_USAGE)
