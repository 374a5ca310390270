"""job_plans: the pipeline message of each job in its admin's DM; home_tabs: whose Home to refresh

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_plans",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("shown_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sending_version", sa.Integer(), nullable=True),
        sa.Column("editor", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_plans_job_id_jobs"),
        sa.PrimaryKeyConstraint("job_id", name="pk_job_plans"),
    )
    op.create_table(
        "home_tabs",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("switch_seen", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_home_tabs"),
    )


def downgrade() -> None:
    op.drop_table("home_tabs")
    op.drop_table("job_plans")
