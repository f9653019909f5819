"""The real adapters (WeChat Pay v2 client, python-alipay-sdk, UnionPay acp client) against
the gateway simulator running as its own process: every wire format signed both ways,
every test code, idempotent pays and refunds, reversal, and the daily bills.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pos_app.services.gateways import gateway_from_settings
from pos_app.services.gateways.wechat import WeChatPayGateway
from pos_app.services.payments import GatewayStatus, GatewayUnreachable, RoutingGateway
from server_stub.reconcile import parse_statement
from tests.paysim import (
    ALI_PASSWORD,
    ALI_PAYS,
    UP_PASSWORD,
    UP_PAYS,
    WX_DECLINED,
    WX_PASSWORD,
    WX_PAYS,
    WX_SLOW,
    WX_USED,
    PaysimProcess,
    provider_entries,
)

pytestmark = pytest.mark.slow  # starts the simulator as a process


_open: list[RoutingGateway] = []


@pytest.fixture(autouse=True)
def _close_gateways() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def _gateway(sim: PaysimProcess, store: str = "S001", url: str | None = None) -> RoutingGateway:
    providers, secrets = provider_entries(
        url or sim.url, sim.data_dir, store, tls_url=url or sim.tls_url
    )
    gateway = gateway_from_settings(
        {"payment.providers": providers, "payment.simulator": True},
        store,
        secrets=lambda _store, wallet: secrets.get(wallet),
    )
    assert isinstance(gateway, RoutingGateway)
    _open.append(gateway)
    return gateway


def _order() -> str:
    return f"S001-T01-P{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("wechat_pay", WX_PAYS[:-4] + "7001"),
        ("alipay", ALI_PAYS[:-4] + "7002"),
        ("unionpay", UP_PAYS[:-4] + "7003"),
    ],
)
def test_a_code_pays_once_and_a_retry_of_the_order_number_charges_nothing_more(
    paysim: PaysimProcess, kind: str, code: str
):
    gateway = _gateway(paysim)
    order, at = _order(), datetime.now(UTC)
    first = gateway.pay(order, kind, 1234, code, "ChainPOS", placed_at=at)
    again = gateway.pay(order, kind, 1234, code, "ChainPOS", placed_at=at)
    assert first.status is GatewayStatus.PAID and first.provider_ref
    assert again.status is GatewayStatus.PAID and again.provider_ref == first.provider_ref
    assert gateway.query(order, kind, placed_at=at).status is GatewayStatus.PAID
    [held] = paysim.orders(order)
    assert (held["amount_fen"], held["state"], held["pay_calls"]) == (1234, "paid", 2)
    # The same code for another order: already used.
    other = gateway.pay(_order(), kind, 100, code, "ChainPOS")
    assert other.status is GatewayStatus.FAILED


@pytest.mark.parametrize(
    ("kind", "code"),
    [("wechat_pay", WX_PASSWORD), ("alipay", ALI_PASSWORD), ("unionpay", UP_PASSWORD)],
)
def test_a_password_keeps_the_charge_waiting_until_the_customer_types_it(
    paysim: PaysimProcess, kind: str, code: str
):
    gateway = _gateway(paysim)
    order, at = _order(), datetime.now(UTC)
    first = gateway.pay(order, kind, 500, code, "ChainPOS", placed_at=at)
    assert first.status is GatewayStatus.USER_PAYING
    assert gateway.query(order, kind, placed_at=at).status is GatewayStatus.USER_PAYING
    assert gateway.query(order, kind, placed_at=at).status is GatewayStatus.PAID


@pytest.mark.parametrize("kind", ["wechat_pay", "alipay", "unionpay"])
def test_a_reversed_order_is_paid_back_and_a_refund_is_made_once(paysim: PaysimProcess, kind: str):
    gateway = _gateway(paysim)
    code = {"wechat_pay": WX_PAYS, "alipay": ALI_PAYS, "unionpay": UP_PAYS}[kind]
    code = code[:-4] + str(1000 + len(kind) * 7 + datetime.now(UTC).microsecond % 900)
    order, at = _order(), datetime.now(UTC)
    paid = gateway.pay(order, kind, 2000, code, "ChainPOS", placed_at=at)
    assert paid.status is GatewayStatus.PAID
    refund_no = f"R{uuid.uuid4().hex[:12]}"
    assert gateway.refund(refund_no, order, kind, 500, 2000, placed_at=at).refunded
    assert gateway.refund(refund_no, order, kind, 500, 2000, placed_at=at).refunded
    assert not gateway.refund(
        f"R{uuid.uuid4().hex[:12]}", order, kind, 1600, 2000, placed_at=at
    ).refunded
    [held] = paysim.orders(order)
    assert held["refunds"] == {refund_no: 500}
    assert gateway.reverse(order, kind, placed_at=at).status is GatewayStatus.REVERSED
    [held] = paysim.orders(order)
    assert held["state"] == "reversed"
    assert sum(held["refunds"].values()) == 2000  # type: ignore[union-attr]


def test_declined_and_used_codes_say_which(paysim: PaysimProcess):
    gateway = _gateway(paysim)
    declined = gateway.pay(_order(), "wechat_pay", 100, WX_DECLINED, "ChainPOS")
    used = gateway.pay(_order(), "wechat_pay", 100, WX_USED, "ChainPOS")
    assert (declined.status, declined.code) == (GatewayStatus.FAILED, "paycode_declined")
    assert (used.status, used.code) == (GatewayStatus.FAILED, "paycode_used")


def test_a_lost_answer_is_unknown_and_the_query_finds_the_charge(paysim: PaysimProcess):
    gateway = _gateway(paysim)  # 1.5 s timeout; the simulator holds the answer 3 s
    order = _order()
    assert gateway.pay(order, "wechat_pay", 300, WX_SLOW, "ChainPOS").status is (
        GatewayStatus.UNKNOWN
    )
    assert gateway.query(order, "wechat_pay").status is GatewayStatus.PAID


def test_a_request_signed_with_the_wrong_key_is_refused(paysim: PaysimProcess):
    providers, _secrets = provider_entries(paysim.url, paysim.data_dir, "S001")
    wx = next(e for e in json.loads(providers) if e["wallet"] == "wechat_pay")
    forged = WeChatPayGateway(paysim.url, wx["merchant_id"], wx["app_id"], "0" * 32)
    order = _order()
    try:
        result = forged.pay(order, "wechat_pay", 100, WX_PAYS[:-4] + "8111", "ChainPOS")
    finally:
        forged.close()
    assert result.status is GatewayStatus.FAILED
    assert paysim.orders(order) == []


def test_an_unreachable_gateway_is_said_so_before_anything_is_charged(paysim: PaysimProcess):
    gateway = _gateway(paysim, url="http://127.0.0.1:9")
    for kind, code in (("wechat_pay", WX_PAYS), ("alipay", ALI_PAYS), ("unionpay", UP_PAYS)):
        with pytest.raises(GatewayUnreachable):
            gateway.pay(_order(), kind, 100, code, "ChainPOS")


def test_a_simulator_address_is_refused_unless_the_store_says_simulator(paysim: PaysimProcess):
    providers, secrets = provider_entries(paysim.url, paysim.data_dir, "S001")
    lookup = lambda _s, w: secrets.get(w)  # noqa: E731
    assert gateway_from_settings({"payment.providers": providers}, "S001", lookup) is None
    real = json.dumps(
        [
            {
                "wallet": "wechat_pay",
                "base_url": "https://api.mch.weixin.qq.com",
                "merchant_id": "1900000109",
                "app_id": "wx0",
            }
        ]
    )
    # Simulator mode never sends a code to a real provider either.
    assert (
        gateway_from_settings(
            {"payment.providers": real, "payment.simulator": True}, "S001", lookup
        )
        is None
    )


def test_the_daily_bills_list_the_day_s_payments_and_refunds_as_hq_reads_them(
    paysim: PaysimProcess,
):
    gateway = _gateway(paysim)
    order = _order()
    result = gateway.pay(order, "alipay", 4321, ALI_PAYS[:-4] + "6543", "ChainPOS")
    assert result.status is GatewayStatus.PAID
    assert gateway.refund("RB1" + order[-6:], order, "alipay", 321, 4321).refunded
    providers, _ = provider_entries(paysim.url, paysim.data_dir, "S001")
    app_id = next(e for e in json.loads(providers) if e["wallet"] == "alipay")["app_id"]
    day = datetime.now(UTC).date().isoformat()
    text = httpx.get(f"{paysim.url}/bills/alipay/{app_id}/{day}", timeout=5).text
    refund_no = "RB1" + order[-6:]
    mine = [e for e in parse_statement("alipay", text) if e.key in (order, refund_no)]
    assert sorted((e.key, e.refund, e.amount_fen) for e in mine) == sorted(
        [(order, False, 4321), (refund_no, True, 321)]
    )


@pytest.mark.parametrize("kind", ["wechat_pay", "alipay", "unionpay"])
def test_concurrent_retries_of_one_order_number_charge_once(paysim: PaysimProcess, kind: str):
    """GIVEN one order number
    WHEN eight threads send its pay at the same time (a till retrying over a bad link)
    THEN every answer names the same paid transaction and the day's bill books it once."""
    gateway = _gateway(paysim)
    order = _order()
    head, length = {"wechat_pay": ("13", 18), "alipay": ("28", 18), "unionpay": ("62", 19)}[kind]
    code = head + str(uuid.uuid4().int)[: length - 6] + "5555"
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda _: gateway.pay(order, kind, 777, code, "ChainPOS"), range(8))
        )
    assert {r.status for r in results} == {GatewayStatus.PAID}
    assert len({r.provider_ref for r in results}) == 1
    [held] = paysim.orders(order)
    assert (held["pay_calls"], held["amount_fen"]) == (8, 777)
    providers, _ = provider_entries(paysim.url, paysim.data_dir, "S001")
    entry = next(e for e in json.loads(providers) if e["wallet"] == kind)
    merchant = entry["app_id"] if kind == "alipay" else entry["merchant_id"]
    day = datetime.now(UTC).date().isoformat()
    text = httpx.get(f"{paysim.url}/bills/{kind}/{merchant}/{day}", timeout=5).text
    provider = {"wechat_pay": "wechat", "alipay": "alipay", "unionpay": "unionpay"}[kind]
    assert [e.amount_fen for e in parse_statement(provider, text) if e.key == order] == [777]


