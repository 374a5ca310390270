"""usage and limits: turns indexed by time (and by person and time); channels told, once,
that tunebot does not answer there

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-15 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_notices",
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("told_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channel_notices")),
    )
    # Plain CREATE INDEX on both databases: no batch copy of a table that may be large.
    op.create_index("ix_turns_created_at", "turns", ["created_at"])
    op.create_index("ix_turns_user_created", "turns", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_turns_user_created", table_name="turns")
    op.drop_index("ix_turns_created_at", table_name="turns")
    op.drop_table("channel_notices")
