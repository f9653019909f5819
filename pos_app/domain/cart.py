"""The cart: lines, discounts, rounding and totals, all in integer fen.

Invariants (checked by property tests):

* ``line.amount_fen == line.list_amount_fen - line.discount_fen`` for every priced line;
* ``sum(line.amount_fen) == totals.total_fen``;
* ``totals.total_fen == subtotal - discount - rounding`` and never negative.

Promotions (:mod:`pos_app.domain.promotions`) price the lines first; a manual line
discount takes its share of what the promotions left, then the basket discount, the coupon
and rounding. Basket discounts and rounding (抹零) are spread over the lines in proportion
to what each line still costs, so a later return of one line refunds exactly what was paid
for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from pos_app.domain.money import allocate, mul_div_round
from pos_app.domain.promotions import (
    NO_PROMOTIONS,
    AppliedPromotion,
    Pricing,
    PromoContext,
    PromoLine,
    PromoShare,
    PromotionBook,
)
from sync_client.contract.errors import ChainPosError
from sync_client.contract.money import Fen

MILLI = 1000
"""``qty_milli`` units per piece (and grams per kilogram)."""


class Unit(StrEnum):
    PIECE = "piece"
    KG = "kg"


class CartError(ChainPosError, ValueError):
    """An operation the cart refuses; ``code`` is a stable key for translation."""


@dataclass(frozen=True, slots=True)
class PricedItem:
    """A catalogue item with the price in force when it was scanned.

    ``unit_price_fen`` is per piece or per kilogram; ``price_version`` identifies the price
    row it came from, recorded on the sale line.
    """

    item_id: int
    sku: str
    name_zh: str
    name_en: str
    unit: Unit
    unit_price_fen: Fen
    price_version: int
    category: str | None = None
    """The catalogue category code, which promotions may name."""

    def name(self, language: str) -> str:
        return self.name_zh if language.startswith("zh") or not self.name_en else self.name_en


@dataclass(frozen=True, slots=True)
class Discount:
    """Either a percentage (in basis points: 1000 = 10%) or a fixed amount in fen."""

    percent_bp: int | None = None
    amount_fen: Fen | None = None

    def __post_init__(self) -> None:
        if (self.percent_bp is None) == (self.amount_fen is None):
            raise CartError("bad_discount", "give either a percentage or an amount")
        if self.percent_bp is not None and not 0 < self.percent_bp <= 10_000:
            raise CartError("bad_discount", "percentage must be above 0 and at most 100")
        if self.amount_fen is not None and self.amount_fen <= 0:
            raise CartError("bad_discount", "amount must be positive")

    def on(self, base: Fen) -> Fen:
        """The discount in fen on ``base``, never more than ``base``."""
        if self.percent_bp is not None:
            return min(base, mul_div_round(base, self.percent_bp, 10_000))
        assert self.amount_fen is not None
        return min(base, self.amount_fen)


def zhe_discount(text: str) -> Discount:
    """A discount said the way Chinese cashiers say it: ``8`` is 8折 (pay 80%, 20% off),
    ``85`` or ``8.5`` is 8.5折 (15% off), ``95`` or ``9.5`` is 9.5折 (5% off).

    One digit is whole 折; two digits without a point are 折 and a tenth; a point gives
    at most one decimal. 10折 (no discount) and 0折 (free) are not discounts.

    Raises:
        CartError: ``bad_discount`` for anything else.
    """
    value = text.strip().removesuffix("折").strip()
    if value == "10":  # 10折 is the full price, never 1折
        raise CartError("bad_discount", "10折 is no discount")
    if value.isdigit() and len(value) == 2:
        value = f"{value[0]}.{value[1]}"
    head, _, tail = value.partition(".")
    if (
        len(head) != 1
        or not head.isdigit()
        or len(tail) > 1
        or (tail and not tail.isdigit())
        or (value.endswith(".") and not tail)
    ):
        raise CartError("bad_discount", f"{text!r} is not a 折 rate")
    tenths = int(head) * 10 + int(tail or "0")  # what the customer pays, in tenths
    if not 0 < tenths < 100:
        raise CartError("bad_discount", f"{text!r} is not a 折 rate")
    return Discount(percent_bp=(100 - tenths) * 100)


def zhe_text(percent_bp: int) -> str:
    """The 折 rate of a percentage discount as printed: 2000 bp → ``8``, 1500 → ``8.5``,
    a rate between tenths to two decimals (1250 → ``8.75``)."""
    paying = 10_000 - percent_bp  # basis points paid
    whole, rest = divmod(paying, 1000)
    if rest == 0:
        return str(whole)
    return f"{paying / 1000:.2f}".rstrip("0")


def discount_share_bp(discount_fen: Fen, base_fen: Fen) -> int:
    """The discount as basis points of ``base_fen`` (rounded up), for approval limits."""
    if base_fen <= 0:
        return 0 if discount_fen <= 0 else 10_000
    return -(-discount_fen * 10_000 // base_fen)


class Rounding(StrEnum):
    """抹零: drop the fen (to whole jiao) or the jiao and fen (to whole yuan) of the total."""

    NONE = "none"
    JIAO = "jiao"
    YUAN = "yuan"

    def drop(self, total: Fen) -> Fen:
        step = {"none": 1, "jiao": 10, "yuan": 100}[self.value]
        return total % step


@dataclass(frozen=True, slots=True)
class CouponUse:
    """A member's coupon reserved for this sale by an HQ hold (``hold_id``): ``value_fen``
    off once what is left after other discounts reaches ``min_spend_fen``. Spread over
    the lines like a basket discount, so it lowers what the sale earns. ``valid_until``
    (exclusive): a return of the whole sale gives the coupon back only before then."""

    hold_id: str
    coupon_id: str
    name: str
    value_fen: Fen
    min_spend_fen: Fen
    valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class LineOption:
    """An option chosen for a drink (大杯, 少冰, 加珍珠): ``price_fen`` is added to one
    unit's price. Any object with these attributes will do
    (:class:`pos_app.domain.menu.ChosenOption`)."""

    group: str
    code: str
    name_zh: str
    name_en: str
    price_fen: Fen

    def name(self, language: str) -> str:
        return self.name_zh if language.startswith("zh") or not self.name_en else self.name_en


@dataclass(frozen=True, slots=True)
class CartLine:
    """One line. ``fixed_amount_fen`` is set for price-embedded scale labels.

    ``options`` (a drink's size, sugar, ice, toppings) add their prices to the item's unit
    price; ``menu_version`` is the menu that priced them."""

    line_no: int
    item: PricedItem
    qty_milli: int
    barcode: str | None = None
    fixed_amount_fen: Fen | None = None
    discount: Discount | None = None
    options: tuple[LineOption, ...] = ()
    menu_version: int | None = None

    @property
    def unit_price_fen(self) -> Fen:
        """The item's price with its options' prices, per piece or kilogram."""
        return self.item.unit_price_fen + sum(o.price_fen for o in self.options)

    def option_names(self, language: str) -> list[str]:
        return [o.name(language) for o in self.options]

    @property
    def list_amount_fen(self) -> Fen:
        if self.fixed_amount_fen is not None:
            return self.fixed_amount_fen
        return mul_div_round(self.unit_price_fen, self.qty_milli, MILLI)

    @property
    def line_discount_fen(self) -> Fen:
        return self.discount.on(self.list_amount_fen) if self.discount else 0

    @property
    def is_weighed(self) -> bool:
        return self.item.unit is Unit.KG

    def promo_line(self) -> PromoLine:
        """What the promotion engine sees of this line: whole pieces count only for piece
        items sold by quantity (not weighed or price-embedded labels)."""
        pieces = (
            self.qty_milli // MILLI
            if self.item.unit is Unit.PIECE and self.fixed_amount_fen is None
            else 0
        )
        return PromoLine(
            self.line_no,
            self.item.sku,
            self.item.category,
            self.unit_price_fen,
            self.qty_milli,
            self.list_amount_fen,
            pieces,
        )


@dataclass(frozen=True, slots=True)
class PricedLine:
    """A line with its share of every discount and of the rounding."""

    line: CartLine
    list_amount_fen: Fen
    discount_fen: Fen
    amount_fen: Fen
    promotion_fen: Fen = 0
    """The part of ``discount_fen`` the promotions took (``promotions`` splits it)."""
    promotions: tuple[PromoShare, ...] = ()


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal_fen: Fen
    line_discount_fen: Fen
    basket_discount_fen: Fen
    rounding_fen: Fen
    total_fen: Fen
    item_count: int
    lines: tuple[PricedLine, ...]
    coupon_fen: Fen = 0
    coupon_unmet: bool = False
    """A coupon is on the cart but the sale no longer reaches its minimum spend."""
    promotion_fen: Fen = 0
    """What promotions took off (共优惠 on the receipt counts it with the discounts)."""
    promotions: tuple[AppliedPromotion, ...] = ()

    @property
    def discount_fen(self) -> Fen:
        """Promotions, line, basket and coupon discounts together (rounding excluded)."""
        return (
            self.promotion_fen + self.line_discount_fen + self.basket_discount_fen + self.coupon_fen
        )

    @property
    def after_line_discounts_fen(self) -> Fen:
        """What the lines cost after promotions and line discounts: the basket discount's
        and the coupon's base."""
        return self.subtotal_fen - self.promotion_fen - self.line_discount_fen


@dataclass
class Cart:
    """A sale being built. Not thread-safe: owned by one user action at a time."""

    rounding: Rounding = Rounding.NONE
    lines: list[CartLine] = field(default_factory=list)
    basket_discount: Discount | None = None
    coupon: CouponUse | None = None
    promotions: PromotionBook | None = None
    """The promotions the till holds; priced on every call to :meth:`totals`."""
    promo_context: PromoContext | Callable[[], PromoContext] | None = None
    """Who buys, where and when, or what tells it at each pricing (the checkout service
    gives one that reads the clock and the draft's member)."""
    _next_line_no: int = 1

    MAX_LINES = 500
    MAX_QTY_MILLI = 9_999 * MILLI

    def add(
        self,
        item: PricedItem,
        qty_milli: int = MILLI,
        *,
        barcode: str | None = None,
        fixed_amount_fen: Fen | None = None,
        merge: bool = True,
        options: tuple[LineOption, ...] = (),
        menu_version: int | None = None,
    ) -> CartLine:
        """Adds an item. A repeated scan of a piece item adds to its last line (a drink
        only to a last line with the same options)."""
        if qty_milli <= 0 or qty_milli > self.MAX_QTY_MILLI:
            raise CartError("bad_quantity", f"quantity out of range: {qty_milli / MILLI:g}")
        if item.unit is Unit.PIECE and qty_milli % MILLI:
            raise CartError("bad_quantity", "pieces are counted in whole units")
        if (
            merge
            and self.lines
            and item.unit is Unit.PIECE
            and fixed_amount_fen is None
            and self.lines[-1].item == item
            and self.lines[-1].fixed_amount_fen is None
            and self.lines[-1].discount is None
            and self.lines[-1].options == options
            and self.lines[-1].menu_version == menu_version
        ):
            last = self.lines[-1]
            return self.set_quantity(last.line_no, last.qty_milli + qty_milli)
        if len(self.lines) >= self.MAX_LINES:
            raise CartError("too_many_lines", f"a sale holds at most {self.MAX_LINES} lines")
        line = CartLine(
            self._next_line_no,
            item,
            qty_milli,
            barcode,
            fixed_amount_fen,
            options=tuple(options),
            menu_version=menu_version if options else None,
        )
        self._next_line_no += 1
        self.lines.append(line)
        return line

    def line(self, line_no: int) -> CartLine:
        for line in self.lines:
            if line.line_no == line_no:
                return line
        raise CartError("no_line", f"no line {line_no}")

    def _replace(self, new: CartLine) -> CartLine:
        self.lines = [new if ln.line_no == new.line_no else ln for ln in self.lines]
        return new

    def set_quantity(self, line_no: int, qty_milli: int) -> CartLine:
        line = self.line(line_no)
        if line.fixed_amount_fen is not None:
            raise CartError("fixed_line", "a weighed label's quantity cannot be changed")
        if qty_milli <= 0:
            raise CartError("bad_quantity", "use remove to take a line out")
        if qty_milli > self.MAX_QTY_MILLI or (line.item.unit is Unit.PIECE and qty_milli % MILLI):
            raise CartError("bad_quantity", f"quantity out of range: {qty_milli / MILLI:g}")
        return self._replace(replace(line, qty_milli=qty_milli))

    def remove(self, line_no: int) -> CartLine:
        line = self.line(line_no)
        self.lines = [ln for ln in self.lines if ln.line_no != line_no]
        return line

    def set_line_discount(self, line_no: int, discount: Discount | None) -> CartLine:
        return self._replace(replace(self.line(line_no), discount=discount))

    def clear(self) -> None:
        self.lines.clear()
        self.basket_discount = None
        self.coupon = None

    @property
    def is_empty(self) -> bool:
        return not self.lines

    def pricing(self) -> Pricing:
        """The promotions' pricing of the lines as they are now."""
        if self.promotions is None or self.promo_context is None or not self.lines:
            return NO_PROMOTIONS
        ctx = self.promo_context
        if callable(ctx):
            ctx = ctx()
        return self.promotions.price([ln.promo_line() for ln in self.lines], ctx)

    def totals(self) -> Totals:
        """Prices the cart. Pure: calling it twice with the same context gives the same
        answer."""
        pricing = self.pricing()
        list_amounts = [ln.list_amount_fen for ln in self.lines]
        by_line = {lp.line_no: lp for lp in pricing.lines}
        promo_lines = [by_line.get(ln.line_no) for ln in self.lines]
        promo_fen = [lp.discount_fen if lp else 0 for lp in promo_lines]
        promo_shares = [lp.shares if lp else () for lp in promo_lines]
        line_discounts = [
            ln.discount.on(a - p) if ln.discount else 0
            for ln, a, p in zip(self.lines, list_amounts, promo_fen, strict=True)
        ]
        after_line = [
            a - p - d for a, p, d in zip(list_amounts, promo_fen, line_discounts, strict=True)
        ]
        subtotal = sum(list_amounts)
        net = sum(after_line)
        basket = self.basket_discount.on(net) if self.basket_discount else 0
        coupon, unmet = 0, False
        if self.coupon is not None:
            if net - basket >= self.coupon.min_spend_fen:
                coupon = min(self.coupon.value_fen, net - basket)
            else:
                unmet = True
        off = basket + coupon
        basket_parts = allocate(off, after_line) if after_line else []
        after_basket = [a - b for a, b in zip(after_line, basket_parts, strict=True)]
        rounding = self.rounding.drop(net - off)
        rounding_parts = allocate(rounding, after_basket) if after_basket else []
        priced = tuple(
            PricedLine(
                line=ln,
                list_amount_fen=list_amounts[i],
                discount_fen=promo_fen[i] + line_discounts[i] + basket_parts[i] + rounding_parts[i],
                amount_fen=after_basket[i] - rounding_parts[i],
                promotion_fen=promo_fen[i],
                promotions=promo_shares[i],
            )
            for i, ln in enumerate(self.lines)
        )
        item_count = sum(
            ln.qty_milli // MILLI if ln.item.unit is Unit.PIECE else 1 for ln in self.lines
        )
        return Totals(
            subtotal_fen=subtotal,
            line_discount_fen=sum(line_discounts),
            basket_discount_fen=basket,
            rounding_fen=rounding,
            total_fen=net - off - rounding,
            item_count=item_count,
            lines=priced,
            coupon_fen=coupon,
            coupon_unmet=unmet,
            promotion_fen=pricing.discount_fen,
            promotions=pricing.applied,
        )
