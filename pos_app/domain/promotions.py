"""The promotion engine: which of HQ's promotions price a cart, and by how much per line.

Pure and deterministic: the same lines, promotions and context always give the same
:class:`Pricing`, whatever order the cart's lines are in (lines are walked in a canonical
order: dearest unit first, then item, quantity and line number). Money is integer fen.

The stacking rule (the same in every store; ``docs/hq.md`` explains it to HQ staff):

1. A promotion is *eligible* when it is in force (dates, weekdays and hours in the
   chain's zone), covers the store (chain, region, store), admits the customer
   (everyone, members, tiers) and the cart holds an item it names.
2. A *plan* is a set of promotions applied in order: item promotions first, then spend
   thresholds (满减) on what the item promotions left; within each, by ``priority``
   (lower first), then id. A piece taken by a piece-counting promotion (N-th item, buy X
   get Y, bundle) is not counted again by another; percentages, amounts and special
   prices apply to what the line still costs; nothing takes a line below zero.
3. The plans are: every eligible *stackable* promotion together, and each eligible
   promotion on its own. With ``best_for_customer`` (the chain's setting) the till takes
   the plan with the largest discount (ties: the earlier plan by priority); without it,
   the first plan by priority that gives anything, the stackable set ranking by its
   highest-priority member.
4. After promotions: manual line discounts (of what the line still costs), then the
   basket discount, then a coupon (its minimum spend counts what promotions left), then
   抹零 (:mod:`pos_app.domain.cart`).

Each line's discount is split by promotion (:class:`PromoShare`): the receipt, the sale
line sent to HQ and a later refund all read the same split. A discount spread over
several lines goes by what each still costs, largest remainders first, ties to the line
earliest in the canonical order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from pos_app.domain.money import allocate, mul_div_round
from sync_client.contract.money import Fen
from sync_client.contract.promotions import (
    Promotion,
    PromotionKind,
    Targets,
    chain_zone,
)

MILLI = 1000


@dataclass(frozen=True, slots=True)
class PromoLine:
    """What the engine needs of a cart line. ``unit_price_fen`` per piece (options
    included) or per kilogram; ``pieces`` is 0 for weighed lines and price-embedded
    labels, which only percentages, amounts and prices reach."""

    line_no: int
    sku: str
    category: str | None
    unit_price_fen: Fen
    qty_milli: int
    list_amount_fen: Fen
    pieces: int


@dataclass(frozen=True, slots=True)
class PromoContext:
    """Who buys, where and when. ``at`` is an aware instant; ``used_today`` counts the
    pieces each limited promotion (by id) already sold at this store today."""

    at: datetime
    store: str
    """The store's code."""
    region: str | None = None
    time_zone: str = "Asia/Shanghai"
    member: bool = False
    tier: str | None = None
    best_for_customer: bool = True
    used_today: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PromoShare:
    """What one promotion (id and version) took off one line."""

    promotion_id: int
    version: int
    amount_fen: Fen


@dataclass(frozen=True, slots=True)
class LinePricing:
    line_no: int
    discount_fen: Fen
    shares: tuple[PromoShare, ...]


@dataclass(frozen=True, slots=True)
class AppliedPromotion:
    """One promotion in the chosen plan: what it took off the basket and how many pieces
    it priced (what a 限量 limit counts)."""

    promotion_id: int
    version: int
    name_zh: str
    name_en: str
    kind: PromotionKind
    amount_fen: Fen
    pieces: int

    def name(self, language: str) -> str:
        return self.name_zh if language.startswith("zh") or not self.name_en else self.name_en


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    """A plan the till weighed, for the explanation: its promotions and its discount."""

    promotion_ids: tuple[int, ...]
    discount_fen: Fen
    chosen: bool


@dataclass(frozen=True, slots=True)
class Pricing:
    lines: tuple[LinePricing, ...]
    applied: tuple[AppliedPromotion, ...]
    considered: tuple[PlanOutcome, ...]
    discount_fen: Fen

    def for_line(self, line_no: int) -> LinePricing | None:
        for line in self.lines:
            if line.line_no == line_no:
                return line
        return None


NO_PROMOTIONS = Pricing((), (), (), 0)


# ------------------------------------------------------------------ one plan


class _Matches:
    """Which lines (canonical indexes) each item set matches, worked out once per pricing
    and shared by every plan weighed."""

    __slots__ = ("_all", "_by_category", "_by_item", "_cache")

    def __init__(self, lines: Sequence[PromoLine]) -> None:
        self._all = tuple(range(len(lines)))
        self._by_item: dict[str, list[int]] = {}
        self._by_category: dict[str, list[int]] = {}
        for i, ln in enumerate(lines):
            self._by_item.setdefault(ln.sku, []).append(i)
            if ln.category is not None:
                self._by_category.setdefault(ln.category, []).append(i)
        self._cache: dict[Targets, tuple[int, ...]] = {}

    def __call__(self, targets: Targets) -> tuple[int, ...]:
        found = self._cache.get(targets)
        if found is None:
            if targets.everything:
                found = self._all
            else:
                hits: set[int] = set()
                for item in targets.items:
                    hits.update(self._by_item.get(item, ()))
                for category in targets.categories:
                    hits.update(self._by_category.get(category, ()))
                found = tuple(sorted(hits))
            self._cache[targets] = found
        return found


