"""every model knows its provider; dataset uploads per provider

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _provider() -> str:
    # storage.db.upgrade hands in the deployment's TUNEBOT_PROVIDER; existing rows were
    # answered there, since round 1 had exactly one provider per deployment.
    return str(context.config.attributes.get("default_provider") or "openai")


def upgrade() -> None:
    provider = _provider()
    for table in ("active_model", "model_history"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("provider", sa.String(length=32), nullable=True))
        op.execute(sa.text(f"UPDATE {table} SET provider = :p").bindparams(p=provider))
        with op.batch_alter_table(table) as batch:
            batch.alter_column("provider", existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("provider", sa.String(length=32), nullable=True))
    op.execute(sa.text("UPDATE turns SET provider = :p").bindparams(p=provider))

    op.create_table(
        "dataset_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("file_id", sa.String(length=128), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_uploads_dataset_id_datasets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_uploads")),
        sa.UniqueConstraint("dataset_id", "provider", name=op.f("uq_dataset_uploads_dataset_id")),
    )
    with op.batch_alter_table("dataset_uploads") as batch:
        batch.create_index(batch.f("ix_dataset_uploads_dataset_id"), ["dataset_id"], unique=False)
    # Round 1 uploaded each dataset to the one provider it had; that upload still counts.
    op.execute(
        sa.text(
            "INSERT INTO dataset_uploads (dataset_id, provider, status, file_id, error, "
            "started_at) SELECT id, COALESCE(provider, :p), "
            "CASE WHEN provider_file_id IS NULL THEN 'failed' ELSE 'uploaded' END, "
            "provider_file_id, error, created_at FROM datasets "
            "WHERE status IN ('uploaded', 'upload_failed')"
        ).bindparams(p=provider)
    )


def downgrade() -> None:
    with op.batch_alter_table("dataset_uploads") as batch:
        batch.drop_index(batch.f("ix_dataset_uploads_dataset_id"))
    op.drop_table("dataset_uploads")
    for table in ("turns", "model_history", "active_model"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("provider")
