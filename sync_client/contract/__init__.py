"""What the till and HQ must agree on, defined once and imported by both sides.

Each module is pure (standard library, plus pydantic for the wire models in
:mod:`~sync_client.contract.protocol`) and imports nothing else from this project, so
``pos_app`` and ``server_stub`` can both depend on it without depending on each other.
Nothing is imported here eagerly: ``import sync_client.contract.membercode`` loads the
member-code rules alone, without pydantic or the network client.

- :mod:`~sync_client.contract.protocol`: the wire models and the protocol version.
- :mod:`~sync_client.contract.membercode`: signed member and card codes, phone numbers.
"""
