"""Shift close figures: what the close screen shows for a shift of 1,000 sales.

Sells 1,000 sales (cash with change and card, alternately) through the real checkout
into one open shift of a demo till, then measures :meth:`ShiftService.review_close`
(every figure the close screen shows beside the blind count), and the close screen itself:
from the count confirmed to its figures table filled, in Qt's event loop (offscreen).
Target: ≤ 200 ms.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from pos_app.app import build_terminal
from pos_app.domain.shift import CashCount
from pos_app.domain.tender import Payment
from pos_app.localdb.engine import write_session
from pos_app.localdb.store import set_setting
from tests.benchmarks._stats import Options, percentiles_ms
from tests.benchmarks._terminal_fixtures import demo_catalog_db, fresh_copy

TARO = "6954321100014"
SALES = 1000


def run(opts: Options) -> Iterator[dict[str, Any]]:
    source, _ = demo_catalog_db(opts.scratch("shift-template"), 0, realistic_pins=False)
    path = fresh_copy(source, opts.scratch("shift") / "terminal.db")
    terminal = build_terminal(path, start_devices=False)
    try:
        with write_session(terminal.engine) as session:
            set_setting(session, "shift.required", True)
            session.commit()
        assert terminal.shifts is not None
        cashier = terminal.auth.sign_in("1001", "1234")
        float_count = CashCount().with_count("note:10000", 5)
        terminal.shifts.open(cashier, float_count)
        for i in range(SALES):
            draft = terminal.checkout.new_draft(cashier)
            terminal.checkout.scan(draft, TARO)
            payment = Payment(draft.cart.totals().total_fen)
            if i % 2:
                payment.add_card(payment.due_fen)
            else:
                payment.add_cash(payment.due_fen + 500)
            terminal.checkout.complete(draft, payment)
        n = 20 if opts.quick else 200
        samples: list[float] = []
        for _ in range(n):
            started = time.perf_counter()
            review = terminal.shifts.review_close(float_count)
            samples.append(time.perf_counter() - started)
        assert review.figures.counts.sales_count == SALES
        screen_samples = _screen_samples(terminal, cashier, float_count, n)
    finally:
        terminal.close()
    yield {
        "name": "shift_close_figures",
        "n": n,
        **percentiles_ms(samples),
        "sizes": {"sales": SALES},
    }
    yield {
        "name": "shift_close_screen",
        "n": n,
        **percentiles_ms(screen_samples),
        "sizes": {"sales": SALES},
    }


def _screen_samples(terminal: Any, cashier: Any, count: CashCount, n: int) -> list[float]:
    """Builds the close screen and times a tap on 确认点数 until the figures are shown
    (``figures_shown``), each time from the blind count again."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from pos_app.app import build_window

    app = QApplication.instance() or QApplication([])
    window = build_window(terminal)
    flow = window.shift_flow
    assert flow is not None
    screen = flow.close_screen
    window.resize(1024, 768)
    window.show()
    samples: list[float] = []
    for _ in range(n):
        flow.start_close(cashier)
        screen.grid.set_count(count)
        app.processEvents()
        loop = QEventLoop()
        screen.figures_shown.connect(loop.quit)
        started = time.perf_counter()
        QTimer.singleShot(0, screen.confirm.click)
        loop.exec()
        app.processEvents()  # the table painted
        samples.append(time.perf_counter() - started)
        screen.figures_shown.disconnect(loop.quit)
        assert screen.tenders.rowCount() >= 2
    window.close()
    window.ctx.hardware.detach()
    return samples
