"""Checkout: building a sale, discounts with approval, payment and the durable commit.

The commit writes the sale, its lines and tenders, the local stock decrement, the
outbox event for HQ and the receipt's print job in ONE ``BEGIN IMMEDIATE`` transaction,
so a paid sale always has its receipt queued. The network and the printer are never on
this path.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from pos_app.domain.cart import (
    MILLI,
    Cart,
    CartError,
    CartLine,
    Discount,
    LineOption,
    Rounding,
    Totals,
    Unit,
    discount_share_bp,
)
from pos_app.domain.ids import SaleRef, uuid7
from pos_app.domain.member import Member, MemberSource
from pos_app.domain.promotions import AppliedPromotion, PromoShare
from pos_app.domain.tender import Payment, TenderKind
from pos_app.localdb import payments as payments_repo
from pos_app.localdb import pickups, print_jobs
from pos_app.localdb import sales as sales_repo
from pos_app.localdb import shifts as shift_repo
from pos_app.localdb.engine import raw_write_transaction, read_session, write_session
from pos_app.localdb.members import capture_holds
from pos_app.localdb.sales import (
    LineRecord,
    OutboxRecord,
    SaleMemberRecord,
    SaleRecord,
    TenderRecord,
)
from pos_app.localdb.store import audit, audit_db, next_counter_db, setting_db
from pos_app.services.auth import StaffMember
from pos_app.services.catalog import CatalogService
from pos_app.services.errors import ApprovalRequired, CheckoutError, ScanError
from pos_app.services.members import HoldResult
from pos_app.services.ports import Clock, TerminalIdentity
from pos_app.services.promotions import PromotionsSource
from sync_client.contract import protocol
from sync_client.contract.loyalty import LoyaltyRules, read_rules
from sync_client.contract.money import format_yuan

__all__ = ["CheckoutService", "CheckoutSettings", "SaleDraft", "SaleRecord"]

log = logging.getLogger("chainpos.checkout")


@dataclass(frozen=True, slots=True)
class CheckoutSettings:
    """Store settings that shape a sale.

    ``discount_limit_bp``: the largest discount (basis points of what it applies to) a
    cashier may give without a supervisor. ``void_approval_above_fen``: voiding a whole
    cart whose total is above it needs a supervisor.
    """

    rounding: Rounding = Rounding.NONE
    discount_limit_bp: int = 1000
    void_approval_above_fen: int = 20_000


@dataclass
class SaleDraft:
    """A sale in progress, owned by the screen that builds it (GUI thread).

    ``draft_id`` names it to HQ holds made for it before it has a sale id. ``member``: who
    it is rung up for. ``holds``: HQ holds made for it (points, stored value, the coupon),
    by hold id; the ones the payment and the cart still use are captured by the sale."""

    cashier: StaffMember
    cart: Cart
    started_at: datetime | None = None
    approvals: list[str] = field(default_factory=list)
    approved_bp: dict[str, int] = field(default_factory=dict)
    """The largest discount share (basis points) a supervisor approved, per line
    (``line<n>``) and for the basket (``basket``)."""
    discount_approvals: list[protocol.Approval] = field(default_factory=list)
    """The approvals the sale event carries (one per approver, the latest)."""
    draft_id: str = field(default_factory=lambda: str(uuid7()))
    member: Member | None = None
    holds: dict[str, HoldResult] = field(default_factory=dict)
    pickup: str | None = None
    """The online pick-up order (reservation id) this sale hands over, if any."""

    def used_holds(self, payment: Payment | None) -> tuple[str, ...]:
        """The holds the sale spends: its account tenders and its coupon."""
        used = list(payment.holds) if payment is not None else []
        if self.cart.coupon is not None:
            used.append(self.cart.coupon.hold_id)
        return tuple(used)


def _promotions_json(
    shares: tuple[PromoShare, ...], applied: tuple[AppliedPromotion, ...]
) -> str | None:
    """A line's promotions as the sale line stores them (with the names the receipt
    prints); None when no promotion priced it."""
    if not shares:
        return None
    names = {a.promotion_id: a.name_zh for a in applied}
    return json.dumps(
        [
            {
                "id": s.promotion_id,
                "version": s.version,
                "amount_fen": s.amount_fen,
                "name": names.get(s.promotion_id, ""),
            }
            for s in shares
        ],
        ensure_ascii=False,
    )


class CheckoutService:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        identity: TerminalIdentity,
        catalog: CatalogService,
        settings: CheckoutSettings,
        after_commit: Callable[[SaleRecord], object] | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._identity = identity
        self._catalog = catalog
        self.settings = settings
        self._after_commit = after_commit
        self._promotions = PromotionsSource(engine, identity.store_code)

    def now(self) -> datetime:
        """The till's time (HQ's clock once sync measured it)."""
        return self._clock.now()

    def new_draft(self, cashier: StaffMember) -> SaleDraft:
        """A new sale; its cart prices the promotions the till holds on every change,
        for the draft's member at the till's time."""
        draft = SaleDraft(cashier, Cart(rounding=self.settings.rounding))
        draft.cart.promotions = self._promotions.book(self._clock.now())
        draft.cart.promo_context = lambda: self._promotions.context(self._clock.now(), draft.member)
        return draft

    def _touch(self, draft: SaleDraft) -> None:
        if draft.started_at is None:
            draft.started_at = self._clock.now()

    def scan(self, draft: SaleDraft, raw: str, count: int = 1) -> CartLine:
        """Adds what a scanned code stands for, ``count`` times (``6*`` typed before it).

        Raises:
            ScanError: the catalogue's refusals; ``multiplier_not_pieces`` when ``count``
                is above 1 for a weighed item or a scale label (each label is its own
                line, and a weight is weighed, never multiplied).
            CartError: ``bad_quantity`` when the line would exceed the cart's limit.
        """
        hit = self._catalog.scan(raw)
        if count != 1 and (hit.item.unit is not Unit.PIECE or hit.fixed_amount_fen is not None):
            raise ScanError(
                "multiplier_not_pieces",
                "only counted items can be multiplied",
                count=count,
            )
        self._touch(draft)
        return draft.cart.add(
            hit.item,
            hit.qty_milli * count,
            barcode=hit.barcode,
            fixed_amount_fen=hit.fixed_amount_fen,
        )

    def add_item(self, draft: SaleDraft, item_id: int, qty_milli: int) -> CartLine:
        """Adds an item chosen from search; weighed items come with a keyed-in weight."""
        item = self._catalog.priced(item_id)
        self._touch(draft)
        return draft.cart.add(item, qty_milli)

    def add_menu_item(
        self,
        draft: SaleDraft,
        item_id: int,
        options: tuple[LineOption, ...] = (),
        menu_version: int | None = None,
        qty_milli: int = MILLI,
    ) -> CartLine:
        """Adds a tile's item with the options chosen on the sheet, priced now (the item's
        price in force plus the options' prices of ``menu_version``)."""
        item = self._catalog.priced(item_id)
        self._touch(draft)
        return draft.cart.add(item, qty_milli, options=options, menu_version=menu_version)

    def _check_discount(
        self,
        draft: SaleDraft,
        discount_fen: int,
        base_fen: int,
        approver: StaffMember | None,
        what: str,
    ) -> None:
        share = discount_share_bp(discount_fen, base_fen)
        if share <= self.settings.discount_limit_bp:
            return
        if draft.cashier.can_approve:
            self._approve(draft, draft.cashier, what, share, audit_trail=False)
            return
        if approver is None or not approver.can_approve:
            raise ApprovalRequired(
                "discount_over_limit",
                f"a {share / 100:.1f}% discount needs a supervisor",
                share_bp=share,
                limit_bp=self.settings.discount_limit_bp,
            )
        self._approve(draft, approver, what, share)

    def _approve(
        self,
        draft: SaleDraft,
        approver: StaffMember,
        what: str,
        share_bp: int,
        *,
        audit_trail: bool = True,
    ) -> None:
        """Records that ``approver`` allowed a discount of ``share_bp`` on ``what``."""
        draft.approved_bp[what] = max(share_bp, draft.approved_bp.get(what, 0))
        if audit_trail:
            draft.approvals.append(f"{what}:{approver.number}")
        approval = protocol.Approval(
            action="discount_over_limit", staff=approver.number, approved_at=self._clock.now()
        )
        draft.discount_approvals[:] = [
            a for a in draft.discount_approvals if a.staff != approver.number
        ] + [approval]

    def discounts_over_limit(self, draft: SaleDraft) -> list[tuple[str, int]]:
        """The discounts of the cart as it is now that exceed the limit and what was
        approved for them: (``line<n>`` or ``basket``, share in basis points).

        Quantities, lines and prices may have changed since a discount was set (a fixed
        amount off grows as a share when the line shrinks), so this is recomputed from
        the final cart, never trusted from when the discount was given."""
        limit = self.settings.discount_limit_bp
        totals = draft.cart.totals()
        shares = [
            (f"line{ln.line_no}", discount_share_bp(ln.line_discount_fen, ln.list_amount_fen))
            for ln in draft.cart.lines
        ]
        shares.append(
            (
                "basket",
                discount_share_bp(totals.basket_discount_fen, totals.after_line_discounts_fen),
            )
        )
        return [
            (what, share)
            for what, share in shares
            if share > limit and share > draft.approved_bp.get(what, -1)
        ]

    def check_discounts(self, draft: SaleDraft, approver: StaffMember | None = None) -> None:
        """Checks the final cart's discounts against ``discount_limit_bp``.

        Raises:
            ApprovalRequired: ``discount_over_limit`` (params ``share_bp``, ``limit_bp``)
                when a discount is over the limit and neither the cashier nor ``approver``
                may approve it.
        """
        over = self.discounts_over_limit(draft)
        if not over:
            return
        by = draft.cashier if draft.cashier.can_approve else approver
        if by is None or not by.can_approve:
            what, share = max(over, key=lambda o: o[1])
            raise ApprovalRequired(
                "discount_over_limit",
                f"the final cart's {what} discount is {share / 100:.1f}%: needs a supervisor",
                share_bp=share,
                limit_bp=self.settings.discount_limit_bp,
            )
        for what, share in over:
            self._approve(draft, by, what, share, audit_trail=by is not draft.cashier)

    def set_line_discount(
        self,
        draft: SaleDraft,
        line_no: int,
        discount: Discount | None,
        approver: StaffMember | None = None,
    ) -> CartLine:
        line = draft.cart.line(line_no)
        if discount is not None:
            self._check_discount(
                draft,
                discount.on(line.list_amount_fen),
                line.list_amount_fen,
                approver,
                f"line{line_no}",
            )
        return draft.cart.set_line_discount(line_no, discount)

    def set_basket_discount(
        self, draft: SaleDraft, discount: Discount | None, approver: StaffMember | None = None
    ) -> None:
        if draft.cart.is_empty and discount is not None:
            raise CartError("empty_cart", "nothing to discount")
        if discount is not None:
            totals = draft.cart.totals()
            base = totals.after_line_discounts_fen
            self._check_discount(draft, discount.on(base), base, approver, "basket")
        draft.cart.basket_discount = discount

    def void_needs_approval(self, draft: SaleDraft) -> bool:
        """Whether voiding the whole cart needs a supervisor: its total is above
        ``void_approval_above_fen`` and the cashier is not one."""
        if draft.cashier.can_approve:
            return False
        return draft.cart.totals().total_fen > self.settings.void_approval_above_fen

    def record_void(
        self,
        draft: SaleDraft,
        *,
        line_no: int | None = None,
        approver: StaffMember | None = None,
    ) -> None:
        """Audits a line or whole-sale void before payment (nothing was sold): who, the
        amount, the lines voided and the approver.

        Raises:
            ApprovalRequired: ``needs_approval`` for a whole-cart void above
                ``void_approval_above_fen`` (params ``total_fen``, ``limit_fen``) without a
                supervisor; nothing is audited then.
        """
        totals = draft.cart.totals()
        approved = approver is not None and approver.can_approve
        if line_no is None and not approved and self.void_needs_approval(draft):
            raise ApprovalRequired(
                "needs_approval",
                f"voiding a cart of {totals.total_fen} fen needs a supervisor",
                total_fen=totals.total_fen,
                limit_fen=self.settings.void_approval_above_fen,
            )
        voided: list[dict[str, int | str]] = [
            {
                "line_no": pl.line.line_no,
                "sku": pl.line.item.sku,
                "qty_milli": pl.line.qty_milli,
                "amount_fen": pl.amount_fen,
            }
            for pl in totals.lines
            if line_no is None or pl.line.line_no == line_no
        ]
        with write_session(self._engine) as session:
            audit(
                session,
                self._clock.now(),
                draft.cashier.number,
                "void.line" if line_no is not None else "void.sale",
                line_no=line_no,
                lines=len(draft.cart.lines),
                total_fen=totals.total_fen,
                amount_fen=sum(
                    pl.amount_fen for pl in totals.lines if line_no in (None, pl.line.line_no)
                ),
                voided=voided,
                approver=None if approver is None else approver.number,
            )
            session.commit()

    def complete(
        self, draft: SaleDraft, payment: Payment, approver: StaffMember | None = None
    ) -> SaleRecord:
        """Commits the paid sale durably and returns it as recorded.

        The discounts are checked again on the final cart (:meth:`check_discounts`);
        ``approver`` is the supervisor who approved them at completion, if one had to.

        Raises:
            ApprovalRequired: ``discount_over_limit``: a discount of the final cart is over
                the limit without an approval; ask a supervisor and complete again.
            CheckoutError: ``empty_cart``, ``not_paid``, ``total_changed`` (the payment
                was for another total) or ``no_shift`` (the store sells only in an open
                shift, ``shift.required``, and none is open at this till).
        """
        if draft.cart.is_empty:
            raise CheckoutError("empty_cart", "nothing to sell")
        totals = draft.cart.totals()
        if payment.due_fen != totals.total_fen:
            raise CheckoutError("total_changed", "the cart changed after payment started")
        if not payment.is_complete:
            raise CheckoutError(
                "not_paid", "payment is not complete", remaining_fen=payment.remaining_fen
            )
        if totals.coupon_unmet:
            assert draft.cart.coupon is not None
            raise CheckoutError(
                "coupon_min_spend",
                "the sale no longer reaches the coupon's minimum spend",
                min=format_yuan(draft.cart.coupon.min_spend_fen),
            )
        self.check_discounts(draft, approver)
        used = draft.used_holds(payment)
        if used and (draft.member is None or draft.member.number is None):
            raise CheckoutError("no_member", "points, stored value and coupons need a member")
        unknown = [h for h in used if h not in draft.holds]
        if unknown:
            raise CheckoutError("unknown_hold", f"no hold {unknown[0]} for this sale")
        now = self._clock.now()
        ident = self._identity
        sale_id = uuid7()
        lines = tuple(
            LineRecord(
                line_no=i,
                item_id=pl.line.item.item_id,
                sku=pl.line.item.sku,
                barcode=pl.line.barcode,
                name=pl.line.item.name_zh,
                unit=pl.line.item.unit,
                qty_milli=pl.line.qty_milli,
                unit_price_fen=pl.line.unit_price_fen,
                price_version=pl.line.item.price_version,
                list_amount_fen=pl.list_amount_fen,
                discount_fen=pl.discount_fen,
                amount_fen=pl.amount_fen,
                options_json=_options_json(pl.line.options),
                menu_version=pl.line.menu_version,
                promotions_json=_promotions_json(pl.promotions, totals.promotions),
            )
            for i, pl in enumerate(totals.lines, start=1)
        )
        tenders = tuple(
            TenderRecord(t.kind, t.amount_fen, t.tendered_fen, t.reference) for t in payment.tenders
        )
        if not tenders:
            # A ¥0 sale (e.g. 100% discount) needs no payment, but every sale carries at
            # least one tender: a ¥0 cash tender, which moves no money in the shift.
            tenders = (TenderRecord(TenderKind.CASH, 0, 0, None),)
        reference = SaleRef(sale_id, ident.store_code, ident.terminal_id).sign(ident.receipt_secret)
        try:
            sale = self._commit(
                draft, payment, totals, now, sale_id, lines, tenders, reference, used
            )
        except ValidationError as exc:
            # The wire contract refuses the sale (HQ would reject it for the same reason):
            # the transaction rolled back, nothing of the sale exists.
            first = exc.errors()[0]
            detail = f"{'.'.join(str(x) for x in first['loc']) or 'sale'}: {first['msg']}"
            raise CheckoutError(
                "sale_invalid", f"sale refused by the protocol: {detail}", detail=detail
            ) from exc
        except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
            # Disk full, I/O error, locked database: the transaction rolled back, so nothing
            # of this sale exists; the cart and payment are untouched and can be retried.
            detail = str(getattr(exc, "orig", None) or exc)
            raise CheckoutError(
                "commit_failed", f"sale not saved: {detail}", detail=detail
            ) from exc
        if self._after_commit is not None:
            self._after_commit(sale)
        return sale

    def _commit(
        self,
        draft: SaleDraft,
        payment: Payment,
        totals: Totals,
        now: datetime,
        sale_id: UUID,
        lines: tuple[LineRecord, ...],
        tenders: tuple[TenderRecord, ...],
        reference: str,
        used: tuple[str, ...],
    ) -> SaleRecord:
        ident = self._identity
        placed = self._charges_placed(payment.paycode_orders)
        # On the connection's own sqlite3 handle (BEGIN IMMEDIATE, synchronous=FULL): the
        # ORM's unit of work for a sale's ~30 rows cost several times the durable commit.
        with raw_write_transaction(self._engine) as db:
            shift_id = shift_repo.open_shift_id_db(db, ident.terminal_id)
            if shift_id is None and setting_db(db, "shift.required", True):
                raise CheckoutError("no_shift", "open a shift before selling")
            receipt_no = f"{ident.terminal_id}-{next_counter_db(db, 'receipt'):06d}"
            member = (
                None
                if draft.member is None
                else _member_record(db, draft, totals, lines, tenders, used)
            )
            sale = SaleRecord(
                id=str(sale_id),
                receipt_no=receipt_no,
                store_code=ident.store_code,
                terminal_id=ident.terminal_id,
                cashier=draft.cashier.number,
                started_at=draft.started_at or now,
                completed_at=now,
                subtotal_fen=totals.subtotal_fen,
                discount_fen=totals.discount_fen,
                rounding_fen=totals.rounding_fen,
                total_fen=totals.total_fen,
                change_fen=payment.change_fen,
                reference=reference,
                lines=lines,
                tenders=tenders,
                member=member,
                shift_id=shift_id,
            )
            event = protocol.SaleCompleted(
                sale_id=sale_id,
                receipt_no=receipt_no,
                store=ident.store_code,
                terminal=ident.terminal_id,
                cashier=draft.cashier.number,
                started_at=sale.started_at,
                completed_at=now,
                lines=[protocol.SaleLine.model_validate(ln, from_attributes=True) for ln in lines],
                subtotal_fen=totals.subtotal_fen,
                discount_fen=totals.discount_fen,
                rounding_fen=totals.rounding_fen,
                total_fen=totals.total_fen,
                tenders=[_wire_tender(t, placed) for t in tenders],
                change_fen=payment.change_fen,
                member=None
                if member is None
                else protocol.SaleMember(
                    number=member.number,
                    signup_id=(
                        UUID(member.signup_id)
                        if member.number is None and member.signup_id
                        else None
                    ),
                    holds=[UUID(h) for h in used],
                ),
                approvals=list(draft.discount_approvals),
                pickup=None if draft.pickup is None else UUID(draft.pickup),
            )
            if draft.pickup is not None and not pickups.mark_collected_here(
                db, draft.pickup, str(sale_id)
            ):
                raise CheckoutError("pickup_collected", "this pick-up order was handed over")
            sales_repo.record_sale(
                db,
                sale,
                OutboxRecord(
                    event_id=str(uuid7()),
                    type=event.type,
                    occurred_at=now,
                    payload=event.model_dump_json(),
                ),
            )
            capture_holds(db, used, sale.id)
            if not payments_repo.claim(db, payment.paycode_orders, sale.id):
                # A paid charge is taken by one sale only (a second complete of the same
                # payment, or a charge that is not paid): nothing of this sale is written.
                raise CheckoutError("payment_claimed", "a payment-code tender is not available")
            print_jobs.queue_receipt(db, sale.id, now, draft.cashier.number)
            if draft.approvals:
                audit_db(
                    db,
                    now,
                    draft.cashier.number,
                    "sale.approved_discounts",
                    sale_id=str(sale_id),
                    approvals=draft.approvals,
                    approvers=[a.staff for a in draft.discount_approvals],
                    discount_fen=totals.discount_fen,
                    subtotal_fen=totals.subtotal_fen,
                )
            db.commit()
        return sale

    def _charges_placed(self, order_nos: tuple[str, ...]) -> dict[str, datetime]:
        """When each payment-code charge of the sale was placed with the gateway (its
        intent's time), for the sale's wire tenders: another till refunding the sale names
        the original charge by it."""
        if not order_nos:
            return {}
        with read_session(self._engine) as session:
            intents = [payments_repo.get_intent(session, o) for o in order_nos]
        return {i.order_no: i.created_at for i in intents if i is not None}

    def last_sale(self) -> SaleRecord | None:
        with read_session(self._engine) as session:
            return sales_repo.last_sale(session, self._identity.terminal_id)

    def outbox_depth(self) -> int:
        with read_session(self._engine) as session:
            return sales_repo.outbox_depth(session)


