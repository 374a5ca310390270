"""The provider interface every fine-tuning backend implements, its domain data and errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from admin.errors import TunebotError
from admin.providers.plugin import Phase

# (bytes sent, bytes total): large uploads report progress to Slack.
UploadProgress = Callable[[int, int], None]

Method = Literal["supervised", "dpo"]
ALL_CAPABILITIES: frozenset[str] = frozenset({"pause", "resume", "events", "checkpoints"})


class ProviderError(TunebotError):
    """The provider refused or failed; the message quotes the provider's own words."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class Unsupported(TunebotError):
    """The configured provider cannot do this (pause on Nebius, say)."""


class NotReady(TunebotError):
    """The trained model is not callable yet (a deployment is pending); ask again later."""


@dataclass(frozen=True)
class TrainRequest:
    training_file: str
    model: str
    validation_file: str | None = None
    epochs: int | None = None
    learning_rate_multiplier: float | None = None
    learning_rate: float | None = None  # absolute, for providers that take one
    batch_size: int | None = None
    suffix: str | None = None
    method: Method = "supervised"
    beta: float | None = None  # DPO only: how far the model may drift from the base
    seed: int | None = None
    metadata: Mapping[str, str] | None = None
    # Options only one provider declares (LoRA rank, max sequence length...), by option key.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in ("supervised", "dpo"):
            raise ValueError(f"unknown training method {self.method!r}")
        if self.beta is not None and self.method != "dpo":
            raise ValueError("beta applies to DPO training only")


@dataclass(frozen=True)
class JobSnapshot:
    id: str
    status: str
    model: str
    fine_tuned_model: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    trained_tokens: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    result_files: tuple[str, ...] = ()
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    estimated_finish: datetime | None = None
    # Set by the gateway from its plugin's own status table; unknown statuses stay ACTIVE.
    phase: Phase = Phase.ACTIVE


@dataclass(frozen=True)
class JobEvent:
    id: str
    created_at: datetime | None
    level: str
    message: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Checkpoint:
    id: str
    step: int
    model: str | None
    metrics: dict[str, Any]
    created_at: datetime | None


@dataclass(frozen=True)
class MetricPoint:
    step: int
    train_loss: float
    valid_loss: float | None = None


@dataclass(frozen=True)
class ModelInfo:
    id: str
    exists: bool
    shutdown_date: date | None = None


class FineTuneProvider(Protocol):
    name: str
    capabilities: frozenset[str]

    def upload_training_file(
        self, path: Path, *, filename: str, progress: UploadProgress | None = None
    ) -> str:
        """Upload a prepared chat JSONL file; return the provider's file id."""
        ...

    def create_job(self, request: TrainRequest) -> JobSnapshot: ...

    def get_job(self, job_id: str) -> JobSnapshot: ...

    def list_events(self, job_id: str, *, after: str | None = None) -> list[JobEvent]:
        """Events newer than the event id `after` (all if None or unknown), oldest first."""
        ...

    def cancel_job(self, job_id: str) -> JobSnapshot: ...

    def pause_job(self, job_id: str) -> JobSnapshot: ...

    def resume_job(self, job_id: str) -> JobSnapshot: ...

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        """Checkpoints by step, lowest first."""
        ...

    def metrics(self, job: JobSnapshot) -> list[MetricPoint]:
        """Loss per step from the results file, or from metrics events while it has none."""
        ...

    def make_callable(self, job: JobSnapshot) -> str:
        """The model name to chat with; idempotent; raises NotReady while it is deploying."""
        ...

    def is_answering(self, model: str) -> bool:
        """Whether `model` answers a 1-token chat yet (new models 404 for a few minutes)."""
        ...

    def model_info(self, model: str) -> ModelInfo: ...


@dataclass(frozen=True)
class Deployment:
    """A running deployment that serves one of our models, and what it costs while it runs."""

    model: str  # the name chats use
    state: str
    hourly_usd: float | None = None


@runtime_checkable
class Deployments(Protocol):
    """Gateways whose trained models run on paid deployments (Capability.DEPLOYMENTS)."""

    def deployment_quote(self, job: JobSnapshot) -> float | None:
        """USD per hour the deployment `make_callable(job)` would create will cost; None if
        the provider does not say."""
        ...

    def hourly_cost(self, model: str) -> float | None:
        """USD per hour the deployment serving `model` costs now; None if unknown."""
        ...

    def undeploy(self, model: str) -> bool:
        """Delete the deployment serving `model`; False when there was none."""
        ...

    def list_deployments(self) -> list[Deployment]: ...
