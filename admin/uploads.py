"""Datasets travel: a stored dataset reaches a provider that has not seen it, once (recorded in
its dataset_uploads row)."""

from __future__ import annotations

import logging
from datetime import timedelta

from admin.datastore import DatasetStore
from admin.errors import TunebotError
from admin.providers.base import ProviderError
from admin.providers.plugin import Provider
from admin.providers.registry import Providers
from storage import repo, upload_repo
from storage.db import SessionFactory
from storage.models import utcnow
from storage.upload_repo import UploadStatus

log = logging.getLogger(__name__)

STALE_UPLOAD = timedelta(minutes=30)


def ensure_uploaded(
    session_factory: SessionFactory,
    *,
    dataset_id: int,
    provider: Provider,
    providers: Providers,
    store: DatasetStore | None,
) -> str:
    """The provider's file id for the dataset, uploading it from the store the first time."""
    with session_factory.begin() as session:
        dataset = repo.get_dataset(session, dataset_id=dataset_id)
        if dataset is None:
            raise TunebotError(f"There is no dataset `ds-{dataset_id}`.")
        label, sha256, name = dataset.label, dataset.sha256, dataset.name
        found = upload_repo.find_upload(session, dataset_id=dataset_id, provider=provider.name)
        if found is not None and found.status == UploadStatus.UPLOADED and found.file_id:
            return found.file_id
        elsewhere = [
            providers.label(u.provider)
            for u in upload_repo.uploads_of(session, dataset_id=dataset_id)
            if u.status == UploadStatus.UPLOADED
        ]
        if store is None or not store.has(sha256):
            where = f" It is only at {', '.join(elsewhere)}." if elsewhere else ""
            raise TunebotError(
                f"{label} was stored before tunebot kept copies of datasets, so it cannot be "
                f"sent to {provider.label}.{where} Send the file again to train it there."
            )
        if not upload_repo.claim_upload(
            session,
            dataset_id=dataset_id,
            provider=provider.name,
            stale_before=utcnow() - STALE_UPLOAD,
        ):
            raise TunebotError(
                f"{label} is being uploaded to {provider.label} right now; try again in a minute."
            )
    file_id: str | None = None
    error: str | None = None
    try:
        file_id = provider.upload_training_file(
            store.path(sha256), filename=f"tunebot-{label}-{_safe(name)}.jsonl"
        )
    except ProviderError as failure:
        error = str(failure)
        log.warning("upload of %s to %s failed: %s", label, provider.name, failure)
    with session_factory.begin() as session:
        upload_repo.finish_upload(
            session, dataset_id=dataset_id, provider=provider.name, file_id=file_id, error=error
        )
    if file_id is None:
        raise ProviderError(error or f"{provider.label} did not take {label}.")
    log.info("%s uploaded to %s", label, provider.name)
    return file_id


def _safe(name: str) -> str:
    stem = name.rsplit(".", 1)[0] or "dataset"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:60]
