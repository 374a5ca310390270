"""Dataset uploads per provider, the only record of where a dataset went: claimed once,
finished once, a crashed upload taken over."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from storage.models import DatasetUpload, utcnow
from storage.repo import insert_ignore


class UploadStatus(StrEnum):
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    FAILED = "failed"


def find_upload(session: Session, *, dataset_id: int, provider: str) -> DatasetUpload | None:
    return session.scalar(
        select(DatasetUpload).where(
            DatasetUpload.dataset_id == dataset_id, DatasetUpload.provider == provider
        )
    )


def uploads_of(session: Session, *, dataset_id: int) -> list[DatasetUpload]:
    return list(
        session.scalars(
            select(DatasetUpload)
            .where(DatasetUpload.dataset_id == dataset_id)
            .order_by(DatasetUpload.id)
        )
    )


def claim_upload(
    session: Session, *, dataset_id: int, provider: str, stale_before: datetime
) -> bool:
    """Take the upload of a dataset to a provider; False when it is done or someone has it.

    A failed upload, or one left "uploading" since before `stale_before` (a crash), is taken
    over; an uploaded one never is.
    """
    values = {
        "dataset_id": dataset_id,
        "provider": provider,
        "status": UploadStatus.UPLOADING,
        "started_at": utcnow(),
    }
    if insert_ignore(session, DatasetUpload, values):
        return True
    result = session.execute(
        update(DatasetUpload)
        .where(
            DatasetUpload.dataset_id == dataset_id,
            DatasetUpload.provider == provider,
            (DatasetUpload.status == UploadStatus.FAILED)
            | (
                (DatasetUpload.status == UploadStatus.UPLOADING)
                & (DatasetUpload.started_at < stale_before)
            ),
        )
        .values(status=UploadStatus.UPLOADING, error=None, started_at=utcnow())
    )
    return bool(cast(CursorResult[Any], result).rowcount)


def finish_upload(
    session: Session, *, dataset_id: int, provider: str, file_id: str | None, error: str | None
) -> None:
    session.execute(
        update(DatasetUpload)
        .where(DatasetUpload.dataset_id == dataset_id, DatasetUpload.provider == provider)
        .values(
            status=UploadStatus.UPLOADED if file_id else UploadStatus.FAILED,
            file_id=file_id,
            error=error[:1000] if error else None,
        )
    )
