"""The promotions a sale is priced with: the book the till holds and who, where and when.

HQ's ``promotion.best_for_customer`` (default true) says whether the till weighs every
plan and takes the best for the customer, or the first by priority.

Read once when a sale starts (:meth:`PromotionsSource.book`), never on every scan: the
book is rebuilt only when HQ's promotions changed since the last sale, and the pieces each
限量 promotion already sold today at this till are counted then. Each pricing asks
:meth:`PromotionsSource.context` for the till's time and the draft's member, so the cart
switches at a promotion's start on its own clock, offline too.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from pos_app.domain.member import Member
from pos_app.domain.promotions import PromoContext, PromotionBook
from pos_app.localdb import promotions as promo_repo
from pos_app.localdb.engine import read_session
from pos_app.localdb.store import get_setting
from pos_app.localdb.types import to_utc_text

CHAIN_TIME_ZONE = "Asia/Shanghai"
"""The chain's zone: promotions' weekdays and hours, and the day a 限量 limit counts."""


class PromotionsSource:
    """Runs on the GUI thread: :meth:`book` reads the database once per sale (small
    reads), :meth:`context` reads nothing."""

    def __init__(self, engine: Engine, store: str, time_zone: str = CHAIN_TIME_ZONE) -> None:
        self._engine = engine
        self._store = store
        self._zone_name = time_zone
        self._zone = ZoneInfo(time_zone)
        self._book = PromotionBook(())
        self._signature: tuple[int, int] | None = None
        self._region: str | None = None
        self._used: dict[int, int] = {}
        self._best = True

    def book(self, now: datetime | None = None) -> PromotionBook:
        """The promotions held (rebuilt when they changed), and today's 限量 counts."""
        with read_session(self._engine) as s:
            count, versions = s.execute(
                text("SELECT count(*), coalesce(sum(version), 0) FROM promotion")
            ).one()
            signature = (int(count), int(versions))
            if signature != self._signature:
                self._book = promo_repo.load_book(s)
                self._signature = signature
            row = s.execute(
                text("SELECT region FROM store WHERE code = :c"), {"c": self._store}
            ).first()
            self._region = (row[0] or None) if row else None
            self._best = bool(get_setting(s, "promotion.best_for_customer", True))
            limited = {p.id for p in self._book.promotions if p.daily_limit is not None}
            self._used = self._sold_today(s, limited, now or datetime.now(UTC)) if limited else {}
        return self._book

    def _sold_today(self, s: Session, limited: set[int], now: datetime) -> dict[int, int]:
        """Pieces of each limited promotion's lines this till sold today (local day)."""
        start = datetime.combine(now.astimezone(self._zone).date(), time.min, self._zone)
        rows = s.execute(
            text(
                "SELECT l.qty_milli, l.unit, l.promotions_json FROM sale_line l "
                "JOIN sale s ON s.id = l.sale_id WHERE s.completed_at >= :since "
                "AND s.completed_at < :until AND l.promotions_json IS NOT NULL "
                "AND s.status = 'completed'"
            ),
            {
                "since": to_utc_text(start),
                "until": to_utc_text(start + timedelta(days=1)),
            },
        ).all()
        used: dict[int, int] = defaultdict(int)
        for qty_milli, unit, raw in rows:
            for share in json.loads(raw):
                if int(share["id"]) in limited and unit == "piece":
                    used[int(share["id"])] += int(qty_milli) // 1000
        return dict(used)

    def context(self, now: datetime, member: Member | None) -> PromoContext:
        return PromoContext(
            at=now,
            store=self._store,
            region=self._region,
            time_zone=self._zone_name,
            member=member is not None,
            tier=member.tier if member is not None else None,
            best_for_customer=self._best,
            used_today=self._used,
        )
