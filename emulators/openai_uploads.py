"""OpenAI Uploads API: big files sent in parts, spooled to disk, then assembled into one File."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from emulators._support import random_id
from emulators._wire import BodyError, Request
from emulators.openai_files import check_upload, store
from emulators.openai_state import Json, OpenAIError, State, body_of, not_found, now

MAX_UPLOAD_BYTES = 8 * 1024**3
MAX_PART_BYTES = 64 * 1024**2
EXPIRES_AFTER = 3600  # an Upload must be completed within an hour


class UploadStore:
    """Uploads in progress; their parts live in a private temp dir, not on the heap."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.uploads: dict[str, Json] = {}
        self.parts: dict[str, list[tuple[str, Path]]] = {}  # upload id -> (part id, spool file)
        self.dir = Path(tempfile.mkdtemp(prefix="openai-emulator-uploads-"))

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def create(self, request: Request) -> Json:
        body = body_of(request.json())
        for name in ("bytes", "filename", "mime_type", "purpose"):
            if body.get(name) in (None, ""):
                raise OpenAIError(
                    400,
                    f"Missing required parameter: '{name}'.",
                    param=name,
                    code="missing_required_parameter",
                )
        size = body["bytes"]
        if not isinstance(size, int) or size < 0:
            raise OpenAIError(
                400, "Invalid 'bytes': expected a non-negative integer.", param="bytes"
            )
        check_upload(self.state, body["filename"], size, body["purpose"], MAX_UPLOAD_BYTES)
        created = now()
        upload = {
            "id": random_id("upload_", 24),
            "object": "upload",
            "bytes": size,
            "created_at": created,
            "expires_at": created + EXPIRES_AFTER,
            "filename": body["filename"],
            "purpose": body["purpose"],
            "status": "pending",
            "file": None,
        }
        with self.state.lock:
            self.uploads[upload["id"]] = upload
            self.parts[upload["id"]] = []
        return dict(upload)

    def _pending(self, upload_id: str) -> Json:
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise not_found("Upload", upload_id, "upload_id")
        if upload["status"] == "pending" and now() > upload["expires_at"]:
            upload["status"] = "expired"
        if upload["status"] != "pending":
            raise OpenAIError(
                400, f"Upload {upload_id} is {upload['status']} and can no longer be changed."
            )
        return upload

    def add_part(self, request: Request) -> Json:
        try:
            data = (
                request.multipart().get("data")
                if request.content_type == "multipart/form-data"
                else None
            )
        except BodyError as exc:
            raise OpenAIError(400, f"Could not parse multipart form: {exc}") from exc
        if data is None:
            raise OpenAIError(
                400,
                "Missing required parameter: 'data'.",
                param="data",
                code="missing_required_parameter",
            )
        if len(data.data) > MAX_PART_BYTES:
            raise OpenAIError(400, "A part may be at most 64 MB.", param="data")
        upload_id = request.params["upload_id"]
        part_id = random_id("part_", 24)
        with self.state.lock:
            self._pending(upload_id)
            self.dir.mkdir(parents=True, exist_ok=True)  # again, should a stopped emulator restart
            path = self.dir / part_id
            path.write_bytes(data.data)
            self.parts[upload_id].append((part_id, path))
        return {"id": part_id, "object": "upload.part", "created_at": now(), "upload_id": upload_id}

    def complete(self, request: Request) -> Json:
        body = body_of(request.json())
        upload_id = request.params["upload_id"]
        part_ids = body.get("part_ids")
        if not isinstance(part_ids, list):
            raise OpenAIError(
                400,
                "Missing required parameter: 'part_ids'.",
                param="part_ids",
                code="missing_required_parameter",
            )
        with self.state.lock:
            upload = self._pending(upload_id)
            spooled = dict(self.parts[upload_id])
            unknown = [p for p in part_ids if p not in spooled]
            if unknown:
                raise OpenAIError(
                    400,
                    f"Part {unknown[0]} does not belong to upload {upload_id}.",
                    param="part_ids",
                )
            data = b"".join(spooled[p].read_bytes() for p in part_ids)
            if len(data) != upload["bytes"]:
                message = (
                    f"The number of bytes uploaded ({len(data)}) does not match the number of "
                    f"bytes specified when creating the upload ({upload['bytes']})."
                )
                raise OpenAIError(400, message, param="part_ids")
            if body.get("md5") and hashlib.md5(data).hexdigest() != body["md5"]:
                raise OpenAIError(
                    400, "The md5 checksum does not match the uploaded bytes.", param="md5"
                )
            upload["file"] = store(self.state, upload["filename"], data, upload["purpose"])
            upload["status"] = "completed"
            self._discard(upload_id)
            return dict(upload)

    def cancel(self, request: Request) -> Json:
        upload_id = request.params["upload_id"]
        with self.state.lock:
            upload = self._pending(upload_id)
            upload["status"] = "cancelled"
            self._discard(upload_id)
            return dict(upload)

    def _discard(self, upload_id: str) -> None:
        for _, path in self.parts.pop(upload_id, []):
            path.unlink(missing_ok=True)
        self.parts[upload_id] = []
