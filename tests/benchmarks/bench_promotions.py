"""Promotion pricing: a cart of 50 lines under 200 active promotions.

* ``promotions.scan``: a scan adds a piece to a cart of 49 lines (40 piece items, some
  with several pieces, and weighed lines) and the cart's totals are computed again with
  every promotion eligible at the moment (as the checkout screen does after each scan):
  measured from ``Cart.add`` to the new :class:`Totals`. The 200 promotions mix every
  kind; a third name categories or the whole chain, so each cart meets most of them;
  half are stackable, the till picks the best for the customer.
* ``promotions.member``: the same cart repriced when a gold member identifies (tier
  discounts and member prices join in).

Goal: pricing after a scan p99 <= 5 ms. Each figure also gives the CPU time of the
thread (``cpu_*``): on a machine shared with other work the wall time's tail is mostly
waiting for a core.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pos_app.domain.cart import MILLI, Cart, PricedItem, Unit
from pos_app.domain.promotions import PromoContext, PromotionBook
from sync_client.contract.promotions import parse_promotion
from tests.benchmarks._stats import Options, percentiles_ms

LINES = 50
PROMOTIONS = 200
ITEMS = 400
CATEGORIES = [f"cat{n}" for n in range(10)]
NOW = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _items(rnd: random.Random) -> list[PricedItem]:
    return [
        PricedItem(
            n,
            f"SKU{n}",
            f"商品{n}",
            f"Item {n}",
            Unit.KG if n % 10 == 0 else Unit.PIECE,
            rnd.randrange(300, 5000),
            1,
            CATEGORIES[n % len(CATEGORIES)],
        )
        for n in range(1, ITEMS + 1)
    ]


def _promotion(pid: int, rnd: random.Random, in_cart: list[str]) -> dict[str, Any]:
    kind = [
        "percent_off",
        "amount_off",
        "spend_threshold",
        "nth_item",
        "buy_x_get_y",
        "bundle",
        "member_price",
        "special_price",
        "tier_discount",
    ][pid % 9]
    pick = pid % 3
    targets: dict[str, Any] = (
        {"items": rnd.sample(in_cart, 3)}
        if pick == 0
        else {"categories": [rnd.choice(CATEGORIES)]}
        if pick == 1
        else {"items": [f"SKU{n}" for n in rnd.sample(range(1, ITEMS + 1), 5)]}
    )
    params: dict[str, Any] = {
        "percent_off": {"percent_bp": rnd.randrange(500, 3000)},
        "amount_off": {"amount_fen": rnd.randrange(50, 300)},
        "spend_threshold": {"tiers": [[10000, 1000], [20000, 3000]]},
        "nth_item": {"n": 2, "percent_bp": 5000},
        "buy_x_get_y": {"buy_qty": 2, "get_qty": 1},
        "bundle": {
            "components": [
                {"items": rnd.sample(in_cart, 2), "qty": 1},
                {"categories": ["cat1"], "qty": 1},
            ],
            "price_fen": 2000,
        },
        "member_price": {"price_fen": 900},
        "special_price": {"price_fen": 800, "daily_limit": 20},
        "tier_discount": {"tier_percent_bp": {"silver": 500, "gold": 1000}},
    }[kind]
    if kind == "spend_threshold":
        targets = {}
    return {
        "id": pid,
        "version": 1,
        "name_zh": f"促销{pid}",
        "kind": kind,
        "params": params,
        "targets": targets,
        "starts_at": "2026-12-01T00:00:00Z",
        "audience": "members" if kind == "member_price" else "everyone",
        "stackable": pid % 2 == 0,
        "priority": pid % 7,
    }


def _setup(rnd: random.Random) -> tuple[Cart, list[PricedItem]]:
    items = _items(rnd)
    chosen = rnd.sample(items, LINES)
    book = PromotionBook(
        parse_promotion(_promotion(pid, rnd, [i.sku for i in chosen]))
        for pid in range(1, PROMOTIONS + 1)
    )
    cart = Cart()
    cart.promotions = book
    cart.promo_context = PromoContext(NOW, "S001", "east", used_today={})
    for item in chosen[:-1]:
        qty = 750 if item.unit is Unit.KG else rnd.randrange(1, 4) * MILLI
        cart.add(item, qty, merge=False)
    return cart, chosen


def _scan(samples: int, warmup: int) -> dict[str, Any]:
    rnd = random.Random(22)
    cart, chosen = _setup(rnd)
    last = chosen[-1]
    times: list[float] = []
    cpu: list[float] = []
    discounts = 0
    for n in range(samples + warmup):
        start, start_cpu = time.perf_counter(), time.thread_time()
        line = cart.add(last, 750 if last.unit is Unit.KG else MILLI, merge=False)
        totals = cart.totals()
        elapsed, used = time.perf_counter() - start, time.thread_time() - start_cpu
        discounts = totals.promotion_fen
        cart.remove(line.line_no)
        if n >= warmup:
            times.append(elapsed)
            cpu.append(used)
    applied = len(cart.totals().promotions)
    return {
        "name": "promotions.scan",
        "lines": LINES,
        "promotions": PROMOTIONS,
        "applied": applied,
        "discount_fen": discounts,
        "samples": samples,
        **percentiles_ms(times),
        **{f"cpu_{k}": v for k, v in percentiles_ms(cpu).items()},
        "goal_p99_ms": 5,
        "load": _load(),
    }


def _member(samples: int, warmup: int) -> dict[str, Any]:
    rnd = random.Random(22)
    cart, chosen = _setup(rnd)
    cart.add(chosen[-1], merge=False)
    anonymous = cart.promo_context
    assert anonymous is not None
    gold = PromoContext(NOW, "S001", "east", member=True, tier="gold", used_today={})
    times: list[float] = []
    cpu: list[float] = []
    for n in range(samples + warmup):
        start, start_cpu = time.perf_counter(), time.thread_time()
        cart.promo_context = gold
        cart.totals()
        elapsed, used = time.perf_counter() - start, time.thread_time() - start_cpu
        cart.promo_context = anonymous
        if n >= warmup:
            times.append(elapsed)
            cpu.append(used)
    return {
        "name": "promotions.member",
        "lines": LINES,
        "promotions": PROMOTIONS,
        "samples": samples,
        **percentiles_ms(times),
        **{f"cpu_{k}": v for k, v in percentiles_ms(cpu).items()},
        "load": _load(),
    }


def run(opts: Options) -> Iterator[dict[str, Any]]:
    samples, warmup = (50, 5) if opts.quick else (1000, 50)
    yield _scan(samples, warmup)
    yield _member(samples, warmup)
