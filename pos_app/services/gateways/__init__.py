"""Payment gateway adapters, one per provider, behind the
:class:`~pos_app.services.payments.PaymentGateway` port.

A store's providers are settings (``payment.providers``: provider -> base URL and public
ids); the merchant secrets are in the keyring (service ``chainpos-payments``, user
``<store>:<provider>``), never in the database or the logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pos_app.services.payments import PaymentGateway, RoutingGateway

KEYRING_SERVICE = "chainpos-payments"

__all__ = ["KEYRING_SERVICE", "gateway_from_settings"]


def gateway_from_settings(settings: Mapping[str, Any], store_code: str) -> PaymentGateway | None:
    """The store's gateway from its settings and keyring; None when none is configured
    (the payment screen then offers no payment codes)."""
    providers = settings.get("payment.providers") or {}
    if not isinstance(providers, dict) or not providers:
        return None
    from pos_app.services.gateways._build import build_routing

    routing: RoutingGateway | None = build_routing(providers, store_code)
    return routing
