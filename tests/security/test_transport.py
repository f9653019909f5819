"""Item 10: a rogue enrolment QR cannot point a till at plain HTTP, ``serve`` without TLS
on the network says so loudly, and no token reaches HQ's logs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from pos_app.localdb.engine import open_database
from pos_app.services.enrollment import EnrollmentService, parse_enroll_qr
from server_stub import cli as hq_cli
from server_stub.db import Database
from server_stub.server import plaintext_warning
from server_stub.settings import Settings
from sync_client import CredentialStore, EnrollmentError, enroll
from tests.server.support import Chain, start_hq_process, wait_until


def _qr(hq: str) -> str:
    return json.dumps(
        {"chainpos": "enroll", "v": 1, "hq": hq, "store": "S001", "code": "AB12-CD34"}
    )


def _never_called(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"a request left the till: {request.url}")


@pytest.mark.parametrize(
    "hq_url",
    [
        "http://hq.example.com",
        "http://10.1.2.3:8000",
        "http://[2001:db8::1]:8000",
        "http://localhost.evil.example",
    ],
)
def test_a_rogue_http_enrolment_qr_is_refused_before_anything_is_sent(
    hq_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN an enrolment QR naming an http:// HQ on another machine, no lab flag
    WHEN the till enrols with it
    THEN it is refused with ``insecure_address`` and nothing is stored."""
    monkeypatch.delenv("CHAINPOS_ALLOW_INSECURE_HQ", raising=False)
    ticket = parse_enroll_qr(_qr(hq_url))
    store = CredentialStore(tmp_path, use_keyring=False)
    engine = open_database(tmp_path / "terminal.db")
    try:
        with pytest.raises(EnrollmentError) as caught:
            EnrollmentService(engine, store).enroll(ticket, "收银台")
    finally:
        engine.dispose()
    assert caught.value.code == "insecure_address"
    assert store.load() is None
    with pytest.raises(EnrollmentError) as direct:
        enroll(hq_url, "S001", "AB12-CD34", "till", transport=httpx.MockTransport(_never_called))
    assert direct.value.code == "insecure_address"


@pytest.mark.parametrize(
    "hq_url", ["https://hq.example.com", "http://127.0.0.1:8000", "http://localhost:8000"]
)
def test_tls_and_loopback_hq_addresses_are_allowed(
    hq_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHAINPOS_ALLOW_INSECURE_HQ", raising=False)
    sent: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(404, json={"code": "enroll_code_invalid", "detail": "no"})

    with pytest.raises(EnrollmentError) as caught:
        enroll(hq_url, "S001", "AB12-CD34", "till", transport=httpx.MockTransport(refuse))
    assert caught.value.code == "enroll_code_invalid"
    assert sent == [hq_url + "/v1/devices/enroll"]


def test_the_lab_flag_lets_a_till_enrol_over_plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINPOS_ALLOW_INSECURE_HQ", "1")
    sent: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(404, json={"code": "enroll_code_invalid", "detail": "no"})

    with pytest.raises(EnrollmentError) as caught:
        enroll(
            "http://10.1.2.3:8000",
            "S001",
            "AB12-CD34",
            "till",
            transport=httpx.MockTransport(refuse),
        )
    assert caught.value.code == "enroll_code_invalid"
    assert sent == ["http://10.1.2.3:8000/v1/devices/enroll"]


@pytest.mark.parametrize(
    ("host", "tls", "warns"),
    [
        ("0.0.0.0", False, True),
        ("::", False, True),
        ("192.168.1.20", False, True),
        ("0.0.0.0", True, False),
        ("127.0.0.1", False, False),
        ("::1", False, False),
        ("localhost", False, False),
    ],
)
def test_plain_http_is_flagged_only_off_loopback(host: str, tls: bool, warns: bool) -> None:
    cert = Path("cert.pem") if tls else None
    settings = Settings(db_url="sqlite://", host=host, tls_cert=cert, tls_key=cert)
    assert (plaintext_warning(settings) is not None) is warns


def test_serve_without_tls_on_a_network_address_warns_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN ``chainpos-hq serve --host 203.0.113.7`` without TLS (a documentation
    address: binding it fails, so nothing ever listens beyond loopback)
    THEN the loud warning is on stderr before the bind is tried."""
    db = f"sqlite:///{tmp_path / 'hq.db'}"
    with pytest.raises(OSError):
        hq_cli.main(["--db", db, "serve", "--host", "203.0.113.7", "--port", "0"])
    err = capsys.readouterr().err
    assert "WARNING: HQ is serving plain HTTP on 203.0.113.7" in err
    assert "!" * 78 in err


@pytest.mark.slow
def test_no_token_reaches_the_log_of_a_real_hq(db_url: str) -> None:
    """GIVEN ``chainpos-hq serve`` at log level info with the access log on
    WHEN a terminal connects the live channel with its token in the URL (as a careless
    client would) and makes HTTP calls with tokens in query strings and headers, and an
    admin calls with its token in the URL
    THEN the handshake and requests are logged, but neither token appears in any line."""
    hq = start_hq_process(db_url, "--log-level", "info", "--access-log")
    db = Database(db_url)
    try:
        chain = Chain(db, hq.url)
        device = chain.device(chain.store())
        admin = chain.admin_token()

        async def live() -> None:
            url = f"{hq.ws_url}?token={device.token}"
            async with connect(url, additional_headers=device.headers, proxy=None) as ws:
                await ws.send(json.dumps({"type": "hello", "after": 0}))
                welcome = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert welcome["type"] == "welcome"

        asyncio.run(live())
        with httpx.Client(base_url=hq.url, timeout=30) as c:
            r = c.get(f"/v1/sync/pull?after=0&token={device.token}", headers=device.headers)
            assert r.status_code == 200
            c.get(f"/v1/admin/stores?access_token={admin}", headers={"Authorization": "x"})
            c.get(f"/v1/sync/pull?after=0&token={device.token}cpd")
        wait_until(
            lambda: sum("/v1/sync/pull" in line for line in hq.output) >= 2,
            what="access log lines:\n" + "".join(hq.output)[-3000:],
        )
    finally:
        hq.stop()
        db.dispose()
    log = "".join(hq.output)
    assert "/v1/sync/live" in log and "[accepted]" in log, log[-2000:]
    assert "token=***" in log
    assert device.token not in log
    assert device.token[4:20] not in log
    assert admin not in log and admin[4:20] not in log
