"""The one class a provider author writes: declarations (settings, capabilities, statuses,
train options) and the calls, together.

A package adds a provider by subclassing `Provider` (or `OpenAICompatible` for APIs that speak
OpenAI's fine-tuning routes) and registering the class under the `tunebot.providers` entry
point group. Everything tunebot shows or checks about a provider (usage text, `/finetune help`,
option validation, the variables that configure it, whether it takes new jobs) is derived
from the class; the registry instantiates it only when its settings turn it on, so a
provider's SDK is imported in `__init__`, never at module level.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from admin.options import read_options
from admin.providers.options import TrainOptions
from admin.providers.settings import ProviderSettings

if TYPE_CHECKING:
    from admin.providers.base import (
        Checkpoint,
        JobEvent,
        JobSnapshot,
        MetricPoint,
        ModelInfo,
        TrainRequest,
        Unsupported,
        UploadProgress,
    )

log = logging.getLogger(__name__)

# The option tunebot reads before any provider is involved: which one trains.
PROVIDER_OPTION_KEY = "provider"


class Capability(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    EVENTS = "events"
    CHECKPOINTS = "checkpoints"
    DPO = "dpo"
    # A trained model needs a deployment (which may cost money while it runs).
    DEPLOYMENTS = "deployments"


class Phase(StrEnum):
    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ProviderContext:
    """What tunebot hands every provider it builds, beyond the provider's own settings."""

    today: Callable[[], date]
    # The tunebot database, for providers whose "API" is tunebot's own tables (a local trainer).
    session_factory: Any = None
    # The content-addressed dataset store (normalised chat JSONL by sha256), when there is one.
    data_dir: Path | None = None


@dataclass(frozen=True)
class ChatEndpoint:
    """Where a provider's models answer: an OpenAI-compatible /chat/completions base."""

    base_url: str | None  # None: the openai SDK's default (api.openai.com)
    api_key: str | None
    # OpenAI and Azure take `max_completion_tokens`; vLLM-style servers `max_tokens`.
    token_limit_field: str = "max_completion_tokens"

    @property
    def host(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.base_url or "https://api.openai.com/v1").netloc


@dataclass(frozen=True)
class Estimate:
    """What a job will cost, or why that is not known."""

    model: str
    billed_tokens_per_epoch: int
    epochs: int
    price_per_1m: float | None
    cost_usd: float | None
    note: str = ""
    provider_label: str = ""

    def describe(self) -> str:
        tokens = f"{self.billed_tokens_per_epoch:,} billed tokens × {self.epochs} epochs"
        if self.cost_usd is None:
            where = f" at {self.provider_label}" if self.provider_label else ""
            return f"{tokens}; price unknown for `{self.model}`{where}{self.note}"
        return f"{tokens} × ${self.price_per_1m:g}/1M = about *${self.cost_usd:.2f}*{self.note}"


@dataclass(frozen=True)
class AnswerPrice:
    """What answering with a model costs: USD per 1M input (prompt) and output (completion)
    tokens, and where that price comes from."""

    input_per_1m: float
    output_per_1m: float
    source: str

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        spent = prompt_tokens * self.input_per_1m + completion_tokens * self.output_per_1m
        return spent / 1_000_000

    @property
    def is_free(self) -> bool:
        return self.input_per_1m == 0 and self.output_per_1m == 0

    def describe(self) -> str:
        if self.is_free:
            return "nothing per token"
        return f"${self.input_per_1m:g} in / ${self.output_per_1m:g} out per 1M tokens"


# A provider that bills nothing per token (your own GPU): its answers cost $0, not "unknown".
NOTHING_PER_TOKEN = AnswerPrice(0.0, 0.0, "nothing per token")


