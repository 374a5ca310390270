"""`openai_compatible`: any fine-tuning API that speaks OpenAI's, by its base URL and key."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from admin.providers.openai_compat import OpenAICompatible
from admin.providers.options import (
    Batch,
    Epochs,
    LearningRateMultiplier,
    Seed,
    Suffix,
    TrainOptions,
)
from admin.providers.plugin import Capability
from admin.providers.settings import URL, ProviderSettings


class GenericOpenAICompatible(OpenAICompatible):
    name: ClassVar[str] = "openai_compatible"
    label: ClassVar[str] = "OpenAI-compatible API"

    class Settings(ProviderSettings):
        model_config = SettingsConfigDict(env_prefix="OPENAI_COMPATIBLE_")
        base_url: URL = Field(
            description="the API's OpenAI-compatible base, e.g. https://api.example.com/v1"
        )
        api_key: SecretStr = Field(description="the API's key")

    class Options(TrainOptions):
        epochs: Epochs = None
        lr: LearningRateMultiplier = None  # OpenAI's API, which these servers speak, scales
        batch: Batch = None
        suffix: Suffix = None
        seed: Seed = None

    # What every server that speaks OpenAI's job routes has; pause, resume and DPO vary.
    capabilities = frozenset({Capability.EVENTS, Capability.CHECKPOINTS})
    serving_cost = "as the server bills its fine-tuned models"
