"""The admin CLI for online channels: add (token shown once) / list / revoke, the
reservations and conflicts lists, and the load generator against a running HQ."""

from __future__ import annotations

import pytest

from server_stub.cli import main
from tests.server.conftest import Chain, RunningHQ
from tests.server.reservation_helpers import level, stock_in


def run(capsys: pytest.CaptureFixture[str], db_url: str, *args: str) -> tuple[int, str]:
    code = main([*args, "--db", db_url])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_channel_commands_and_the_load_generator(
    hq: RunningHQ, chain: Chain, db_url: str, capsys: pytest.CaptureFixture[str]
):
    """GIVEN a channel added with the CLI WHEN the load generator places 30 orders at
    200/s with 1/3 confirmed and 1/3 cancelled THEN every order is answered, what it
    reports adds up, the reservations list shows them, and reserved stock equals the
    orders still held; after revoking, the token is refused."""
    store = chain.store()
    sku = chain.item()
    stock_in(hq.db, store, sku, 1000 * 1000)
    code, out = run(capsys, db_url, "channel", "add", "mini", "--stores", store)
    assert code == 0
    token = out.split("token (shown once): ")[1].split()[0]
    assert token.startswith("cpc_")
    code, out = run(capsys, db_url, "channel", "list")
    assert f"mini\tactive\t{store}" in out
    code, out = run(
        capsys,
        db_url,
        "channel",
        "load",
        "--hq",
        hq.url,
        "--token",
        token,
        "--store",
        store,
        "--sku",
        sku,
        "--rate",
        "200",
        "--duration",
        "0.15",
        "--confirm-ratio",
        "0.34",
        "--cancel-ratio",
        "0.33",
        "--workers",
        "4",
    )
    assert code == 0, out
    counts = dict(line.split("\t") for line in out.splitlines() if line.count("\t") == 1)
    assert counts["reserve:201"] == "30"
    confirmed = int(counts.get("confirm:200", 0))
    cancelled = int(counts.get("cancel:200", 0))
    left = int(counts.get("left_to_expire", 0))
    assert confirmed + cancelled + left == 30
    assert "p99=" in out
    assert level(hq.db, store, sku) == (1000 * 1000, (confirmed + left) * 1000)
    code, out = run(
        capsys, db_url, "reservations", "list", "--store", store, "--status", "cancelled"
    )
    assert code == 0 and len(out.splitlines()) == cancelled
    code, out = run(capsys, db_url, "conflicts", "list", "--store", store)
    assert (code, out) == (0, "")
    code, out = run(capsys, db_url, "channel", "revoke", "mini")
    assert code == 0
    code, out = run(capsys, db_url, "channel", "list")
    assert f"mini\trevoked\t{store}" in out
