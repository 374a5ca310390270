"""OpenAI fine-tuning jobs API: create (with checks), list, retrieve, transitions, events."""

from __future__ import annotations

import copy
import zlib
from typing import Any

from emulators._support import random_id
from emulators._wire import Request
from emulators.openai_models import fine_tunable
from emulators.openai_state import (
    Json,
    OpenAIError,
    State,
    body_of,
    cursor_page,
    not_found,
    now,
)

AUTO: dict[str, Json] = {
    "supervised": {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"},
    "dpo": {
        "batch_size": "auto",
        "beta": "auto",
        "learning_rate_multiplier": "auto",
        "n_epochs": "auto",
    },
    "reinforcement": {
        "batch_size": "auto",
        "compute_multiplier": "auto",
        "eval_interval": "auto",
        "eval_samples": "auto",
        "learning_rate_multiplier": "auto",
        "n_epochs": "auto",
        "reasoning_effort": "default",
    },
}
ACTIVE = ("validating_files", "queued", "running", "paused")
MAX_SUFFIX = 64


def add_event(
    state: State,
    job_id: str,
    message: str,
    *,
    level: str = "info",
    kind: str = "message",
    data: Any = None,
) -> None:
    event = {
        "id": random_id("ftevent-", 24),
        "object": "fine_tuning.job.event",
        "created_at": now(),
    }
    event |= {
        "level": level,
        "message": message,
        "type": kind,
        "data": data if data is not None else {},
    }
    with state.lock:
        state.events.setdefault(job_id, []).append(event)


def _missing(name: str) -> OpenAIError:
    return OpenAIError(
        400, f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter"
    )


def _check_file(state: State, file_id: str, param: str) -> None:
    with state.lock:
        stored = state.files.get(file_id)
    if stored is None:
        raise OpenAIError(400, f"invalid {param}: {file_id}", param=param)
    if stored.meta["purpose"] != "fine-tune":
        purpose = stored.meta["purpose"]
        message = f"File {file_id} has purpose '{purpose}'; fine-tuning needs purpose 'fine-tune'."
        raise OpenAIError(400, message, param=param)


def _method(body: Json) -> Json:
    method = body.get("method")
    if not method:
        hyper = AUTO["supervised"] | (body.get("hyperparameters") or {})
        return {"type": "supervised", "supervised": {"hyperparameters": hyper}}
    kind = method.get("type") if isinstance(method, dict) else None
    if kind not in AUTO:
        supported = "'supervised', 'dpo', 'reinforcement'"
        raise OpenAIError(
            400, f"Invalid value: '{kind}'. Supported values are: {supported}.", param="method.type"
        )
    section = dict(method.get(kind) or {})
    if kind == "reinforcement" and not section.get("grader"):
        raise _missing("method.reinforcement.grader")
    section["hyperparameters"] = AUTO[kind] | (section.get("hyperparameters") or {})
    return {"type": kind, kind: section}


def create(state: State, request: Request) -> Json:
    if (refusal := state.refusal) is not None:
        # A fresh exception per request: one raised object must not collect tracebacks.
        raise OpenAIError(refusal.status, refusal.message, type=refusal.type, code=refusal.code)
    body = body_of(request.json())
    for name in ("model", "training_file"):
        if not body.get(name):
            raise _missing(name)
    model = fine_tunable(state, str(body["model"]))
    _check_file(state, body["training_file"], "training_file")
    if body.get("validation_file"):
        _check_file(state, body["validation_file"], "validation_file")
    suffix = body.get("suffix")
    if suffix is not None and len(str(suffix)) > MAX_SUFFIX:
        raise OpenAIError(400, f"suffix must be at most {MAX_SUFFIX} characters.", param="suffix")
    method = _method(body)
    hyper = method[method["type"]]["hyperparameters"]
    job_id = random_id("ftjob-", 24)
    job = {
        "id": job_id,
        "object": "fine_tuning.job",
        "created_at": now(),
        "model": model,
        "organization_id": state.organization,
        "status": "validating_files",
        "training_file": body["training_file"],
        "validation_file": body.get("validation_file"),
        "hyperparameters": {
            k: hyper[k] for k in ("batch_size", "learning_rate_multiplier", "n_epochs")
        },
        "method": method,
        "result_files": [],
        "trained_tokens": None,
        "fine_tuned_model": None,
        "error": None,
        "seed": body["seed"]
        if isinstance(body.get("seed"), int)
        else zlib.crc32(job_id.encode()) % 2**31,
        "estimated_finish": None,
        "finished_at": None,
        "integrations": body.get("integrations") or [],
        "metadata": body.get("metadata"),
        "user_provided_suffix": suffix,
    }
    with state.lock:
        state.jobs[job_id] = job
        state.checkpoints[job_id] = []
    add_event(state, job_id, f"Validating training file: {body['training_file']}")
    add_event(state, job_id, f"Created fine-tuning job: {job_id}")
    return copy.deepcopy(job)


def get(state: State, job_id: str) -> Json:
    with state.lock:
        job = state.jobs.get(job_id)
    if job is None:
        raise not_found("fine-tuning job", job_id, "fine_tuning_job_id")
    return job


def list_jobs(state: State, request: Request) -> Json:
    wanted = {
        k[len("metadata[") : -1]: v for k, v in request.query.items() if k.startswith("metadata[")
    }
    with state.lock:
        jobs = [copy.deepcopy(j) for j in reversed(state.jobs.values())]
    jobs = [
        j for j in jobs if all((j.get("metadata") or {}).get(k) == v for k, v in wanted.items())
    ]
    return cursor_page(jobs, request.query)


def retrieve(state: State, request: Request) -> Json:
    with state.lock:
        return copy.deepcopy(get(state, request.params["job_id"]))


def _transition(
    state: State, request: Request, allowed: tuple[str, ...], target: str, verb: str
) -> Json:
    with state.lock:
        job = get(state, request.params["job_id"])
        if job["status"] not in allowed:
            raise OpenAIError(
                400,
                f"Job {job['id']} is {job['status']} and cannot be {verb}.",
                param="fine_tuning_job_id",
            )
        job["status"] = target
        if target == "cancelled":
            job["estimated_finish"] = None
        add_event(state, job["id"], f"Fine-tuning job {verb}")
        return copy.deepcopy(job)


def cancel(state: State, request: Request) -> Json:
    return _transition(state, request, ACTIVE, "cancelled", "cancelled")


def pause(state: State, request: Request) -> Json:
    return _transition(state, request, ("running",), "paused", "paused")


def resume(state: State, request: Request) -> Json:
    return _transition(state, request, ("paused",), "running", "resumed")


def list_events(state: State, request: Request) -> Json:
    with state.lock:
        get(state, request.params["job_id"])
        events = [dict(e) for e in reversed(state.events.get(request.params["job_id"], []))]
    return cursor_page(events, request.query)


def list_checkpoints(state: State, request: Request) -> Json:
    with state.lock:
        get(state, request.params["job_id"])
        found = [
            copy.deepcopy(c) for c in reversed(state.checkpoints.get(request.params["job_id"], []))
        ]
    return cursor_page(found, request.query, default_limit=10)
