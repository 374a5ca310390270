"""one record per fact: a dataset's uploads live only in dataset_uploads

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00

Data rules (nothing a user sees is lost):

Datasets. Every dataset whose upload the old columns record (status uploading, uploaded or
upload_failed, at `provider`, or at the deployment's provider when none was stored) gets that
upload in dataset_uploads, unless it is there already: uploaded (with its file id), failed
(with its error), or uploading since the dataset's `created_at` (the time of the last claim),
so a crashed upload is still taken over. A row already in dataset_uploads is newer than the
columns (intake wrote both at once; training wrote only the row) and is kept, except that an
upload the columns record as done is never lost: a row that is not "uploaded" takes the
columns' file id. Then `status`, `provider`, `provider_file_id` and `error` are dropped.

The downgrade restores the columns from dataset_uploads (the first uploaded row, else the
first row).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)

_datasets = sa.table(
    "datasets",
    sa.column("id", sa.Integer()),
    sa.column("created_at", _WHEN),
    sa.column("status", sa.String()),
    sa.column("provider", sa.String()),
    sa.column("provider_file_id", sa.String()),
    sa.column("error", sa.String()),
)
_uploads = sa.table(
    "dataset_uploads",
    sa.column("id", sa.Integer()),
    sa.column("dataset_id", sa.Integer()),
    sa.column("provider", sa.String()),
    sa.column("status", sa.String()),
    sa.column("file_id", sa.String()),
    sa.column("error", sa.String()),
    sa.column("started_at", _WHEN),
)
# What the old `datasets.status` said, and the dataset_uploads status that says it now.
_OLD_TO_NEW = {"uploading": "uploading", "uploaded": "uploaded", "upload_failed": "failed"}
_NEW_TO_OLD = {new: old for old, new in _OLD_TO_NEW.items()}


def upgrade() -> None:
    bind = op.get_bind()
    _move_uploads(bind)
    with op.batch_alter_table("datasets") as batch:
        for column in ("status", "provider", "provider_file_id", "error"):
            batch.drop_column(column)
    _check_foreign_keys(bind)


def downgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("status", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("provider", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("provider_file_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("error", sa.String(length=1000), nullable=True))
    _restore_upload_columns(bind)
    with op.batch_alter_table("datasets") as batch:
        batch.alter_column("status", existing_type=sa.String(length=32), nullable=False)
    _check_foreign_keys(bind)


def _move_uploads(bind: sa.Connection) -> None:
    default = str(context.config.attributes.get("default_provider") or "openai")
    known = {
        (row.dataset_id, row.provider): row.status
        for row in bind.execute(
            sa.select(_uploads.c.dataset_id, _uploads.c.provider, _uploads.c.status)
        )
    }
    legacy = bind.execute(
        sa.select(_datasets).where(_datasets.c.status.in_(list(_OLD_TO_NEW)))
    ).all()
    for row in legacy:
        provider = row.provider or default
        status = _OLD_TO_NEW[row.status]
        if status == "uploaded" and not row.provider_file_id:
            status = "failed"  # nothing to train on: sending the file again retries it
        found = known.get((row.id, provider))
        if found is None:
            bind.execute(
                _uploads.insert().values(
                    dataset_id=row.id,
                    provider=provider,
                    status=status,
                    file_id=row.provider_file_id,
                    error=row.error,
                    started_at=row.created_at,
                )
            )
        elif status == "uploaded" and found != "uploaded":
            bind.execute(
                _uploads.update()
                .where(_uploads.c.dataset_id == row.id, _uploads.c.provider == provider)
                .values(status="uploaded", file_id=row.provider_file_id, error=None)
            )


def _restore_upload_columns(bind: sa.Connection) -> None:
    rows = bind.execute(sa.select(_uploads).order_by(_uploads.c.id)).all()
    chosen: dict[int, Any] = {}
    for row in rows:
        held = chosen.get(row.dataset_id)
        if held is None or (held.status != "uploaded" and row.status == "uploaded"):
            chosen[row.dataset_id] = row
    for dataset_id, row in chosen.items():
        bind.execute(
            _datasets.update()
            .where(_datasets.c.id == dataset_id)
            .values(
                status=_NEW_TO_OLD.get(row.status, "upload_failed"),
                provider=row.provider,
                provider_file_id=row.file_id,
                error=row.error,
            )
        )
    # A dataset that never reached a provider reads as a failed upload: sending it retries.
    bind.execute(
        _datasets.update().where(_datasets.c.status.is_(None)).values(status="upload_failed")
    )


def _check_foreign_keys(bind: sa.Connection) -> None:
    # SQLite rebuilt tables with its foreign keys off (see env.py): check them now.
    if bind.dialect.name != "sqlite":
        return
    broken = bind.execute(sa.text("PRAGMA foreign_key_check")).all()
    if broken:
        raise RuntimeError(f"foreign keys broken after migration 0008: {broken[:5]}")
