"""What the `local` provider's jobs accept, with the defaults the trainer uses.

Declared once here: `/finetune help` shows these defaults, the gateway stores every option of a
job resolved against them, and the trainer reads that stored copy (so a later change of a
default never changes a queued job).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from admin.providers.plugin import (
    BETA_OPTION,
    METHOD_OPTION,
    SUFFIX_OPTION,
    VALIDATION_OPTION,
    TrainOption,
    absolute_lr_option,
    lora_options,
)


@dataclass(frozen=True)
class LocalOptions:
    epochs: int = 3
    learning_rate: float = 2e-4
    batch_size: int = 4
    grad_accum: int = 1
    max_len: int = 1024
    # vLLM serves adapters up to `--max-lora-rank`, 16 unless the server says otherwise.
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str = "all-linear"
    seed: int = 42
    beta: float = 0.1
    method: str = "supervised"
    # How often a checkpoint is kept (optimizer steps); 0: once per epoch.
    save_steps: int = 0

    @classmethod
    def resolve(cls, given: dict[str, Any]) -> LocalOptions:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in given.items() if k in known and v is not None})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def targets(self) -> str | list[str]:
        if self.lora_targets == "all-linear":
            return "all-linear"
        return [t.strip() for t in self.lora_targets.split(",") if t.strip()]


_D = LocalOptions()

LOCAL_TRAIN_OPTIONS: tuple[TrainOption, ...] = (
    TrainOption(
        "model",
        str,
        "the base model: the Hugging Face id or path your vLLM server serves",
        max_length=255,
    ),
    TrainOption("epochs", int, "epochs", minimum=1, maximum=100, default=str(_D.epochs)),
    absolute_lr_option("absolute learning rate", default=f"{_D.learning_rate:g}"),
    TrainOption(
        "batch", int, "examples per device step", target="batch_size", minimum=1, default="4"
    ),
    TrainOption("grad_accum", int, "gradient accumulation steps", minimum=1, default="1"),
    TrainOption("max_len", int, "max sequence length in tokens", minimum=16, default="1024"),
    *lora_options(
        max_rank=512,
        max_dropout=0.9,
        rank_help="LoRA rank (at most the vLLM server's --max-lora-rank)",
        defaults=(str(_D.lora_r), str(_D.lora_alpha), f"{_D.lora_dropout:g}"),
    ),
    TrainOption(
        "lora_targets",
        str,
        "modules to adapt: `all-linear` or names such as q_proj,v_proj",
        max_length=255,
        default=_D.lora_targets,
    ),
    TrainOption("seed", int, "a whole number for reproducible runs", minimum=0, default="42"),
    SUFFIX_OPTION,
    VALIDATION_OPTION,
    METHOD_OPTION,
    BETA_OPTION,
)
