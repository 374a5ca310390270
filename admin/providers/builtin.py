"""The built-in plugins: OpenAI, Azure OpenAI and Nebius Token Factory (entry points too)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar

import openai

from admin.datasets.pricing import price_for, snapshot, training_cost
from admin.errors import TunebotError
from admin.providers.base import FineTuneProvider
from admin.providers.nebius import NebiusProvider
from admin.providers.openai_compat import OPENAI_PHASES, OpenAICompatibleProvider
from admin.providers.plugin import (
    BATCH_OPTION,
    BETA_OPTION,
    EPOCHS_OPTION,
    METHOD_OPTION,
    MODEL_OPTION,
    SEED_OPTION,
    SUFFIX_OPTION,
    VALIDATION_OPTION,
    Capability,
    ChatEndpoint,
    Estimate,
    Phase,
    ProviderContext,
    ProviderPlugin,
    Setting,
    TrainOption,
    absolute_lr_option,
    lora_options,
)
from admin.tokens import base_model, encoding_name_for

# OpenAI stops taking new fine-tuning jobs after this day (new organisations since 2026-05-07).
OPENAI_CLOSES = date(2027, 1, 6)
# ...and retires the fine-tunable gpt-4o / gpt-4o-mini / gpt-4.1 / gpt-4.1-mini snapshots and
# every fine-tune of them on this one; its Models API does not report it, so it is known here.
OPENAI_FINE_TUNE_SHUTDOWN = date(2027, 1, 14)
_OPENAI_RETIRING = (
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
)
# Base models OpenAI fine-tunes (supervised; DPO on the gpt-4o / gpt-4.1 families).
OPENAI_FINE_TUNABLE = (
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "gpt-3.5-turbo-0125",
    "gpt-3.5-turbo-1106",
    "gpt-3.5-turbo-0613",
    "davinci-002",
    "babbage-002",
)
_DPO_FAMILIES = ("gpt-4o", "gpt-4.1")

LR_MULTIPLIER_OPTION = TrainOption(
    "lr",
    float,
    "learning rate multiplier of the provider's default, such as 1.8",
    target="learning_rate_multiplier",
    minimum=0,
    exclusive_minimum=True,
)
OPENAI_OPTIONS = (
    TrainOption("model", str, "a base model or one of your `ft:` models", max_length=255),
    EPOCHS_OPTION,
    LR_MULTIPLIER_OPTION,
    BATCH_OPTION,
    SUFFIX_OPTION,
    VALIDATION_OPTION,
    METHOD_OPTION,
    BETA_OPTION,
    SEED_OPTION,
)


def _openai_client(values: Mapping[str, str], key: str, url: str) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=values.get(key) or "unset",
        base_url=values.get(url),
        max_retries=2,
        timeout=120.0,  # uploads of large training files
    )


class OpenAIPlugin(ProviderPlugin):
    name: ClassVar[str] = "openai"
    label: ClassVar[str] = "OpenAI"
    settings = (
        Setting("OPENAI_API_KEY", "API key of your OpenAI project", secret=True, enables=True),
        Setting("OPENAI_BASE_URL", "the OpenAI API, or any OpenAI-compatible API", url=True),
    )
    capabilities = frozenset(
        {
            Capability.PAUSE,
            Capability.RESUME,
            Capability.EVENTS,
            Capability.CHECKPOINTS,
            Capability.DPO,
        }
    )
    phases: ClassVar[Mapping[str, Phase]] = OPENAI_PHASES.table
    train_options = OPENAI_OPTIONS
    default_base_model = "gpt-4.1-mini-2025-04-14"
    token_counting = "tiktoken with the model's own encoding, as OpenAI bills"
    serving_cost = "fine-tuned models are billed per token; nothing runs while idle"
    _key, _url = "OPENAI_API_KEY", "OPENAI_BASE_URL"

    def chat_endpoint(self, values: Mapping[str, str]) -> ChatEndpoint:
        return ChatEndpoint(values.get(self._url), values.get(self._key))

    def build(
        self, values: Mapping[str, str], *, endpoint: ChatEndpoint, context: ProviderContext
    ) -> FineTuneProvider:
        return OpenAICompatibleProvider(
            _openai_client(values, self._key, self._url),
            name=self.name,
            label=self.label,
            phase=self.phase,
            token_limit_field=endpoint.token_limit_field,
            capabilities={c.value for c in self.capabilities} - {Capability.DPO},
        )

    def new_jobs_refusal(self, today: date) -> str | None:
        if today > OPENAI_CLOSES:
            return (
                f"{self.label} closed fine-tuning to new jobs on "
                f"{OPENAI_CLOSES.isoformat()}; train on another provider instead"
            )
        return None

    def new_jobs_notice(self, today: date) -> str | None:
        if today <= OPENAI_CLOSES:
            return f"closing to new jobs on {OPENAI_CLOSES.isoformat()}"
        return None

    def shutdown_date(self, model: str) -> date | None:
        base = base_model(model)
        if base in _OPENAI_RETIRING or (
            model.startswith("ft:") and base.startswith(_OPENAI_RETIRING)
        ):
            return OPENAI_FINE_TUNE_SHUTDOWN
        return None

    def check_model(self, model: str, method: str) -> None:
        base = snapshot(base_model(model))
        if base not in OPENAI_FINE_TUNABLE:
            names = ", ".join(f"`{m}`" for m in OPENAI_FINE_TUNABLE[:5])
            raise TunebotError(
                f"`{model}` cannot be fine-tuned on {self.label}. Use a fine-tunable base model "
                f"({names}, ...) or one of your fine-tuned `ft:` models to continue training it."
            )
        if method == "dpo" and not base.startswith(_DPO_FAMILIES):
            raise TunebotError(
                f"DPO is available for the gpt-4o and gpt-4.1 families, not `{base}`."
            )

    def estimate(self, report: Mapping[str, Any], model: str, epochs: int) -> Estimate:
        tokens = int((report.get("tokens") or {}).get("billed_per_epoch") or 0)
        price = price_for(base_model(model))
        note = ""
        counted_for = str(report.get("model") or "")
        if counted_for and encoding_name_for(counted_for) != encoding_name_for(model):
            note = f" (tokens were counted for `{counted_for}`, so this is approximate)"
        return Estimate(
            model=model,
            billed_tokens_per_epoch=tokens,
            epochs=epochs,
            price_per_1m=price.per_million_usd if price else None,
            cost_usd=training_cost(price, tokens, epochs),
            note=note,
            provider_label=self.label,
        )


class AzurePlugin(OpenAIPlugin):
    """Azure OpenAI's v1 API: OpenAI's job routes; a trained model is deployed before it answers."""

    name: ClassVar[str] = "azure"
    label: ClassVar[str] = "Azure OpenAI"
    settings = (
        Setting(
            "AZURE_OPENAI_API_KEY", "key of your Azure OpenAI resource", secret=True, enables=True
        ),
        Setting(
            "AZURE_OPENAI_BASE_URL",
            "https://<resource>.openai.azure.com/openai/v1/",
            url=True,
        ),
    )
    serving_cost = "a deployed fine-tune is billed per hour while it is deployed"
    _key, _url = "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_BASE_URL"

    def new_jobs_refusal(self, today: date) -> str | None:
        return None  # Azure's own fine-tuning is not part of OpenAI's closure

    def new_jobs_notice(self, today: date) -> str | None:
        return None

    def shutdown_date(self, model: str) -> date | None:
        return None


NEBIUS_DEFAULT_URL = "https://api.tokenfactory.nebius.com/v1/"


class NebiusPlugin(ProviderPlugin):
    name: ClassVar[str] = "nebius"
    label: ClassVar[str] = "Nebius Token Factory"
    settings = (
        Setting(
            "NEBIUS_API_KEY",
            "API key of your Nebius Token Factory project",
            secret=True,
            enables=True,
        ),
        Setting("NEBIUS_BASE_URL", "the Token Factory API", url=True, default=NEBIUS_DEFAULT_URL),
    )
    capabilities = frozenset({Capability.EVENTS, Capability.CHECKPOINTS, Capability.DEPLOYMENTS})
    phases: ClassVar[Mapping[str, Phase]] = OPENAI_PHASES.table
    train_options = (
        MODEL_OPTION,
        EPOCHS_OPTION,
        absolute_lr_option("absolute learning rate, such as 0.00001"),
        BATCH_OPTION,
        SUFFIX_OPTION,
        VALIDATION_OPTION,
        SEED_OPTION,
        *lora_options(max_rank=128, max_dropout=0.5),
    )
    default_base_model = "meta-llama/Llama-3.1-8B-Instruct"
    token_counting = "approximate: counted with tiktoken, the model's own tokenizer differs"
    serving_cost = "a created model is billed per token served; price per model on Nebius"

    def chat_endpoint(self, values: Mapping[str, str]) -> ChatEndpoint:
        return ChatEndpoint(
            values.get("NEBIUS_BASE_URL", NEBIUS_DEFAULT_URL),
            values.get("NEBIUS_API_KEY"),
            token_limit_field="max_tokens",
        )

    def build(
        self, values: Mapping[str, str], *, endpoint: ChatEndpoint, context: ProviderContext
    ) -> FineTuneProvider:
        return NebiusProvider(
            _openai_client(values, "NEBIUS_API_KEY", "NEBIUS_BASE_URL"),
            name=self.name,
            label=self.label,
            phase=self.phase,
        )
