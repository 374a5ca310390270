"""a model and a prompt per channel; jobs trained for one channel

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The one row so far is the workspace's ("" in active_model, NULL in the history).
    with op.batch_alter_table("active_model") as batch:
        batch.add_column(
            sa.Column("channel_id", sa.String(length=32), nullable=False, server_default="")
        )
        batch.create_unique_constraint("uq_active_model_channel_id", ["channel_id"])
    with op.batch_alter_table("model_history") as batch:
        batch.add_column(sa.Column("channel_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("for_channel", sa.String(length=32), nullable=True))
    op.create_table(
        "channel_prompts",
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=32), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channel_prompts")),
    )


def downgrade() -> None:
    # A channel's own model and prompt have no place in the older schema: only the
    # workspace's row and its history are kept.
    op.drop_table("channel_prompts")
    op.execute("DELETE FROM active_model WHERE channel_id <> ''")
    op.execute("DELETE FROM model_history WHERE channel_id IS NOT NULL")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("for_channel")
    with op.batch_alter_table("model_history") as batch:
        batch.drop_column("channel_id")
    with op.batch_alter_table("active_model") as batch:
        batch.drop_constraint("uq_active_model_channel_id", type_="unique")
        batch.drop_column("channel_id")
