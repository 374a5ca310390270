"""The `fireworks` plugin: Fireworks AI LoRA fine-tuning, served by an on-demand deployment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import fireworks
import openai

from admin.errors import TunebotError
from admin.providers.base import FineTuneProvider
from admin.providers.fireworks_gateway import FireworksGateway
from admin.providers.plugin import (
    BATCH_OPTION,
    BETA_OPTION,
    EPOCHS_OPTION,
    METHOD_OPTION,
    SUFFIX_OPTION,
    VALIDATION_OPTION,
    Capability,
    ChatEndpoint,
    Phase,
    ProviderContext,
    ProviderPlugin,
    Setting,
    TrainOption,
    absolute_lr_option,
)

FIREWORKS_DEFAULT_URL = "https://api.fireworks.ai"

# Fireworks' JobState values; the others (CREATING, PENDING, VALIDATING, RUNNING,
# WRITING_RESULTS, RE_QUEUEING, CANCELLING, PAUSED, IDLE...) are still in progress.
FIREWORKS_PHASES: Mapping[str, Phase] = {
    **{
        f"JOB_STATE_{s}": Phase.ACTIVE
        for s in (
            "UNSPECIFIED",
            "CREATING",
            "PENDING",
            "VALIDATING",
            "RUNNING",
            "WRITING_RESULTS",
            "RE_QUEUEING",
            "CREATING_INPUT_DATASET",
            "IDLE",
            "CANCELLING",
            "PAUSED",
        )
    },
    "JOB_STATE_COMPLETED": Phase.SUCCEEDED,
    "JOB_STATE_EARLY_STOPPED": Phase.SUCCEEDED,  # stopped on its validation loss, with a model
    "JOB_STATE_FAILED": Phase.FAILED,
    "JOB_STATE_EXPIRED": Phase.FAILED,
    "JOB_STATE_CANCELLED": Phase.CANCELLED,
    "JOB_STATE_DELETING": Phase.CANCELLED,
    "JOB_STATE_DELETING_CLEANING_UP": Phase.CANCELLED,
}


class FireworksPlugin(ProviderPlugin):
    name: ClassVar[str] = "fireworks"
    label: ClassVar[str] = "Fireworks AI"
    settings = (
        Setting(
            "FIREWORKS_API_KEY", "API key of your Fireworks account", secret=True, enables=True
        ),
        Setting("FIREWORKS_ACCOUNT_ID", "your Fireworks account id (required with the key)"),
        Setting("FIREWORKS_BASE_URL", "the Fireworks API", url=True, default=FIREWORKS_DEFAULT_URL),
        Setting(
            "FIREWORKS_GPU_HOURLY_USD",
            "what one deployment GPU costs you per hour, to show and confirm deployment costs "
            "(Fireworks' API does not say; see fireworks.ai/pricing)",
        ),
    )
    capabilities = frozenset({Capability.EVENTS, Capability.DPO, Capability.DEPLOYMENTS})
    phases: ClassVar[Mapping[str, Phase]] = FIREWORKS_PHASES
    train_options = (
        TrainOption(
            "model",
            str,
            "the base model, such as accounts/fireworks/models/llama-v3p1-8b-instruct",
            max_length=255,
        ),
        EPOCHS_OPTION,
        absolute_lr_option("absolute learning rate, such as 0.0001"),
        BATCH_OPTION,
        SUFFIX_OPTION,
        VALIDATION_OPTION,
        METHOD_OPTION,
        BETA_OPTION,
        TrainOption("lora_rank", int, "LoRA rank", target="lora_rank", minimum=1, maximum=64),
        TrainOption(
            "max_context_length",
            int,
            "longest example in tokens",
            target="max_context_length",
            minimum=1,
        ),
    )
    default_base_model = "accounts/fireworks/models/llama-v3p1-8b-instruct"
    token_counting = (
        "approximate: counted with tiktoken; Fireworks counts with the model's tokenizer"
    )
    serving_cost = (
        "a LoRA model is served by an on-demand deployment billed per GPU-second while its "
        "replica runs; tunebot keeps one replica up so the bot answers at once"
    )

    def is_configured(self, env: Mapping[str, str]) -> bool:
        # The key alone cannot name a dataset, job or model: the account id is required too,
        # and `missing` says so wherever tunebot lists what would turn a provider on.
        return all((env.get(s.variable) or "").strip() for s in self.missing(env))

    def missing(self, env: Mapping[str, str]) -> list[Setting]:
        return [s for s in self.settings if s.enables or s.variable == "FIREWORKS_ACCOUNT_ID"]

    def chat_endpoint(self, values: Mapping[str, str]) -> ChatEndpoint:
        base = values.get("FIREWORKS_BASE_URL", FIREWORKS_DEFAULT_URL).rstrip("/")
        return ChatEndpoint(
            f"{base}/inference/v1", values.get("FIREWORKS_API_KEY"), token_limit_field="max_tokens"
        )

    def build(
        self, values: Mapping[str, str], *, endpoint: ChatEndpoint, context: ProviderContext
    ) -> FineTuneProvider:
        account = values.get("FIREWORKS_ACCOUNT_ID")
        if not account:
            raise TunebotError(
                "FIREWORKS_ACCOUNT_ID is not set: Fireworks names every dataset, job and model "
                "under your account. Set it to the account id shown by `firectl whoami`."
            )
        key = values.get("FIREWORKS_API_KEY") or "unset"
        base = values.get("FIREWORKS_BASE_URL", FIREWORKS_DEFAULT_URL).rstrip("/")
        client = fireworks.Fireworks(
            api_key=key, account_id=account, base_url=base, max_retries=2, timeout=120.0
        )
        chat = openai.OpenAI(api_key=key, base_url=endpoint.base_url, max_retries=2, timeout=60.0)
        hourly = values.get("FIREWORKS_GPU_HOURLY_USD")
        return FireworksGateway(
            client,
            chat,
            account=account,
            phase=self.phase,
            capabilities=frozenset(c.value for c in self.capabilities),
            gpu_hourly_usd=float(hourly) if hourly else None,
            name=self.name,
        )
