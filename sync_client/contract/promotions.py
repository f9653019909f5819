"""Promotions as HQ defines them and every till reads them: the one definition.

A promotion is a frozen :class:`Promotion` built only by :func:`parse_promotion` from its
wire form (a JSON object), which refuses anything a till could not apply — HQ calls it
before storing a promotion, the till's replica before applying one from the feed, so both
sides accept exactly the same definitions. The engine that prices a cart with them is
:mod:`pos_app.domain.promotions`.

Wire form (money in fen, times UTC ISO-8601, local weekday/hours in the chain's zone)::

    {"id": 7, "version": 1, "name_zh": "第二件半价", "name_en": "2nd cup half price",
     "kind": "nth_item", "params": {"n": 2, "percent_bp": 5000},
     "targets": {"items": ["MT012"], "categories": []},      # both empty: every item
     "scope": {"regions": ["east"], "stores": ["S001"]},      # both empty: the whole chain
     "starts_at": "2026-12-04T16:00:00Z", "ends_at": null,
     "weekdays": [], "hours": [],                       # ISO weekdays 1-7, ["14:00", "17:00"]
     "audience": "everyone", "tiers": [],               # everyone | members | tiers
     "stackable": true, "priority": 100}

Kinds and their ``params``:

* ``percent_off`` ``{"percent_bp"}``: basis points off what the targeted lines cost;
* ``amount_off`` ``{"amount_fen"}``: off each targeted piece (or kilogram);
* ``spend_threshold`` (满减) ``{"tiers": [[threshold_fen, off_fen], ...], "repeat"}``:
  the highest tier reached by what the targeted lines still cost; ``repeat`` takes it
  off once per whole threshold (每满100减30);
* ``nth_item`` (第二件半价) ``{"n", "percent_bp"}``: every n-th targeted piece, the
  cheapest of each group of n, at ``percent_bp`` off;
* ``buy_x_get_y`` (买一送一) ``{"buy_qty", "get_qty", "get_items", "percent_bp"}``: per
  ``buy_qty`` targeted pieces, ``get_qty`` pieces of ``get_items`` (empty: the targeted
  items themselves) at ``percent_bp`` off (10000 = free);
* ``bundle`` (套餐) ``{"components": [{"items", "categories", "qty"}], "price_fen"}``:
  one piece set of the components sold together at ``price_fen``;
* ``member_price`` / ``special_price`` ``{"price_fen", "daily_limit"?}``: the targeted
  items at ``price_fen`` per piece (or kilogram); ``daily_limit`` (special prices only)
  caps the pieces sold at that price per store per day (限量);
* ``tier_discount`` ``{"tier_percent_bp": {"silver": 500, "gold": 1000}}``: members of a
  listed tier get their tier's basis points off the targeted lines.

Pure standard library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync_client.contract.errors import ChainPosError
from sync_client.contract.money import Fen

MAX_PERCENT_BP = 10_000
MAX_PRIORITY = 1_000_000


class PromotionKind(StrEnum):
    PERCENT_OFF = "percent_off"
    AMOUNT_OFF = "amount_off"
    SPEND_THRESHOLD = "spend_threshold"
    NTH_ITEM = "nth_item"
    BUY_X_GET_Y = "buy_x_get_y"
    BUNDLE = "bundle"
    MEMBER_PRICE = "member_price"
    SPECIAL_PRICE = "special_price"
    TIER_DISCOUNT = "tier_discount"

    @property
    def is_basket(self) -> bool:
        """Basket promotions price what item promotions left (see the stacking rule)."""
        return self is PromotionKind.SPEND_THRESHOLD


class Audience(StrEnum):
    EVERYONE = "everyone"
    MEMBERS = "members"
    TIERS = "tiers"


class PromotionInvalid(ChainPosError, ValueError):
    """A promotion no till could apply (code ``invalid_promotion``; ``params["field"]``
    names the offending field and ``params["reason"]`` says why)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__("invalid_promotion", f"{field}: {reason}", field=field, reason=reason)


@dataclass(frozen=True, slots=True)
class Targets:
    """Which items a promotion prices: listed items or categories; neither: every item."""

    items: frozenset[str] = frozenset()
    """SKUs."""
    categories: frozenset[str] = frozenset()

    @property
    def everything(self) -> bool:
        return not self.items and not self.categories

    def matches(self, sku: str, category: str | None) -> bool:
        return (
            self.everything
            or sku in self.items
            or (category is not None and category in self.categories)
        )


@dataclass(frozen=True, slots=True)
class BundleComponent:
    targets: Targets
    qty: int


@dataclass(frozen=True, slots=True)
class Scope:
    """Where it runs: listed regions or stores; neither: every store of the chain."""

    regions: frozenset[str] = frozenset()
    stores: frozenset[str] = frozenset()
    """Store codes."""

    @property
    def chain(self) -> bool:
        return not self.regions and not self.stores

    def covers(self, store: str, region: str | None) -> bool:
        return self.chain or store in self.stores or (region is not None and region in self.regions)


