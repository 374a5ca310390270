"""A TrainerCallback: progress out as messages, stop and cancel in at the next step."""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from trainer.spec import Message, Stop


class ProgressCallback(TrainerCallback):
    def __init__(self, report: Any, asked: Any) -> None:
        self._report = report
        self._asked = asked
        self.stopped: Stop | None = None
        self.last_loss: float | None = None
        self._started = time.monotonic()
        self._first_step = 0
        self._tokens_at_start = 0

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self._started = time.monotonic()
        self._first_step = state.global_step  # resumed runs start past 0
        self._tokens_at_start = int(state.num_input_tokens_seen or 0)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        asked = self._asked()
        if asked is None:
            return
        self.stopped = asked
        control.should_training_stop = True
        # A shutdown keeps this step's work as a checkpoint; a cancel keeps nothing.
        control.should_save = asked is Stop.SHUTDOWN

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kw: Any,
    ) -> None:
        logs = logs or {}
        if "loss" not in logs and "eval_loss" not in logs:
            return
        elapsed = max(time.monotonic() - self._started, 1e-6)
        steps = max(state.global_step - self._first_step, 0)
        tokens = int(state.num_input_tokens_seen or 0) - self._tokens_at_start
        left = max(state.max_steps - state.global_step, 0)
        data: dict[str, Any] = {
            "step": state.global_step,
            "total_steps": state.max_steps,
            "epoch": round(float(state.epoch or 0), 3),
            "tokens_per_second": round(tokens / elapsed, 1),
            "eta_seconds": round(elapsed / steps * left, 1) if steps else None,
        }
        if "loss" in logs:
            data["train_loss"] = self.last_loss = float(logs["loss"])
        if "eval_loss" in logs:
            data["valid_loss"] = float(logs["eval_loss"])
        self._report(Message.PROGRESS, data)

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self._report(
            Message.CHECKPOINT,
            {
                "step": state.global_step,
                "path": f"{args.output_dir}/checkpoint-{state.global_step}",
            },
        )
