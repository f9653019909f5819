"""Alembic environment: runs on the connection :func:`server_stub.db.migrate` hands in."""

from __future__ import annotations

from alembic import context

from server_stub.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through server_stub.db.migrate (chainpos-hq migrate)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
