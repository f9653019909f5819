"""HQ's reading of the loyalty rules in force for a store.

The rules, their settings and their arithmetic are the shared contract
(:mod:`sync_client.contract.loyalty`): the till estimates the points HQ credits with the
same code. This module only finds the settings in HQ's ``config`` table.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, select

from server_stub import models as m
from sync_client.contract.loyalty import PREFIX, LoyaltyRules, read_rules

log = logging.getLogger("chainpos.hq.loyalty")


def rules_for(conn: Connection, store: str | None) -> LoyaltyRules:
    """The rules in force for ``store`` (chain-wide ones when None); a bad setting is
    logged and passed over."""
    scopes = ["*"] if store is None else ["*", store]
    rows = conn.execute(
        select(m.config.c.scope, m.config.c.key, m.config.c.value_json).where(
            m.config.c.scope.in_(scopes), m.config.c.key.startswith(PREFIX, autoescape=True)
        )
    ).all()
    # Chain-wide first, then the store's values over them.
    ordered = sorted(rows, key=lambda r: r.scope != "*")
    reading = read_rules((str(r.key), str(r.value_json)) for r in ordered)
    for problem in reading.problems:
        log.warning("ignoring loyalty setting for %s: %s", store or "the chain", problem)
    return reading.rules
