"""A payment-code tender refunded at another store's till: the sale's tender carries the
charge's time to HQ, HQ gives it back with the sale, and S002's till names S001's charge
with its total and time, through the real adapters and the gateway simulator as a
process, two tills enrolled at a real HQ (SQLite, and PostgreSQL when
``CHAINPOS_TEST_PG_URL`` is set).

Both stores take payment codes on one merchant account of the chain (a refund names the
order at the merchant that charged it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pos_app.domain.tender import Payment, TenderKind
from pos_app.headless import HeadlessTerminal
from pos_app.localdb import payments as payments_repo
from pos_app.localdb.engine import open_database, read_session, write_session
from pos_app.localdb.sales import SaleRecord
from pos_app.localdb.seed import load_demo_json
from pos_app.localdb.store import set_setting
from pos_app.services.enrollment import EnrollmentService, EnrollTicket
from pos_app.services.gateways import save_keyring_secret
from pos_app.services.gateways.unionpay import txn_time
from pos_app.services.payments import PaymentsError, PayOutcome
from pos_app.services.returns import ReturnChoice, ReturnService
from server_stub import operations
from server_stub.demo import seed_chain
from server_stub.embedded import EmbeddedHQ
from server_stub.live import LiveSettings
from server_stub.settings import Settings
from sync_client import CredentialStore
from tests.paysim import UP_PAYS, WX_PAYS, MemoryKeyring, PaysimProcess, provider_entries
from tests.server.support import fresh_database
from tests.support import sell_without_shifts, wait_until
from tests.sync.conftest import BACKENDS, FAST

pytestmark = pytest.mark.slow  # a real HQ, two enrolled tills and the simulator as a process

THERMOS = "6954321100519"  # 保温杯 500ml ¥89.00
T = 10.0  # seconds to wait for a till's call to HQ


@pytest.fixture(params=BACKENDS)
def hq(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmbeddedHQ]:
    with fresh_database(request.param, tmp_path) as url:
        server = EmbeddedHQ(
            Settings(db_url=url, port=0, live=LiveSettings(heartbeat_s=0.5))
        ).start()
        seed_chain(server.db, load_demo_json())
        sell_without_shifts(server.db)
        yield server
        server.stop()


Tills = tuple[HeadlessTerminal, HeadlessTerminal, dict[str, str]]


@pytest.fixture
def tills(
    hq: EmbeddedHQ, tmp_path: Path, paysim: PaysimProcess, memory_keyring: MemoryKeyring
) -> Iterator[Tills]:
    """S001's and S002's tills, enrolled and online, both set up (settings and keyring) for
    the chain's merchant account at the simulator; with the merchant of each wallet."""
    account = f"CHAIN#{uuid.uuid4().hex[:8]}"
    providers, secrets = provider_entries(
        paysim.url, paysim.data_dir, account, tls_url=paysim.tls_url
    )
    opened = []
    for store in ("S001", "S002"):
        for wallet, secret in secrets.items():
            save_keyring_secret(store, wallet, secret)
        data = tmp_path / store.lower()
        data.mkdir()
        engine = open_database(data / "terminal.db")
        try:
            code = operations.create_enroll_code(hq.db, store).code
            EnrollmentService(engine, CredentialStore(data, use_keyring=False)).enroll(
                EnrollTicket(hq.url, store, code), "1号机"
            )
            with write_session(engine) as session:
                set_setting(session, "payment.providers", providers)
                set_setting(session, "payment.simulator", True)
                session.commit()
        finally:
            engine.dispose()
        till = HeadlessTerminal.open(data, sync_config=FAST).start()
        opened.append(till)
    try:
        for till in opened:
            wait_until(lambda t=till: t.members.online, what=f"{till.store} online")  # type: ignore[misc]
        merchants = {
            e["wallet"]: e["app_id"] if e["wallet"] == "alipay" else e["merchant_id"]
            for e in json.loads(providers)
        }
        yield opened[0], opened[1], merchants
    finally:
        for till in opened:
            till.close()


def _fresh(code: str) -> str:
    """A test code that pays at once, not used before in this simulator."""
    return code[:-4] + str(1000 + uuid.uuid4().int % 9000)


def sell_two_thermoses(till: HeadlessTerminal, code: str) -> tuple[SaleRecord, PayOutcome]:
    """Two thermoses (¥178.00) paid with one payment code."""
    checkout = till.terminal.checkout
    cashier = till.cashier()
    draft = checkout.new_draft(cashier)
    checkout.scan(draft, THERMOS)
    checkout.scan(draft, THERMOS)
    due = draft.cart.totals().total_fen
    assert due == 17_800
    outcome = till.terminal.payments.charge(
        code, due, draft_id=draft.draft_id, cashier=cashier.number
    )
    assert outcome.paid, outcome
    payment = Payment(due)
    payment.add_paycode(TenderKind(outcome.kind), outcome.amount_fen, outcome.order_no)
    return checkout.complete(draft, payment), outcome


