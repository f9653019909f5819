"""Builds the adapters a store configured (kept apart so importing the package is cheap)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pos_app.services.payments import PaymentGateway, RoutingGateway

log = logging.getLogger("chainpos.payments")


def build_routing(providers: Mapping[str, Any], store_code: str) -> RoutingGateway | None:
    by_kind: dict[str, PaymentGateway] = {}
    # Adapters are registered here as they are written.
    return RoutingGateway(by_kind) if by_kind else None