@dataclass(frozen=True, slots=True)
class Promotion:
    """One version of a promotion. Build it with :func:`parse_promotion`."""

    id: int
    version: int
    name_zh: str
    name_en: str
    kind: PromotionKind
    targets: Targets
    scope: Scope
    starts_at: datetime
    ends_at: datetime | None
    weekdays: frozenset[int]
    hours: tuple[tuple[int, int], ...]
    """Local (start, end) minutes of the day, end exclusive; empty: all day."""
    audience: Audience
    tiers: frozenset[str]
    stackable: bool
    priority: int
    """Lower runs first and wins first when the till does not pick the best."""
    percent_bp: int = 0
    amount_fen: Fen = 0
    price_fen: Fen = 0
    n: int = 0
    buy_qty: int = 0
    get_qty: int = 0
    get_targets: Targets | None = None
    spend_tiers: tuple[tuple[Fen, Fen], ...] = ()
    repeat: bool = False
    components: tuple[BundleComponent, ...] = ()
    tier_percent_bp: tuple[tuple[str, int], ...] = ()
    daily_limit: int | None = None

    def name(self, language: str) -> str:
        return self.name_zh if language.startswith("zh") or not self.name_en else self.name_en

    def in_force(self, at: datetime, zone: ZoneInfo) -> bool:
        """Whether it runs at the instant ``at`` (aware), with weekdays and hours read in
        the chain's time zone ``zone``."""
        if at < self.starts_at or (self.ends_at is not None and at >= self.ends_at):
            return False
        if not self.weekdays and not self.hours:
            return True
        local = at.astimezone(zone)
        if self.weekdays and local.isoweekday() not in self.weekdays:
            return False
        if self.hours:
            minute = local.hour * 60 + local.minute
            return any(start <= minute < end for start, end in self.hours)
        return True

    def admits(self, member: bool, tier: str | None) -> bool:
        if self.kind is PromotionKind.TIER_DISCOUNT:
            return member and tier is not None and any(t == tier for t, _ in self.tier_percent_bp)
        if self.audience is Audience.EVERYONE:
            return True
        if self.audience is Audience.MEMBERS:
            return member
        return member and tier is not None and tier in self.tiers

    def all_targets(self) -> tuple[Targets, ...]:
        """Every item set the promotion looks at (to find the promotions a cart touches)."""
        found = [self.targets]
        if self.get_targets is not None:
            found.append(self.get_targets)
        found.extend(c.targets for c in self.components)
        return tuple(found)


# ------------------------------------------------------------------ parsing


def _int(data: Mapping[str, Any], key: str, lo: int, hi: int, field: str | None = None) -> int:
    value = data.get(key)
    name = field or key
    if isinstance(value, bool) or not isinstance(value, int):
        raise PromotionInvalid(name, "must be a whole number")
    if not lo <= value <= hi:
        raise PromotionInvalid(name, f"must be between {lo} and {hi}")
    return value


def _str(data: Mapping[str, Any], key: str, *, required: bool, max_len: int = 64) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise PromotionInvalid(key, "must be text")
    value = value.strip()
    if required and not value:
        raise PromotionInvalid(key, "is required")
    if len(value) > max_len:
        raise PromotionInvalid(key, f"at most {max_len} characters")
    return value


def _time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise PromotionInvalid(field, "must be an ISO-8601 time with its zone")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PromotionInvalid(field, "must be an ISO-8601 time with its zone") from exc
    if parsed.tzinfo is None:
        raise PromotionInvalid(field, "must carry its time zone")
    return parsed.astimezone(UTC)


def _targets(value: Any, field: str) -> Targets:
    if value is None:
        return Targets()
    if not isinstance(value, Mapping):
        raise PromotionInvalid(field, "must be an object with items and categories")
    items = value.get("items") or []
    cats = value.get("categories") or []
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise PromotionInvalid(f"{field}.items", "must be a list of SKUs")
    if not isinstance(cats, Sequence) or isinstance(cats, str):
        raise PromotionInvalid(f"{field}.categories", "must be a list of category codes")
    for item in items:
        if not isinstance(item, str) or not item.strip() or len(item) > 64:
            raise PromotionInvalid(f"{field}.items", "items are SKUs")
    for cat in cats:
        if not isinstance(cat, str) or not cat.strip():
            raise PromotionInvalid(f"{field}.categories", "category codes are text")
    return Targets(frozenset(i.strip() for i in items), frozenset(c.strip() for c in cats))


