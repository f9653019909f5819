"""The chain demo takes payment codes: it starts the gateway simulator beside HQ and both
demo stores charge through the real adapters against it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pos_app import demo

pytestmark = pytest.mark.slow  # an embedded HQ and the simulator, two enrolled tills


def test_both_demo_stores_take_payment_codes_through_the_simulator(tmp_path: Path):
    """GIVEN the chain demo started in an empty folder
    WHEN each store's till charges a WeChat Pay and an Alipay code
    THEN each is paid by the simulator under that store's own merchant, and a second start
    of the demo (the simulator on a new port) still charges."""
    chain = demo.prepare(tmp_path)
    try:
        assert chain.paysim is not None
        for i, terminal in enumerate(chain.terminals):
            assert terminal.payments is not None
            wx = terminal.payments.charge(
                f"1345678901{i}345{i}789", 1200, draft_id="d", cashier="1001"
            )
            ali = terminal.payments.charge(
                f"28123456789{i}12345{i}", 800, draft_id="d", cashier="1001"
            )
            assert (wx.state, wx.kind, ali.state, ali.kind) == (
                "paid",
                "wechat_pay",
                "paid",
                "alipay",
            )
        orders = httpx.get(f"{chain.paysim.url}/_sim/orders/S001-T01-P000001").json()
        assert [(o["wallet"], o["amount_fen"]) for o in orders] == [("wechat_pay", 1200)]
    finally:
        chain.close()
    again = demo.prepare(tmp_path)
    try:
        assert again.terminals[0].payments is not None
        paid = again.terminals[0].payments.charge(
            "134567890177757779", 100, draft_id="d", cashier="1001"
        )
        assert paid.state == "paid"
    finally:
        again.close()
