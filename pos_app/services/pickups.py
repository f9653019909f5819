"""Online orders at the till: stock held for them, and pick-up orders (到店自提).

* :meth:`PickupService.reserved_warning`: selling more of an item than this store has
  available (on hand less what online orders hold) is allowed, but the cashier is told
  first, with the pick-up orders that hold it when the till knows them.
* :meth:`PickupService.open_orders` lists this store's paid pick-up orders (from HQ's
  feed); :meth:`mark_ready` tells HQ one is packed; :meth:`match` finds the order a
  scanned pick-up code belongs to (by hash: the till never holds the codes);
  :meth:`collect` turns its lines into a sale paid with a ``channel`` tender naming the
  order, which HQ captures once.

Local reads block for milliseconds; :meth:`mark_ready` asks HQ on the sync thread and
returns a future at once.
"""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from sqlalchemy import Engine, select

from pos_app.domain.tender import Payment
from pos_app.localdb import pickups as repo
from pos_app.localdb.engine import raw_read_connection, read_session
from pos_app.localdb.models import Item, PickupOrder
from pos_app.localdb.pending_stock import stock_on_hand
from pos_app.localdb.sales import SaleRecord
from pos_app.services.auth import StaffMember
from pos_app.services.checkout import CheckoutService, SaleDraft
from pos_app.services.errors import ServiceError
from pos_app.services.ports import TerminalIdentity
from sync_client import HQRefused, HQUnavailable, SyncRunner
from sync_client.contract import pickup as codes
from sync_client.contract import protocol as p

__all__ = [
    "PickupError",
    "PickupHQ",
    "PickupInfo",
    "PickupLine",
    "PickupService",
    "ReservedWarning",
]


class PickupError(ServiceError):
    """A pick-up action refused at the till: ``pickup_code_wrong``, ``unknown_pickup``,
    ``pickup_collected``, ``unknown_code`` (an item of the order is not in this till's
    catalogue), ``hq_unavailable``, ``hq_refused`` (HQ's code in ``params["error"]``)."""


class PickupHQ(Protocol):
    """What the pick-up list asks HQ online (``sync_client.HQClient`` is one)."""

    async def pickup_ready(self, reservation_id: UUID) -> p.PickupData: ...


@dataclass(frozen=True, slots=True)
class PickupLine:
    sku: str
    name: str
    qty_milli: int


@dataclass(frozen=True, slots=True)
class PickupInfo:
    """A paid pick-up order of this store, as the list shows it."""

    reservation_id: str
    order_id: str
    channel: str
    ready: bool
    lines: tuple[PickupLine, ...]
    confirmed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ReservedWarning:
    """Selling ``wanted_milli`` of ``sku`` takes more than this store's ``available_milli``
    (``reserved_milli`` is held for online orders; ``orders``: the pick-up orders among
    them this till knows)."""

    sku: str
    wanted_milli: int
    available_milli: int
    reserved_milli: int
    orders: tuple[str, ...]


def _lines(order: PickupOrder) -> list[tuple[str, int]]:
    return [(str(sku), int(qty)) for sku, qty in json.loads(order.lines)]