class _Plan:
    """The state of one plan being applied: what each line still costs, which pieces are
    taken, and what each promotion took off each line."""

    __slots__ = ("free", "lines", "matches", "pieces", "remaining", "taken")

    def __init__(self, lines: Sequence[PromoLine], matches: _Matches) -> None:
        self.lines = lines
        self.matches = matches
        self.remaining = [ln.list_amount_fen for ln in lines]
        self.free = [ln.pieces for ln in lines]
        self.taken: dict[int, list[Fen]] = {}
        self.pieces: dict[int, int] = {}

    def take(self, promo: Promotion, index: int, fen: Fen) -> None:
        fen = min(fen, self.remaining[index])
        if fen <= 0:
            return
        self.remaining[index] -= fen
        per_line = self.taken.setdefault(promo.id, [0] * len(self.lines))
        per_line[index] += fen

    def spread(self, promo: Promotion, indexes: list[int], fen: Fen) -> None:
        weights = [self.remaining[i] for i in indexes]
        fen = min(fen, sum(weights))
        if fen <= 0:
            return
        for i, part in zip(indexes, allocate(fen, weights), strict=True):
            self.take(promo, i, part)

    def count(self, promo: Promotion, pieces: int) -> None:
        if pieces:
            self.pieces[promo.id] = self.pieces.get(promo.id, 0) + pieces

    @property
    def total(self) -> Fen:
        return sum(sum(v) for v in self.taken.values())


def _units(plan: _Plan, targets: Targets, free: list[int] | None = None) -> list[tuple[Fen, int]]:
    """The free pieces of the targeted lines, one (unit price, line index) each, dearest
    first (canonical order breaks ties). ``free`` overrides the plan's free counts."""
    counts = plan.free if free is None else free
    units: list[tuple[Fen, int]] = []
    lines = plan.lines
    for i in plan.matches(targets):
        if counts[i]:
            units.extend([(lines[i].unit_price_fen, i)] * counts[i])
    units.sort(key=lambda u: (-u[0], u[1]))
    return units


def _per_qty(fen_per_unit: Fen, ln: PromoLine) -> Fen:
    if ln.pieces:
        return fen_per_unit * ln.pieces
    return mul_div_round(fen_per_unit, ln.qty_milli, MILLI)


def _apply(plan: _Plan, promo: Promotion, ctx: PromoContext) -> None:
    kind = promo.kind
    lines = plan.lines
    targeted = list(plan.matches(promo.targets))
    if kind in (PromotionKind.PERCENT_OFF, PromotionKind.TIER_DISCOUNT):
        bp = promo.percent_bp
        if kind is PromotionKind.TIER_DISCOUNT:
            bp = dict(promo.tier_percent_bp).get(ctx.tier or "", 0)
        base = sum(plan.remaining[i] for i in targeted)
        plan.spread(promo, targeted, mul_div_round(base, bp, 10_000))
        plan.count(promo, sum(lines[i].pieces for i in targeted))
    elif kind is PromotionKind.AMOUNT_OFF:
        for i in targeted:
            plan.take(promo, i, _per_qty(promo.amount_fen, lines[i]))
        plan.count(promo, sum(lines[i].pieces for i in targeted))
    elif kind in (PromotionKind.MEMBER_PRICE, PromotionKind.SPECIAL_PRICE):
        left = None
        if promo.daily_limit is not None:
            left = max(0, promo.daily_limit - ctx.used_today.get(promo.id, 0))
        for i in targeted:
            ln = lines[i]
            cut = max(0, ln.unit_price_fen - promo.price_fen)
            if left is None:
                plan.take(promo, i, _per_qty(cut, ln))
                plan.count(promo, ln.pieces)
            elif ln.pieces and left:
                pieces = min(ln.pieces, left)
                left -= pieces
                plan.take(promo, i, cut * pieces)
                plan.count(promo, pieces)
    elif kind is PromotionKind.NTH_ITEM:
        units = _units(plan, promo.targets)
        groups = len(units) // promo.n
        for g in range(groups):
            group = units[g * promo.n : (g + 1) * promo.n]
            for _, i in group:
                plan.free[i] -= 1
            price, i = group[-1]
            plan.take(promo, i, mul_div_round(price, promo.percent_bp, 10_000))
        plan.count(promo, groups * promo.n)
    elif kind is PromotionKind.BUY_X_GET_Y:
        _buy_x_get_y(plan, promo)
    elif kind is PromotionKind.BUNDLE:
        _bundle(plan, promo)
    elif kind is PromotionKind.SPEND_THRESHOLD:
        base = sum(plan.remaining[i] for i in targeted)
        reached = [(t, off) for t, off in promo.spend_tiers if t <= base]
        if reached:
            threshold, off = reached[-1]
            if promo.repeat:
                off *= base // threshold
            plan.spread(promo, targeted, off)


