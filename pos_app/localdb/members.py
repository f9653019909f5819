"""Member rows of the terminal database: holds, the member of a sale, the cache, sign-ups.

Callers own the transaction, as in :mod:`pos_app.localdb.sales`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session


def capture_holds(session: Session, hold_ids: Sequence[str], sale_id: str) -> int:
    """Marks the holds a committing sale spends as captured by it; returns how many were
    still held. Runs in the sale's own transaction, so a hold is captured exactly when
    the sale (and its event listing the hold) is durable."""
    if not hold_ids:
        return 0
    n = 0
    for hold_id in hold_ids:
        result = session.execute(
            text(
                "UPDATE member_hold SET state = 'captured', sale_id = :s "
                "WHERE hold_id = :h AND state = 'held'"
            ),
            {"s": sale_id, "h": hold_id},
        )
        n += result.rowcount  # type: ignore[attr-defined]
    return n
