"""The gateway simulator as a real process, and a keyring for tests.

:func:`start_paysim` runs ``python -m server_stub.paysim`` on a free loopback port (as the
demo and ``.ci/run`` do) and waits for its address. :class:`MemoryKeyring` is a keyring
backend that keeps secrets in memory (or in a JSON file, for a till in a subprocess):
tests set it with ``keyring.set_keyring``; nothing outside ``tests/`` uses it.
:func:`configure_store` registers a store's merchants with the simulator and gives the
till the settings and keyring secrets a store would have.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from keyring.backend import KeyringBackend

from pos_app.localdb.engine import open_database, write_session
from pos_app.localdb.store import set_setting
from pos_app.services.gateways import save_keyring_secret
from server_stub.paysim.merchants import provider_settings, provision

REPO = Path(__file__).resolve().parents[1]

# Test codes (the last four digits say what the simulator does; see server_stub.paysim.ledger)
WX_PAYS = "134567890123456789"
WX_PASSWORD = "134567890123450000"
WX_PASSWORD_FOREVER = "134567890123450001"
WX_DECLINED = "134567890123450002"
WX_USED = "134567890123450003"
WX_SLOW = "134567890123450004"
ALI_PAYS = "281234567890123456"
ALI_PASSWORD = "281234567890120000"
UP_PAYS = "6212345678901234567"
UP_PASSWORD = "6212345678901230000"


class MemoryKeyring(KeyringBackend):
    """A keyring in memory; with ``path``, also written to (and read from) a JSON file so a
    subprocess sees the same secrets."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self._path = path
        self._data: dict[str, str] = {}
        if path is not None and path.exists():
            self._data = json.loads(path.read_text())

    def get_password(self, service: str, username: str) -> str | None:
        return self._data.get(f"{service}\t{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        self._data[f"{service}\t{username}"] = password
        if self._path is not None:
            self._path.write_text(json.dumps(self._data))

    def delete_password(self, service: str, username: str) -> None:
        self._data.pop(f"{service}\t{username}", None)


def memory_keyring_for_test() -> Iterator[MemoryKeyring]:
    import keyring

    before = keyring.get_keyring()
    fake = MemoryKeyring()
    keyring.set_keyring(fake)
    yield fake
    keyring.set_keyring(before)


@dataclass
class PaysimProcess:
    proc: subprocess.Popen[str]
    url: str
    data_dir: Path
    output: list[str] = field(default_factory=list)
    tls_url: str = ""
    """The simulator's HTTPS port (its test CA; WeChat Pay's certificate calls)."""

    def orders(self, order_no: str, merchant: str | None = None) -> list[dict[str, object]]:
        """What the simulator holds for ``order_no`` (of one merchant, when given)."""
        found = httpx.get(f"{self.url}/_sim/orders/{order_no}", timeout=5).json()
        return [o for o in found if merchant is None or o["merchant"] == merchant]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_paysim(data_dir: Path, *, hold_s: float = 3.0) -> PaysimProcess:
    """``python -m server_stub.paysim --port 0`` on ``data_dir``, once it listens."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server_stub.paysim",
            "--data",
            str(data_dir),
            "--port",
            "0",
            "--tls-port",
            "0",
            "--hold-s",
            str(hold_s),
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
        found = re.search(r"paysim listening on (\S+) tls (\S+)", line)
        if found:
            break
    else:
        raise AssertionError("the simulator exited before listening:\n" + "".join(lines))
    sim = PaysimProcess(proc, found.group(1), data_dir, lines, found.group(2))
    threading.Thread(target=lambda: sim.output.extend(proc.stdout or ()), daemon=True).start()
    return sim


def provider_entries(
    sim_url: str, data_dir: Path, store: str, timeout_ms: int = 1500, tls_url: str | None = None
) -> tuple[str, dict[str, dict[str, str]]]:
    """(``payment.providers`` JSON, secrets by wallet) of ``store`` at the simulator
    (WeChat Pay at ``tls_url``, its HTTPS port; the others at ``sim_url``)."""
    accounts = provision(data_dir, store)
    entries = provider_settings(accounts, sim_url, tls_url or sim_url, timeout_ms=str(timeout_ms))
    return json.dumps(entries), {w: a.secret for w, a in accounts.items()}


def configure_store(
    db_path: Path,
    store: str,
    sim: PaysimProcess,
    *,
    simulator: bool = True,
    timeout_ms: int = 1500,
    url: str | None = None,
) -> dict[str, str]:
    """Writes the store's payment settings into the till's database and its merchant
    secrets into the (test) keyring, as setting up a store does. ``url``: where the till
    looks for the gateway (default: the simulator's address).

    Each call registers new merchant accounts: every test's till starts its order numbers
    afresh, and one simulator serves a whole module. Returns the merchant the simulator
    files each wallet's orders under."""
    account = f"{store}#{uuid.uuid4().hex[:8]}"
    # Another address (a dead one) replaces both of the simulator's.
    elsewhere = url is not None and url != sim.url
    providers, secrets = provider_entries(
        url or sim.url, sim.data_dir, account, timeout_ms, tls_url=url if elsewhere else sim.tls_url
    )
    for wallet, secret in secrets.items():
        save_keyring_secret(store, wallet, secret)
    engine = open_database(db_path)
    try:
        with write_session(engine) as session:
            set_setting(session, "payment.providers", providers)
            set_setting(session, "payment.simulator", simulator)
            session.commit()
    finally:
        engine.dispose()
    return {
        e["wallet"]: e["app_id"] if e["wallet"] == "alipay" else e["merchant_id"]
        for e in json.loads(providers)
    }
