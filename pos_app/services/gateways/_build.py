"""Builds the adapters a store configured (kept apart so importing the package is cheap)."""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from pos_app.services.payments import PaymentGateway, RoutingGateway

log = logging.getLogger("chainpos.payments")

PROVIDER_HOSTS: Mapping[str, frozenset[str]] = {
    "wechat_pay": frozenset({"api.mch.weixin.qq.com", "api2.mch.weixin.qq.com"}),
    "alipay": frozenset({"openapi.alipay.com", "openapi-sandbox.dl.alipaydev.com"}),
    "unionpay": frozenset({"gateway.95516.com", "gateway.test.95516.com"}),
}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(wallet: str, base_url: str, simulator: bool) -> str | None:
    """Why ``base_url`` may not be used for ``wallet`` (None: it may)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if simulator:
        if not _is_loopback(host):
            return f"{wallet}: payment.simulator is on, so {host!r} must be a loopback address"
        return None
    if parts.scheme != "https" or host not in PROVIDER_HOSTS.get(wallet, frozenset()):
        return (
            f"{wallet}: {base_url!r} is not the provider's own HTTPS gateway "
            "(the gateway simulator needs payment.simulator on)"
        )
    return None


def _timeout(entry: Mapping[str, Any]) -> float:
    try:
        return max(0.2, int(entry.get("timeout_ms", 15000)) / 1000)
    except (TypeError, ValueError):
        return 15.0


def build_routing(
    raw: Any,
    store_code: str,
    *,
    simulator: bool,
    secrets: Callable[[str, str], Mapping[str, str] | None],
) -> RoutingGateway | None:
    try:
        entries = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        log.error("payment.providers is not JSON; payment codes are off")
        return None
    if not isinstance(entries, list):
        log.error("payment.providers is not a list; payment codes are off")
        return None
    by_kind: dict[str, PaymentGateway] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        wallet = str(entry.get("wallet", ""))
        base_url = str(entry.get("base_url", ""))
        why = base_url_problem(wallet, base_url, simulator)
        if why is not None:
            log.error("payment provider refused: %s", why)
            continue
        secret = secrets(store_code, wallet)
        if not secret:
            log.error("payment provider %s: no merchant secret in the keyring", wallet)
            continue
        try:
            by_kind[wallet] = _adapter(wallet, entry, secret, simulator)
        except (KeyError, ValueError, TypeError) as exc:
            # Never the secret itself: only which field is missing or bad.
            log.error("payment provider %s: bad configuration (%s)", wallet, type(exc).__name__)
    return RoutingGateway(by_kind) if by_kind else None


def _adapter(
    wallet: str, entry: Mapping[str, Any], secret: Mapping[str, str], simulator: bool
) -> PaymentGateway:
    base_url, merchant = str(entry["base_url"]), str(entry["merchant_id"])
    timeout = _timeout(entry)
    if wallet == "wechat_pay":
        from pos_app.services.gateways.wechat import WeChatPayGateway

        return WeChatPayGateway(
            base_url,
            merchant,
            str(entry["app_id"]),
            secret["api_key"],
            timeout_s=timeout,
            client_cert_pem=secret.get("api_client_cert"),
            client_key_pem=secret.get("api_client_key"),
            # Only the simulator's own test CA is ever trusted instead of the public ones.
            ca_pem=str(entry["ca_cert"]) if simulator and entry.get("ca_cert") else None,
        )
    if wallet == "alipay":
        from pos_app.services.gateways.alipay import AlipayGateway

        return AlipayGateway(
            base_url,
            str(entry["app_id"]),
            secret["app_private_key"],
            secret["alipay_public_key"],
            timeout_s=timeout,
        )
    if wallet == "unionpay":
        from pos_app.services.gateways.unionpay import UnionPayGateway

        return UnionPayGateway(
            base_url,
            merchant,
            secret["cert_id"],
            secret["private_key"],
            secret["unionpay_public_key"],
            timeout_s=timeout,
        )
    raise ValueError(wallet)
