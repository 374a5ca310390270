"""What providers and tunebot exchange: requests, snapshots, events, models, and the errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from admin.errors import TunebotError
from admin.providers.options import Method, TrainOptions
from admin.providers.plugin import Phase

# (bytes sent, bytes total): large uploads report progress to Slack.
UploadProgress = Callable[[int, int], None]


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
    """What the core hands a provider: files, model, metadata, and the provider's own options
    (validated by its `Options`; their meaning, such as `lr=`'s, is the provider's)."""

    training_file: str
    model: str
    options: TrainOptions = field(default_factory=lambda: TrainOptions())
    validation_file: str | None = None
    metadata: Mapping[str, str] | None = None

    @property
    def method(self) -> Method:
        return self.options.training_method()


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
    # Set by the provider from its own status table; unknown statuses stay ACTIVE.
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
    # Tokens the model reads and writes, where the provider's metadata says.
    context_window: int | None = None


@dataclass(frozen=True)
class Deployment:
    """A running deployment that serves one of our models, and what it costs while it runs."""

    model: str  # the name chats use
    state: str
    hourly_usd: float | None = None
    # When it started running, where the provider says: what it has cost this month follows.
    since: datetime | None = None


@runtime_checkable
class Deployments(Protocol):
    """Providers whose trained models run on paid deployments (Capability.DEPLOYMENTS)."""

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
