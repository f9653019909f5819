"""The terminal's link to HQ. The wire contract is :mod:`sync_client.protocol`."""
