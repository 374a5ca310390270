"""One training run as the child process gets it, and the messages it sends back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Message(StrEnum):
    PROGRESS = "progress"  # step, epoch, train/validation loss, tokens/s, ETA
    WARNING = "warning"
    CHECKPOINT = "checkpoint"
    DONE = "done"  # the adapter is written
    STOPPED = "stopped"  # asked to stop (SIGTERM): checkpoint saved, run it again later
    CANCELLED = "cancelled"
    ERROR = "error"


class Stop(StrEnum):
    SHUTDOWN = "shutdown"
    CANCEL = "cancel"


@dataclass(frozen=True)
class TrainSpec:
    run_id: int
    base_model: str
    train_path: str
    validation_path: str | None
    adapter_dir: str  # the finished adapter goes here
    work_dir: str  # checkpoints
    options: dict[str, Any]
    # adapter_config.json's base_model_name_or_path: the model vLLM was started with, which
    # its filesystem resolver requires there; None keeps the name the base was loaded by.
    served_base: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
