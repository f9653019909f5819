"""Escalating sign-in lockouts, and no HQ administrator PIN hashes at tills.

``staff.lockouts`` counts a staff member's lockouts in a row, so each lasts longer
(5 min, 15 min, then 1 h). HQ no longer sends HQ administrators to tills (they cannot sign
in there); hashes of them that an older HQ sent are deleted.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("lockouts", sa.Integer(), nullable=False, server_default="0"))
    op.execute("DELETE FROM staff WHERE role = 'hq_admin'")


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("lockouts")
