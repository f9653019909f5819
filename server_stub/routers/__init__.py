"""HQ's HTTP and WebSocket routes, one :class:`fastapi.APIRouter` per audience.

* :mod:`.ops` — health, clock and metrics (no token);
* :mod:`.terminals` — enrolment, push, pull, snapshot, stock look-up and the live
  channel (device token);
* :mod:`.terminal_members` — identify, sign-up and holds at the till (device token);
* :mod:`.shifts` — the store's day close (device token);
* :mod:`.admin` — stores, settings, staff, devices, catalogue, prices, stock (admin token);
* :mod:`.terminal_stock` — transfer proposals and transfers at the till (device token);
* :mod:`.admin_stock` — safety stock, stock alerts, proposals, transfers, counts (admin
  token);
* :mod:`.admin_members` — members, codes, coupons, the hold sweep and the audit log
  (admin token).

Routes are plain module-level functions; what they share is in :mod:`server_stub.deps`.
"""
