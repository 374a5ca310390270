"""Fine-tuning providers as plugins: one class each; callers never name one."""

from __future__ import annotations

from admin.providers.base import (
    Checkpoint,
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
from admin.providers.openai_compat import OpenAICompatible
from admin.providers.options import PreferenceOptions, TrainOptions
from admin.providers.plugin import Capability, Phase, Provider
from admin.providers.registry import Providers, Registry
from admin.providers.settings import URL, ProviderSettings

__all__ = [
    "URL",
    "Capability",
    "Checkpoint",
    "JobEvent",
    "JobSnapshot",
    "MetricPoint",
    "ModelInfo",
    "NotReady",
    "OpenAICompatible",
    "Phase",
    "PreferenceOptions",
    "Provider",
    "ProviderError",
    "ProviderSettings",
    "Providers",
    "Registry",
    "TrainOptions",
    "TrainRequest",
    "Unsupported",
    "UploadProgress",
]
