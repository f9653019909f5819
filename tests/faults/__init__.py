"""Fault injection for sync tests: :class:`~tests.faults.proxy.FaultProxy` sits between
terminals and HQ on loopback and drops, delays, cuts and partitions their connections."""

from tests.faults.proxy import FaultProxy, ProxyStats

__all__ = ["FaultProxy", "ProxyStats"]
