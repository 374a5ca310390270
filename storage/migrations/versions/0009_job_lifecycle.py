"""jobs keep the provider's last word and when to ask again whether a new model answers

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Jobs already past training get their provider_result on their next tick (asked once).
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("provider_result", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("ready_checks", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("next_ready_check", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("next_ready_check")
        batch.drop_column("ready_checks")
        batch.drop_column("provider_result")
