"""Members and loyalty: members, sign-ups, holds, ledger, coupons, earnings, top-ups,
member alerts, the audit log; sales remember their member.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("member_no", sa.String(length=20), nullable=True),
        sa.Column("store_code", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_log_member", ["member_no", "at"], unique=False)

    op.create_table(
        "member_alerts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("member_no", sa.String(length=20), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_alerts")),
    )
    op.create_table(
        "member_earnings",
        sa.Column("sale_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("signup_id", sa.Uuid(), nullable=True),
        sa.Column("base_fen", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("sale_id", name=op.f("pk_member_earnings")),
    )
    with op.batch_alter_table("member_earnings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_member_earnings_signup_id"), ["signup_id"], unique=False
        )

    op.create_table(
        "members",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("phone_enc", sa.String(length=200), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("card_version", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("consent_version", sa.String(length=32), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_store", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("balance_fen >= 0", name=op.f("ck_members_balance_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("number", name=op.f("uq_members_number")),
        sa.UniqueConstraint("phone_hash", name=op.f("uq_members_phone_hash")),
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index("ix_members_name", ["name"], unique=False)

    op.create_table(
        "member_coupons",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value_fen", sa.BigInteger(), nullable=False),
        sa.Column("min_spend_fen", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hold_id", sa.Uuid(), nullable=True),
        sa.Column("sale_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_coupons_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_coupons")),
    )
    with op.batch_alter_table("member_coupons", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_member_coupons_member_id"), ["member_id"], unique=False
        )

    op.create_table(
        "member_holds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("value_fen", sa.BigInteger(), nullable=False),
        sa.Column("coupon_id", sa.Uuid(), nullable=True),
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sale_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_holds_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_holds")),
    )
    with op.batch_alter_table("member_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_holds_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_member_holds_sale_id"), ["sale_id"], unique=False)
        batch_op.create_index(
            "ix_member_holds_status_expires", ["status", "expires_at"], unique=False
        )

    op.create_table(
        "member_ledger",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=16), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("store_code", sa.String(length=32), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_ledger_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_ledger")),
    )
    with op.batch_alter_table("member_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_member_ledger_member", ["member_id", "id"], unique=False)
        batch_op.create_index("uq_member_ledger_effect", ["account", "kind", "ref"], unique=True)

    op.create_table(
        "member_signups",
        sa.Column("signup_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("store_code", sa.String(length=32), nullable=True),
        sa.Column("device_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_signups_member_id_members")
        ),
        sa.PrimaryKeyConstraint("signup_id", name=op.f("pk_member_signups")),
    )
    with op.batch_alter_table("member_signups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_member_signups_member_id"), ["member_id"], unique=False
        )

    op.create_table(
        "member_topups",
        sa.Column("topup_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("terminal", sa.String(length=32), nullable=False),
        sa.Column("cashier", sa.String(length=32), nullable=False),
        sa.Column("receipt_no", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("tenders_json", sa.Text(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_topups_member_id_members")
        ),
        sa.PrimaryKeyConstraint("topup_id", name=op.f("pk_member_topups")),
        sa.UniqueConstraint("event_id", name=op.f("uq_member_topups_event_id")),
    )
    with op.batch_alter_table("member_topups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_topups_member_id"), ["member_id"], unique=False)

    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_no", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.drop_column("member_no")

    with op.batch_alter_table("member_topups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_topups_member_id"))

    op.drop_table("member_topups")
    with op.batch_alter_table("member_signups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_signups_member_id"))

    op.drop_table("member_signups")
    with op.batch_alter_table("member_ledger", schema=None) as batch_op:
        batch_op.drop_index("uq_member_ledger_effect")
        batch_op.drop_index("ix_member_ledger_member")

    op.drop_table("member_ledger")
    with op.batch_alter_table("member_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_member_holds_status_expires")
        batch_op.drop_index(batch_op.f("ix_member_holds_sale_id"))
        batch_op.drop_index(batch_op.f("ix_member_holds_member_id"))

    op.drop_table("member_holds")
    with op.batch_alter_table("member_coupons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_coupons_member_id"))

    op.drop_table("member_coupons")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_name")

    op.drop_table("members")
    with op.batch_alter_table("member_earnings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_earnings_signup_id"))

    op.drop_table("member_earnings")
    op.drop_table("member_alerts")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_member")
        batch_op.drop_index("ix_audit_log_at")

    op.drop_table("audit_log")
