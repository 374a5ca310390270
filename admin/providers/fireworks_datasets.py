"""Training files -> Fireworks datasets: made once by content, uploaded whole or by signed URL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fireworks
import httpx

from admin.providers.base import ProviderError, UploadProgress

CHUNK = 1024 * 1024


def fingerprint(path: Path) -> tuple[str, int]:
    """(sha256 hex, non-empty lines) of the file, read in chunks: datasets can be large."""
    digest, lines, last = hashlib.sha256(), 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return digest.hexdigest(), lines + (last != b"\n")


def upload_dataset(
    client: fireworks.Fireworks,
    storage: httpx.Client,
    path: Path,
    *,
    filename: str,
    account: str,
    progress: UploadProgress | None = None,
    direct_limit: int,
) -> str:
    """The dataset's resource name. Named by content, so a retry after a crash reuses it.
    Files above `direct_limit` bytes go to a signed storage URL.

    SDK errors propagate for the caller to word; a refused signed-URL upload raises
    ProviderError.
    """
    digest, examples = fingerprint(path)
    dataset_id = "tunebot-" + digest[:24]
    try:
        found = client.datasets.get(dataset_id)
    except fireworks.NotFoundError:
        found = client.datasets.create(
            dataset_id=dataset_id,
            dataset={
                "user_uploaded": {},
                "example_count": str(examples),
                "display_name": filename[:60],
            },
        )
    size = path.stat().st_size
    if found.state != "READY":
        if size <= direct_limit:
            with path.open("rb") as handle:
                client.datasets.upload(dataset_id, file=(filename, handle))
        else:
            _upload_signed(client, storage, path, dataset_id, filename, size, progress)
    if progress is not None:
        progress(size, size)
    return f"accounts/{account}/datasets/{dataset_id}"


def _upload_signed(
    client: fireworks.Fireworks,
    storage: httpx.Client,
    path: Path,
    dataset_id: str,
    filename: str,
    size: int,
    progress: UploadProgress | None,
) -> None:
    urls = client.datasets.get_upload_endpoint(dataset_id, filename_to_size={filename: str(size)})
    url = (urls.filename_to_signed_urls or {}).get(filename)
    if not url:
        raise ProviderError("Fireworks AI gave no upload URL for the dataset; try again.")
    with path.open("rb") as handle:
        answer = storage.put(
            url,
            content=_chunks(handle, size, progress),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
    if answer.status_code >= 400:
        raise ProviderError(
            f"Fireworks AI's storage refused the dataset upload (HTTP {answer.status_code}); "
            "try again."
        )
    client.datasets.validate_upload(dataset_id, body={})


def _chunks(handle: Any, size: int, progress: UploadProgress | None) -> Iterator[bytes]:
    sent = 0
    while chunk := handle.read(CHUNK):
        sent += len(chunk)
        if progress is not None:
            progress(sent, size)
        yield chunk
