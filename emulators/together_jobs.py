"""Together emulator routes for files and fine-tuning jobs (/v1/files, /v1/fine-tunes)."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from emulators._wire import Request, Response

if TYPE_CHECKING:
    from emulators.together import TogetherEmulator

Json = dict[str, Any]
ACTIVE = ("pending", "queued", "running", "compressing", "uploading", "cancel_requested")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def install(emu: TogetherEmulator) -> None:
    from emulators.together import TogetherError

    def upload_url(request: Request) -> Response:
        form = {name: part.text for name, part in request.multipart().items()}
        if form.get("purpose") not in ("fine-tune", "eval", "batch-api"):
            raise TogetherError(400, f"Invalid purpose: {form.get('purpose')}")
        file_id = emu.new_id("file-")
        emu.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": 0,
            "created_at": int(time.time()),
            "filename": form.get("file_name", "upload.jsonl"),
            "FileType": form.get("file_type", "jsonl"),
            "purpose": form["purpose"],
            "processing_status": "PENDING",
            "checksum": form.get("checksum"),
        }
        headers = {"Location": f"{emu.origin}/storage/{file_id}", "X-Together-File-Id": file_id}
        return Response(302, b"", headers)

    def put_content(request: Request) -> Response:
        # The presigned storage URL: no API key, as S3's are not Together's.
        with emu.lock:
            file_id = request.params["file_id"]
            if file_id not in emu.files:
                return Response(404, b"NoSuchUpload")
            emu.file_data[file_id] = request.body
            emu.files[file_id]["bytes"] = len(request.body)
        return Response(200, b"")

    def preprocess(request: Request) -> Json:
        found = _file(request.params["id"])
        found["processing_status"] = "COMPLETED"
        return found

    def _file(file_id: str) -> Json:
        if file_id not in emu.files:
            raise TogetherError(404, f"File {file_id} not found")
        return emu.files[file_id]

    def limits(request: Request) -> Json:
        model = request.query.get("model_name", "")
        if model not in emu.base_models:
            raise TogetherError(404, f"Model {model} is not supported for fine-tuning")
        return {
            "model_name": model,
            "default_gradient_accumulation_steps": 1,
            "lora_training": {
                "default_rank": 16,
                "max_rank": 64,
                "max_batch_size": 32,
                "max_batch_size_dpo": 16,
                "min_batch_size": 8,
                "target_modules": ["q_proj"],
            },
            "full_training": {"max_batch_size": 32, "max_batch_size_dpo": 16, "min_batch_size": 8},
            "max_learning_rate": 1.0,
            "min_learning_rate": 1e-8,
            "max_num_checkpoints": 10,
            "max_num_epochs": 20,
            "max_num_evals": 10,
            "max_seq_length_dpo": 8192,
            "max_seq_length_sft": 8192,
            "min_max_seq_length": 512,
            "merge_output_lora": True,
            "supports_full_training": True,
            "supports_reasoning": False,
            "supports_tools": False,
            "supports_vision": False,
        }

    def estimate(request: Request) -> Json:
        body = request.json() or {}
        tokens = len(emu.file_data.get(str(body.get("training_file")), b"")) // 4
        epochs = int(body.get("n_epochs") or 1)
        return {
            "estimation_available": True,
            "allowed_to_proceed": True,
            "user_limit": 100.0,
            "estimated_train_token_count": tokens * epochs,
            "estimated_eval_token_count": 0,
            "estimated_total_price": round(tokens * epochs * 0.48 / 1e6, 6),
        }

    def create(request: Request) -> Json:
        body = request.json() or {}
        if body.get("training_file") not in emu.files:
            raise TogetherError(400, f"Training file {body.get('training_file')} not found")
        if body.get("model") not in emu.base_models:
            raise TogetherError(400, f"Model {body.get('model')} is not supported for fine-tuning")
        job_id = emu.new_id("ft-")
        suffix = body.get("suffix") or "tunebot"
        job = dict(body) | {
            "id": job_id,
            "status": "pending",
            "user_id": "user_emulator",
            "created_at": _now(),
            "updated_at": _now(),
            "token_count": None,
            "model_output_name": f"acme/{body['model'].split('/')[-1]}-{suffix}-{job_id[3:9]}",
        }
        emu.jobs[job_id] = job
        emu.events[job_id] = [_event("job_pending", "Fine tune request created")]
        emu.metrics[job_id] = []
        return job

    def job(request: Request) -> Json:
        return _job(request.params["id"])

    def _job(job_id: str) -> Json:
        if job_id not in emu.jobs:
            raise TogetherError(404, f"Fine-tune job {job_id} not found")
        return emu.jobs[job_id]

    def cancel(request: Request) -> Json:
        found = _job(request.params["id"])
        if found["status"] in ACTIVE:
            found["status"] = "cancel_requested"
            emu.events[found["id"]].append(_event("cancel_requested", "Cancel requested"))
        return found

    def events(request: Request) -> Json:
        _job(request.params["id"])
        return {"data": emu.events[request.params["id"]]}

    def checkpoints(request: Request) -> Json:
        found = _job(request.params["id"])
        if found["status"] != "completed":
            return {"data": []}
        name = found["model_output_name"]
        return {
            "data": [
                {
                    "checkpoint_type": "Final",
                    "created_at": found["updated_at"],
                    "path": f"s3://emulated/{name}",
                    "step": len(emu.metrics[found["id"]]),
                    "object_id": found.get("model_object_id"),
                    "object_name": name,
                }
            ]
        }

    def metrics(request: Request) -> Json:
        _job(request.params["id"])
        return {"metrics": emu.metrics[request.params["id"]]}

    def projects(request: Request) -> Json:
        return {"data": [emu.project], "next_cursor": None}

    def supported(request: Request) -> Json:
        model = request.params["model"]
        if model not in emu.base_models:
            raise TogetherError(404, f"Model {model} not found")
        return {"id": model, "name": model, "contextLength": str(emu.context_length)}

    g = emu.guarded
    emu.route("POST", "/v1/files", "files", g(upload_url))
    emu.router.add("PUT", "/storage/{file_id}", put_content)
    emu.route("POST", "/v1/files/{id}/preprocess", "files", g(preprocess))
    emu.route("GET", "/v1/files/{id}", "files", g(lambda r: _file(r.params["id"])))
    emu.route("GET", "/v1/fine-tunes/models/limits", "fine_tunes", g(limits))
    emu.route("POST", "/v1/fine-tunes/estimate-price", "fine_tunes", g(estimate))
    emu.route("POST", "/v1/fine-tunes", "fine_tunes", g(create))
    emu.route("GET", "/v1/fine-tunes/{id}", "fine_tunes", g(job))
    emu.route("POST", "/v1/fine-tunes/{id}/cancel", "fine_tunes", g(cancel))
    emu.route("GET", "/v1/fine-tunes/{id}/events", "fine_tunes", g(events))
    emu.route("GET", "/v1/fine-tunes/{id}/checkpoints", "fine_tunes", g(checkpoints))
    emu.route("GET", "/v1/fine-tunes/{id}/metrics", "fine_tunes", g(metrics))
    emu.route("GET", "/v1/projects", "projects", g(projects))
    emu.route("GET", "/v2/supported-models/{model:path}", "models", g(supported))


def _event(kind: str, message: str, level: str = "info", **extra: Any) -> Json:
    return {
        "object": "fine-tune-event",
        "created_at": _now(),
        "type": kind,
        "message": message,
        "level": level,
    } | extra


def advance(emu: TogetherEmulator, job_id: str, status: str, *, step: int | None = None) -> None:
    with emu.lock:
        job = emu.jobs[job_id]
        job["status"], job["updated_at"] = status, _now()
        kinds = {"running": "training_start", "cancelled": "job_stopped"}
        emu.events[job_id].append(_event(kinds.get(status, status), f"Job is {status}"))
        if step is not None:
            loss = round(2.0 / (1 + step), 4)
            emu.metrics[job_id].append({"global_step": step, "train_loss": loss})
            emu.events[job_id].append(_event("checkpoint_save", f"Step {step}", step=step))


def succeed(emu: TogetherEmulator, job_id: str, *, steps: int) -> None:
    for step in range(1, steps + 1):
        advance(emu, job_id, "running", step=step)
    with emu.lock:
        job = emu.jobs[job_id]
        job["token_count"] = len(emu.file_data.get(job["training_file"], b"")) // 4
        job["model_object_id"] = "ml_" + hashlib.sha1(job_id.encode()).hexdigest()[:20]
    advance(emu, job_id, "completed")


def fail(emu: TogetherEmulator, job_id: str, message: str) -> None:
    with emu.lock:
        job = emu.jobs[job_id]
        job["status"], job["updated_at"] = "error", _now()
        emu.events[job_id].append(_event("job_error", message, level="error"))
