"""Training files -> the provider's Files API, or its Uploads API in parts when they are large."""

from __future__ import annotations

import contextlib
from pathlib import Path

import openai

from admin.providers.base import ProviderError, UploadProgress

FILES_API_LIMIT = 512 * 1024 * 1024  # larger files go through the Uploads API
PART_SIZE = 64 * 1024 * 1024


def upload_file(
    client: openai.OpenAI,
    path: Path,
    *,
    filename: str,
    progress: UploadProgress | None,
    files_api_limit: int = FILES_API_LIMIT,
    part_size: int = PART_SIZE,
) -> str:
    """The new file's id; SDK errors propagate for the caller to word."""
    size = path.stat().st_size
    if size > files_api_limit:
        return _upload_in_parts(
            client, path, filename=filename, size=size, part_size=part_size, progress=progress
        )
    with path.open("rb") as handle:
        created = client.files.create(
            file=(filename, handle, "application/jsonl"), purpose="fine-tune"
        )
    if progress:
        progress(size, size)
    return created.id


def _upload_in_parts(
    client: openai.OpenAI,
    path: Path,
    *,
    filename: str,
    size: int,
    part_size: int,
    progress: UploadProgress | None,
) -> str:
    # The Uploads API takes up to 8 GB in parts; done by hand to report progress per part.
    upload = client.uploads.create(
        filename=filename, purpose="fine-tune", bytes=size, mime_type="application/jsonl"
    )
    part_ids: list[str] = []
    sent = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(part_size):
                part = client.uploads.parts.create(upload_id=upload.id, data=chunk)
                part_ids.append(part.id)
                sent += len(chunk)
                if progress:
                    progress(sent, size)
        done = client.uploads.complete(upload_id=upload.id, part_ids=part_ids)
    except BaseException:
        with contextlib.suppress(openai.APIError):
            client.uploads.cancel(upload_id=upload.id)
        raise
    if done.file is None:
        raise ProviderError("the provider accepted the upload but returned no file")
    return done.file.id
