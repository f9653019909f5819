"""HQ's route table: every HTTP operation and the live WebSocket, at the paths and with
the methods terminals, the CLI's peers and HQ staff tools call. Moving a route between
routers must never move, drop or add one."""

from __future__ import annotations

from pathlib import Path

from server_stub.app import create_app
from server_stub.db import Database
from server_stub.member_keys import MemberKeys
from server_stub.settings import Settings

ROUTES = {
    ("GET", "/healthz"),
    ("GET", "/v1/time"),
    ("GET", "/metrics"),
    ("POST", "/v1/devices/enroll"),
    ("POST", "/v1/sync/push"),
    ("GET", "/v1/sync/pull"),
    ("POST", "/v1/sync/problems"),
    ("GET", "/v1/sync/snapshot"),
    ("GET", "/v1/sync/snapshot/stock"),
    ("GET", "/v1/stock/{sku}"),
    ("POST", "/v1/members/identify"),
    ("POST", "/v1/members"),
    ("POST", "/v1/members/holds"),
    ("GET", "/v1/members/holds/{hold_id}"),
    ("POST", "/v1/members/holds/{hold_id}/release"),
    ("POST", "/v1/returns/lookup"),
    ("POST", "/v1/returns/authorisations"),
    ("GET", "/v1/returns/authorisations/{auth_id}"),
    ("POST", "/v1/returns/authorisations/{auth_id}/release"),
    ("POST", "/v1/stores/{store}/day-close"),
    ("POST", "/v1/admin/stores"),
    ("GET", "/v1/admin/stores"),
    ("PUT", "/v1/admin/config"),
    ("POST", "/v1/admin/staff"),
    ("GET", "/v1/admin/staff"),
    ("PATCH", "/v1/admin/staff/{number}"),
    ("POST", "/v1/admin/enroll-codes"),
    ("GET", "/v1/admin/devices"),
    ("POST", "/v1/admin/devices/{device_id}/revoke"),
    ("POST", "/v1/admin/catalog/items"),
    ("POST", "/v1/admin/catalog/import"),
    ("POST", "/v1/admin/prices"),
    ("POST", "/v1/admin/stock/receive"),
    ("POST", "/v1/admin/stock/adjust"),
    ("POST", "/v1/admin/menus"),
    ("GET", "/v1/admin/menus/current"),
    ("GET", "/v1/admin/sold-out"),
    ("GET", "/v1/admin/reports/stale-prices"),
    ("POST", "/v1/admin/members"),
    ("POST", "/v1/admin/members/search"),
    ("GET", "/v1/admin/members/{number}"),
    ("POST", "/v1/admin/members/{number}/adjust"),
    ("POST", "/v1/admin/members/{number}/code"),
    ("POST", "/v1/admin/members/{number}/coupons"),
    ("POST", "/v1/admin/holds/sweep"),
    ("GET", "/v1/admin/audit"),
    ("GET", "/v1/stock/proposals"),
    ("GET", "/v1/transfers"),
    ("GET", "/v1/transfers/{transfer_id}"),
    ("PATCH", "/v1/admin/stores/{code}"),
    ("PUT", "/v1/admin/stock/safety"),
    ("GET", "/v1/admin/stock/safety"),
    ("GET", "/v1/admin/stock/alerts"),
    ("POST", "/v1/admin/stock/alerts/{alert_id}/resolve"),
    ("GET", "/v1/admin/stock/proposals"),
    ("GET", "/v1/admin/transfers"),
    ("GET", "/v1/admin/transfers/{transfer_id}"),
    ("GET", "/v1/admin/stock/counts"),
    ("GET", "/v1/admin/stock/counts/{count_id}"),
    ("POST", "/v1/channel/reservations"),
    ("GET", "/v1/channel/reservations/{order_id}"),
    ("POST", "/v1/channel/reservations/{order_id}/confirm"),
    ("POST", "/v1/channel/reservations/{order_id}/cancel"),
    ("POST", "/v1/pickups/{reservation_id}/ready"),
}
"""Every documented HTTP operation, as (method, path)."""


def _app(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'hq.sqlite3'}"
    return create_app(Settings(db_url=url, member_keys=MemberKeys.generate()), Database(url))


def test_the_route_table_is_the_documented_one(tmp_path: Path):
    doc = _app(tmp_path).openapi()
    found = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert found == ROUTES


def test_every_admin_route_asks_for_the_admin_token_and_terminal_routes_for_a_device(
    tmp_path: Path,
):
    doc = _app(tmp_path).openapi()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            schemes = {name for need in op.get("security", []) for name in need}
            if path.startswith("/v1/admin/"):
                assert schemes == {"adminToken"}, (method, path)
            elif path.startswith("/v1/channel/"):
                assert schemes == {"channelToken"}, (method, path)
            elif path in {"/healthz", "/metrics", "/v1/time", "/v1/devices/enroll"}:
                assert schemes == set(), (method, path)
            else:
                assert schemes == {"deviceToken"}, (method, path)


def test_the_live_channel_is_a_websocket_at_its_path(tmp_path: Path):
    app = _app(tmp_path)
    assert app.url_path_for("live") == "/v1/sync/live"
    assert "/v1/sync/live" not in app.openapi()["paths"]
