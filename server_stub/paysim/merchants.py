"""The simulator's own signing keys and the merchants it knows (``DATA/platform.json`` and
``DATA/merchants.json``).

:func:`provision` registers a store's three merchant accounts and returns their public ids
and secrets, which the till keeps in its keyring: a WeChat Pay API v2 key and API client
certificate (``apiclient_cert.pem`` / ``apiclient_key.pem``, signed by the simulator's
test CA: :mod:`.tls`), an Alipay app key pair (the simulator keeps the public half), a
UnionPay signing key pair. The simulator's public keys (Alipay's and UnionPay's) go to the
till with the secrets, as the providers' public keys do; its test CA goes with the WeChat
Pay settings (WeChat Pay is reached on the simulator's HTTPS port: :func:`provider_settings`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from server_stub.paysim import tls

PLATFORM_FILE = "platform.json"
MERCHANTS_FILE = "merchants.json"
_lock = threading.Lock()


def new_key_pair() -> tuple[str, str]:
    """(private PEM in PKCS#8, public PEM) of a fresh 2048-bit RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def platform_keys(data_dir: Path) -> dict[str, str]:
    """The simulator's Alipay and UnionPay key pairs (made on first use)."""
    path = data_dir / PLATFORM_FILE
    with _lock:
        found = _read(path)
        if found:
            return {k: str(v) for k, v in found.items()}
        data_dir.mkdir(parents=True, exist_ok=True)
        ali_private, ali_public = new_key_pair()
        up_private, up_public = new_key_pair()
        keys = {
            "alipay_private_key": ali_private,
            "alipay_public_key": ali_public,
            "unionpay_private_key": up_private,
            "unionpay_public_key": up_public,
            "unionpay_cert_id": str(secrets.randbelow(10**11) + 10**10),
        }
        _write(path, keys)
        return keys


@dataclass(frozen=True, slots=True)
class MerchantAccount:
    """One wallet's merchant account: ``settings`` (public: ``wallet``, ``merchant_id``,
    ``app_id``) and ``secret`` (what the till's keyring holds)."""

    settings: dict[str, str]
    secret: dict[str, str]


def provision(data_dir: Path, store_code: str) -> dict[str, MerchantAccount]:
    """Registers ``store_code``'s WeChat Pay, Alipay and UnionPay merchants with the
    simulator (again: the same accounts) and returns them by wallet kind. Merchant
    numbers follow the order of registration."""
    platform = platform_keys(data_dir)
    path = data_dir / MERCHANTS_FILE
    with _lock:
        known = _read(path)
        stores: dict[str, Any] = known.setdefault("stores", {})
        mine = stores.get(store_code)
        if mine is None:
            digits = str(len(stores) + 1)  # each registration its own merchant numbers
            app_private, app_public = new_key_pair()
            mer_private, mer_public = new_key_pair()
            mch_id = f"19{int(digits):08d}"
            client_cert, client_key = tls.issue_client_cert(data_dir, mch_id)
            mine = {
                "wechat_pay": {
                    "merchant_id": mch_id,
                    "app_id": f"wxsim{int(digits):011d}",
                    "api_key": secrets.token_hex(16),
                    "client_cert": client_cert,
                    "client_key": client_key,
                    # /secapi/ calls must come with this certificate.
                    "client_cert_sha256": tls.cert_sha256(client_cert),
                },
                "alipay": {
                    "merchant_id": f"2088{int(digits):012d}",
                    "app_id": f"2021{int(digits):012d}",
                    "app_private_key": app_private,
                    "app_public_key": app_public,
                },
                "unionpay": {
                    "merchant_id": f"777{int(digits):012d}",
                    "cert_id": str(secrets.randbelow(10**11) + 10**10),
                    "private_key": mer_private,
                    "public_key": mer_public,
                },
            }
            stores[store_code] = mine
            data_dir.mkdir(parents=True, exist_ok=True)
            _write(path, known)
    wx, ali, up = mine["wechat_pay"], mine["alipay"], mine["unionpay"]
    wx_secret = {"api_key": wx["api_key"]}
    if wx.get("client_cert"):
        wx_secret |= {"api_client_cert": wx["client_cert"], "api_client_key": wx["client_key"]}
    return {
        "wechat_pay": MerchantAccount(
            {
                "wallet": "wechat_pay",
                "merchant_id": wx["merchant_id"],
                "app_id": wx["app_id"],
                "ca_cert": tls.ca_pem(data_dir),
            },
            wx_secret,
        ),
        "alipay": MerchantAccount(
            {"wallet": "alipay", "merchant_id": ali["merchant_id"], "app_id": ali["app_id"]},
            {
                "app_private_key": ali["app_private_key"],
                "alipay_public_key": platform["alipay_public_key"],
            },
        ),
        "unionpay": MerchantAccount(
            {"wallet": "unionpay", "merchant_id": up["merchant_id"], "app_id": up["cert_id"]},
            {
                "private_key": up["private_key"],
                "cert_id": up["cert_id"],
                "unionpay_public_key": platform["unionpay_public_key"],
            },
        ),
    }


def provider_settings(
    accounts: dict[str, MerchantAccount], url: str, tls_url: str, **extra: str
) -> list[dict[str, str]]:
    """The ``payment.providers`` entries of ``accounts`` at a simulator listening on
    ``url`` (HTTP) and ``tls_url`` (HTTPS): WeChat Pay on the HTTPS port, as its /secapi/
    calls need TLS with the merchant's client certificate; the others on HTTP."""
    return [
        {**a.settings, "base_url": tls_url if wallet == "wechat_pay" else url, **extra}
        for wallet, a in accounts.items()
    ]


class MerchantBook:
    """The merchants the running simulator knows, re-read when ``merchants.json`` changes
    (a store provisioned while it runs is known at its next request)."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / MERCHANTS_FILE
        self._mtime = -1.0
        self._by: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()

    def find(self, wallet: str, key: str) -> dict[str, str] | None:
        """The account of ``wallet`` whose ``merchant_id`` (WeChat Pay, UnionPay) or
        ``app_id`` (Alipay) is ``key``."""
        with self._lock:
            mtime = -1.0
            with contextlib.suppress(FileNotFoundError):
                mtime = self._path.stat().st_mtime
            if mtime != self._mtime:
                self._mtime = mtime
                self._by = {}
                for account in _read(self._path).get("stores", {}).values():
                    for w, entry in account.items():
                        ident = entry["app_id"] if w == "alipay" else entry["merchant_id"]
                        self._by[(w, ident)] = entry
            return self._by.get((wallet, key))
