"""agent DM: the suggested prompts admins set, and who has been greeted

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-14 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_prompts",
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("set_by", sa.String(length=32), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_agent_prompts")),
    )
    op.create_table(
        "agent_greetings",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("greeted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_agent_greetings")),
    )


def downgrade() -> None:
    op.drop_table("agent_greetings")
    op.drop_table("agent_prompts")