def _wire_tender(t: TenderRecord, placed: dict[str, datetime]) -> protocol.Tender:
    when = placed.get(t.reference) if t.kind.is_paycode and t.reference else None
    return protocol.Tender(
        kind=t.kind.value,
        amount_fen=t.amount_fen,
        tendered_fen=t.tendered_fen,
        reference=t.reference,
        placed_at=when,
    )


def _options_json(options: tuple[LineOption, ...]) -> str | None:
    """A line's options as the wire's ``SaleOption`` list (names as sold: Chinese)."""
    if not options:
        return None
    return json.dumps(
        [
            {"group": o.group, "code": o.code, "name": o.name_zh, "price_fen": o.price_fen}
            for o in options
        ],
        ensure_ascii=False,
    )


def loyalty_rules(db: sqlite3.Connection) -> LoyaltyRules:
    """The ``member.*`` settings in force for this store, as HQ published them; a bad
    setting is logged and its default used, as HQ does."""
    rows = db.execute("SELECT key, value FROM setting WHERE key LIKE 'member.%'")
    reading = read_rules((str(k), str(v)) for k, v in rows)
    for problem in reading.problems:
        log.warning("loyalty setting passed over: %s", problem)
    return reading.rules


def _member_record(
    db: sqlite3.Connection,
    draft: SaleDraft,
    totals: Totals,
    lines: tuple[LineRecord, ...],
    tenders: tuple[TenderRecord, ...],
    used: tuple[str, ...],
) -> SaleMemberRecord:
    """The member lines of the receipt: what the holds took, and the till's estimate of
    the points HQ will credit (same rules, same arithmetic)."""
    member = draft.member
    assert member is not None
    rules = loyalty_rules(db)
    skus = sorted({ln.sku for ln in lines})
    marks = ", ".join("?" * len(skus))
    categories = {
        str(r[0]): str(r[1] or "")
        for r in db.execute(f"SELECT sku, category FROM item WHERE sku IN ({marks})", skus)
    }
    earned = rules.earning(
        member.tier,
        ((ln.sku, categories.get(ln.sku, ""), ln.amount_fen) for ln in lines),
        totals.total_fen,
        ((t.kind, t.amount_fen) for t in tenders),
    ).points
    holds = [draft.holds[h] for h in used]
    points_used = sum(h.amount for h in holds if h.kind == TenderKind.POINTS.value)
    known = member.source in (MemberSource.HQ, MemberSource.CACHE, MemberSource.SIGNUP)
    points_now = min((h.points_after for h in holds), default=member.points)
    balance_now = min((h.balance_after_fen for h in holds), default=member.balance_fen)
    coupon = draft.cart.coupon if totals.coupon_fen else None
    return SaleMemberRecord(
        number=member.number,
        signup_id=member.signup_id,
        name=member.name,
        phone_masked=member.phone_masked,
        tier=member.tier,
        points_used=points_used,
        points_earned=earned,
        points_after=points_now + earned if known else None,
        balance_after_fen=balance_now if known else None,
        coupon_name=coupon.name if coupon is not None else None,
        coupon_fen=totals.coupon_fen,
        coupon_id=coupon.coupon_id if coupon is not None else None,
        coupon_valid_until=coupon.valid_until if coupon is not None else None,
    )