def test_a_unionpay_order_is_found_by_the_time_its_consume_was_sent_with(
    paysim: PaysimProcess,
):
    """GIVEN a UnionPay consume sent with the intent's time
    WHEN it is asked about by another adapter (the till restarted) naming that time
    THEN it is found; named with another time it is not (as at UnionPay)."""
    order, at = _order(), datetime.now(UTC) - timedelta(minutes=3)
    paid = _gateway(paysim).pay(
        order, "unionpay", 880, UP_PAYS[:-4] + "6161", "ChainPOS", placed_at=at
    )
    assert paid.status is GatewayStatus.PAID
    after_restart = _gateway(paysim)
    found = after_restart.query(order, "unionpay", placed_at=at)
    assert (found.status, found.provider_ref) == (GatewayStatus.PAID, paid.provider_ref)
    wrong = after_restart.query(order, "unionpay", placed_at=datetime.now(UTC))
    assert (wrong.status, wrong.reason) == (GatewayStatus.FAILED, "not_found")


def test_a_unionpay_cancel_of_an_order_not_seen_yet_refuses_its_late_consume(
    paysim: PaysimProcess,
):
    """GIVEN a consume whose request has not reached UnionPay yet (the till gave up on it)
    WHEN the till cancels the order and the consume arrives afterwards
    THEN the cancel was sent and recorded, and the late consume charges nothing."""
    gateway = _gateway(paysim)
    order, at = _order(), datetime.now(UTC)
    reversed_ = gateway.reverse(order, "unionpay", placed_at=at, amount_fen=990)
    assert reversed_.status is GatewayStatus.REVERSED
    [held] = paysim.orders(order)
    assert (held["state"], held["reverse_calls"]) == ("reversed", 1)
    late = gateway.pay(order, "unionpay", 990, UP_PAYS[:-4] + "6262", "ChainPOS", placed_at=at)
    assert late.status is not GatewayStatus.PAID
    [held] = paysim.orders(order)
    assert (held["state"], held["amount_fen"], held["paid_at"]) == ("reversed", 0, "")
    assert gateway.query(order, "unionpay", placed_at=at).status is not GatewayStatus.PAID


