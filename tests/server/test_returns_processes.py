"""Returns across an HQ crash: a real ``chainpos-hq serve`` process SIGKILLed between
granting an authorisation and committing the return that captures it."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from server_stub import models as m
from server_stub import returns
from server_stub.db import Database
from tests.server.conftest import Chain, start_hq_process, wait_until
from tests.server.return_helpers import auth_status, authorise, line_counts, returned, sold

# The same killable database and transaction probe as the sales crash test.
from tests.server.test_processes import _write_transaction_open, killable_db  # noqa: F401

pytestmark = pytest.mark.slow  # starts and kills real HQ processes


def _returns_of(db: Database, sale_id: str) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(m.returns)
                .where(m.returns.c.sale_id == uuid.UUID(sale_id))
            ).scalar_one()
        )


def test_sigkill_between_authorisation_and_commit_refunds_nothing_twice(
    killable_db: str,  # noqa: F811
):
    """GIVEN an authorisation granted at HQ for a return at store B WHEN HQ is SIGKILLed
    while the push carrying that return is in its write transaction THEN after restart the
    return is either wholly there or wholly absent; pushing it again applies it exactly
    once; and an authorisation no return captured expires and gives its quantity back."""
    db = Database(killable_db)
    hq = start_hq_process(killable_db)
    try:
        chain = Chain(db, hq.url)
        a, b = chain.store(), chain.store()
        dev_a, dev_b = chain.device(a), chain.device(b)
        skus = [chain.item() for _ in range(10)]
        with httpx.Client(base_url=hq.url, timeout=60) as c:
            sale = sold(c, chain, dev_a, [(skus[0], 2000)])
            kept = authorise(c, dev_b, sale, {1: 1000}).json()["auth_id"]
            lost = authorise(c, dev_b, sale, {1: 1000}, ttl_s=60).json()["auth_id"]
        back = returned(chain, dev_b, sale, {1: 1000}, auth_id=kept)
        # Enough work in the same push that the kill lands inside its transaction.
        batch = [chain.sale(dev_b, [(sku, 1000) for sku in skus]) for _ in range(300)]
        batch.append(back)
        outcome: list[object] = []

        def push() -> None:
            try:
                with httpx.Client(base_url=hq.url, timeout=60) as c:
                    outcome.append(
                        c.post("/v1/sync/push", json={"events": batch}, headers=dev_b.headers)
                    )
            except httpx.HTTPError as exc:
                outcome.append(exc)

        pusher = threading.Thread(target=push)
        pusher.start()
        wait_until(lambda: _write_transaction_open(killable_db), what="push transaction")
        hq.kill()
        pusher.join(30)
        assert outcome and isinstance(outcome[0], httpx.HTTPError), outcome
    finally:
        hq.stop()

    sale_id = sale["payload"]["sale_id"]
    assert _returns_of(db, sale_id) == 0
    assert line_counts(db, sale) == (0, 2000, 0)
    assert auth_status(db, kept) == "held"

    again = start_hq_process(killable_db)
    try:
        with httpx.Client(base_url=again.url, timeout=60) as c:
            for _ in range(2):
                r = c.post("/v1/sync/push", json={"events": batch}, headers=dev_b.headers)
                assert r.status_code == 200, r.text
                assert r.json()["results"][-1]["status"] in ("applied", "duplicate")
    finally:
        again.stop()
    assert _returns_of(db, sale_id) == 1
    assert auth_status(db, kept) == "captured"
    # The other authorisation was never captured: it expires and gives its piece back.
    assert returns.sweep_expired_auths(db, datetime.now(UTC) + timedelta(seconds=61)) == 1
    assert auth_status(db, lost) == "expired"
    assert line_counts(db, sale) == (1000, 0, 1600)
    db.dispose()
