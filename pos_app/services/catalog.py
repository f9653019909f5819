"""Turning scans and searches into priced items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from pos_app.domain.barcode import (
    DEFAULT_SCALE_LAYOUTS,
    BarcodeError,
    ParsedScan,
    ScaleLayout,
    parse_scan,
)
from pos_app.domain.cart import MILLI, PricedItem, Unit
from pos_app.domain.money import mul_div_round
from pos_app.localdb import catalog
from pos_app.localdb.catalog import CatalogRow
from pos_app.localdb.engine import read_session
from pos_app.localdb.pending_stock import stock_on_hand
from pos_app.services.errors import ScanError
from pos_app.services.ports import Clock


@dataclass(frozen=True, slots=True)
class ScanHit:
    """What a scan adds: the item, a quantity and, for price-embedded labels, the amount."""

    item: PricedItem
    qty_milli: int
    fixed_amount_fen: int | None
    barcode: str
    scan: ParsedScan


@dataclass(frozen=True, slots=True)
class SearchHit:
    item: PricedItem | None
    row: CatalogRow
    stock_milli: int | None


def _priced(row: CatalogRow) -> PricedItem:
    if row.price_fen is None or row.price_version is None:
        raise ScanError("no_price", f"{row.sku} has no price in force", sku=row.sku)
    return PricedItem(
        row.item_id,
        row.sku,
        row.name_zh,
        row.name_en,
        Unit(row.unit),
        row.price_fen,
        row.price_version,
        row.category or None,
    )


@dataclass(frozen=True, slots=True)
class LabelReading:
    """How a scan reads with this store's scale-label layouts (the settings' test scan).

    ``layout`` is None for a scan that is no scale label (an ordinary barcode or code);
    ``name_zh``/``name_en`` are the item's, empty when the catalogue has none under it.
    """

    kind: str
    lookup_key: str
    layout: str | None
    item_code: str | None
    price_fen: int | None
    weight_g: int | None
    count: int | None
    name_zh: str
    name_en: str


class CatalogService:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        store_code: str,
        layouts: Sequence[ScaleLayout] = DEFAULT_SCALE_LAYOUTS,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._store = store_code
        self._layouts = tuple(layouts)

    @property
    def layouts(self) -> tuple[ScaleLayout, ...]:
        """The scale-label layouts scans are read with, in the order they are tried."""
        return self._layouts

    def read_label(self, raw: str) -> LabelReading:
        """Reads a scan as checkout would, without selling: which layout matched and what
        its fields say, and the item it names.

        Raises:
            ScanError: ``bad_barcode`` (with the parser's ``reason``).
        """
        try:
            parsed = parse_scan(raw, self._layouts)
        except BarcodeError as exc:
            raise ScanError("bad_barcode", str(exc), reason=exc.code, raw=raw) from exc
        with read_session(self._engine) as session:
            row = catalog.find_by_code(session, parsed.lookup_key, self._store, self._clock.now())
        m = parsed.measure
        return LabelReading(
            parsed.kind,
            parsed.lookup_key,
            m.layout if m else None,
            m.item_code if m else None,
            m.price_fen if m else None,
            m.weight_g if m else None,
            m.count if m else None,
            row.name_zh if row else "",
            row.name_en if row else "",
        )

    def scan(self, raw: str) -> ScanHit:
        """Parses a scan and finds its item and price at this moment.

        Raises:
            ScanError: ``bad_barcode`` (with the parser's ``reason``), ``unknown_code``,
                ``no_price``, ``bad_label`` (a label whose numbers cannot make a line).
        """
        try:
            parsed = parse_scan(raw, self._layouts)
        except BarcodeError as exc:
            raise ScanError("bad_barcode", str(exc), reason=exc.code, raw=raw) from exc
        with read_session(self._engine) as session:
            now = self._clock.now()
            row = catalog.find_by_code(session, parsed.lookup_key, self._store, now)
            if row is None and parsed.kind == "code" and parsed.lookup_key.isdigit():
                # A scale PLU keyed in by hand (00101) is stored as PLU:00101.
                row = catalog.find_by_code(session, f"PLU:{parsed.lookup_key}", self._store, now)
        if row is None:
            raise ScanError(
                "unknown_code", f"no item for {parsed.lookup_key}", key=parsed.lookup_key
            )
        item = _priced(row)
        qty, fixed = self._quantity(item, parsed)
        return ScanHit(item, qty, fixed, parsed.lookup_key, parsed)

    @staticmethod
    def _quantity(item: PricedItem, parsed: ParsedScan) -> tuple[int, int | None]:
        price: int | None = None
        weight: int | None = None
        count: int | None = None
        if parsed.measure is not None:
            price, weight, count = (
                parsed.measure.price_fen,
                parsed.measure.weight_g,
                parsed.measure.count,
            )
        elif parsed.gs1 is not None:
            price, weight, count = parsed.gs1.price_fen, parsed.gs1.net_weight_g, parsed.gs1.count
        if count is not None:
            if count <= 0:
                raise ScanError("bad_label", "label count is zero")
            return count * MILLI, price
        if item.unit is Unit.KG:
            if weight is None and price is not None:
                if item.unit_price_fen <= 0:
                    raise ScanError("bad_label", "cannot derive a weight without a unit price")
                weight = mul_div_round(price, MILLI, item.unit_price_fen)
            if weight is None:
                raise ScanError(
                    "needs_weight",
                    "weighed item: scan its scale label or weigh it",
                    sku=item.sku,
                    item_id=item.item_id,
                )
            if weight <= 0:
                raise ScanError("bad_label", "label weight is zero")
            return weight, price
        if price is not None:
            return MILLI, price
        return MILLI, None

    def search(self, query: str, limit: int = 30) -> list[SearchHit]:
        with read_session(self._engine) as session:
            rows = catalog.search(session, query, self._store, self._clock.now(), limit)
            hits = []
            for row in rows:
                item = _priced(row) if row.price_fen is not None else None
                hits.append(SearchHit(item, row, stock_on_hand(session, row.item_id)))
        return hits

    def priced(self, item_id: int) -> PricedItem:
        with read_session(self._engine) as session:
            row = catalog.get_item(session, item_id, self._store, self._clock.now())
        if row is None:
            raise ScanError("unknown_code", f"no item {item_id}", key=str(item_id))
        return _priced(row)

    @staticmethod
    def priced_row(row: CatalogRow) -> PricedItem:
        """A catalogue row with its price in force as a priced item (``no_price`` if none)."""
        return _priced(row)