def _wechat_without_certificate(sim: PaysimProcess, *, over_tls: bool) -> WeChatPayGateway:
    providers, secrets = provider_entries(sim.url, sim.data_dir, "S001", tls_url=sim.tls_url)
    wx = next(e for e in json.loads(providers) if e["wallet"] == "wechat_pay")
    return WeChatPayGateway(
        wx["base_url"] if over_tls else sim.url,
        wx["merchant_id"],
        wx["app_id"],
        secrets["wechat_pay"]["api_key"],
        ca_pem=wx["ca_cert"],
    )


@pytest.mark.parametrize("over_tls", [True, False], ids=["https", "http"])
def test_wechat_reverse_and_refund_need_the_merchant_s_client_certificate(
    paysim: PaysimProcess, over_tls: bool
):
    """GIVEN a WeChat Pay merchant registered with an API client certificate, and a paid
    order
    WHEN its refund and reverse are sent without the certificate (over HTTPS, or plain HTTP)
    THEN the simulator refuses both and the money stays where it is; sent by the adapter
    holding the certificate from the keyring, both are accepted."""
    with_cert = _gateway(paysim)
    order, at = _order(), datetime.now(UTC)
    code = WX_PAYS[:-4] + str(6300 + (1 if over_tls else 2))
    assert with_cert.pay(order, "wechat_pay", 1000, code, "ChainPOS", placed_at=at).status is (
        GatewayStatus.PAID
    )
    bare = _wechat_without_certificate(paysim, over_tls=over_tls)
    try:
        refused_refund = bare.refund("RNOCERT" + order[-6:], order, "wechat_pay", 300, 1000)
        refused_reverse = bare.reverse(order, "wechat_pay")
        # Paying and asking need no certificate.
        assert bare.query(order, "wechat_pay").status is GatewayStatus.PAID
    finally:
        bare.close()
    assert not refused_refund.refunded and "证书" in refused_refund.reason
    assert refused_reverse.status is GatewayStatus.UNKNOWN
    [held] = paysim.orders(order)
    assert (held["state"], held["refunds"], held["reverse_calls"]) == ("paid", {}, 0)

    refund_no = "RCERT" + order[-6:]
    assert with_cert.refund(refund_no, order, "wechat_pay", 300, 1000, placed_at=at).refunded
    assert with_cert.reverse(order, "wechat_pay", placed_at=at).status is GatewayStatus.REVERSED
    [held] = paysim.orders(order)
    assert held["state"] == "reversed" and held["refunds"][refund_no] == 300  # type: ignore[index]
    assert sum(held["refunds"].values()) == 1000  # type: ignore[union-attr]


