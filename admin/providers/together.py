"""The `together` plugin: Together AI fine-tuning, served from a dedicated endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import together

from admin.providers.base import FineTuneProvider
from admin.providers.plugin import (
    BATCH_OPTION,
    BETA_OPTION,
    EPOCHS_OPTION,
    METHOD_OPTION,
    MODEL_OPTION,
    SEED_OPTION,
    VALIDATION_OPTION,
    Capability,
    ChatEndpoint,
    Phase,
    ProviderContext,
    ProviderPlugin,
    Setting,
    TrainOption,
    absolute_lr_option,
    lora_options,
)
from admin.providers.together_gateway import TogetherGateway

TOGETHER_DEFAULT_URL = "https://api.together.xyz/v1"

# Together's job statuses (its FinetuneResponse.status); the rest are still in progress:
# pending, queued, running, compressing, uploading, cancel_requested.
TOGETHER_PHASES: Mapping[str, Phase] = {
    **{s: Phase.ACTIVE for s in ("pending", "queued", "running", "compressing", "uploading")},
    "cancel_requested": Phase.ACTIVE,
    "completed": Phase.SUCCEEDED,
    "error": Phase.FAILED,
    "cancelled": Phase.CANCELLED,
}


def sdk_base_url(base_url: str) -> str:
    """`https://api.together.xyz/v1` (as users copy it) -> the origin the SDK prefixes paths
    (`/v1/fine-tunes`, `/v2/projects/...`) with."""
    return base_url.rstrip("/").removesuffix("/v1")


class TogetherPlugin(ProviderPlugin):
    name: ClassVar[str] = "together"
    label: ClassVar[str] = "Together AI"
    settings = (
        Setting(
            "TOGETHER_API_KEY", "API key of your Together AI account", secret=True, enables=True
        ),
        Setting("TOGETHER_BASE_URL", "the Together API", url=True, default=TOGETHER_DEFAULT_URL),
        Setting(
            "TOGETHER_PROJECT_ID",
            "the project fine-tuned models are deployed in (needed only with several projects)",
        ),
    )
    capabilities = frozenset(
        {Capability.EVENTS, Capability.CHECKPOINTS, Capability.DPO, Capability.DEPLOYMENTS}
    )
    phases: ClassVar[Mapping[str, Phase]] = TOGETHER_PHASES
    train_options = (
        MODEL_OPTION,
        EPOCHS_OPTION,
        absolute_lr_option("absolute learning rate, such as 0.00001", default="0.00001"),
        BATCH_OPTION,
        TrainOption("suffix", str, "text to put in the model's name", max_length=40),
        VALIDATION_OPTION,
        SEED_OPTION,
        METHOD_OPTION,
        BETA_OPTION,
        TrainOption(
            "training",
            str,
            "LoRA adapters or all weights",
            choices=("lora", "full"),
            target="lora",
            default="lora",
        ),
        *lora_options(max_rank=128, max_dropout=0.99),
    )
    default_base_model = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    token_counting = (
        "approximate: counted with tiktoken; Together counts with the model's tokenizer"
    )
    serving_cost = (
        "a dedicated endpoint is billed per minute by its hardware while it runs, even idle; "
        "the hourly price is shown before one is created"
    )

    def chat_endpoint(self, values: Mapping[str, str]) -> ChatEndpoint:
        # Together's OpenAI-compatible chat lives under /v1, as users write the URL.
        base = sdk_base_url(values.get("TOGETHER_BASE_URL", TOGETHER_DEFAULT_URL)) + "/v1"
        return ChatEndpoint(base, values.get("TOGETHER_API_KEY"), token_limit_field="max_tokens")

    def build(
        self, values: Mapping[str, str], *, endpoint: ChatEndpoint, context: ProviderContext
    ) -> FineTuneProvider:
        client = together.Together(
            api_key=values.get("TOGETHER_API_KEY") or "unset",
            base_url=sdk_base_url(values.get("TOGETHER_BASE_URL", TOGETHER_DEFAULT_URL)),
            project_id=values.get("TOGETHER_PROJECT_ID"),
            max_retries=2,
            timeout=120.0,  # uploads of large training files
        )
        return TogetherGateway(
            client,
            phase=self.phase,
            capabilities=frozenset(c.value for c in self.capabilities),
            project_id=values.get("TOGETHER_PROJECT_ID"),
            name=self.name,
        )
