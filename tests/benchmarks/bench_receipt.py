"""Receipt rendering: a 30-line Chinese receipt to ESC/POS bytes.

Measures :func:`hardware.render` on a realistic milk-tea receipt (header, 30 sale
lines with options, discounts, member points, cash tender, signed QR reference)
for the default 80 mm GB18030 profile with a native QR code. Each sample renders a
receipt with a different sale reference, so no QR work is reused between samples.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from hardware import PROFILES, Amount, Receipt, SaleLine, Tender, receipt_document, render
from tests.benchmarks._stats import Options, percentiles_ms

PROFILE = "generic-80-gb18030"
LINES = 30

_DRINKS = [
    ("芋泥波波", 1600),
    ("杨枝甘露(大)", 1800),
    ("多肉葡萄（少冰，半糖）", 2200),
    ("Jasmine Green Tea 茉莉绿茶", 1200),
    ("厚乳拿铁·燕麦奶", 2000),
    ("芝士奶盖四季春【加珍珠】", 1900),
]


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def build_receipt(number: int, lines: int = LINES) -> Receipt:
    """A realistic receipt with ``lines`` sale lines; ``number`` varies the sale reference."""
    sale_lines = []
    total = 0
    for i in range(lines):
        name, price = _DRINKS[i % len(_DRINKS)]
        qty = 1 + i % 3
        total += qty * price
        sale_lines.append(SaleLine(name, str(qty), _yuan(price), _yuan(qty * price)))
    discount = total // 20
    due = total - discount
    reference = f"S0012-T03-{number:06d}"
    return Receipt(
        store_name="茶饮铺·静安店",
        store_address="上海市静安区南京西路1266号",
        store_phone="021-6288 1234",
        sale_reference=reference,
        printed_at="2024-06-01 14:32:05",
        cashier="王小明",
        terminal="03",
        lines=tuple(sale_lines),
        subtotal=_yuan(total),
        discounts=(Amount("会员折扣：95折", "-" + _yuan(discount)),),
        total=_yuan(due),
        tenders=(Tender("现金", _yuan(due + 1000), cash=True),),
        change=_yuan(1000),
        member="138****1234",
        points_earned=f"+{due // 100}",
        points_balance="1,208",
        qr_payload=f"CP1:{reference}:3q2+7w8K9xYzAbCdEfGhIjKlMnOpQrSt",
    )


def run(opts: Options) -> Iterator[dict[str, Any]]:
    """Render the receipt repeatedly and report latency percentiles and byte size."""
    profile = PROFILES[PROFILE]
    n = 50 if opts.quick else 500
    receipts = [receipt_document(build_receipt(i)) for i in range(n)]
    render(receipts[0], profile)  # warm caches that a running terminal would have warm
    samples: list[float] = []
    size = 0
    for doc in receipts:
        start = time.perf_counter()
        data = render(doc, profile)
        samples.append(time.perf_counter() - start)
        size = len(data)
    yield {
        "name": "receipt_render",
        "n": n,
        **percentiles_ms(samples),
        "sizes": {"lines": LINES, "bytes": size, "profile": PROFILE},
    }
