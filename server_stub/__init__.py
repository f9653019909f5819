"""ChainPOS HQ: the chain's source of truth, with a change feed and live push.

Run it with ``chainpos-hq serve``; build it in code with :func:`server_stub.app.create_app`.
The wire contract is :mod:`sync_client.contract.protocol`; nothing here imports the terminal app.
"""
