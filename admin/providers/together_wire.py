"""Together's SDK objects -> tunebot's snapshots and events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from admin.providers.base import JobEvent, JobSnapshot
from admin.providers.plugin import Phase

# Statuses after which `updated_at` is when the job ended.
_ENDED = frozenset({"completed", "cancelled", "error"})


def snapshot(job: Any, phase: Callable[[str], Phase]) -> JobSnapshot:
    raw: dict[str, Any] = job.model_dump(by_alias=True, mode="json")
    status = str(raw.get("status") or "unknown")
    training = raw.get("training_type") or {}
    method = raw.get("training_method") or {}
    hyper = {
        "n_epochs": raw.get("n_epochs"),
        "learning_rate": raw.get("learning_rate"),
        "batch_size": raw.get("batch_size"),
        "lora_r": training.get("lora_r"),
        "lora_alpha": training.get("lora_alpha"),
        "lora_dropout": training.get("lora_dropout"),
        "method": method.get("method"),
        "beta": method.get("dpo_beta"),
        "model_object_id": raw.get("model_object_id"),
    }
    progress = raw.get("progress") or {}
    updated = when(raw.get("updated_at"))
    finish = None
    if progress.get("estimate_available") and updated is not None:
        finish = updated.timestamp() + float(progress.get("seconds_remaining") or 0)
    return JobSnapshot(
        id=str(raw["id"]),
        status=status,
        phase=phase(status),
        model=str(raw.get("model") or ""),
        fine_tuned_model=raw.get("model_output_name"),
        created_at=when(raw.get("created_at")),
        finished_at=updated if status in _ENDED else None,
        trained_tokens=raw.get("token_count"),
        hyperparameters={k: v for k, v in hyper.items() if v is not None},
        estimated_finish=datetime.fromtimestamp(finish, tz=UTC) if finish else None,
    )


def event(index: int, item: Any) -> JobEvent:
    level = str(item.level or "info").removeprefix("legacy_i").removeprefix("legacy_")
    data = {k: v for k, v in {"step": item.step, "total_steps": item.total_steps}.items() if v}
    return JobEvent(
        id=f"ev-{index}",
        created_at=when(item.created_at),
        level="error" if item.type == "job_error" else level,
        message=str(item.message or ""),
        type=str(item.type or "message"),
        data=data,
    )


def when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