class PickupService:
    """Online orders at one till (runs on the GUI thread; no network on it)."""

    def __init__(
        self,
        engine: Engine,
        identity: TerminalIdentity,
        checkout: CheckoutService,
        *,
        runner: SyncRunner | None = None,
        hq: Callable[[], PickupHQ] | None = None,
    ) -> None:
        self._engine = engine
        self._identity = identity
        self._checkout = checkout
        self._runner = runner
        self._hq = hq

    @property
    def store(self) -> str:
        return self._identity.store_code

    # -- stock held for online orders -----------------------------------------------------

    def reserved_warning(self, item_id: int, wanted_milli: int) -> ReservedWarning | None:
        """A warning when selling ``wanted_milli`` (the cart's whole quantity of the item)
        dips into what online orders hold at this store; None otherwise."""
        # Every scan asks: on the raw connection, the usual answer (nothing reserved) costs
        # a fraction of a session's.
        with raw_read_connection(self._engine) as db:
            row = db.execute(
                "SELECT i.sku, c.reserved_milli FROM item i JOIN chain_stock c "
                "ON c.sku = i.sku AND c.store_code = ? WHERE i.id = ?",
                (self.store, item_id),
            ).fetchone()
        if row is None or int(row[1]) <= 0:
            return None
        sku, reserved = str(row[0]), int(row[1])
        with read_session(self._engine) as s:
            on_hand = stock_on_hand(s, item_id) or 0
            available = on_hand - reserved
            if wanted_milli <= available:
                return None
            orders = tuple(
                o.order_id
                for o in repo.open_orders(s, self.store)
                if any(k == sku for k, _ in _lines(o))
            )
        return ReservedWarning(sku, wanted_milli, available, reserved, orders)

    # -- pick-up orders -------------------------------------------------------------------

    def _info(self, order: PickupOrder, names: dict[str, str]) -> PickupInfo:
        return PickupInfo(
            order.reservation_id,
            order.order_id,
            order.channel,
            bool(order.ready),
            tuple(PickupLine(sku, names.get(sku, sku), qty) for sku, qty in _lines(order)),
            order.confirmed_at,
        )

    def _items(self, skus: set[str]) -> dict[str, tuple[int, str]]:
        """``sku -> (item id, name)`` of the items this till knows among ``skus``."""
        if not skus:
            return {}
        with read_session(self._engine) as s:
            rows = s.execute(
                select(Item.sku, Item.id, Item.name_zh).where(Item.sku.in_(sorted(skus)))
            ).all()
        return {str(r[0]): (int(r[1]), str(r[2])) for r in rows}

    def _names(self, skus: set[str]) -> dict[str, str]:
        return {sku: name for sku, (_, name) in self._items(skus).items()}

    def open_orders(self) -> list[PickupInfo]:
        """This store's paid pick-up orders waiting for their customer, oldest first."""
        with read_session(self._engine) as s:
            orders = repo.open_orders(s, self.store)
        names = self._names({sku for o in orders for sku, _ in _lines(o)})
        return [self._info(o, names) for o in orders]

    def match(self, scanned: str) -> PickupInfo:
        """The waiting order a scanned pick-up code belongs to.

        Raises:
            PickupError: ``pickup_code_wrong``.
        """
        with read_session(self._engine) as s:
            orders = repo.open_orders(s, self.store)
        for o in orders:
            if o.code_hash and codes.code_hash(UUID(o.reservation_id), scanned) == o.code_hash:
                return self._info(o, self._names({sku for sku, _ in _lines(o)}))
        raise PickupError("pickup_code_wrong", "no waiting order has this pick-up code")

    def mark_ready(self, reservation_id: str) -> concurrent.futures.Future[bool]:
        """Tells HQ the order is packed (the channel shows it to the customer)."""
        if self._runner is None or self._hq is None:
            f: concurrent.futures.Future[bool] = concurrent.futures.Future()
            f.set_exception(PickupError("hq_unavailable", "HQ is not connected"))
            return f
        return self._runner.submit(self._ask_ready(UUID(reservation_id)))

    async def _ask_ready(self, reservation_id: UUID) -> bool:
        assert self._hq is not None
        try:
            answer = await self._hq().pickup_ready(reservation_id)
        except HQUnavailable as exc:
            raise PickupError("hq_unavailable", str(exc)) from exc
        except HQRefused as exc:
            raise PickupError("hq_refused", str(exc), error=exc.code) from exc
        return answer.ready

    def collect(self, cashier: StaffMember, order: PickupInfo) -> SaleRecord:
        """Hands the order over: its lines become a sale at today's prices, paid with a
        ``channel`` tender naming the order; the sale names the reservation, so HQ takes
        the held stock out once.

        Raises:
            PickupError: ``unknown_code`` for an item this till does not know.
            CheckoutError: ``pickup_collected`` when this till handed it over already.
        """
        draft: SaleDraft = self._checkout.new_draft(cashier)
        items = self._items({ln.sku for ln in order.lines})
        for ln in order.lines:
            if ln.sku not in items:
                raise PickupError("unknown_code", f"no item {ln.sku}", key=ln.sku)
            self._checkout.add_item(draft, items[ln.sku][0], ln.qty_milli)
        draft.pickup = order.reservation_id
        payment = Payment(draft.cart.totals().total_fen)
        payment.add_channel(payment.due_fen, order.order_id)
        return self._checkout.complete(draft, payment)
