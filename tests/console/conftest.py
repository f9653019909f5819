"""Fixtures for the HQ console's tests.

Why these fixtures exist:

* ``console_db`` is one migrated HQ database per test module (SQLite, and PostgreSQL too
  when ``CHAINPOS_TEST_PG_URL`` is set) holding two regions' stores — S001 and S002 in
  region ``east``, S003 in ``west`` — an item, staff and a console user of every role, so
  each test can sign in as whoever it needs.
* ``app`` builds the real HQ app (``create_app``) on it; ``browser_for(role)`` gives a
  Starlette ``TestClient`` signed in through the real sign-in form, with its CSRF token,
  so unit tests can craft any request a browser could send.
* Console passwords are hashed with a tiny scrypt cost here (the cost travels with the
  hash), so seeding and signing in stay instant.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server_stub import operations
from server_stub.app import create_app
from server_stub.audit import Actor
from server_stub.console import users
from server_stub.db import Database
from server_stub.member_keys import MemberKeys
from server_stub.schemas import StaffIn
from server_stub.settings import Settings
from tests.server.conftest import BACKENDS
from tests.server.support import fresh_database

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

PASSWORD = "correct horse 42"
FAST = 4  # log2 of the scrypt cost for test users
SEED = Actor("test:seed")

USERS = {
    "admin": ("hq_admin", None, None),
    "east": ("regional_manager", "east", None),
    "s001": ("store_manager", None, "S001"),
    "s002": ("store_manager", None, "S002"),
    "audit": ("auditor", None, None),
}


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def seed(db: Database) -> None:
    """Stores S001/S002 (east), S003 (west), an item with a price, staff in S001 and
    S002, and a console user of every role (password :data:`PASSWORD`)."""
    for code, name, region in (
        ("S001", "人民广场店", "east"),
        ("S002", "静安寺店", "east"),
        ("S003", "天河店", "west"),
    ):
        operations.add_store(db, code, name)
        operations.set_store_region(db, code, region)
    catalog = "sku,name_zh,name_en,unit,barcodes,category,active,price\n"
    catalog += "MT001,杨枝甘露,Mango pomelo sago,piece,6900000000017,饮品,1,16\n"
    catalog += "MT002,芋泥波波,Taro boba,piece,6900000000024,饮品,1,18\n"
    operations.import_catalog(db, operations.parse_catalog_csv(catalog))
    for number, store in (("1001", "S001"), ("2001", "S002")):
        operations.add_staff(
            db,
            StaffIn(number=number, store=store, name="王芳", role="cashier", pin="1234"),  # type: ignore[arg-type]
        )
    for username, (role, region, store) in USERS.items():
        users.add_user(
            db,
            SEED,
            username=username,
            display_name=username.upper(),
            password=PASSWORD,
            role=role,
            region=region,
            store=store,
            log2_n=FAST,
        )


@pytest.fixture(scope="module")
def console_db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with fresh_database(backend, tmp_path_factory.mktemp("console")) as url:
        db = Database(url)
        seed(db)
        yield db
        db.dispose()


@pytest.fixture(scope="module")
def keys() -> MemberKeys:
    return MemberKeys.generate()


@pytest.fixture(scope="module")
def app(console_db: Database, keys: MemberKeys) -> object:
    settings = Settings(db_url=str(console_db.url), member_keys=keys, hold_sweep_s=0)
    return create_app(settings, console_db)


@dataclass
class Browser:
    """A signed-in test client and the CSRF token its pages carry."""

    client: TestClient
    csrf: str

    def post(self, url: str, data: dict[str, str] | None = None, **kw: object):  # type: ignore[no-untyped-def]
        form = {"csrf": self.csrf, **(data or {})}
        return self.client.post(url, data=form, follow_redirects=False, **kw)  # type: ignore[arg-type]

    def get(self, url: str, **kw: object):  # type: ignore[no-untyped-def]
        return self.client.get(url, follow_redirects=False, **kw)  # type: ignore[arg-type]


LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(client: TestClient, username: str, password: str = PASSWORD, totp: str = ""):  # type: ignore[no-untyped-def]
    page = client.get("/console/login")
    token = LOGIN_TOKEN.search(page.text)
    assert token, page.text
    return client.post(
        "/console/login",
        data={
            "login_token": token.group(1),
            "username": username,
            "password": password,
            "totp": totp,
            "next": "/console/dashboard",
        },
        follow_redirects=False,
    )


@pytest.fixture
def browser_for(app: object) -> Iterator[Callable[[str], Browser]]:
    opened: list[TestClient] = []

    def make(username: str) -> Browser:
        # No lifespan: the console's pages need no live hub running, and one hub must not
        # be started by several clients at once.
        client = TestClient(app, base_url="http://testserver")  # type: ignore[arg-type]
        opened.append(client)
        r = sign_in(client, username)
        assert r.status_code == 303, r.text
        page = client.get("/console/dashboard")
        assert page.status_code == 200, page.text
        found = CSRF.search(page.text)
        assert found
        return Browser(client, found.group(1))

    yield make
    for client in opened:
        client.close()


__all__ = ["PASSWORD", "Browser", "Path", "sign_in"]