def _buy_x_get_y(plan: _Plan, promo: Promotion) -> None:
    if promo.get_targets is None:
        # Same item: groups of buy + get pieces, dearest first; the cheapest of each
        # group are the ones given.
        size = promo.buy_qty + promo.get_qty
        units = _units(plan, promo.targets)
        groups = len(units) // size
        for g in range(groups):
            group = units[g * size : (g + 1) * size]
            for _, i in group:
                plan.free[i] -= 1
            for price, i in group[promo.buy_qty :]:
                plan.take(promo, i, mul_div_round(price, promo.percent_bp, 10_000))
        plan.count(promo, groups * size)
        return
    # Another item: the dearest pieces bought, the cheapest pieces of the gift given; a
    # piece bought is never also given.
    while True:
        buys = _units(plan, promo.targets)[: promo.buy_qty]
        if len(buys) < promo.buy_qty:
            return
        free = list(plan.free)
        for _, i in buys:
            free[i] -= 1
        gifts = _units(plan, promo.get_targets, free)[::-1][: promo.get_qty]
        if len(gifts) < promo.get_qty:
            return
        for _, i in buys + gifts:
            plan.free[i] -= 1
        for price, i in gifts:
            plan.take(promo, i, mul_div_round(price, promo.percent_bp, 10_000))
        plan.count(promo, promo.buy_qty + promo.get_qty)


def _bundle(plan: _Plan, promo: Promotion) -> None:
    """Whole sets of the components, dearest pieces first, while a set costs more than
    the bundle's price."""
    while True:
        free = list(plan.free)
        chosen: list[tuple[Fen, int]] = []
        for comp in promo.components:
            pool = _units(plan, comp.targets, free)[: comp.qty]
            if len(pool) < comp.qty:
                return
            for _, i in pool:
                free[i] -= 1
            chosen.extend(pool)
        list_fen = sum(price for price, _ in chosen)
        if list_fen <= promo.price_fen:
            return
        plan.free = free
        plan.count(promo, len(chosen))
        indexes = sorted({i for _, i in chosen})
        weights = [sum(p for p, j in chosen if j == i) for i in indexes]
        for i, part in zip(indexes, allocate(list_fen - promo.price_fen, weights), strict=True):
            plan.take(promo, i, part)


# ------------------------------------------------------------------ the book


def _canonical(lines: Iterable[PromoLine]) -> list[PromoLine]:
    return sorted(
        lines,
        key=lambda ln: (
            -ln.unit_price_fen,
            ln.sku,
            ln.qty_milli,
            ln.list_amount_fen,
            ln.line_no,
        ),
    )


def _plan_key(promos: Sequence[Promotion]) -> tuple[int, int]:
    return min((p.priority, p.id) for p in promos)


def _run_order(promos: Iterable[Promotion]) -> list[Promotion]:
    return sorted(promos, key=lambda p: (p.kind.is_basket, p.priority, p.id))