class Provider:
    """Subclass, declare, implement the calls. The class is what the entry point names."""

    name: ClassVar[str]
    label: ClassVar[str]
    # Its environment variables (the required ones turn it on).
    Settings: ClassVar[type[ProviderSettings]] = ProviderSettings
    # What `/finetune train` takes here: help, validation and errors all come from it.
    Options: ClassVar[type[TrainOptions]] = TrainOptions
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    # The provider's own job statuses -> phases; a status not listed stays ACTIVE.
    statuses: ClassVar[Mapping[str, Phase]] = {}
    # What `model=` defaults to for jobs here, and what a retrain suggestion names.
    default_base_model: ClassVar[str | None] = None
    # How the dataset report's token counts relate to what this provider bills.
    token_counting: ClassVar[str] = "counted with tiktoken; the provider's own tokenizer may differ"
    # Shown in `/finetune providers` and before creating a deployment.
    serving_cost: ClassVar[str] = ""

    def __init__(self, settings: ProviderSettings, context: ProviderContext) -> None:
        self.settings = settings
        self.context = context
        self._unknown_statuses: set[str] = set()
        self._windows: dict[str, int | None] = {}
        self._lock = threading.Lock()
        self.endpoint = self.chat_endpoint()

    # -- derived from the declarations ---------------------------------------------------------

    @classmethod
    def read_options(cls, pairs: Mapping[str, str]) -> TrainOptions:
        """`/finetune train`'s key=value words validated by `Options`; UsageError names the
        option at fault and what it takes."""
        return read_options(pairs, cls.Options, owner=cls.label, also=(PROVIDER_OPTION_KEY,))

    @classmethod
    def usage(cls) -> str:
        words = " ".join(f"[{key}=]" for key in cls.Options.option_names())
        return f"/finetune train <dataset> [provider={cls.name}] {words}".strip()

    def phase(self, status: str) -> Phase:
        found = self.statuses.get(status)
        if found is not None:
            return found
        with self._lock:
            first = status not in self._unknown_statuses
            self._unknown_statuses.add(status)
        if first:
            log.warning(
                "%s reported job status %r, which tunebot does not know; "
                "treating it as still in progress",
                self.label,
                status,
            )
        return Phase.ACTIVE

    def unsupported(self, doing: str) -> Unsupported:
        from admin.providers.base import Unsupported

        return Unsupported(f"{self.label} cannot {doing}; this backend does not support it.")

    # -- chat ----------------------------------------------------------------------------------

    def chat_endpoint(self) -> ChatEndpoint:
        """Where this provider's models answer chat (OpenAI's chat completions API)."""
        raise NotImplementedError

    def context_window(self, model: str) -> int | None:
        """Tokens `model` reads and writes, as the provider's model metadata says (asked once
        per model); None when it does not say."""
        with self._lock:
            if model in self._windows:
                return self._windows[model]
        try:
            window = self.model_info(model).context_window
        except Exception:  # the window is advice for the history budget, never a reason to fail
            window = None
        if window is None:
            log.warning(
                "%s states no context window for %s; chat history is budgeted by "
                "TUNEBOT_CONTEXT_WINDOW where it is set, else by TUNEBOT_HISTORY_TOKENS alone",
                self.label,
                model,
            )
        with self._lock:
            self._windows[model] = window
        return window

    # -- policy: override where the provider has one -------------------------------------------

    def new_jobs_refusal(self, today: date) -> str | None:
        """Why this provider takes no new fine-tuning jobs on `today`; None when it does."""
        return None

    def new_jobs_notice(self, today: date) -> str | None:
        """A warning shown while it still takes jobs (a closing date); None when there is none."""
        return None

    def shutdown_date(self, model: str) -> date | None:
        """A date this provider is known to stop serving `model` (beyond its Models API)."""
        return None

    def check_model(self, model: str, method: str) -> None:
        """Raise TunebotError when `model` cannot be trained here with `method`; silent when the
        provider names its own models (its refusal is quoted instead)."""

    @classmethod
    def answer_price(cls, model: str) -> AnswerPrice | None:
        """What answering with `model` here costs per token; None (the default) where the
        provider publishes no stable price list: tunebot then says "price unknown", never $0.
        Asked of the class, so turns answered by a provider since turned off are priced too."""
        return None

    def estimate(self, report: Mapping[str, Any], model: str, epochs: int) -> Estimate:
        """Cost of training `report`'s dataset on `model`; price unknown unless published."""
        tokens = int((report.get("tokens") or {}).get("billed_per_epoch") or 0)
        return Estimate(
            model=model,
            billed_tokens_per_epoch=tokens,
            epochs=epochs,
            price_per_1m=None,
            cost_usd=None,
            provider_label=self.label,
        )

    # -- the calls -----------------------------------------------------------------------------
    # A provider implements the first eight; the others raise Unsupported unless its
    # capabilities say it can. Providers with Capability.DEPLOYMENTS also implement
    # `deployment_quote`, `hourly_cost`, `undeploy` and `list_deployments` (base.Deployments).

    def upload_training_file(
        self, path: Path, *, filename: str, progress: UploadProgress | None = None
    ) -> str:
        """Upload a prepared chat JSONL file; return the provider's file id."""
        raise NotImplementedError

    def create_job(self, request: TrainRequest) -> JobSnapshot:
        raise NotImplementedError

    def get_job(self, job_id: str) -> JobSnapshot:
        raise NotImplementedError

    def cancel_job(self, job_id: str) -> JobSnapshot:
        raise NotImplementedError

    def metrics(self, job: JobSnapshot) -> list[MetricPoint]:
        """Loss per step. `job` may be rebuilt from tunebot's database (id, status, model,
        fine_tuned_model, finished_at, trained_tokens, result_files, hyperparameters, phase)."""
        raise NotImplementedError

    def make_callable(self, job: JobSnapshot) -> str:
        """The model name to chat with; idempotent; raises NotReady while it is deploying.
        `job` may be rebuilt from tunebot's database, as for `metrics`."""
        raise NotImplementedError

    def is_answering(self, model: str) -> bool:
        """Whether `model` answers a 1-token chat yet (new models 404 for a few minutes)."""
        raise NotImplementedError

    def model_info(self, model: str) -> ModelInfo:
        raise NotImplementedError

    def list_events(self, job_id: str, *, after: str | None = None) -> list[JobEvent]:
        """Events newer than the event id `after` (all if None or unknown), oldest first."""
        raise self.unsupported("list a job's events")

    def pause_job(self, job_id: str) -> JobSnapshot:
        raise self.unsupported("pause a fine-tuning job")

    def resume_job(self, job_id: str) -> JobSnapshot:
        raise self.unsupported("resume a paused fine-tuning job")

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        """Checkpoints by step, lowest first."""
        raise self.unsupported("list a job's checkpoints")
