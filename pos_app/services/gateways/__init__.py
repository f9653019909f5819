"""Payment gateway adapters, one per provider, behind the
:class:`~pos_app.services.payments.PaymentGateway` port.

A store's providers are settings: ``payment.providers`` is a JSON list with one entry per
wallet (``wallet``: ``wechat_pay`` / ``alipay`` / ``unionpay``; ``base_url``;
``merchant_id``; ``app_id`` where the provider has one -- WeChat Pay's appid, Alipay's
app id, UnionPay's signing certId; optionally ``timeout_ms``). None of that is secret.
The merchant secrets are in the keyring (service ``chainpos-payments``, user
``<store>:<wallet>``, a JSON object), never in the database or the logs:

* ``wechat_pay``: ``api_key`` (the API v2 key), ``api_client_cert`` and
  ``api_client_key`` (the API client certificate, ``apiclient_cert.pem`` and
  ``apiclient_key.pem``, PEM text: reverse and refund are refused without it);
* ``alipay``: ``app_private_key``, ``alipay_public_key`` (PEM);
* ``unionpay``: ``private_key`` (PEM), ``cert_id``, ``unionpay_public_key`` (PEM).

A base URL must be the provider's own HTTPS host -- unless ``payment.simulator`` is true,
and then it must be a loopback address (the gateway simulator): a store that configured a
real provider never talks to the simulator, and the simulator never gets a real code. Only
in simulator mode does an entry's ``ca_cert`` (the simulator's test CA, PEM) replace the
public CAs for that provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pos_app.services.payments import PaymentGateway

KEYRING_SERVICE = "chainpos-payments"

SecretLookup = Callable[[str, str], Mapping[str, str] | None]
"""``(store_code, wallet) -> secret fields`` (None: none stored)."""

__all__ = [
    "KEYRING_SERVICE",
    "SecretLookup",
    "gateway_from_settings",
    "keyring_secrets",
    "save_keyring_secret",
]


def keyring_secrets(store_code: str, wallet: str) -> Mapping[str, str] | None:
    """The merchant secret of ``wallet`` for ``store_code`` from the OS keyring."""
    import json

    import keyring

    raw = keyring.get_password(KEYRING_SERVICE, f"{store_code}:{wallet}")
    if not raw:
        return None
    data = json.loads(raw)
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def save_keyring_secret(store_code: str, wallet: str, secret: Mapping[str, str]) -> None:
    """Stores a merchant secret in the OS keyring (setting up a store, the demo)."""
    import json

    import keyring

    keyring.set_password(KEYRING_SERVICE, f"{store_code}:{wallet}", json.dumps(dict(secret)))


def gateway_from_settings(
    settings: Mapping[str, Any],
    store_code: str,
    secrets: SecretLookup | None = None,
) -> PaymentGateway | None:
    """The store's gateway from its settings and keyring; None when none is configured
    (the payment screen then says payment codes are not set up)."""
    raw = settings.get("payment.providers") or ""
    if not raw:
        return None
    from pos_app.services.gateways._build import build_routing

    return build_routing(
        raw,
        store_code,
        simulator=bool(settings.get("payment.simulator", False)),
        secrets=secrets or keyring_secrets,
    )
