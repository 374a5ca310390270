"""Between SDK and domain: TrainRequest -> job-create arguments, SDK objects -> snapshots."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from admin.providers.base import Checkpoint, JobEvent, JobSnapshot, TrainRequest
from admin.providers.plugin import Phase

# Options OpenAI's job-create takes beside the method's hyperparameters.
_TOP_LEVEL = ("suffix", "seed")


def create_arguments(request: TrainRequest) -> dict[str, Any]:
    """Keyword arguments for `fine_tuning.jobs.create`; unset options are left to the provider.

    The options go under their aliases (the API's names); `suffix` and `seed` are top-level
    fields, the rest hyperparameters of the training method.
    """
    chosen = request.options.provider_fields()
    top = {key: chosen.pop(key) for key in _TOP_LEVEL if key in chosen}
    # `method` replaced the top-level `hyperparameters`, which OpenAI now calls deprecated.
    arguments: dict[str, Any] = {
        "model": request.model,
        "training_file": request.training_file,
        "method": {"type": request.method, request.method: {"hyperparameters": chosen}},
        **top,
    }
    optional = {
        "validation_file": request.validation_file,
        "metadata": dict(request.metadata) if request.metadata is not None else None,
    }
    arguments |= {key: value for key, value in optional.items() if value is not None}
    return arguments


def when(seconds: Any) -> datetime | None:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)


def day(value: Any) -> date | None:
    """A shutdown date as providers give it: `YYYY-MM-DD`, an ISO timestamp or unix seconds."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool):
        moment = when(value)
        return moment.date() if moment else None
    if isinstance(value, str) and value.strip():
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def snapshot(job: Any, phase: Callable[[str], Phase]) -> JobSnapshot:
    """`phase` maps the provider's statuses (its `phase`, from its status table)."""
    raw = _as_dict(job)
    error = raw.get("error") or {}
    status = str(raw.get("status") or "unknown")
    return JobSnapshot(
        id=str(raw["id"]),
        status=status,
        phase=phase(status),
        model=str(raw.get("model") or ""),
        fine_tuned_model=raw.get("fine_tuned_model"),
        created_at=when(raw.get("created_at")),
        finished_at=when(raw.get("finished_at")),
        trained_tokens=raw.get("trained_tokens"),
        error_code=error.get("code") or None,
        error_message=error.get("message") or None,
        result_files=tuple(raw.get("result_files") or ()),
        hyperparameters=_hyperparameters(raw),
        estimated_finish=when(raw.get("estimated_finish")),
    )


def _hyperparameters(raw: dict[str, Any]) -> dict[str, Any]:
    # The method section is the one kept current (and holds beta); the top-level copy
    # is what providers without `method` (older Azure API versions) still fill.
    merged = {k: v for k, v in (raw.get("hyperparameters") or {}).items() if v is not None}
    method = raw.get("method") or {}
    section = method.get(method.get("type") or "") or {}
    merged |= {k: v for k, v in (section.get("hyperparameters") or {}).items() if v is not None}
    return merged


def event(item: Any) -> JobEvent:
    raw = _as_dict(item)
    data = raw.get("data")
    return JobEvent(
        id=str(raw["id"]),
        created_at=when(raw.get("created_at")),
        level=str(raw.get("level") or "info"),
        message=str(raw.get("message") or ""),
        type=str(raw.get("type") or "message"),
        data=data if isinstance(data, dict) else {},
    )


def checkpoint(item: Any) -> Checkpoint:
    raw = _as_dict(item)
    metrics = {k: v for k, v in (raw.get("metrics") or {}).items() if v is not None}
    step = raw.get("step_number") or metrics.get("step") or 0
    return Checkpoint(
        id=str(raw["id"]),
        step=int(step),
        model=raw.get("fine_tuned_model_checkpoint"),
        metrics=metrics,
        created_at=when(raw.get("created_at")),
    )


def _as_dict(item: Any) -> dict[str, Any]:
    # SDK models keep fields a provider adds beyond OpenAI's schema; a dump keeps them too.
    if isinstance(item, dict):
        return item
    dumped: dict[str, Any] = item.model_dump()
    return dumped
