"""The durable print queue against the virtual printer on a loopback TCP port.

These terminals are built by the real composition root with the default printer
settings (the built-in virtual printer), so every job goes through the network driver,
the ESC/POS status round trip and the worker thread exactly as in a shop; what the
printer received is decoded, never compared with what the code meant to send.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from hardware import (
    PROFILES,
    Amount,
    Decoded,
    Document,
    HandoverSlip,
    NetworkConnection,
    Printer,
    QRCode,
    Text,
    VirtualPrinter,
    decode,
)
from pos_app.app import Terminal, build_terminal
from pos_app.domain.tender import Payment
from pos_app.localdb.engine import read_session
from pos_app.localdb.models import AuditEntry, PrintJob
from pos_app.localdb.sales import SaleRecord
from pos_app.services.auth import StaffMember
from pos_app.services.device_settings import PrinterSettings
from pos_app.services.errors import PrintError
from pos_app.services.printing import DrawerResult, JobNotPrinted, JobPrinted, PrintEvent
from tests.support import FakeClock

TARO = "6954321100014"
MANGO_L = "6954321100137"
WAIT = 10.0


@pytest.fixture
def shop(db_path: Path, clock: FakeClock) -> Iterator[Terminal]:
    """A terminal printing on its built-in virtual printer, retrying every 50-200 ms."""
    terminal = build_terminal(db_path, clock=clock, print_retry=(0.05, 0.2))
    yield terminal
    terminal.close()


@pytest.fixture
def cashier(shop: Terminal) -> StaffMember:
    """Signed in on ``shop`` (the shared ``cashier`` fixture would open a second terminal,
    with its own print worker, on the same database)."""
    return shop.auth.sign_in("1001", "1234")


@pytest.fixture
def other_printer() -> Iterator[VirtualPrinter]:
    """A second virtual printer, for a terminal that is re-pointed to it."""
    printer = VirtualPrinter()
    yield printer
    printer.stop()


@pytest.fixture
def events(shop: Terminal) -> list[PrintEvent]:
    """Every event the print worker publishes, in order."""
    seen: list[PrintEvent] = []
    shop.printing.subscribe(seen.append)
    return seen


def _sell(shop: Terminal, cashier: StaffMember, *codes: str, cash: bool = True) -> SaleRecord:
    draft = shop.checkout.new_draft(cashier)
    for code in codes or (TARO,):
        shop.checkout.scan(draft, code)
    payment = Payment(draft.cart.totals().total_fen)
    if cash:
        payment.add_cash(10_000)
    else:
        payment.add_card(payment.remaining_fen)
    return shop.checkout.complete(draft, payment)


def _read(data: bytes) -> Decoded:
    profile = PROFILES["generic-80-gb18030"]
    return decode(data, profile.encoding, chinese_at_power_on=not profile.chinese_mode)


def _complete(jobs: list[bytes]) -> list[Decoded]:
    """Jobs that reached their cut: whole receipts a customer could take."""
    return [d for d in map(_read, jobs) if d.cuts]


def _job_rows(shop: Terminal) -> list[tuple[str, str | None, bool, str, int]]:
    with read_session(shop.engine) as session:
        rows = session.scalars(select(PrintJob).order_by(PrintJob.id)).all()
        return [(r.kind, r.sale_id, r.is_copy, r.state, r.attempts) for r in rows]


def _all_printed(shop: Terminal) -> bool:
    return shop.printing.wait_for(lambda s: s.unprinted == 0 and s.jobs == (), WAIT)


def test_the_receipt_job_is_committed_with_the_sale(db_path: Path, clock: FakeClock) -> None:
    """GIVEN a terminal whose print worker is not running
    WHEN a sale completes
    THEN its receipt job is already in the database, pending, tied to the sale."""
    terminal = build_terminal(db_path, clock=clock, start_devices=False)
    try:
        staff = terminal.auth.sign_in("1001", "1234")
        sale = _sell(terminal, staff)
        assert _job_rows(terminal) == [("receipt", sale.id, False, "pending", 0)]
    finally:
        terminal.close()


def test_paper_out_mid_receipt_then_a_new_roll_prints_it_once_complete(
    shop: Terminal, cashier: StaffMember, events: list[PrintEvent]
) -> None:
    """Scenario 8. GIVEN a printer whose roll ends 300 bytes into the next receipt
    WHEN a cash sale completes
    THEN the sale is committed, the printer got a torn-off stub with the drawer kick,
    the queue says 1 not printed and why; AND WHEN the roll is changed
    THEN the worker sees the printer ready and prints the receipt once, complete, with
    its signed QR, not marked as a copy and without kicking the drawer again."""
    printer = shop.virtual_printer
    printer.set_paper_out_after(300)
    sale = _sell(shop, cashier, TARO, MANGO_L)
    assert shop.printing.wait_for(
        lambda s: s.unprinted == 1 and s.printer.problem == "paper_out", WAIT
    )
    (stub,) = printer.jobs
    assert _read(stub).cuts == [] and len(_read(stub).drawer_kicks) == 1
    failures = [e for e in events if isinstance(e, JobNotPrinted)]
    assert failures[0].problem == "paper_out" and failures[0].job.sale_id == sale.id
    assert _job_rows(shop)[0][3] == "pending"

    printer.set_paper_out(False)
    assert _all_printed(shop)
    (receipt,) = _complete(printer.jobs)
    assert "芋泥波波" in receipt.text and "杨枝甘露(大)" in receipt.text
    assert any("合计" in line and "¥31.00" in line for line in receipt.text_lines)
    assert [q.payload for q in receipt.qr_codes] == [sale.reference]
    assert "重印" not in receipt.text and receipt.problems == []
    assert receipt.drawer_kicks == []
    assert sum(len(_read(j).drawer_kicks) for j in printer.jobs) == 1
    assert _job_rows(shop) == [("receipt", sale.id, False, "printed", 2)]
    printed = [e for e in events if isinstance(e, JobPrinted)]
    assert [e.job.sale_id for e in printed] == [sale.id]
    assert shop.devices.get("printer").online is True  # type: ignore[union-attr]


def test_receipts_wait_for_an_offline_printer_and_print_in_order(
    shop: Terminal, cashier: StaffMember
) -> None:
    """GIVEN an offline printer
    WHEN three sales complete
    THEN none prints, the queue counts 3 and the device board shows the printer offline
    with the error and its time; WHEN it comes back, the three print in sale order."""
    printer = shop.virtual_printer
    printer.set_offline(True)
    sales = [_sell(shop, cashier, cash=False) for _ in range(3)]
    assert shop.printing.wait_for(lambda s: s.unprinted == 3 and s.printer.online is False, WAIT)
    state = shop.devices.get("printer")
    assert state is not None and state.problem == "offline"
    assert state.error and state.error_at is not None
    assert printer.jobs == []
    printer.set_offline(False)
    assert _all_printed(shop)
    numbers = [_read(j).text for j in printer.jobs]
    assert len(numbers) == 3
    for sale, receipt in zip(sales, numbers, strict=True):
        assert sale.receipt_no in receipt


def test_a_copy_is_marked_audited_and_does_not_open_the_drawer(
    shop: Terminal, cashier: StaffMember
) -> None:
    """GIVEN a printed cash sale WHEN a copy is asked for
    THEN a second receipt prints marked 重印, with no drawer kick, and the audit log says
    who asked for which receipt."""
    sale = _sell(shop, cashier)
    assert shop.virtual_printer.wait_for_jobs(1, WAIT) and _all_printed(shop)
    shop.printing.reprint(sale.id, "1001")
    assert shop.virtual_printer.wait_for_jobs(2, WAIT) and _all_printed(shop)
    original, copy = map(_read, shop.virtual_printer.jobs)
    assert "重印" not in original.text and len(original.drawer_kicks) == 1
    assert "*** 重印 ***" in copy.text and copy.drawer_kicks == []
    assert [q.payload for q in copy.qr_codes] == [sale.reference]
    with read_session(shop.engine) as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "receipt.reprint")
        ).one()
    assert entry.staff == "1001" and sale.receipt_no in entry.detail
    assert [r[2] for r in _job_rows(shop)] == [False, True]


@pytest.mark.parametrize(
    ("fault", "problem"),
    [(VirtualPrinter.set_cover_open, "cover_open"), (VirtualPrinter.set_paper_out, "paper_out")],
)
def test_a_fault_before_the_job_is_named_and_the_drawer_still_opens(
    shop: Terminal,
    cashier: StaffMember,
    events: list[PrintEvent],
    fault: object,
    problem: str,
) -> None:
    """GIVEN a printer with its cover open (or no paper) WHEN a cash sale completes
    THEN the failure is named, the receipt waits, and the drawer is kicked on its own so
    the cashier can give change; the receipt prints once the fault is cleared."""
    fault(shop.virtual_printer, True)  # type: ignore[operator]
    _sell(shop, cashier)
    assert shop.printing.wait_for(lambda s: s.printer.problem == problem, WAIT)
    assert shop.printing.wait_for(lambda _s: any(isinstance(e, DrawerResult) for e in events), WAIT)
    (kick,) = [e for e in events if isinstance(e, DrawerResult)]
    assert kick.reason == "sale"
    fault(shop.virtual_printer, False)  # type: ignore[operator]
    assert _all_printed(shop)
    assert len(_complete(shop.virtual_printer.jobs)) == 1


def test_a_printer_that_never_answers_times_out_and_the_job_waits(
    db_path: Path, clock: FakeClock
) -> None:
    """GIVEN a printer that accepts the connection but never answers
    THEN the job is not printed, the problem is a timeout, and it stays queued."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        host, port = silent.getsockname()[:2]
        printer = Printer(NetworkConnection(host, port, timeout=0.3), PROFILES["xprinter-80"])
        terminal = build_terminal(db_path, clock=clock, printer=printer, print_retry=(5, 5))
        try:
            staff = terminal.auth.sign_in("1001", "1234")
            _sell(terminal, staff, cash=False)
            assert terminal.printing.wait_for(
                lambda s: s.unprinted == 1 and bool(s.jobs) and s.jobs[0].attempts == 1, WAIT
            )
            state = terminal.printing.state
            assert state.printer.problem == "timeout"
            assert (state.jobs[0].last_error or "").startswith("timeout:")
            assert state.retry_in is not None and state.retry_in > 1
        finally:
            terminal.close()


