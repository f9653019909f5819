"""Alembic migrations of HQ's schema, applied by :func:`server_stub.db.migrate`."""