class PromotionBook:
    """The promotions a till holds, indexed by the items and categories they name, so a
    cart only looks at the ones that can touch it. Immutable once built."""

    def __init__(self, promotions: Iterable[Promotion]) -> None:
        self.promotions: tuple[Promotion, ...] = tuple(sorted(promotions, key=lambda p: p.id))
        self._by_item: dict[str, list[Promotion]] = {}
        self._by_category: dict[str, list[Promotion]] = {}
        self._everywhere: list[Promotion] = []
        self._zones: dict[str, ZoneInfo] = {}
        for promo in self.promotions:
            for targets in promo.all_targets():
                if targets.everything:
                    self._everywhere.append(promo)
                    continue
                for item in targets.items:
                    self._by_item.setdefault(item, []).append(promo)
                for cat in targets.categories:
                    self._by_category.setdefault(cat, []).append(promo)

    def __len__(self) -> int:
        return len(self.promotions)

    def _zone(self, name: str) -> ZoneInfo:
        zone = self._zones.get(name)
        if zone is None:
            zone = self._zones[name] = chain_zone(name)
        return zone

    def touching(self, lines: Sequence[PromoLine]) -> list[Promotion]:
        found: dict[int, Promotion] = {p.id: p for p in self._everywhere}
        for ln in lines:
            for promo in self._by_item.get(ln.sku, ()):
                found[promo.id] = promo
            if ln.category is not None:
                for promo in self._by_category.get(ln.category, ()):
                    found[promo.id] = promo
        return [found[k] for k in sorted(found)]

    def eligible(self, lines: Sequence[PromoLine], ctx: PromoContext) -> list[Promotion]:
        zone = self._zone(ctx.time_zone)
        return [
            p
            for p in self.touching(lines)
            if p.scope.covers(ctx.store, ctx.region)
            and p.admits(ctx.member, ctx.tier)
            and p.in_force(ctx.at, zone)
        ]

    def price(self, lines: Sequence[PromoLine], ctx: PromoContext) -> Pricing:
        """Prices ``lines`` with the promotions eligible in ``ctx`` (the stacking rule in
        the module's docstring). Never takes a line below zero."""
        if not lines:
            return NO_PROMOTIONS
        ordered = _canonical(lines)
        eligible = self.eligible(ordered, ctx)
        if not eligible:
            return NO_PROMOTIONS
        stackable = [p for p in eligible if p.stackable]
        plans: list[list[Promotion]] = []
        if len(stackable) > 1:
            plans.append(stackable)
        plans.extend([p] for p in eligible)
        plans.sort(key=_plan_key)
        matches = _Matches(ordered)
        weighed: dict[int, tuple[list[Promotion], _Plan]] = {}

        def weigh(n: int) -> _Plan:
            plan = _Plan(ordered, matches)
            for promo in _run_order(plans[n]):
                _apply(plan, promo, ctx)
            weighed[n] = (plans[n], plan)
            return plan

        best_index, best_total = -1, 0
        if not ctx.best_for_customer:
            for n in range(len(plans)):
                total = weigh(n).total
                if total > 0:
                    best_index, best_total = n, total
                    break
        else:
            # Weigh the stackable set first: a plan that cannot beat the best so far (by
            # what its lines cost at most) is not weighed at all.
            first = next((n for n, promos in enumerate(plans) if len(promos) > 1), None)
            if first is not None:
                best_index, best_total = first, weigh(first).total
            amounts = [ln.list_amount_fen for ln in ordered]
            for n, promos in enumerate(plans):
                if n == first:
                    continue
                bound = _upper_bound(promos[0], matches, amounts)
                if bound < best_total or (bound == best_total and n > best_index):
                    continue
                total = weigh(n).total
                if total > best_total or (total == best_total and total and n < best_index):
                    best_index, best_total = n, total
        outcomes = [weighed[n] for n in sorted(weighed)]
        best_index = sorted(weighed).index(best_index) if best_total > 0 else -1
        considered = tuple(
            PlanOutcome(tuple(p.id for p in promos), plan.total, n == best_index)
            for n, (promos, plan) in enumerate(outcomes)
        )
        if best_index < 0:
            return Pricing((), (), considered, 0)
        promos, plan = outcomes[best_index]
        return _pricing(ordered, promos, plan, considered)


def _upper_bound(promo: Promotion, matches: _Matches, amounts: list[Fen]) -> Fen:
    """The most ``promo`` could take off on its own: what the lines it looks at cost
    (a spend threshold: at most its reductions)."""
    indexes: set[int] = set()
    for targets in promo.all_targets():
        indexes.update(matches(targets))
    base = sum(amounts[i] for i in indexes)
    if promo.kind is PromotionKind.SPEND_THRESHOLD and promo.spend_tiers:
        off = promo.spend_tiers[-1][1]
        most = off * (base // promo.spend_tiers[0][0]) if promo.repeat else off
        return min(base, most)
    return base


def _pricing(
    ordered: Sequence[PromoLine],
    promos: Sequence[Promotion],
    plan: _Plan,
    considered: tuple[PlanOutcome, ...],
) -> Pricing:
    run = [p for p in _run_order(promos) if sum(plan.taken.get(p.id, ())) > 0]
    per_line: list[list[PromoShare]] = [[] for _ in ordered]
    for p in run:
        for index, fen in enumerate(plan.taken[p.id]):
            if fen > 0:
                per_line[index].append(PromoShare(p.id, p.version, fen))
    line_out = [
        LinePricing(ln.line_no, sum(s.amount_fen for s in shares), tuple(shares))
        for ln, shares in zip(ordered, per_line, strict=True)
        if shares
    ]
    line_out.sort(key=lambda lp: lp.line_no)
    applied = tuple(
        AppliedPromotion(
            p.id,
            p.version,
            p.name_zh,
            p.name_en,
            p.kind,
            sum(plan.taken[p.id]),
            plan.pieces.get(p.id, 0),
        )
        for p in run
    )
    return Pricing(tuple(line_out), applied, considered, plan.total)