def test_no_sale_drawer_open_kicks_and_is_audited(shop: Terminal, cashier: StaffMember) -> None:
    """GIVEN a cashier and an approving supervisor WHEN the drawer is opened without a sale
    THEN the printer receives one drawer pulse and the audit log names both; a cashier
    cannot approve it."""
    seen: list[PrintEvent] = []
    shop.printing.subscribe(seen.append)
    with pytest.raises(PrintError) as refused:
        shop.printing.open_drawer(cashier, cashier)
    assert refused.value.code == "not_supervisor"
    supervisor = shop.auth.sign_in("1003", "135790")
    shop.printing.open_drawer(cashier, supervisor)
    assert shop.virtual_printer.wait_for_jobs(1, WAIT)
    assert shop.printing.wait_for(lambda _s: any(isinstance(e, DrawerResult) for e in seen), WAIT)
    (job,) = shop.virtual_printer.jobs
    assert [k.pin for k in _read(job).drawer_kicks] == [2]
    with read_session(shop.engine) as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "drawer.no_sale")
        ).one()
    assert entry.staff == "1001" and '"approved_by": "1003"' in entry.detail
    assert '"opened": true' in entry.detail
    assert shop.devices.get("drawer").online is True  # type: ignore[union-attr]


def test_test_page_and_handover_slip_use_the_same_queue(shop: Terminal) -> None:
    """GIVEN the queue WHEN a test page and a handover slip are printed
    THEN both reach the printer through the queue, in order, laid out for its profile."""
    slip = HandoverSlip(
        store_name="茶语时光 人民广场店",
        terminal="S001-T01",
        cashier="1001 王芳",
        shift_start="2025-03-01 08:00",
        shift_end="2025-03-01 18:00",
        sale_count=142,
        totals=(Amount("销售额", "¥4,321.50"),),
        tenders=(Amount("现金", "¥1,200.00"), Amount("银行卡", "¥3,121.50")),
        cash_expected="¥1,700.00",
        cash_counted="¥1,698.50",
        cash_difference="-¥1.50",
    )
    shop.printing.print_test_page("1004")
    shop.printing.print_handover(slip, "1001")
    assert shop.virtual_printer.wait_for_jobs(2, WAIT) and _all_printed(shop)
    page, slip = map(_read, shop.virtual_printer.jobs)
    assert "打印测试" in page.text and "123456789012345678901234567890123456789012345678" in (
        page.text
    )
    assert "交班单" in slip.text and "-¥1.50" in slip.text
    assert [r[0] for r in _job_rows(shop)] == ["test_page", "handover"]


