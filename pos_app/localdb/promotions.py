"""Promotions from HQ on the till: the newest version of each, read back as a book.

The replica stores a promotion only when the shared parser
(:func:`sync_client.contract.promotions.parse_promotion`) reads it: one it cannot read
raises, and the replica sets that change aside (quarantine, reported to HQ) and applies
the rest of the page. A version older than the one held changes nothing, so changes may
arrive twice or out of order. :func:`load_book` builds the engine's
:class:`~pos_app.domain.promotions.PromotionBook` from what is stored.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from pos_app.domain.promotions import PromotionBook
from sync_client.contract import protocol as p
from sync_client.contract.promotions import PromotionInvalid, parse_promotion
from sync_client.replica import QuarantinedChange

__all__ = ["apply_promotions", "apply_promotions_snapshot", "load_book"]


def _checked(data: p.PromotionData) -> str:
    promo = parse_promotion(data.definition)
    if (promo.id, promo.version) != (data.id, data.version):
        raise PromotionInvalid("id", "the definition names another promotion or version")
    return json.dumps(data.definition, ensure_ascii=False, sort_keys=True)


def apply_promotions(db: sqlite3.Connection, promotions: Sequence[p.PromotionData]) -> None:
    """Stores each promotion's version unless a newer one is held.

    Raises:
        PromotionInvalid: a definition the till cannot apply (the replica quarantines it).
    """
    rows = [(d.id, d.version, _checked(d)) for d in promotions]
    db.executemany(
        "INSERT INTO promotion (id, version, definition) VALUES (?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET version = excluded.version, "
        "definition = excluded.definition WHERE excluded.version >= promotion.version",
        rows,
    )


def apply_promotions_snapshot(
    db: sqlite3.Connection, seq: int, promotions: Iterable[p.PromotionData]
) -> list[QuarantinedChange]:
    """Replaces the held promotions with a snapshot's; returns the ones set aside."""
    db.execute("DELETE FROM promotion")
    bad: list[QuarantinedChange] = []
    for data in promotions:
        try:
            apply_promotions(db, [data])
        except (PromotionInvalid, ValueError, TypeError) as exc:
            bad.append(
                QuarantinedChange(
                    seq, "promotion", str(data.id), data.model_dump_json(), f"{exc}"[:500]
                )
            )
    return bad


def load_book(session: Session) -> PromotionBook:
    """Every promotion held, as the engine's book (ended ones included: the engine reads
    their dates)."""
    rows = session.execute(text("SELECT definition FROM promotion ORDER BY id")).all()
    return PromotionBook(parse_promotion(json.loads(r[0])) for r in rows)
