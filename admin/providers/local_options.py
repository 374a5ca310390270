"""What the `local` provider's jobs accept, with the defaults the trainer uses.

Declared once here: `/finetune help` shows these defaults, the provider stores every option of
a job resolved against them (under the trainer's names, the aliases), and the trainer reads that
stored copy back (so a later change of a default never changes a queued job).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from admin.providers.options import OWN_OPTIONS, PreferenceOptions, Suffix


class LocalOptions(PreferenceOptions):
    model: str | None = Field(
        None,
        max_length=255,
        description="the base model: the Hugging Face id or path your vLLM server serves",
    )
    epochs: int = Field(3, ge=1, le=100, description="epochs")
    lr: float = Field(2e-4, gt=0, alias="learning_rate", description="absolute learning rate")
    batch: int = Field(4, ge=1, alias="batch_size", description="examples per device step")
    grad_accum: int = Field(1, ge=1, description="gradient accumulation steps")
    max_len: int = Field(1024, ge=16, description="max sequence length in tokens")
    # vLLM serves adapters up to `--max-lora-rank`, 16 unless the server says otherwise.
    lora_r: int = Field(
        16, ge=1, le=512, description="LoRA rank (at most the vLLM server's --max-lora-rank)"
    )
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha")
    lora_dropout: float = Field(0.05, ge=0, le=0.9, description="LoRA dropout")
    lora_targets: str = Field(
        "all-linear",
        max_length=255,
        description="modules to adapt: `all-linear` or names such as q_proj,v_proj",
    )
    seed: int = Field(42, ge=0, description="a whole number for reproducible runs")
    beta: float = Field(
        0.1, gt=0, description="DPO only: how far the model may drift from the base"
    )
    suffix: Suffix = None
    save_steps: int = Field(
        0, ge=0, description="optimizer steps between kept checkpoints; 0: once per epoch"
    )

    @classmethod
    def resolve(cls, stored: Mapping[str, Any]) -> LocalOptions:
        """A job's options as stored (by the trainer's names), defaults for any missing."""
        names = {f.alias or n for n, f in cls.model_fields.items()} | set(cls.model_fields)
        given = {k: v for k, v in stored.items() if k in names and v is not None}
        if given.get("method") != "dpo":
            given.pop("beta", None)  # stored with every job; it applies to DPO only
        return cls.model_validate(given)

    def to_json(self) -> dict[str, Any]:
        """Every option the trainer reads, defaults resolved, under its names."""
        return self.model_dump(by_alias=True, exclude={*OWN_OPTIONS - {"method"}, "suffix"})

    def targets(self) -> str | list[str]:
        if self.lora_targets == "all-linear":
            return "all-linear"
        return [t.strip() for t in self.lora_targets.split(",") if t.strip()]
