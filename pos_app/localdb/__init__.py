"""The terminal's own SQLite database: models, migrations and repositories.

Repositories take a SQLAlchemy ``Session`` (or ``Connection``) opened by the calling
service; nothing here opens a transaction on its own.
"""