def _hhmm(text: Any, field: str) -> int:
    if not isinstance(text, str) or len(text.split(":")) != 2:
        raise PromotionInvalid(field, "hours are HH:MM")
    hh, mm = text.split(":")
    if not (hh.isdigit() and mm.isdigit()):
        raise PromotionInvalid(field, "hours are HH:MM")
    minutes = int(hh) * 60 + int(mm)
    if int(mm) >= 60 or minutes > 24 * 60:
        raise PromotionInvalid(field, "hours are HH:MM between 00:00 and 24:00")
    return minutes


def _kind_params(kind: PromotionKind, params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind in (PromotionKind.PERCENT_OFF, PromotionKind.NTH_ITEM):
        out["percent_bp"] = _int(params, "percent_bp", 1, MAX_PERCENT_BP, "params.percent_bp")
    if kind is PromotionKind.NTH_ITEM:
        out["n"] = _int(params, "n", 2, 100, "params.n")
    if kind is PromotionKind.AMOUNT_OFF:
        out["amount_fen"] = _int(params, "amount_fen", 1, 10**9, "params.amount_fen")
    if kind in (PromotionKind.MEMBER_PRICE, PromotionKind.SPECIAL_PRICE):
        out["price_fen"] = _int(params, "price_fen", 0, 10**9, "params.price_fen")
        if params.get("daily_limit") is not None:
            if kind is not PromotionKind.SPECIAL_PRICE:
                raise PromotionInvalid("params.daily_limit", "only special prices have a limit")
            out["daily_limit"] = _int(params, "daily_limit", 1, 10**6, "params.daily_limit")
    if kind is PromotionKind.BUY_X_GET_Y:
        out["buy_qty"] = _int(params, "buy_qty", 1, 100, "params.buy_qty")
        out["get_qty"] = _int(params, "get_qty", 1, 100, "params.get_qty")
        percent = params.get("percent_bp", MAX_PERCENT_BP)
        out["percent_bp"] = _int(
            {"percent_bp": percent}, "percent_bp", 1, MAX_PERCENT_BP, "params.percent_bp"
        )
        get_items = params.get("get_items") or []
        if get_items:
            out["get_targets"] = _targets({"items": get_items}, "params.get_items")
    if kind is PromotionKind.SPEND_THRESHOLD:
        tiers = params.get("tiers")
        if not isinstance(tiers, Sequence) or isinstance(tiers, str) or not tiers:
            raise PromotionInvalid("params.tiers", "give at least one [threshold, off] tier")
        parsed: list[tuple[int, int]] = []
        for tier in tiers:
            if not isinstance(tier, Sequence) or isinstance(tier, str) or len(tier) != 2:
                raise PromotionInvalid("params.tiers", "each tier is [threshold_fen, off_fen]")
            pair = {"threshold": tier[0], "off": tier[1]}
            threshold = _int(pair, "threshold", 1, 10**9, "params.tiers")
            off = _int(pair, "off", 1, 10**9, "params.tiers")
            if off > threshold:
                raise PromotionInvalid("params.tiers", "a tier cannot take off more than it asks")
            parsed.append((threshold, off))
        parsed.sort()
        for (t1, o1), (t2, o2) in pairwise(parsed):
            if t1 == t2 or o2 <= o1:
                raise PromotionInvalid("params.tiers", "higher thresholds take more off")
        out["spend_tiers"] = tuple(parsed)
        repeat = params.get("repeat", False)
        if not isinstance(repeat, bool):
            raise PromotionInvalid("params.repeat", "must be true or false")
        if repeat and len(parsed) > 1:
            raise PromotionInvalid("params.repeat", "a repeating reduction has one tier")
        out["repeat"] = repeat
    if kind is PromotionKind.BUNDLE:
        comps = params.get("components")
        if not isinstance(comps, Sequence) or isinstance(comps, str) or not comps:
            raise PromotionInvalid("params.components", "a bundle lists its components")
        if len(comps) > 20:
            raise PromotionInvalid("params.components", "at most 20 components")
        parts: list[BundleComponent] = []
        for comp in comps:
            if not isinstance(comp, Mapping):
                raise PromotionInvalid("params.components", "each component is an object")
            targets = _targets(comp, "params.components")
            if targets.everything:
                raise PromotionInvalid("params.components", "a component names its items")
            qty = _int(comp, "qty", 1, 100, "params.components.qty")
            parts.append(BundleComponent(targets, qty))
        out["components"] = tuple(parts)
        out["price_fen"] = _int(params, "price_fen", 0, 10**9, "params.price_fen")
    if kind is PromotionKind.TIER_DISCOUNT:
        tiers_bp = params.get("tier_percent_bp")
        if not isinstance(tiers_bp, Mapping) or not tiers_bp:
            raise PromotionInvalid("params.tier_percent_bp", "give each tier's basis points")
        pairs = []
        for tier_code, bp in sorted(tiers_bp.items()):
            if not isinstance(tier_code, str) or not tier_code:
                raise PromotionInvalid("params.tier_percent_bp", "tiers are named")
            value = _int({"bp": bp}, "bp", 1, MAX_PERCENT_BP, "params.tier_percent_bp")
            pairs.append((tier_code, value))
        out["tier_percent_bp"] = tuple(pairs)
    return out


def parse_promotion(data: Mapping[str, Any]) -> Promotion:
    """Reads and checks one promotion in its wire form.

    Raises:
        PromotionInvalid: a field is missing, out of range, or the promotion could never
            apply (no kind, an empty time window, a bundle without components, ...).
    """
    if not isinstance(data, Mapping):
        raise PromotionInvalid("promotion", "must be an object")
    pid = _int(data, "id", 1, 2**62)
    version = _int(data, "version", 1, 2**62)
    name_zh = _str(data, "name_zh", required=True)
    name_en = _str(data, "name_en", required=False)
    try:
        kind = PromotionKind(str(data.get("kind")))
    except ValueError as exc:
        raise PromotionInvalid("kind", "unknown kind") from exc
    params = data.get("params") or {}
    if not isinstance(params, Mapping):
        raise PromotionInvalid("params", "must be an object")
    extra = _kind_params(kind, params)
    targets = _targets(data.get("targets"), "targets")
    scope_raw = data.get("scope") or {}
    if not isinstance(scope_raw, Mapping):
        raise PromotionInvalid("scope", "must be an object with regions and stores")
    regions = scope_raw.get("regions") or []
    stores = scope_raw.get("stores") or []
    if not isinstance(regions, Sequence) or isinstance(regions, str):
        raise PromotionInvalid("scope.regions", "must be a list")
    if not isinstance(stores, Sequence) or isinstance(stores, str):
        raise PromotionInvalid("scope.stores", "must be a list")
    if any(not isinstance(r, str) or not r.strip() for r in regions):
        raise PromotionInvalid("scope.regions", "regions are named")
    if any(not isinstance(s, str) or not s.strip() for s in stores):
        raise PromotionInvalid("scope.stores", "stores are store codes")
    scope = Scope(frozenset(r.strip() for r in regions), frozenset(s.strip() for s in stores))
    starts_at = _time(data.get("starts_at"), "starts_at")
    ends_raw = data.get("ends_at")
    ends_at = None if ends_raw is None else _time(ends_raw, "ends_at")
    if ends_at is not None and ends_at <= starts_at:
        raise PromotionInvalid("ends_at", "must be after starts_at")
    weekdays = data.get("weekdays") or []
    if not isinstance(weekdays, Sequence) or any(
        isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 7 for d in weekdays
    ):
        raise PromotionInvalid("weekdays", "ISO weekdays 1 (Monday) to 7 (Sunday)")
    hours_raw = data.get("hours") or []
    if not isinstance(hours_raw, Sequence) or isinstance(hours_raw, str):
        raise PromotionInvalid("hours", "a list of [from, to] pairs")
    hours: list[tuple[int, int]] = []
    for pair in hours_raw:
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise PromotionInvalid("hours", "a list of [from, to] pairs")
        start, end = _hhmm(pair[0], "hours"), _hhmm(pair[1], "hours")
        if end <= start:
            raise PromotionInvalid("hours", "each window ends after it starts")
        hours.append((start, end))
    try:
        audience = Audience(data.get("audience", "everyone"))
    except ValueError as exc:
        raise PromotionInvalid("audience", "everyone, members or tiers") from exc
    tiers = data.get("tiers") or []
    if not isinstance(tiers, Sequence) or any(not isinstance(t, str) or not t for t in tiers):
        raise PromotionInvalid("tiers", "a list of tier codes")
    if audience is Audience.TIERS and not tiers:
        raise PromotionInvalid("tiers", "a promotion for tiers names them")
    if kind is PromotionKind.MEMBER_PRICE and audience is Audience.EVERYONE:
        raise PromotionInvalid("audience", "a member price is for members")
    stackable = data.get("stackable", False)
    if not isinstance(stackable, bool):
        raise PromotionInvalid("stackable", "must be true or false")
    priority = _int({"priority": data.get("priority", 100)}, "priority", 0, MAX_PRIORITY)
    return Promotion(
        id=pid,
        version=version,
        name_zh=name_zh,
        name_en=name_en,
        kind=kind,
        targets=targets,
        scope=scope,
        starts_at=starts_at,
        ends_at=ends_at,
        weekdays=frozenset(weekdays),
        hours=tuple(sorted(hours)),
        audience=audience,
        tiers=frozenset(tiers),
        stackable=stackable,
        priority=priority,
        **extra,
    )


def chain_zone(name: str) -> ZoneInfo:
    """The chain's time zone by IANA name (``Asia/Shanghai``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PromotionInvalid("time_zone", f"unknown time zone {name!r}") from exc
