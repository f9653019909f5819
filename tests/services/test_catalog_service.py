"""Scanning: what each kind of code the scanner sends puts on the sale line.

Scale labels and GS1 strings are built here with a check-digit function written from
the GS1 definition, not with the parser under test.
"""

from __future__ import annotations

import pytest

from pos_app.app import Terminal
from pos_app.domain.cart import Cart, PricedItem, Unit
from pos_app.localdb.catalog import ItemRecord, add_price, upsert_items
from pos_app.localdb.engine import write_session
from pos_app.services.errors import ScanError
from tests.support import START


def mod10(body: str) -> str:
    """GS1 check digit: weights 3, 1, 3... from the rightmost body digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str(-total % 10)


def label(body: str) -> str:
    return body + mod10(body)


def _scan_error(terminal: Terminal, raw: str) -> ScanError:
    with pytest.raises(ScanError) as err:
        terminal.catalog.scan(raw)
    return err.value


def _line_amount(item: PricedItem, qty: int, fixed: int | None) -> int:
    cart = Cart()
    cart.add(item, qty, fixed_amount_fen=fixed)
    return cart.totals().total_fen


def test_ean13_scan_finds_the_item_and_its_price_version(terminal: Terminal) -> None:
    hit = terminal.catalog.scan("6954321100014\r\n")
    assert (hit.item.sku, hit.item.name_zh, hit.item.unit) == ("MT001", "芋泥波波", Unit.PIECE)
    assert (hit.item.unit_price_fen, hit.item.price_version) == (1500, 1)
    assert (hit.qty_milli, hit.fixed_amount_fen, hit.barcode) == (1000, None, "6954321100014")


def test_upc_a_scan_finds_the_item_stored_as_ean13(terminal: Terminal) -> None:
    hit = terminal.catalog.scan("049000042566")  # Cola, stored as 0049000042566
    assert (hit.item.sku, hit.barcode) == ("DR004", "0049000042566")


def test_a_valid_but_unknown_barcode_is_unknown_code(terminal: Terminal) -> None:
    code = label("690000000001")
    err = _scan_error(terminal, code)
    assert err.code == "unknown_code"
    assert err.params["key"] == code


def test_a_misread_barcode_is_bad_barcode_with_the_reason(terminal: Terminal) -> None:
    """GIVEN 芋泥波波's barcode 6954321100014
    WHEN the scanner misreads the last digit as 5
    THEN the scan is refused as bad_barcode (reason bad_check_digit), never sold as
    something else."""
    err = _scan_error(terminal, "6954321100015")
    assert err.code == "bad_barcode"
    assert err.params["reason"] == "bad_check_digit"
    assert err.params["raw"] == "6954321100015"


def test_weight_embedded_label_sells_the_weight_at_the_kilo_price(terminal: Terminal) -> None:
    """GIVEN candied walnuts (PLU 00101) at ¥98.00/kg
    WHEN a scale label for 0.356 kg is scanned
    THEN the line is 356 g and costs ¥34.89 (34.888 rounded)."""
    hit = terminal.catalog.scan(label("25" + "00101" + "00356"))
    assert (hit.item.sku, hit.item.unit, hit.barcode) == ("SN001", Unit.KG, "PLU:00101")
    assert (hit.qty_milli, hit.fixed_amount_fen) == (356, None)
    assert _line_amount(hit.item, hit.qty_milli, hit.fixed_amount_fen) == 3489


def test_price_embedded_label_sells_the_printed_amount(terminal: Terminal) -> None:
    """GIVEN honey cashews (PLU 00102) at ¥128.00/kg
    WHEN a scale label priced ¥12.34 is scanned
    THEN the line costs exactly ¥12.34, with the weight worked back (96 g) for stock."""
    hit = terminal.catalog.scan(label("20" + "00102" + "01234"))
    assert hit.item.sku == "SN002"
    assert (hit.qty_milli, hit.fixed_amount_fen) == (96, 1234)
    assert _line_amount(hit.item, hit.qty_milli, hit.fixed_amount_fen) == 1234


def test_eighteen_digit_label_carries_amount_and_weight(terminal: Terminal) -> None:
    """PLU + amount + weight, as Chinese retail scales print 18-digit labels."""
    hit = terminal.catalog.scan(label("20" + "00103" + "04400" + "00500"))
    assert hit.item.sku == "SN003"
    assert (hit.qty_milli, hit.fixed_amount_fen) == (500, 4400)


def test_a_weighed_item_without_a_label_needs_weighing(terminal: Terminal) -> None:
    err = _scan_error(terminal, "SN001")
    assert err.code == "needs_weight"
    assert err.params["sku"] == "SN001"


def test_a_label_with_zero_weight_is_refused(terminal: Terminal) -> None:
    assert _scan_error(terminal, label("25" + "00101" + "00000")).code == "bad_label"


def _add_prepacked_cheese(terminal: Terminal) -> str:
    """A weighed item sold in pre-packed portions under a GTIN-14 (indicator 9)."""
    gtin = label("9695432199999")
    with write_session(terminal.engine) as session:
        upsert_items(session, [ItemRecord("CH001", "切达奶酪", "Cheddar", "kg", barcodes=(gtin,))])
        add_price(session, version=5001, sku="CH001", price_fen=16000, effective_at=START)
        session.commit()
    return gtin


@pytest.mark.parametrize(
    "form",
    ["]C1{gtin_ai}3103000356", "{gtin_ai}3103000356", "(01){gtin}(3103)000356"],
)
def test_gs1_128_with_gtin_and_net_weight(terminal: Terminal, form: str) -> None:
    """GIVEN pre-packed cheddar at ¥160.00/kg under GTIN-14 9695432199999x
    WHEN a GS1-128 label with AI 01 (GTIN) and AI 3103 (net weight 0.356 kg) is scanned,
    with or without the AIM prefix, or typed in its printed (AI) form
    THEN the line is 356 g of cheddar at ¥56.96."""
    gtin = _add_prepacked_cheese(terminal)
    raw = form.format(gtin_ai="01" + gtin, gtin=gtin)
    hit = terminal.catalog.scan(raw)
    assert hit.item.sku == "CH001"
    assert hit.scan.kind == "gs1"
    assert (hit.qty_milli, hit.fixed_amount_fen) == (356, None)
    assert _line_amount(hit.item, hit.qty_milli, hit.fixed_amount_fen) == 5696


def test_an_item_without_a_price_cannot_be_sold(terminal: Terminal) -> None:
    with write_session(terminal.engine) as session:
        upsert_items(session, [ItemRecord("NEW1", "新品", "New", "piece", barcodes=("20000001",))])
        session.commit()
    err = _scan_error(terminal, "NEW1")
    assert (err.code, err.params["sku"]) == ("no_price", "NEW1")


def test_search_returns_priced_hits_with_stock(terminal: Terminal) -> None:
    hits = terminal.catalog.search("ynbb")
    assert [
        (h.row.sku, h.item.unit_price_fen if h.item else None, h.stock_milli) for h in hits
    ] == [("MT001", 1500, 240_000)]
