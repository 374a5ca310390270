"""OpenAI and Azure OpenAI: OpenAI's fine-tuning API and OpenAI's models (entry points too).

What the two share is OpenAI's models (which fine-tune, their options, prices and context
windows); OpenAI's closing of fine-tuning and its retirement dates are OpenAI's alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from admin.datasets.pricing import answering_rates, price_for, snapshot, training_cost
from admin.errors import TunebotError
from admin.providers.openai_compat import OpenAICompatible
from admin.providers.options import (
    Batch,
    Epochs,
    LearningRateMultiplier,
    PreferenceOptions,
    Seed,
    Suffix,
)
from admin.providers.plugin import AnswerPrice, Capability, Estimate
from admin.providers.settings import URL, ProviderSettings
from admin.tokens import base_model, context_window, encoding_name_for

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


class OpenAIModels(OpenAICompatible):
    """Fine-tuning OpenAI's models through OpenAI's API (not registered itself)."""

    class Options(PreferenceOptions):
        model: str | None = Field(
            None, max_length=255, description="a base model or one of your `ft:` models"
        )
        epochs: Epochs = None
        lr: LearningRateMultiplier = None
        batch: Batch = None
        suffix: Suffix = None
        seed: Seed = None

    capabilities = frozenset(
        {
            Capability.PAUSE,
            Capability.RESUME,
            Capability.EVENTS,
            Capability.CHECKPOINTS,
            Capability.DPO,
        }
    )
    token_limit_field: ClassVar[str] = "max_completion_tokens"
    default_base_model = "gpt-4.1-mini-2025-04-14"
    token_counting = "tiktoken with the model's own encoding, as OpenAI bills"

    def context_window(self, model: str) -> int | None:
        return context_window(model) or super().context_window(model)

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


class OpenAI(OpenAIModels):
    name: ClassVar[str] = "openai"
    label: ClassVar[str] = "OpenAI"

    class Settings(ProviderSettings):
        model_config = SettingsConfigDict(env_prefix="OPENAI_")
        api_key: SecretStr = Field(description="API key of your OpenAI project")
        base_url: URL | None = Field(
            None, description="the OpenAI API, or any OpenAI-compatible API"
        )

    serving_cost = "fine-tuned models are billed per token; nothing runs while idle"

    @classmethod
    def answer_price(cls, model: str) -> AnswerPrice | None:
        # OpenAI's published prices (admin/datasets/prices.json, `answering`); Azure's differ
        # by region and deployment type, so Azure declares none.
        rates = answering_rates(model)
        if rates is None:
            return None
        source = f"OpenAI's prices as of {rates.as_of} ({rates.source})"
        return AnswerPrice(rates.input_per_1m, rates.output_per_1m, source)

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


class Azure(OpenAIModels):
    """Azure OpenAI's v1 API: OpenAI's job routes; a trained model is deployed before it answers."""

    name: ClassVar[str] = "azure"
    label: ClassVar[str] = "Azure OpenAI"

    class Settings(ProviderSettings):
        model_config = SettingsConfigDict(env_prefix="AZURE_OPENAI_")
        api_key: SecretStr = Field(description="key of your Azure OpenAI resource")
        base_url: URL | None = Field(
            None, description="https://<resource>.openai.azure.com/openai/v1/"
        )

    serving_cost = "a deployed fine-tune is billed per hour while it is deployed"
