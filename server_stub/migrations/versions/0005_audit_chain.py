"""The audit trail as a hash chain (entries chained in id order, a head row), tills'
own entries (device, local id), and room for sealed device receipt secrets.

Existing audit entries are chained here in id order. Existing receipt secrets stay as
they are until HQ starts with its keys file, which seals every plaintext one
(:func:`server_stub.device_secrets.seal_plaintext_secrets`): the keys never live in the
database, so a migration cannot do it.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from server_stub.audit import GENESIS, entry_hash
    from server_stub.models import UTCDateTime

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("local_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.create_index("uq_audit_log_device_local", ["device_id", "local_id"], unique=True)
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    log = sa.table(
        "audit_log",
        sa.column("id", sa.BigInteger()),
        sa.column("at", UTCDateTime()),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("member_no", sa.String()),
        sa.column("store_code", sa.String()),
        sa.column("detail", sa.Text()),
        sa.column("device_id", sa.String()),
        sa.column("local_id", sa.BigInteger()),
        sa.column("prev_id", sa.BigInteger()),
        sa.column("prev_hash", sa.String()),
        sa.column("hash", sa.String()),
    )
    conn = op.get_bind()
    prev_id, prev_hash = 0, GENESIS
    rows = conn.execute(sa.select(log).order_by(log.c.id)).mappings().all()
    for r in rows:
        entry = {**r, "prev_id": prev_id, "prev_hash": prev_hash}
        digest = entry_hash(prev_hash, entry)
        conn.execute(
            sa.update(log)
            .where(log.c.id == r["id"])
            .values(prev_id=prev_id, prev_hash=prev_hash, hash=digest)
        )
        prev_id, prev_hash = int(r["id"]), digest
    op.bulk_insert(head, [{"id": 1, "last_id": prev_id, "last_hash": prev_hash}])
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.alter_column(
            "receipt_secret",
            existing_type=sa.String(length=64),
            type_=sa.String(length=200),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.alter_column(
            "receipt_secret",
            existing_type=sa.String(length=200),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("uq_audit_log_device_local")
        for name in ("hash", "prev_hash", "prev_id", "local_id", "device_id"):
            batch_op.drop_column(name)