def test_the_client_certificate_s_files_are_gone_once_loaded(tmp_path, monkeypatch):
    """The certificate and key from the keyring are written only to load them into the TLS
    context: private to this user, and removed right after."""
    import os
    import stat
    import tempfile

    from pos_app.services.gateways.wechat import client_tls_context
    from server_stub.paysim.tls import ca_pem, issue_client_cert

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[tuple[int, list[tuple[str, int]]]] = []
    real = __import__("ssl").SSLContext.load_cert_chain

    def spy(self, certfile, keyfile=None, password=None):  # type: ignore[no-untyped-def]
        folder = os.path.dirname(certfile)
        files = [
            (n, stat.S_IMODE(os.stat(os.path.join(folder, n)).st_mode)) for n in os.listdir(folder)
        ]
        seen.append((stat.S_IMODE(os.stat(folder).st_mode), sorted(files)))
        return real(self, certfile, keyfile, password)

    monkeypatch.setattr(__import__("ssl").SSLContext, "load_cert_chain", spy)
    cert, key = issue_client_cert(tmp_path / "sim", "1900000109")
    client_tls_context(cert, key, ca_pem(tmp_path / "sim"))
    assert seen == [(0o700, [("apiclient_cert.pem", 0o600), ("apiclient_key.pem", 0o600)])]
    assert [p.name for p in tmp_path.iterdir()] == ["sim"]


def test_paysim_merchant_prints_the_settings_and_keyring_entries_a_store_needs(
    tmp_path, capsys: pytest.CaptureFixture[str]
):
    from server_stub.cli import main

    assert (
        main(["paysim-merchant", "--data", str(tmp_path), "--url", "http://127.0.0.1:8780", "S009"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    providers = json.loads(out["payment.providers"])
    assert [p["wallet"] for p in providers] == ["wechat_pay", "alipay", "unionpay"]
    # WeChat Pay on the HTTPS port (its reverse and refund need the client certificate).
    assert {p["wallet"]: p["base_url"] for p in providers} == {
        "wechat_pay": "https://127.0.0.1:8781",
        "alipay": "http://127.0.0.1:8780",
        "unionpay": "http://127.0.0.1:8780",
    }
    assert "BEGIN CERTIFICATE" in providers[0]["ca_cert"]
    assert out["payment.simulator"] is True
    assert sorted(out["keyring"]) == [
        "chainpos-payments S009:alipay",
        "chainpos-payments S009:unionpay",
        "chainpos-payments S009:wechat_pay",
    ]
    assert "PRIVATE KEY" in out["keyring"]["chainpos-payments S009:alipay"]["app_private_key"]
    wechat = out["keyring"]["chainpos-payments S009:wechat_pay"]
    assert "BEGIN CERTIFICATE" in wechat["api_client_cert"]
    assert "PRIVATE KEY" in wechat["api_client_key"]
