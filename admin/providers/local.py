"""The `local` plugin: LoRA training by `tunebot trainer` on your GPU, served by your vLLM."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from admin.errors import TunebotError
from admin.providers.base import FineTuneProvider
from admin.providers.local_gateway import LocalProvider
from admin.providers.local_options import LOCAL_TRAIN_OPTIONS
from admin.providers.plugin import (
    Capability,
    ChatEndpoint,
    Phase,
    ProviderContext,
    ProviderPlugin,
    Setting,
)
from admin.providers.vllm_api import VllmServer

DEFAULT_MODEL_DIR = "models"


class LocalPlugin(ProviderPlugin):
    name: ClassVar[str] = "local"
    label: ClassVar[str] = "Local trainer (vLLM)"
    settings = (
        Setting(
            "TUNEBOT_VLLM_URL",
            "your vLLM server's OpenAI-compatible base, e.g. http://vllm:8000/v1",
            url=True,
            enables=True,
        ),
        Setting("TUNEBOT_VLLM_API_KEY", "the vLLM server's --api-key, if it has one", secret=True),
        Setting(
            "TUNEBOT_MODEL_DIR",
            "where `tunebot trainer` writes adapters (shared with the bot)",
            default=DEFAULT_MODEL_DIR,
        ),
        Setting(
            "TUNEBOT_VLLM_MODEL_DIR",
            "the same folder as the vLLM server sees it (default: TUNEBOT_MODEL_DIR)",
        ),
    )
    capabilities = frozenset({Capability.EVENTS, Capability.CHECKPOINTS, Capability.DPO})
    phases: ClassVar[Mapping[str, Phase]] = {
        "queued": Phase.ACTIVE,
        "running": Phase.ACTIVE,
        "succeeded": Phase.SUCCEEDED,
        "failed": Phase.FAILED,
        "cancelled": Phase.CANCELLED,
    }
    train_options = LOCAL_TRAIN_OPTIONS
    token_counting = "approximate: counted with tiktoken, the model's own tokenizer differs"
    serving_cost = "your own GPU: nothing is billed per token"

    def chat_endpoint(self, values: Mapping[str, str]) -> ChatEndpoint:
        return ChatEndpoint(
            values["TUNEBOT_VLLM_URL"],
            values.get("TUNEBOT_VLLM_API_KEY"),
            token_limit_field="max_tokens",
        )

    def build(
        self, values: Mapping[str, str], *, endpoint: ChatEndpoint, context: ProviderContext
    ) -> FineTuneProvider:
        if context.session_factory is None or context.data_dir is None:
            raise TunebotError("The local provider needs tunebot's database and dataset store.")
        model_dir = values.get("TUNEBOT_MODEL_DIR", DEFAULT_MODEL_DIR)
        return LocalProvider(
            session_factory=context.session_factory,
            data_dir=context.data_dir,
            model_dir=Path(model_dir),
            vllm=VllmServer(values["TUNEBOT_VLLM_URL"], values.get("TUNEBOT_VLLM_API_KEY")),
            vllm_model_dir=values.get("TUNEBOT_VLLM_MODEL_DIR") or str(Path(model_dir).resolve()),
            phase=self.phase,
            name=self.name,
            label=self.label,
        )

    def check_model(self, model: str, method: str) -> None:
        """Whether vLLM serves `model` is asked when the job is created (it needs the server)."""
