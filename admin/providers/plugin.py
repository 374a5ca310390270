"""What a provider plugin declares: settings, capabilities, phases, train options, prices.

Everything the rest of tunebot shows or checks about a provider (usage text, `/finetune help`,
option validation, which variables configure it, whether it takes new jobs) is derived from
these declarations. A third-party package adds a provider by subclassing `ProviderPlugin` and
registering the class under the `tunebot.providers` entry point group.
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

if TYPE_CHECKING:
    from admin.providers.base import FineTuneProvider

log = logging.getLogger(__name__)


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
    """What tunebot hands every gateway it builds, beyond the provider's own variables."""

    today: Callable[[], date]
    # The tunebot database, for providers whose "API" is tunebot's own tables (a local trainer).
    session_factory: Any = None
    # The content-addressed dataset store (normalised chat JSONL by sha256), when there is one.
    data_dir: Path | None = None


@dataclass(frozen=True)
class Setting:
    """An environment variable a provider reads."""

    variable: str
    help: str
    secret: bool = False
    url: bool = False
    default: str | None = None
    # Setting this variable turns the provider on (its API key, or a server's URL).
    enables: bool = False


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
class TrainOption:
    """One `key=value` word `/finetune train` accepts for a provider."""

    key: str
    kind: type  # int, float or str
    help: str
    # Where the value goes: a TrainRequest field, or a key of TrainRequest.extra.
    target: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    default: str | None = None  # said in help when the provider has a stated default
    max_length: int | None = None

    @property
    def field(self) -> str:
        return self.target or self.key

    def expected(self) -> str:
        """What the value must be, in the words of a usage error."""
        if self.choices:
            return " or ".join(f"`{c}`" for c in self.choices)
        what = {int: "a whole number", float: "a number"}.get(self.kind, "text")
        bounds = []
        if self.minimum is not None:
            bounds.append(f"{'above' if self.exclusive_minimum else 'at least'} {self.minimum:g}")
        if self.maximum is not None:
            bounds.append(f"at most {self.maximum:g}")
        if self.max_length is not None:
            bounds.append(f"up to {self.max_length} characters")
        return what + (" " + " and ".join(bounds) if bounds else "")

    def parse(self, raw: str) -> Any:
        """The typed value; ValueError when it is not what `expected()` says."""
        raw = raw.strip()
        if self.choices:
            if raw.lower() not in self.choices:
                raise ValueError(raw)
            return raw.lower()
        if self.kind is int:
            value: Any = int(raw)
        elif self.kind is float:
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(raw)
        else:
            if not raw or (self.max_length is not None and len(raw) > self.max_length):
                raise ValueError(raw)
            return raw
        if self.minimum is not None and (
            value < self.minimum or (self.exclusive_minimum and value == self.minimum)
        ):
            raise ValueError(raw)
        if self.maximum is not None and value > self.maximum:
            raise ValueError(raw)
        return value

    def describe(self) -> str:
        default = f" (default {self.default})" if self.default else ""
        return f"`{self.key}=` {self.help}{default}"


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


# Options most providers share; a plugin lists the ones it takes, in its own words if needed.
MODEL_OPTION = TrainOption("model", str, "the base model to fine-tune", max_length=255)
EPOCHS_OPTION = TrainOption("epochs", int, "epochs, 1 or more", minimum=1, maximum=100)
BATCH_OPTION = TrainOption("batch", int, "batch size, 1 or more", target="batch_size", minimum=1)
SUFFIX_OPTION = TrainOption("suffix", str, "text to put in the model's name", max_length=64)
VALIDATION_OPTION = TrainOption(
    "validation", str, "a stored dataset (ds-N) to validate on", max_length=64
)
SEED_OPTION = TrainOption("seed", int, "a whole number for reproducible runs", minimum=0)
METHOD_OPTION = TrainOption(
    "method", str, "the training method", choices=("supervised", "dpo"), default="supervised"
)
BETA_OPTION = TrainOption(
    "beta",
    float,
    "DPO only: how far the model may drift from the base",
    minimum=0,
    exclusive_minimum=True,
)


def absolute_lr_option(help: str, *, default: str | None = None) -> TrainOption:
    """`lr=` for providers that take an absolute learning rate (not OpenAI's multiplier)."""
    return TrainOption(
        "lr",
        float,
        help,
        target="learning_rate",
        minimum=0,
        exclusive_minimum=True,
        default=default,
    )


def lora_options(
    *,
    max_rank: int,
    max_dropout: float,
    rank_help: str = "LoRA rank",
    defaults: tuple[str, str, str] | None = None,
) -> tuple[TrainOption, ...]:
    """`lora_r=`, `lora_alpha=`, `lora_dropout=` with a provider's own bounds and defaults."""
    rank, alpha, dropout = defaults or (None, None, None)
    return (
        TrainOption("lora_r", int, rank_help, minimum=1, maximum=max_rank, default=rank),
        TrainOption("lora_alpha", int, "LoRA alpha", minimum=1, default=alpha),
        TrainOption(
            "lora_dropout", float, "LoRA dropout", minimum=0, maximum=max_dropout, default=dropout
        ),
    )


# Options tunebot itself reads before any provider is involved.
PROVIDER_OPTION_KEY = "provider"


class ProviderPlugin:
    """Subclass, fill in the declarations, and implement `build`.

    The class (not an instance) is what the entry point names; the registry instantiates
    it with no arguments.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    settings: ClassVar[tuple[Setting, ...]] = ()
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    # The provider's own job statuses -> phases; a status not listed stays ACTIVE.
    phases: ClassVar[Mapping[str, Phase]] = {}
    train_options: ClassVar[tuple[TrainOption, ...]] = ()
    # What `model=` defaults to for jobs here, and what a retrain suggestion names.
    default_base_model: ClassVar[str | None] = None
    # How the dataset report's token counts relate to what this provider bills.
    token_counting: ClassVar[str] = "counted with tiktoken; the provider's own tokenizer may differ"
    # Shown in `/finetune providers` and before creating a deployment.
    serving_cost: ClassVar[str] = ""

    def __init__(self) -> None:
        self._unknown_statuses: set[str] = set()
        self._lock = threading.Lock()

    # -- configuration -------------------------------------------------------------------------

    def values(self, env: Mapping[str, str]) -> dict[str, str]:
        """This provider's variables from `env`, defaults filled in."""
        found: dict[str, str] = {}
        for setting in self.settings:
            value = (env.get(setting.variable) or "").strip() or setting.default
            if value:
                found[setting.variable] = value
        return found

    def is_configured(self, env: Mapping[str, str]) -> bool:
        return any((env.get(s.variable) or "").strip() for s in self.settings if s.enables)

    def missing(self, env: Mapping[str, str]) -> list[Setting]:
        """Variables that turn this provider on, for the message when none is configured."""
        return [s for s in self.settings if s.enables]

    def chat_endpoint(self, values: Mapping[str, str]) -> ChatEndpoint:
        raise NotImplementedError

    def build(
        self, values: Mapping[str, str], *, endpoint: ChatEndpoint, context: ProviderContext
    ) -> FineTuneProvider:
        """The gateway that talks to this provider's fine-tuning API."""
        raise NotImplementedError

    # -- what it does --------------------------------------------------------------------------

    def phase(self, status: str) -> Phase:
        found = self.phases.get(status)
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

    def option(self, key: str) -> TrainOption | None:
        return next((o for o in self.train_options if o.key == key), None)

    def usage(self) -> str:
        words = " ".join(f"[{o.key}=]" for o in self.train_options)
        return f"/finetune train <dataset> [provider={self.name}] {words}".replace("  ", " ")
