"""A terminal process killed with SIGKILL loses nothing it confirmed and leaves nothing
half-written.

The child (``_sale_worker.py``) is a real terminal built by ``build_terminal``; it sells
through ``CheckoutService.complete`` and reports each receipt number only after the
commit returned. The parent kills it without warning and then inspects the file the way
the next start-up would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import Engine, text

from pos_app.app import build_terminal
from pos_app.domain.tender import Payment
from pos_app.localdb.engine import make_engine, read_session
from pos_app.localdb.sales import get_sale
from sync_client.contract.protocol import SaleCompleted

WORKER = Path(__file__).with_name("_sale_worker.py")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,  # SIGKILLs a worker process mid-sale
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL"),
]


class Child:
    """The worker process, its stdout as lines, and its stderr kept in a file."""

    def __init__(self, db: Path, *args: str, stderr_path: Path) -> None:
        self._stderr_path = stderr_path
        self._stderr = stderr_path.open("w")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(db), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )

    def line(self) -> str:
        out: IO[str] | None = self.proc.stdout
        assert out is not None
        line = out.readline()
        if not line:
            self.proc.wait()
            raise AssertionError(f"worker ended early:\n{self._stderr_path.read_text()}")
        return line.strip()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self._stderr.close()


@pytest.fixture
def spawn() -> Iterator[list[Child]]:
    """Children started by a test; killed afterwards even if the test failed."""
    children: list[Child] = []
    yield children
    for child in children:
        child.kill()


@pytest.fixture
def reopened(demo_path: Path) -> Iterator[Engine]:
    """The database as the next start-up opens it (WAL recovery happens here)."""
    engine = make_engine(demo_path)
    yield engine
    engine.dispose()


def _stock(engine: Engine) -> dict[int, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT item_id, local_sold_milli FROM stock_level"))
        return {r[0]: r[1] for r in rows}


def _assert_consistent(engine: Engine) -> list[str]:
    """Every sale is whole and has exactly one matching event; returns receipt numbers."""
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        sale_ids = [r[0] for r in conn.execute(text("SELECT id FROM sale ORDER BY receipt_no"))]
        payloads = [r[0] for r in conn.execute(text("SELECT payload FROM outbox ORDER BY seq"))]
        sold = dict(
            conn.execute(
                text("SELECT item_id, SUM(qty_milli) FROM sale_line GROUP BY item_id")
            ).all()
        )
    events = [SaleCompleted.model_validate_json(p) for p in payloads]
    assert len(events) == len(sale_ids)
    per_sale = Counter(str(e.sale_id) for e in events)
    assert set(per_sale) == set(sale_ids)
    assert set(per_sale.values()) <= {1}

    receipts = []
    with read_session(engine) as session:
        by_id = {str(e.sale_id): e for e in events}
        for sale_id in sale_ids:
            sale = get_sale(session, sale_id)
            assert sale is not None
            assert sale.lines and sale.tenders
            assert sum(ln.amount_fen for ln in sale.lines) == sale.total_fen
            assert sum(t.amount_fen for t in sale.tenders) == sale.total_fen
            event = by_id[sale_id]
            assert (event.receipt_no, event.total_fen, event.subtotal_fen, event.change_fen) == (
                sale.receipt_no,
                sale.total_fen,
                sale.subtotal_fen,
                sale.change_fen,
            )
            assert [
                (ln.sku, ln.qty_milli, ln.amount_fen, ln.price_version) for ln in event.lines
            ] == [(ln.sku, ln.qty_milli, ln.amount_fen, ln.price_version) for ln in sale.lines]
            receipts.append(sale.receipt_no)
    # The demo database starts with no local sales: what was sold is exactly the lines.
    stock = _stock(engine)
    assert {k: v for k, v in stock.items() if v} == sold
    return receipts


def test_sales_confirmed_before_sigkill_survive_whole(
    demo_path: Path, tmp_path: Path, spawn: list[Child], reopened: Engine
) -> None:
    """GIVEN a terminal process selling in a loop
    WHEN it is SIGKILLed after it has confirmed several receipts (at any moment: possibly
    in the middle of the next sale's transaction)
    THEN every confirmed receipt exists with lines, tenders and exactly one valid outbox
    event with the same totals; sales and events are equal in number; the local stock
    went down by exactly what the lines sold; receipt numbers have no gaps; and the file
    passes SQLite's integrity check."""
    child = Child(demo_path, "loop", stderr_path=tmp_path / "worker.err")
    spawn.append(child)
    confirmed = []
    while len(confirmed) < 8:
        kind, receipt_no = child.line().split()
        assert kind == "SOLD"
        confirmed.append(receipt_no)
    child.kill()

    receipts = _assert_consistent(reopened)
    assert set(confirmed) <= set(receipts)
    assert receipts == [f"S001-T01-{n:06d}" for n in range(1, len(receipts) + 1)]


def test_a_sale_killed_inside_its_transaction_leaves_no_trace(
    demo_path: Path, tmp_path: Path, spawn: list[Child], reopened: Engine
) -> None:
    """GIVEN a terminal process that has completed 3 sales
    WHEN it is SIGKILLed while the 4th sale's rows are written but not yet committed
    THEN the 4th sale has no sale row, no lines, no tenders, no outbox event, took no
    stock and used no receipt number (the next sale gets that number); the 3 earlier
    sales are intact."""
    child = Child(demo_path, "block-after", "3", stderr_path=tmp_path / "worker.err")
    spawn.append(child)
    sold = [child.line() for _ in range(3)]
    assert [s.split()[0] for s in sold] == ["SOLD"] * 3
    kind, sale_id, receipt_no = child.line().split()
    assert kind == "IN_TX"
    # The open write transaction does not stop readers (WAL): this is the committed state.
    stock_before = _stock(reopened)
    child.kill()
    reopened.dispose()  # from here on, fresh connections, as after a restart

    receipts = _assert_consistent(reopened)
    assert receipts == ["S001-T01-000001", "S001-T01-000002", "S001-T01-000003"]
    assert receipt_no == "S001-T01-000004"
    assert _stock(reopened) == stock_before
    with reopened.connect() as conn:
        for table in ("sale", "sale_line", "sale_tender"):
            column = "id" if table == "sale" else "sale_id"
            found = conn.execute(
                text(f"SELECT COUNT(*) FROM {table} WHERE {column} = :id"), {"id": sale_id}
            ).scalar()
            assert found == 0, table
        assert (
            conn.execute(
                text("SELECT COUNT(*) FROM outbox WHERE payload LIKE :p"), {"p": f"%{sale_id}%"}
            ).scalar()
            == 0
        )
        assert conn.execute(text("SELECT value FROM counter WHERE name='receipt'")).scalar() == 3

    terminal = build_terminal(demo_path)
    try:
        cashier = terminal.auth.sign_in("1001", "1234")
        draft = terminal.checkout.new_draft(cashier)
        terminal.checkout.scan(draft, "6954321100014")
        payment = Payment(draft.cart.totals().total_fen)
        payment.add_cash(2000)
        after_restart = terminal.checkout.complete(draft, payment)
    finally:
        terminal.close()
    assert after_restart.receipt_no == "S001-T01-000004"