def _placed_at(till: HeadlessTerminal, order_no: str) -> datetime:
    with read_session(till.terminal.engine) as session:
        intent = payments_repo.get_intent(session, order_no)
    assert intent is not None
    return intent.created_at


def _refunds(sim: PaysimProcess, order_no: str, merchant: str) -> dict[str, int]:
    [held] = sim.orders(order_no, merchant)
    refunds = held["refunds"]
    assert isinstance(refunds, dict)
    return refunds


@pytest.mark.parametrize(("kind", "code"), [("unionpay", UP_PAYS), ("wechat_pay", WX_PAYS)])
def test_a_payment_code_tender_goes_back_to_the_wallet_from_another_store_s_till(
    tills: Tills, paysim: PaysimProcess, kind: str, code: str
) -> None:
    """GIVEN two thermoses (¥178.00) paid at S001 with one payment code
    WHEN the customer brings one back to S002, whose till holds no intent of the charge
    THEN HQ's look-up gives S002 the tender with the charge's time; the return refunds
    ¥89.00 to the same wallet (the refund named the charge's ¥178.00 total and its time,
    as the provider checks), once even when the refund is sent again; without the total
    and time (a sale from an older till) the provider refuses it plainly; and the second
    thermos, returned at S001 itself, is refunded from its own intent."""
    s001, s002, merchants = tills
    sale, paid = sell_two_thermoses(s001, _fresh(code))
    placed = _placed_at(s001, paid.order_no)
    # UnionPay's times are to the second: a refund sent in the charge's second could name
    # it by chance with the time it is sent at.
    wait_until(lambda: txn_time(datetime.now(UTC)) != txn_time(placed), what="a new second")
    wait_until(lambda: s001.outbox() == (0, 0), what="the sale at HQ")

    returns = s002.terminal.returns
    assert isinstance(returns, ReturnService)
    [found] = returns.find_by_receipt(sale.receipt_no, "S001").result(T)
    assert not found.local
    [tender] = found.sale.tenders
    assert (tender.kind, tender.amount_fen, tender.reference) == (kind, 17_800, paid.order_no)
    assert tender.placed_at == placed
    draft = returns.new_draft(s002.cashier(), found)
    draft.choices[1] = ReturnChoice(1000, "changed_mind")
    assert returns.authorise(draft).result(T) == "hq"
    back = returns.commit(draft)
    assert back.refund_fen == 8900
    assert [(r.kind, r.amount_fen) for r in back.refunds] == [(kind, 8900)]
    refunds = _refunds(paysim, paid.order_no, merchants[kind])
    assert list(refunds.values()) == [8900]

    # The same refund sent again (a retry after a lost answer): refunded once.
    payments = s002.terminal.payments
    payments.refund(back.id, kind, 8900, paid.order_no, total_fen=17_800, placed_at=placed)
    assert _refunds(paysim, paid.order_no, merchants[kind]) == refunds

    # Without the charge's total and time the provider cannot take it: a plain refusal.
    with pytest.raises(PaymentsError) as refused:
        payments.refund(f"OLD{uuid.uuid4().hex[:8]}", kind, 100, paid.order_no)
    assert refused.value.code == "refund_failed"
    assert _refunds(paysim, paid.order_no, merchants[kind]) == refunds

    # The other thermos back at S001, which took the payment: its own intent names it.
    mine = s001.terminal.returns
    assert isinstance(mine, ReturnService)
    [local] = mine.find_by_receipt(sale.receipt_no, "S001").result(T)
    assert local.local
    draft = mine.new_draft(s001.cashier(), local)
    draft.choices[1] = ReturnChoice(1000, "changed_mind")
    assert mine.authorise(draft).result(T) == "hq"
    assert mine.commit(draft).refund_fen == 8900
    after = _refunds(paysim, paid.order_no, merchants[kind])
    assert sorted(after.values()) == [8900, 8900]


def test_a_payment_code_tender_s_time_is_kept_at_hq_and_only_for_payment_codes() -> None:
    """The wire tender takes a charge time for a payment code only, aware."""
    from pydantic import ValidationError

    from sync_client.contract.protocol import Tender

    at = datetime(2026, 12, 5, 1, 2, 3, tzinfo=UTC)
    assert Tender(kind="alipay", amount_fen=100, reference="S001-T01-P1", placed_at=at)
    assert Tender(kind="alipay", amount_fen=100).placed_at is None
    with pytest.raises(ValidationError):
        Tender(kind="cash", amount_fen=100, placed_at=at)
    with pytest.raises(ValidationError):
        Tender(kind="unionpay", amount_fen=100, placed_at=datetime(2026, 12, 5))
