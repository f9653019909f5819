"""A terminal without screens: the same services, database and sync client as the till.

Used by ``chainpos sim`` (load and soak tests of a real HQ), by the sync scenario tests and
by the benchmarks. It sells through :class:`CheckoutService` exactly as the checkout screen
does; only the cashier's hands are missing.
"""

from __future__ import annotations

import random
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from pos_app.app import Terminal, build_terminal
from pos_app.domain.roles import Role
from pos_app.localdb.catalog import find_by_code
from pos_app.localdb.engine import open_database, read_session
from pos_app.localdb.pending_stock import stock_on_hand
from pos_app.localdb.sales import SaleRecord
from pos_app.services.auth import StaffMember
from pos_app.services.enrollment import EnrollmentService, EnrollTicket
from pos_app.services.members import MemberService
from pos_app.services.ports import Clock
from sync_client import CredentialStore, SyncConfig, SyncRunner


@dataclass(frozen=True, slots=True)
class ItemView:
    """What the till would charge and show for an item now."""

    sku: str
    price_fen: int | None
    price_version: int | None
    stock_milli: int | None


class HeadlessTerminal:
    """One terminal's services plus its sync, driven from code."""

    def __init__(self, terminal: Terminal, data_dir: Path) -> None:
        self.terminal = terminal
        self.data_dir = data_dir
        self._cashier: StaffMember | None = None

    # -- life -----------------------------------------------------------------------------

    @classmethod
    def enroll(
        cls,
        data_dir: Path,
        ticket: EnrollTicket,
        device_name: str,
        *,
        sync_config: SyncConfig | None = None,
        sync_runner: SyncRunner | None = None,
        sync_executor: Executor | None = None,
        clock: Clock | None = None,
        use_keyring: bool = False,
    ) -> HeadlessTerminal:
        """Enrols a new terminal in ``data_dir`` (its database and credentials live there)."""
        data_dir.mkdir(parents=True, exist_ok=True)
        db = data_dir / "terminal.db"
        store = CredentialStore(data_dir, use_keyring=use_keyring)
        engine = open_database(db)
        try:
            EnrollmentService(engine, store).enroll(ticket, device_name)
        finally:
            engine.dispose()
        return cls.open(
            data_dir,
            sync_config=sync_config,
            sync_runner=sync_runner,
            sync_executor=sync_executor,
            clock=clock,
            use_keyring=use_keyring,
        )

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        sync_config: SyncConfig | None = None,
        sync_runner: SyncRunner | None = None,
        sync_executor: Executor | None = None,
        clock: Clock | None = None,
        use_keyring: bool = False,
    ) -> HeadlessTerminal:
        terminal = build_terminal(
            data_dir / "terminal.db",
            clock=clock,
            credential_store=CredentialStore(data_dir, use_keyring=use_keyring),
            sync_config=sync_config,
            sync_runner=sync_runner,
            sync_executor=sync_executor,
        )
        return cls(terminal, data_dir)

    def start(self) -> HeadlessTerminal:
        """Starts the sync and the member service (see :meth:`Terminal.start_sync`)."""
        self.terminal.start_sync()
        return self

    def close(self) -> None:
        self.terminal.close()

    @property
    def members(self) -> MemberService:
        """The member service (a headless terminal is always enrolled)."""
        assert self.terminal.members is not None, "this terminal has no link to HQ"
        return self.terminal.members

    @property
    def device_id(self) -> str:
        return self.terminal.identity.terminal_id

    @property
    def store(self) -> str:
        return self.terminal.identity.store_code

    # -- selling --------------------------------------------------------------------------

    def cashier(self) -> StaffMember:
        """The first active cashier of this store (signed in once, as at the till)."""
        if self._cashier is None:
            with read_session(self.terminal.engine) as s:
                row = s.execute(
                    text(
                        "SELECT number, name, role FROM staff WHERE active AND "
                        "(store_code = :s OR store_code IS NULL) ORDER BY role = 'cashier' DESC, "
                        "number LIMIT 1"
                    ),
                    {"s": self.store},
                ).first()
            if row is None:
                raise LookupError(f"no staff for store {self.store} yet")
            self._cashier = StaffMember(str(row[0]), str(row[1]), Role(str(row[2])))
        return self._cashier

    def sell(self, lines: list[tuple[str, int]]) -> SaleRecord:
        """Sells ``(code, qty_milli)`` lines (barcode or SKU), paid exactly in cash."""
        checkout = self.terminal.checkout
        self._ensure_shift()
        draft = checkout.new_draft(self.cashier())
        for code, qty in lines:
            hit = self.terminal.catalog.scan(code)
            checkout.add_item(draft, hit.item.item_id, qty)
        from pos_app.domain.tender import Payment

        payment = Payment(draft.cart.totals().total_fen)
        payment.add_cash(payment.due_fen)
        return checkout.complete(draft, payment)

    def _ensure_shift(self) -> None:
        """Opens a shift with the store's default float when the store sells only in an
        open shift and none is open (a simulated cashier opens one before selling)."""
        shifts = self.terminal.shifts
        if shifts is None or shifts.current() is not None or not shifts.settings().required:
            return
        from pos_app.domain.shift import CashCount

        float_fen = shifts.settings().default_float_fen
        whole_yuan = float_fen - float_fen % 100
        shifts.open(self.cashier(), CashCount().with_amount("note:100", whole_yuan))

    def sellable_skus(self, unit: str = "piece") -> list[str]:
        """Active, priced items (for random sales)."""
        with read_session(self.terminal.engine) as s:
            rows = s.execute(
                text(
                    "SELECT i.sku FROM item i WHERE i.active AND i.unit = :u AND EXISTS "
                    "(SELECT 1 FROM price p WHERE p.item_id = i.id) ORDER BY i.sku"
                ),
                {"u": unit},
            ).all()
        return [str(r[0]) for r in rows]

    def random_sale(self, rng: random.Random, skus: list[str]) -> SaleRecord:
        n = rng.randint(1, 4)
        return self.sell([(rng.choice(skus), 1000 * rng.randint(1, 3)) for _ in range(n)])

    # -- reading --------------------------------------------------------------------------

    def item(self, sku: str) -> ItemView:
        with read_session(self.terminal.engine) as s:
            row = find_by_code(s, sku, self.store, self.terminal.clock.now())
            if row is None:
                return ItemView(sku, None, None, None)
            return ItemView(sku, row.price_fen, row.price_version, stock_on_hand(s, row.item_id))

    def outbox(self) -> tuple[int, int]:
        """(pending, rejected) events."""
        return self.terminal.sync.replica.counts() if self.terminal.sync else (0, 0)

    def sale_ids(self) -> set[str]:
        with read_session(self.terminal.engine) as s:
            return {str(r[0]) for r in s.execute(text("SELECT id FROM sale"))}
