"""Fine-tuning providers as plugins behind one small interface; callers never name one."""

from __future__ import annotations

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
from admin.providers.plugin import Capability, Phase, ProviderPlugin
from admin.providers.registry import Configured, Providers

__all__ = [
    "Capability",
    "Checkpoint",
    "Configured",
    "FineTuneProvider",
    "JobEvent",
    "JobSnapshot",
    "MetricPoint",
    "ModelInfo",
    "NebiusProvider",
    "NotReady",
    "OpenAICompatibleProvider",
    "Phase",
    "ProviderError",
    "ProviderPlugin",
    "Providers",
    "TrainRequest",
    "Unsupported",
    "UploadProgress",
]
