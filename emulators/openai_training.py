"""Test-driven progress of fine-tuning jobs: advance, succeed (results, metrics) or fail."""

from __future__ import annotations

import base64
import copy
import zlib
from typing import Any

from emulators.openai_files import store
from emulators.openai_jobs import add_event, get
from emulators.openai_models import add_model, base_of
from emulators.openai_state import Json, State, now
from emulators.openai_tokens import billed_tokens

STATUSES = ("validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled")
TERMINAL = ("succeeded", "failed", "cancelled")
# What OpenAI picks for "auto" on a small dataset; echoed once the job starts running.
# Epochs depend on the dataset's size (see default_epochs).
RESOLVED = {"batch_size": 1, "learning_rate_multiplier": 1.8, "beta": 0.1}
_NOTES = {
    "queued": "Files validated, moving job to queued state",
    "running": "Fine-tuning job started",
    "paused": "Fine-tuning job paused",
    "cancelled": "Fine-tuning job cancelled",
}


def default_epochs(n_examples: int) -> int:
    """OpenAI's "auto" epochs as its fine-tuning cookbook gives the rule: aim at 3 epochs,
    but train on at least 100 and at most 25,000 examples in all, within 1..25 epochs."""
    if n_examples <= 0:
        return 3
    if n_examples * 3 < 100:
        return min(25, 100 // n_examples)
    if n_examples * 3 > 25_000:
        return max(1, 25_000 // n_examples)
    return 3


def _resolve_auto(state: State, job: Json) -> None:
    section = job["method"][job["method"]["type"]]
    for key, value in section["hyperparameters"].items():
        if value == "auto" and key in RESOLVED:
            section["hyperparameters"][key] = RESOLVED[key]
        elif value == "auto" and key == "n_epochs":
            training = state.files.get(job["training_file"])
            _, examples = billed_tokens(training.data, job["model"]) if training else (0, 0)
            section["hyperparameters"][key] = default_epochs(examples)
    for key in job["hyperparameters"]:
        if key in section["hyperparameters"]:
            job["hyperparameters"][key] = section["hyperparameters"][key]


def advance_job(state: State, job_id: str, status: str) -> Json:
    if status == "succeeded":
        succeed_job(state, job_id)
    elif status == "failed":
        fail_job(
            state,
            job_id,
            code="internal_error",
            message="Fine-tuning failed for an internal reason.",
        )
    elif status not in STATUSES:
        raise ValueError(f"unknown job status {status!r}; one of {STATUSES}")
    with state.lock:
        job = get(state, job_id)
        if status in ("succeeded", "failed"):
            return copy.deepcopy(job)
        if job["status"] in TERMINAL:
            raise ValueError(f"job {job_id} is already {job['status']}")
        job["status"] = status
        if status == "running":
            _resolve_auto(state, job)
            job["estimated_finish"] = now() + 600
        add_event(state, job_id, _NOTES.get(status, f"Job moved to {status}"))
        return copy.deepcopy(job)


def train_steps(state: State, job_id: str, step: int, steps: int) -> None:
    """The running job reports its steps up to `step` of `steps` (a metrics event each), as
    OpenAI's do while they train."""
    with state.lock:
        job = get(state, job_id)
        if job["status"] in TERMINAL:
            raise ValueError(f"job {job_id} is already {job['status']}")
        if job["status"] != "running":
            advance_job(state, job_id, "running")
        validated = bool(job["validation_file"])
        for n in range(state.trained_steps.get(job_id, 0) + 1, step + 1):
            m = _metrics(n, validated)
            add_event(
                state,
                job_id,
                f"Step {n}/{steps}: training loss={m['train_loss']:.4f}",
                kind="metrics",
                data=m | {"total_steps": steps},
            )
        state.trained_steps[job_id] = max(step, state.trained_steps.get(job_id, 0))


def _metrics(step: int, validated: bool) -> dict[str, Any]:
    # Loss falls and accuracy rises with every step, as a healthy run's would.
    loss = round(2.2 * 0.82**step + 0.05, 4)
    metrics: dict[str, Any] = {
        "step": step,
        "train_loss": loss,
        "train_mean_token_accuracy": round(0.95 - loss / 4, 4),
    }
    if validated:
        metrics |= {
            "valid_loss": round(loss * 1.1, 4),
            "valid_mean_token_accuracy": round(0.93 - loss / 4, 4),
        }
    return metrics


def _results_csv(rows: list[dict[str, Any]]) -> str:
    lines = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
    for m in rows:
        cells = [
            m["step"],
            m["train_loss"],
            m["train_mean_token_accuracy"],
            m.get("valid_loss", ""),
        ]
        lines.append(",".join(str(c) for c in [*cells, m.get("valid_mean_token_accuracy", "")]))
    return "\n".join(lines) + "\n"


def succeed_job(
    state: State,
    job_id: str,
    *,
    fine_tuned_model: str | None = None,
    steps: int = 10,
    callable_after_calls: int = 0,
    results_base64: bool = True,
) -> str:
    with state.lock:
        job = get(state, job_id)
        if job["status"] in TERMINAL:
            raise ValueError(f"job {job_id} is already {job['status']}")
        _resolve_auto(state, job)
        tag = base64.b32encode(zlib.crc32(job_id.encode()).to_bytes(5, "big")).decode().lower()[:8]
        suffix = job.get("user_provided_suffix") or ""
        model = fine_tuned_model or f"ft:{base_of(job['model'])}:{state.org_slug}:{suffix}:{tag}"
        validated = bool(job["validation_file"])
        rows = [_metrics(step, validated) for step in range(1, steps + 1)]
        for m in rows[state.trained_steps.get(job_id, 0) :]:  # steps not yet reported
            data = m | {"total_steps": steps}
            add_event(
                state,
                job_id,
                f"Step {m['step']}/{steps}: training loss={m['train_loss']:.4f}",
                kind="metrics",
                data=data,
            )
        for step in sorted({max(1, steps // 3), max(1, 2 * steps // 3), steps}):
            m = rows[step - 1]
            metrics = m | {
                "full_valid_loss": m.get("valid_loss"),
                "full_valid_mean_token_accuracy": m.get("valid_mean_token_accuracy"),
            }
            state.checkpoints[job_id].append(
                {
                    "id": f"ftckpt_{tag}{step:04d}",
                    "object": "fine_tuning.job.checkpoint",
                    "created_at": now(),
                    "fine_tuned_model_checkpoint": f"{model}:ckpt-step-{step}",
                    "fine_tuning_job_id": job_id,
                    "metrics": metrics,
                    "step_number": step,
                }
            )
        csv = _results_csv(rows).encode()
        # OpenAI serves the results file base64-encoded; a reader must decode it first.
        content = base64.b64encode(csv) if results_base64 else csv
        results = store(state, "step_metrics.csv", content, "fine-tune-results")
        training = state.files.get(job["training_file"])
        epochs = job["hyperparameters"].get("n_epochs") or 3
        per_epoch = billed_tokens(training.data, job["model"])[0] if training else 1000
        job |= {
            "status": "succeeded",
            "fine_tuned_model": model,
            "finished_at": now(),
            "estimated_finish": None,
        }
        job |= {
            "result_files": [results["id"]],
            # "The total number of billable tokens processed by this fine-tuning job."
            "trained_tokens": per_epoch * int(epochs),
        }
        add_event(state, job_id, f"New fine-tuned model created: {model}")
        add_event(state, job_id, "The job has successfully completed")
        add_model(state, model, owned_by=state.organization)
        if callable_after_calls:
            state.unready[model] = callable_after_calls
        return model


def fail_job(
    state: State, job_id: str, *, code: str, message: str, param: str | None = None
) -> Json:
    with state.lock:
        job = get(state, job_id)
        if job["status"] in TERMINAL:
            raise ValueError(f"job {job_id} is already {job['status']}")
        job |= {"status": "failed", "error": {"code": code, "message": message, "param": param}}
        job |= {"finished_at": now(), "estimated_finish": None}
        add_event(state, job_id, message, level="error")
        return copy.deepcopy(job)