def test_a_document_that_cannot_print_fails_without_blocking_the_queue(
    shop: Terminal, cashier: StaffMember, events: list[PrintEvent]
) -> None:
    """GIVEN a handover slip whose QR code is too long for any QR symbol
    THEN it is marked failed (kept, counted as not printed) and the receipt behind it
    prints."""
    impossible = Document((Text("x"), QRCode("9" * 8000)))
    shop.printing.print_document("handover", impossible, "1001")
    sale = _sell(shop, cashier, cash=False)
    assert shop.printing.wait_for(
        lambda s: s.unprinted == 1 and s.jobs and s.jobs[0].state == "failed", WAIT
    )
    assert shop.virtual_printer.wait_for_jobs(1, WAIT)
    assert sale.receipt_no in _read(shop.virtual_printer.jobs[0]).text
    (failed,) = [e for e in events if isinstance(e, JobNotPrinted)]
    assert failed.problem == "bad_document" and failed.job.state == "failed"


def test_cancelling_an_unprinted_job_is_audited(shop: Terminal, cashier: StaffMember) -> None:
    """GIVEN a receipt stuck behind an offline printer
    WHEN a supervisor gives it up THEN it leaves the count and the audit log says so."""
    shop.virtual_printer.set_offline(True)
    sale = _sell(shop, cashier, cash=False)
    assert shop.printing.wait_for(lambda s: s.unprinted == 1, WAIT)
    job_id = shop.printing.state.jobs[0].id
    with pytest.raises(PrintError):
        shop.printing.cancel(job_id, cashier)
    shop.printing.cancel(job_id, shop.auth.sign_in("1003", "135790"))
    assert _all_printed(shop)
    assert _job_rows(shop) == [("receipt", sale.id, False, "cancelled", _job_rows(shop)[0][4])]
    with read_session(shop.engine) as session:
        action = session.execute(
            text("SELECT staff FROM audit_log WHERE action = 'print_job.cancel'")
        ).scalar_one()
    assert action == "1003"


