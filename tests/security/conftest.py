"""The security suite attacks HQ and the till the way an insider with database access
would, and checks each attempt is refused or found. HQ tests run on SQLite and, when
``CHAINPOS_TEST_PG_URL`` is set, on PostgreSQL: the fixtures are the server suite's
(``backend``, ``db_url``, a running ``hq``, an httpx ``client``)."""

from tests.server.conftest import backend, chain, client, db_url, hq

__all__ = ["backend", "chain", "client", "db_url", "hq"]
