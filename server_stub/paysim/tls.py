"""The simulator's own test certificate authority (``DATA/tls.json``, made on first use).

WeChat Pay's ``/secapi/`` endpoints (reverse, refund) take a request only over TLS with
the merchant's API client certificate (``apiclient_cert.pem``). The simulator plays both
sides of that with one test CA of its own: it signs the simulator's server certificate
(127.0.0.1 and localhost: its HTTPS port) and every WeChat Pay merchant's client
certificate (:func:`issue_client_cert`, at registration). The till trusts the CA only in
simulator mode; nothing here is ever valid at a real provider.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_FILE = "tls.json"
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where uvicorn reads the simulator's TLS material (files: its ``ssl_*`` options
    want paths), and the CA's PEM for the tills that trust it."""

    ca_pem: str
    ca_file: Path
    cert_file: Path
    key_file: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ChainPOS payment simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _sign(
    subject: str,
    public: ec.EllipticCurvePublicKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    elif server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    tmp.replace(path)


def _material(data_dir: Path) -> dict[str, str]:
    """The CA and the server certificate (made on first use), under the module lock."""
    path = data_dir / TLS_FILE
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        found = None
    if isinstance(found, dict) and found.get("ca_cert"):
        return {str(k): str(v) for k, v in found.items()}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("ChainPOS payment simulator test CA")
    ca_cert = _sign(
        "ChainPOS payment simulator test CA", ca_key.public_key(), ca_name, ca_key, ca=True
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _sign("127.0.0.1", server_key.public_key(), ca_name, ca_key, server=True)
    data = {
        "ca_cert": _cert_pem(ca_cert),
        "ca_key": _key_pem(ca_key),
        "server_cert": _cert_pem(server_cert),
        "server_key": _key_pem(server_key),
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps(data, indent=1, sort_keys=True))
    return data


def server_files(data_dir: Path) -> TlsFiles:
    """The simulator's TLS files for uvicorn (written under ``DATA/tls/``, 0600)."""
    with _lock:
        data = _material(data_dir)
        folder = data_dir / "tls"
        folder.mkdir(mode=0o700, exist_ok=True)
        files = TlsFiles(
            data["ca_cert"], folder / "ca.pem", folder / "server.pem", folder / "server-key.pem"
        )
        _write_private(files.ca_file, data["ca_cert"])
        _write_private(files.cert_file, data["server_cert"])
        _write_private(files.key_file, data["server_key"])
        return files


def ca_pem(data_dir: Path) -> str:
    """The test CA's certificate (what a till in simulator mode trusts)."""
    with _lock:
        return _material(data_dir)["ca_cert"]


def issue_client_cert(data_dir: Path, common_name: str) -> tuple[str, str]:
    """A client certificate for ``common_name`` (a WeChat Pay ``mch_id``) signed by the
    test CA: ``(certificate PEM, private key PEM)``."""
    with _lock:
        data = _material(data_dir)
    ca_key = serialization.load_pem_private_key(data["ca_key"].encode(), password=None)
    ca_cert = x509.load_pem_x509_certificate(data["ca_cert"].encode())
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _sign(common_name, key.public_key(), ca_cert.subject, ca_key)
    return _cert_pem(cert), _key_pem(key)


def cert_sha256(pem: str) -> str:
    """The SHA-256 of a certificate's DER form (how the simulator knows a merchant's)."""
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()
