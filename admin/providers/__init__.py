"""Fine-tuning providers behind one small interface; callers never know which one it is."""

from __future__ import annotations

import openai

from admin.providers.base import (
    Checkpoint,
    FineTuneProvider,
    JobEvent,
    JobSnapshot,
    MetricPoint,
    ModelInfo,
    NotReady,
    ProviderError,
    TrainRequest,
    Unsupported,
    UploadProgress,
)
from admin.providers.nebius import NebiusProvider
from admin.providers.openai_compat import OpenAICompatibleProvider

KINDS = ("openai", "azure", "nebius")

__all__ = [
    "KINDS",
    "Checkpoint",
    "FineTuneProvider",
    "JobEvent",
    "JobSnapshot",
    "MetricPoint",
    "ModelInfo",
    "NebiusProvider",
    "NotReady",
    "OpenAICompatibleProvider",
    "ProviderError",
    "TrainRequest",
    "Unsupported",
    "UploadProgress",
    "build_provider",
]


def build_provider(kind: str, client: openai.OpenAI) -> FineTuneProvider:
    """`client` already points at the provider: its base URL and key decide where jobs go."""
    if kind in ("openai", "azure"):
        # Azure's v1 API (`https://<resource>.openai.azure.com/openai/v1/`) has the same job
        # routes as OpenAI, pause and resume included.
        return OpenAICompatibleProvider(client, name=kind)
    if kind == "nebius":
        return NebiusProvider(client)
    raise ValueError(f"unknown fine-tuning provider {kind!r}; one of {', '.join(KINDS)}")
