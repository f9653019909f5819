"""HQ serving HTTPS and WSS with its own certificate, as ``serve --tls-cert/--tls-key``."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect

from tests.server.conftest import Chain, RunningHQ, fresh_database, start_hq_thread


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chainpos-hq test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "hq.crt", directory / "hq.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
def tls_hq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningHQ, Path]]:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = _self_signed(tmp)
    with fresh_database("sqlite", tmp) as url:
        running = start_hq_thread(url, ssl=(cert, key))
        yield running, cert
        running.stop()
        running.db.dispose()


def test_https_and_wss_with_a_verified_certificate(tls_hq):
    hq, cert = tls_hq
    assert hq.url.startswith("https://")
    trust = ssl.create_default_context(cafile=str(cert))
    with pytest.raises(httpx.ConnectError):
        httpx.get(hq.url + "/healthz", verify=ssl.create_default_context())  # not trusted
    chain = Chain(hq.db, hq.url)
    store = chain.store()
    with httpx.Client(base_url=hq.url, verify=trust) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        dev = chain.device(store, client)
        head = client.get("/healthz").json()["feed_seq"]

    async def live() -> dict:
        async with connect(hq.ws_url, additional_headers=dev.headers, ssl=trust, proxy=None) as ws:
            await ws.send(json.dumps({"type": "hello", "after": head}))
            return json.loads(await ws.recv())

    welcome = asyncio.run(live())
    assert welcome["type"] == "welcome" and welcome["device_id"] == dev.device_id
