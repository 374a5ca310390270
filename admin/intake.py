"""Dataset intake: a fetched file -> report -> stored once (by content) -> uploaded once to the
provider (its dataset_uploads row)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from admin.datasets import DatasetReport, PreparedDataset, detect_format, list_speakers, prepare
from admin.datastore import DatasetStore
from admin.providers.base import ProviderError
from admin.providers.plugin import Provider
from storage import repo, upload_repo
from storage.db import SessionFactory
from storage.models import DatasetUpload, utcnow
from storage.upload_repo import UploadStatus

log = logging.getLogger(__name__)

STALE_UPLOAD = timedelta(minutes=30)
Stage = Callable[[str, int, int], None]  # (stage, done, total): "validating" / "uploading"


@dataclass(frozen=True)
class IntakeOptions:
    model: str
    epochs: int | None = None
    fmt: str | None = None
    assistant: str | None = None
    system_prompt: str | None = None
    silence_minutes: int = 60
    validation_split: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, 0.0)}


@dataclass(frozen=True)
class StoredDataset:
    """A stored dataset and its upload to the provider the intake sent it to."""

    id: int
    name: str
    status: UploadStatus
    file_id: str | None
    error: str | None

    @property
    def label(self) -> str:
        return f"ds-{self.id}"


@dataclass
class IntakeResult:
    report: DatasetReport | None = None
    speakers: list[tuple[str, int]] | None = None  # set when the assistant must be chosen
    dataset: StoredDataset | None = None
    validation: StoredDataset | None = None
    duplicate: bool = False
    notes: list[str] = field(default_factory=list)


def needs_assistant(path: Path, name: str, options: IntakeOptions) -> list[tuple[str, int]]:
    """Speakers to choose from when a chat export arrives without `assistant=`; else []."""
    if options.assistant:
        return []
    with path.open("rb") as handle:
        head = handle.read(64 * 1024)
    fmt = options.fmt or detect_format(head, name)
    if not fmt or not fmt.startswith("kakao"):
        return []
    return list_speakers(path, fmt=fmt)


def take_dataset(
    path: Path,
    *,
    name: str,
    uploader: str,
    options: IntakeOptions,
    session_factory: SessionFactory,
    provider: Provider,
    store: DatasetStore | None = None,
    stage: Stage | None = None,
    origin: str = "upload",
) -> IntakeResult:
    """Validate `path`; if valid, store it once (by content) and upload it to the provider."""
    speakers = needs_assistant(path, name, options)
    if speakers:
        return IntakeResult(speakers=speakers)

    def validating(done: int, total: int) -> None:
        if stage:
            stage("validating", done, total)

    with prepare(
        path,
        model=options.model,
        epochs=options.epochs,
        fmt=options.fmt,
        assistant=options.assistant,
        system_prompt=options.system_prompt,
        silence_minutes=options.silence_minutes,
        validation_split=options.validation_split,
        progress=validating,
    ) as prepared:
        result = IntakeResult(report=prepared.report)
        if not prepared.report.valid:
            return result
        result.dataset, result.duplicate = _store_and_upload(
            prepared,
            name=name,
            uploader=uploader,
            options=options,
            session_factory=session_factory,
            provider=provider,
            store=store,
            stage=stage,
            parent=None,
            origin=origin,
        )
        if prepared.validation is not None and result.dataset is not None:
            result.validation, _ = _store_and_upload(
                prepared.validation,
                name=f"{name} (validation)",
                uploader=uploader,
                options=options,
                session_factory=session_factory,
                provider=provider,
                store=store,
                stage=stage,
                parent=result.dataset.id,
                origin=origin,
            )
    return result


def _store_and_upload(
    prepared: PreparedDataset,
    *,
    name: str,
    uploader: str,
    options: IntakeOptions,
    session_factory: SessionFactory,
    provider: Provider,
    store: DatasetStore | None,
    stage: Stage | None,
    parent: int | None,
    origin: str = "upload",
) -> tuple[StoredDataset, bool]:
    report = prepared.report
    if store is not None:
        # Kept before anything is recorded: a stored dataset can always travel to another
        # provider (or train locally) without the original file.
        store.put(prepared.jsonl_path, prepared.sha256)
    values = {
        "name": name[:255],
        "uploaded_by": uploader,
        "sha256": prepared.sha256,
        "source_format": report.format,
        "model": options.model,
        "examples": prepared.examples,
        "size_bytes": prepared.jsonl_path.stat().st_size,
        "report": {**report.to_dict(), "options": options.to_dict()},
        "validation_for_id": parent,
        "origin": origin,  # "upload", or "feedback" for datasets built from rated answers
    }
    with session_factory.begin() as session:
        row, _ = repo.claim_dataset(session, values=values)
        dataset_id, stored_name = row.id, row.name
        # Uploaded once per provider: a new dataset, a failed upload or one abandoned by a
        # crash is this caller's to upload; anything else was sent already (or is being sent).
        mine = upload_repo.claim_upload(
            session,
            dataset_id=dataset_id,
            provider=provider.name,
            stale_before=utcnow() - STALE_UPLOAD,
        )
        if not mine:
            found = upload_repo.find_upload(session, dataset_id=dataset_id, provider=provider.name)
            assert found is not None  # claim_upload found it
            return _snapshot(dataset_id, stored_name, found), True

    def uploading(done: int, total: int) -> None:
        if stage:
            stage("uploading", done, total)

    file_id: str | None = None
    error: str | None = None
    try:
        file_id = provider.upload_training_file(
            prepared.jsonl_path, filename=_upload_name(name, dataset_id), progress=uploading
        )
    except ProviderError as failure:
        error = str(failure)
        log.warning("upload of ds-%s failed: %s", dataset_id, failure)
    with session_factory.begin() as session:
        upload_repo.finish_upload(
            session, dataset_id=dataset_id, provider=provider.name, file_id=file_id, error=error
        )
        found = upload_repo.find_upload(session, dataset_id=dataset_id, provider=provider.name)
        assert found is not None
        return _snapshot(dataset_id, stored_name, found), False


def _snapshot(dataset_id: int, name: str, upload: DatasetUpload) -> StoredDataset:
    return StoredDataset(
        dataset_id, name, UploadStatus(upload.status), upload.file_id, upload.error
    )


def _upload_name(name: str, dataset_id: int) -> str:
    stem = Path(name).stem or "dataset"
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:60]
    return f"tunebot-ds-{dataset_id}-{safe}.jsonl"
