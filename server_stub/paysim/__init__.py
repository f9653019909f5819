"""The payment gateway simulator: a separate local service that speaks the providers' wire
formats for payment-code (付款码, "micropay") payments, for the demo and the tests; never a
store's gateway.

* :mod:`.app`: the FastAPI app -- WeChat Pay API v2 micropay (signed XML), Alipay
  ``alipay.trade.*`` (RSA2), UnionPay's QR-code consume (被扫) on the acp 5.1.0 back
  channel (RSA-SHA256) -- with query, reverse/cancel and refund.
* :mod:`.ledger`: the orders and what each test code does.
* :mod:`.merchants`: the simulator's own keys and the merchants it knows.
* :mod:`.bills`: the providers' daily statements in their bill formats.

Run it with ``python -m server_stub.paysim`` or ``chainpos-hq paysim``.
"""
