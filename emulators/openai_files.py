"""OpenAI Files API: multipart upload, list, retrieve, content and delete, with OpenAI's checks."""

from __future__ import annotations

from emulators._support import random_id, request_id
from emulators._wire import BodyError, Request, Response
from emulators.openai_state import (
    Json,
    OpenAIError,
    State,
    StoredFile,
    cursor_page,
    not_found,
    now,
)

PURPOSES = ("fine-tune", "assistants", "batch", "user_data", "vision", "evals")
# Output purposes are ones OpenAI writes itself; clients cannot upload with them.
OUTPUT_PURPOSES = ("fine-tune-results", "assistants_output", "batch_output")


def store(state: State, filename: str, data: bytes, purpose: str) -> Json:
    """Keep a file and return its FileObject; also used for uploads and training results."""
    file_id = random_id("file-", 22)
    meta: Json = {
        "id": file_id,
        "object": "file",
        "bytes": len(data),
        "created_at": now(),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "status_details": None,
        "expires_at": None,
    }
    with state.lock:
        state.files[file_id] = StoredFile(meta, data)
    return dict(meta)


def check_upload(
    state: State, filename: str, size: int, purpose: str, limit: int | None = None
) -> None:
    if purpose not in PURPOSES:
        allowed = ", ".join(f"'{p}'" for p in PURPOSES)
        raise OpenAIError(
            400,
            f"'{purpose}' is not one of [{allowed}] - 'purpose'",
            param="purpose",
            code="invalid_value",
        )
    limit = state.max_file_bytes if limit is None else limit
    if size > limit:
        limit_mb = limit // (1024 * 1024)
        message = f"File is too large: {size} bytes. The maximum file size is {limit_mb} MB."
        raise OpenAIError(400, message, param="file", code="file_too_large")
    if purpose == "fine-tune" and not filename.lower().endswith(".jsonl"):
        raise OpenAIError(
            400, "Invalid file format for Fine-Tuning API. Must be .jsonl", param="file"
        )


def create(state: State, request: Request) -> Json:
    if request.content_type != "multipart/form-data":
        raise OpenAIError(400, "Invalid Content-Type: expected multipart/form-data.")
    try:
        parts = request.multipart()
    except BodyError as exc:
        raise OpenAIError(400, f"Could not parse multipart form: {exc}") from exc
    for name in ("purpose", "file"):
        if name not in parts:
            raise OpenAIError(
                400,
                f"Missing required parameter: '{name}'.",
                param=name,
                code="missing_required_parameter",
            )
    upload, purpose = parts["file"], parts["purpose"].text
    filename = upload.filename or "upload"
    check_upload(state, filename, len(upload.data), purpose)
    return store(state, filename, upload.data, purpose)


def _get(state: State, file_id: str) -> StoredFile:
    with state.lock:
        found = state.files.get(file_id)
    if found is None:
        raise not_found("File", file_id, "file_id")
    return found


def list_files(state: State, request: Request) -> Json:
    purpose = request.query.get("purpose")
    with state.lock:
        metas = [
            dict(f.meta) for f in state.files.values() if purpose in (None, "", f.meta["purpose"])
        ]
    # Newest first by default, like OpenAI; dict order is upload order.
    if request.query.get("order", "desc") == "desc":
        metas.reverse()
    return cursor_page(metas, request.query, default_limit=10000)


def retrieve(state: State, request: Request) -> Json:
    return dict(_get(state, request.params["file_id"]).meta)


def content(state: State, request: Request) -> Response:
    stored = _get(state, request.params["file_id"])
    headers = {"Content-Type": "application/octet-stream", "x-request-id": request_id()}
    headers["Content-Disposition"] = f'attachment; filename="{stored.meta["filename"]}"'
    return Response(200, stored.data, headers)


def delete(state: State, request: Request) -> Json:
    file_id = request.params["file_id"]
    _get(state, file_id)
    with state.lock:
        del state.files[file_id]
    return {"id": file_id, "object": "file", "deleted": True}