def test_new_printer_settings_take_over_at_once(
    db_path: Path, clock: FakeClock, other_printer: VirtualPrinter
) -> None:
    """GIVEN a terminal set to a network printer nobody answers on, a receipt waiting
    WHEN the manager saves settings for a printer that works (58 mm, GBK)
    THEN the waiting receipt prints on it at once, laid out for 58 mm."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    terminal = build_terminal(db_path, clock=clock, print_retry=(30, 30), start_devices=False)
    manager = terminal.auth.sign_in("1004", "86420")
    terminal.device_settings.save_printer(
        PrinterSettings.from_profile(
            "generic-80-gb18030", backend="network", host="127.0.0.1", port=dead_port
        ),
        manager,
    )
    terminal.close()
    terminal = build_terminal(db_path, clock=clock, print_retry=(30, 30))
    try:
        staff = terminal.auth.sign_in("1001", "1234")
        sale = _sell(terminal, staff, cash=False)
        assert terminal.printing.wait_for(lambda s: s.printer.problem == "offline", WAIT)
        host, port = other_printer.serve_tcp()
        terminal.device_settings.save_printer(
            PrinterSettings.from_profile("generic-58-gbk", backend="network", host=host, port=port),
            manager,
        )
        assert other_printer.wait_for_jobs(1, WAIT)
        receipt = decode(other_printer.jobs[0], "gbk", chinese_at_power_on=False)
        assert sale.receipt_no in receipt.text
        assert max(line.cells for line in receipt.lines) <= 32
        assert terminal.printing.wait_for(lambda s: s.printer.online is True, WAIT)
    finally:
        terminal.close()
