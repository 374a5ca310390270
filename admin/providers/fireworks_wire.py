"""Fireworks SDK <-> tunebot: TrainRequest -> job arguments, jobs -> snapshots and events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from admin.providers.base import JobEvent, JobSnapshot, TrainRequest
from admin.providers.plugin import Phase


def job_arguments(request: TrainRequest) -> dict[str, Any]:
    """Keyword arguments of `supervised_fine_tuning_jobs.create` or `dpo_jobs.create`."""
    options: Any = request.options
    training = {
        "base_model": request.model,
        "epochs": options.epochs,
        "learning_rate": options.lr,
        "batch_size": options.batch,
        "lora_rank": options.lora_rank,
        "max_context_length": options.max_context_length,
    }
    chosen = {key: value for key, value in training.items() if value is not None}
    if request.method == "dpo":
        arguments: dict[str, Any] = {"dataset": request.training_file, "training_config": chosen}
        loss: dict[str, Any] = {"method": "DPO"}
        if options.beta is not None:
            loss["dpo"] = {"beta": options.beta}
        arguments["loss_config"] = loss
    else:
        arguments = {"dataset": request.training_file, **chosen}
        if request.validation_file:
            arguments["evaluation_dataset"] = request.validation_file
    if options.suffix:
        arguments["display_name"] = options.suffix
    return arguments


def hyper_for(raw: dict[str, Any]) -> dict[str, Any]:
    config = raw.get("trainingConfig") or raw
    keys = {
        "epochs": "n_epochs",
        "learningRate": "learning_rate",
        "batchSize": "batch_size",
        "loraRank": "lora_rank",
        "maxContextLength": "max_context_length",
    }
    found = {ours: config.get(theirs) for theirs, ours in keys.items()}
    beta = ((raw.get("lossConfig") or {}).get("dpo") or {}).get("beta")
    return {k: v for k, v in (found | {"beta": beta}).items() if v is not None}


def snapshot(job: Any, phase: Callable[[str], Phase]) -> JobSnapshot:
    raw: dict[str, Any] = job.model_dump(by_alias=True, mode="json")
    state = str(raw.get("state") or "JOB_STATE_UNSPECIFIED")
    status = raw.get("status") or {}
    config = raw.get("trainingConfig") or raw
    failed = phase(state) == Phase.FAILED
    return JobSnapshot(
        id=str(raw.get("name") or ""),
        status=state,
        phase=phase(state),
        model=str(config.get("baseModel") or ""),
        fine_tuned_model=_model_name(raw),
        created_at=_when(raw.get("createTime")),
        finished_at=_when(raw.get("completedTime")),
        error_code=str(status.get("code")) if failed and status.get("code") else None,
        error_message=(status.get("message") or None) if failed else None,
        hyperparameters=hyper_for(raw),
    )


def _model_name(raw: dict[str, Any]) -> str | None:
    output = (raw.get("trainingConfig") or raw).get("outputModel")
    if not output:
        return None
    if output.startswith("accounts/"):
        return str(output)
    account = str(raw.get("name") or "").split("/")[1:2]
    return f"accounts/{account[0]}/models/{output}" if account else str(output)


def event_for(job: Any) -> JobEvent:
    """The job's state and progress now, as one event whose id is what it says."""
    raw: dict[str, Any] = job.model_dump(by_alias=True, mode="json")
    state = str(raw.get("state") or "JOB_STATE_UNSPECIFIED")
    progress = raw.get("jobProgress") or {}
    percent, epoch = progress.get("percent"), progress.get("epoch")
    words = state.removeprefix("JOB_STATE_").replace("_", " ").lower()
    message = f"Job {words}"
    if percent is not None:
        message += f", {percent}% done" + (f" (epoch {epoch})" if epoch is not None else "")
    status = raw.get("status") or {}
    if status.get("message") and state in ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
        message += f": {status['message']}"
    level = "error" if state == "JOB_STATE_FAILED" else "info"
    data = {k: v for k, v in {"percent": percent, "epoch": epoch}.items() if v is not None}
    return JobEvent(
        id=f"{state}:{percent}:{epoch}",
        created_at=_when(raw.get("updateTime")),
        level=level,
        message=message,
        type="progress" if percent is not None else "state",
        data=data,
    )


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
