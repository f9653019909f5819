"""Shifts at the till, driven through the screens: open with a counted float, sell, cash
to the safe, blind close with sign-off, the handover slip read back from the printer's
bytes, HQ's record of the shift, the next cashier, the day close; and a shift a killed
till left open, offered again at the next start.

The HQ is the real app on uvicorn (SQLite) seeded with the demo chain; the terminal is
enrolled at S002 and syncs on its own thread.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pos_app.app import build_terminal, build_window
from pos_app.localdb.engine import open_database, write_session
from pos_app.localdb.seed import load_demo_json
from pos_app.localdb.store import set_setting
from pos_app.services.returns import ReturnChoice, ReturnService
from pos_app.ui.dialogs import ApprovalDialog
from pos_app.ui.shift_screens import CashMoveDialog, ResumeShiftDialog, ShiftMenuDialog
from pos_app.ui.widgets import TouchButton
from server_stub import models as m
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from tests.sync.conftest import start_hq
from tests.ui.enrolled import WAIT, Till, enrol
from tests.ui.helpers import scan, sign_in, tap, when_dialog

TARO = "6954321100014"  # 芋泥波波 ¥15.00


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[EmbeddedHQ]:
    server = start_hq(f"sqlite:///{tmp_path / 'hq.sqlite3'}")
    seed_chain(server.db, load_demo_json())
    yield server
    server.stop()


def tap_named(qtbot: Any, parent: Any, name: str) -> None:
    button = parent.findChild(TouchButton, name)
    assert button is not None, name
    tap(qtbot, button)


def approve(number: str, pin: str) -> Any:
    def act(dialog: ApprovalDialog) -> None:
        dialog.number.setText(number)
        dialog.pin.setText(pin)
        dialog.ok.click()

    return act


def sell(qtbot: Any, till: Till, *, cash: bool) -> None:
    win = till.win
    scan(qtbot, win, till.clock, TARO)
    tap(qtbot, win.checkout.pay)
    tap(qtbot, win.tender.quick_buttons[0] if cash else win.tender.card)  # ¥20 / card
    if win.stack.currentWidget() is not win.done:
        tap(qtbot, win.tender.complete)
    qtbot.waitUntil(lambda: win.stack.currentWidget() is win.done, timeout=WAIT)
    tap(qtbot, win.done.next_sale)
    qtbot.waitUntil(lambda: win.stack.currentWidget() is win.checkout)


def count_taps(qtbot: Any, grid: Any, taps: dict[str, int]) -> None:
    for key, n in taps.items():
        for _ in range(n):
            tap_named(qtbot, grid, f"plus_{key}")


def hq_shift(hq: EmbeddedHQ, staff: str) -> Any:
    with hq.db.read() as conn:
        return conn.execute(
            select(m.shifts).where(m.shifts.c.opened_by == staff, m.shifts.c.closed_at.is_not(None))
        ).first()


@pytest.mark.slow
def test_a_shift_from_float_to_handover_slip_reaches_hq(
    qtbot, qapp, hq: EmbeddedHQ, tmp_path: Path
) -> None:
    """Scenarios 1 and 10. GIVEN an S002 till online, selling only in a shift, with an
    over/short threshold of ¥1
    WHEN cashier 2001 signs in, counts ¥500 by denomination (taps and an amount) and
    opens, sells 芋泥波波 for ¥20 cash (¥5 change) and one by card, refunds the cash one,
    takes ¥200 to the safe with supervisor 2003, then closes: counts blind ¥298.00, sees
    cash expected ¥300.00, short ¥2.00, gives a reason and 2003 signs off
    THEN the slip printed shows expected, counted and the difference per tender; HQ has
    the shift with its cash and card figures; the next cashier opens with a fresh float;
    manager 2004's day close is refused while that shift is open, and prints the Z
    report once it is closed."""
    data = tmp_path / "till"
    enrol(hq, data, "S002", {"shift.over_short_threshold_fen": 100})
    till = Till(qtbot, qapp, hq, data)
    try:
        win, flow = till.win, till.win.shift_flow
        assert flow is not None
        sign_in(qtbot, win, "2001", "3579")
        assert win.stack.currentWidget() is flow.open_screen
        grid = flow.open_screen.grid
        count_taps(qtbot, grid, {"note:10000": 3, "note:5000": 2})
        tap_named(qtbot, grid, "denom_coin:100")
        tap(qtbot, grid.mode)
        for key in "100":
            tap(qtbot, grid.keypad.buttons[key])
        tap(qtbot, grid.enter)
        assert grid.total.text() == "合计 ¥500.00"
        assert grid.rows["coin:100"][1].text() == "100"
        tap(qtbot, flow.open_screen.open_button)
        assert win.stack.currentWidget() is win.checkout

        sell(qtbot, till, cash=True)
        cash_sale = till.terminal.checkout.last_sale()
        assert cash_sale is not None and cash_sale.change_fen == 500
        sell(qtbot, till, cash=False)
        # No return screen or HQ return routes yet: the return service as a till without
        # HQ runs it (a same-store return of its own sale, offline rules).
        term = till.terminal
        returns = ReturnService(term.engine, term.clock, term.identity, term.auth)
        assert win.vm.cashier is not None
        draft = returns.new_draft(
            win.vm.cashier, returns.find_by_ref(cash_sale.reference).result(5)
        )
        draft.choices[1] = ReturnChoice(1000, "quality")
        assert returns.authorise(draft).result(5) == "offline"
        assert returns.commit(draft).refund_fen == 1500

        when_dialog(ShiftMenuDialog, lambda d: tap_named(qtbot, d, "shift_cash_out"))
        when_dialog(
            CashMoveDialog,
            lambda d: (
                d.amount.setText("200"),
                tap_named(qtbot, d, "shift_reason_safe"),
                tap_named(qtbot, d, "cash_ok"),
            ),
        )
        when_dialog(ApprovalDialog, approve("2003", "246813"))
        tap(qtbot, win.checkout.shift_button)
        qtbot.waitUntil(lambda: "¥200.00" in win.checkout.banner.text(), timeout=WAIT)

        when_dialog(ShiftMenuDialog, lambda d: tap_named(qtbot, d, "shift_close"))
        tap(qtbot, win.checkout.shift_button)
        close = flow.close_screen
        qtbot.waitUntil(lambda: win.stack.currentWidget() is close)
        assert close.figures_step.isHidden() and close.tenders.rowCount() == 0  # blind
        count_taps(
            qtbot,
            close.grid,
            {"note:10000": 2, "note:5000": 1, "note:2000": 2, "note:500": 1, "note:100": 3},
        )
        tap(qtbot, close.confirm)
        rows = {
            close.tenders.item(r, 0).text(): [close.tenders.item(r, c).text() for c in (1, 2, 3)]
            for r in range(close.tenders.rowCount())
        }
        assert rows["现金"] == ["¥300.00", "¥298.00", "-¥2.00"]
        assert rows["银行卡"] == ["¥15.00", "—", "—"]
        assert close.over_short.text() == "短款 ¥2.00"
        counts = {
            close.counts.item(r, 0).text(): close.counts.item(r, 1).text()
            for r in range(close.counts.rowCount())
        }
        assert counts["销售"] == "2" and counts["退货退款"] == "1"
        close.reason.setText("找错零钱")
        when_dialog(ApprovalDialog, approve("2003", "246813"))
        tap(qtbot, close.print_slip)
        qtbot.waitUntil(lambda: win.stack.currentWidget() is win.login, timeout=WAIT)

        qtbot.waitUntil(lambda: any("交班单" in t for t in till.printed()), timeout=WAIT)
        slip = next(t for t in till.printed() if "交班单" in t)
        lines = [" ".join(line.split()) for line in slip.splitlines()]
        assert "应有现金 ¥300.00" in lines
        assert any(line.startswith("实点") and "¥298.00" in line for line in lines), lines
        assert any("-¥2.00" in line for line in lines)
        assert "银行卡 ¥15.00" in lines

        qtbot.waitUntil(lambda: hq_shift(hq, "2001") is not None, timeout=WAIT)
        row = hq_shift(hq, "2001")
        assert (row.float_fen, row.expected_cash_fen, row.counted_cash_fen) == (
            50_000,
            30_000,
            29_800,
        )
        assert (row.over_short_fen, row.approved_by, row.close_reason) == (-200, "2003", "找错零钱")
        with hq.db.read() as conn:
            tenders = conn.execute(
                select(m.shift_tenders.c.kind, m.shift_tenders.c.expected_fen).where(
                    m.shift_tenders.c.shift_id == row.shift_id
                )
            ).all()
        assert dict(tenders) == {"cash": 30_000, "card": 1_500}

        # The next cashier opens with a fresh float (the store does not carry cash over).
        sign_in(qtbot, win, "2002", "4826")
        assert win.stack.currentWidget() is flow.open_screen
        assert flow.open_screen.grid.count.total_fen == 0
        count_taps(qtbot, flow.open_screen.grid, {"note:10000": 5})
        tap(qtbot, flow.open_screen.open_button)
        assert win.stack.currentWidget() is win.checkout
        qtbot.waitUntil(lambda: till.terminal.checkout.outbox_depth() == 0, timeout=WAIT)
        tap(qtbot, win.sign_out_button)

        # 日结 while 2002's shift is open: refused, naming this till.
        sign_in(qtbot, win, "2004", "97531")
        assert win.stack.currentWidget() is win.checkout  # 2002's shift is still open
        when_dialog(ShiftMenuDialog, lambda d: tap_named(qtbot, d, "shift_day_close"))
        tap(qtbot, win.checkout.shift_button)
        terminal_id = till.terminal.identity.terminal_id
        qtbot.waitUntil(lambda: terminal_id in win.checkout.banner.text(), timeout=WAIT)
        assert "未交班" in win.checkout.banner.text()

        # The manager closes 2002's shift even, then closes the day from the open screen.
        when_dialog(ShiftMenuDialog, lambda d: tap_named(qtbot, d, "shift_close"))
        tap(qtbot, win.checkout.shift_button)
        count_taps(qtbot, close.grid, {"note:10000": 5})
        tap(qtbot, close.confirm)
        assert close.over_short.text() == "现金相符"
        tap(qtbot, close.print_slip)
        qtbot.waitUntil(lambda: win.stack.currentWidget() is win.login, timeout=WAIT)
        qtbot.waitUntil(lambda: hq_shift(hq, "2002") is not None, timeout=WAIT)
        sign_in(qtbot, win, "2004", "97531")
        assert win.stack.currentWidget() is flow.open_screen
        tap(qtbot, flow.open_screen.day_close)
        qtbot.waitUntil(lambda: flow.last_day_report is not None, timeout=WAIT)
        report = flow.last_day_report
        assert len(report.shifts) == 2 and report.over_short_fen == -200
        qtbot.waitUntil(lambda: any("日结报表" in t for t in till.printed()), timeout=WAIT)
        z = next(t for t in till.printed() if "日结报表" in t)
        assert "当日长短款" in z and "-¥2.00" in z
    finally:
        till.close()


CRASH_WORKER = textwrap.dedent(
    """
    import os, signal, sys
    from pos_app.app import build_terminal
    from pos_app.domain.shift import CashCount
    from pos_app.domain.tender import Payment
    term = build_terminal(sys.argv[1], language="zh_CN", start_devices=False)
    cashier = term.auth.sign_in("1001", "1234")
    term.shifts.open(cashier, CashCount().with_count("note:10000", 5))
    draft = term.checkout.new_draft(cashier)
    term.checkout.scan(draft, "6954321100014")
    payment = Payment(draft.cart.totals().total_fen)
    payment.add_cash(2000)
    term.checkout.complete(draft, payment)
    print("sold", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.slow
def test_a_till_killed_mid_shift_offers_the_shift_with_its_figures_at_restart(
    qtbot, qapp, demo_db: Path, tmp_path: Path
) -> None:
    """GIVEN a till process that opened a shift with ¥500 and sold 芋泥波波 for ¥20 cash
    WHEN it is killed with SIGKILL and the window is built again on the same database
    THEN the first sign-in offers the open shift with its float, one sale of ¥15.00 and
    ¥515.00 expected; continuing goes to selling in the same shift."""
    with write_session(open_database(demo_db)) as session:
        set_setting(session, "shift.required", True)
        session.commit()
    script = tmp_path / "worker.py"
    script.write_text(CRASH_WORKER)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run(
        [sys.executable, str(script), str(demo_db)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "sold" in proc.stdout

    terminal = build_terminal(demo_db, language="zh_CN")
    try:
        win = build_window(terminal)
        qtbot.addWidget(win)
        win.show()
        seen: list[str] = []

        def resume(d: ResumeShiftDialog) -> None:
            seen.append(d.summary.text())
            tap_named(qtbot, d, "resume_resume")

        when_dialog(ResumeShiftDialog, resume)
        sign_in(qtbot, win)
        assert seen, "no resume dialog"
        text = seen[0]
        assert "¥500.00" in text and "销售 1 笔 ¥15.00" in text and "¥515.00" in text
        assert win.stack.currentWidget() is win.checkout
        current = terminal.shifts.current()
        assert current is not None and current.float_fen == 50_000
        win.close()
    finally:
        terminal.close()
