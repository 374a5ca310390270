"""The risky part, in a child process: load the base model, train a LoRA adapter, save it.

Everything the worker needs to know comes back as (Message, data) pairs; the worker owns the
database. An exception becomes one readable ERROR message; a crash of the whole process (the
kernel's OOM killer) is noticed by the worker from the exit code.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from admin.providers.local_options import LocalOptions
from trainer import examples
from trainer.spec import Message, Stop, TrainSpec

Report = Callable[[Message, dict[str, Any]], None]
Asked = Callable[[], Stop | None]


class TrainingFailed(Exception):
    """A failure whose message is written for the admin who started the job."""


def train(spec: TrainSpec, report: Report, asked: Asked) -> None:
    """Train `spec`; the last message reported is DONE, STOPPED, CANCELLED or ERROR."""
    try:
        _train(spec, report, asked)
    except TrainingFailed as error:
        report(Message.ERROR, {"kind": "input", "message": str(error)})
    except Exception as error:  # the child's whole job is to turn this into a message
        report(Message.ERROR, describe(error))


def describe(error: BaseException) -> dict[str, Any]:
    name = type(error).__name__
    if "OutOfMemory" in name or "out of memory" in str(error).lower():
        return {
            "kind": "oom",
            "message": "Training ran out of GPU memory. Try a smaller `batch=` (with "
            "`grad_accum=` to keep the effective batch) or a smaller `max_len=`.",
        }
    return {"kind": "crash", "message": f"Training failed: {name}: {str(error)[:400]}"}


def _load(spec: TrainSpec, options: LocalOptions) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.base_model)
        model = AutoModelForCausalLM.from_pretrained(spec.base_model, dtype="auto")
    except (OSError, ValueError) as error:
        raise TrainingFailed(
            f"The base model `{spec.base_model}` could not be loaded: {str(error)[:300]}"
        ) from error
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise TrainingFailed(f"`{spec.base_model}` has no chat template to format chats with.")
    return model, tokenizer


def _train(spec: TrainSpec, report: Report, asked: Asked) -> None:
    from trainer.progress import ProgressCallback

    options = LocalOptions.resolve(spec.options)
    model, tokenizer = _load(spec, options)
    rows = examples.read_jsonl(Path(spec.train_path))
    valid_rows = examples.read_jsonl(Path(spec.validation_path)) if spec.validation_path else []
    preference = examples.is_preference(rows)
    if preference != (options.method == "dpo"):
        want = "preference (DPO)" if options.method == "dpo" else "chat (supervised)"
        raise TrainingFailed(f"method={options.method} needs a {want} dataset.")
    from peft import LoraConfig

    peft_config = LoraConfig(
        r=options.lora_r,
        lora_alpha=options.lora_alpha,
        lora_dropout=options.lora_dropout,
        target_modules=options.targets(),
        task_type="CAUSAL_LM",
    )
    common: dict[str, Any] = {
        "output_dir": spec.work_dir,
        "num_train_epochs": options.epochs,
        "learning_rate": options.lr,
        "per_device_train_batch_size": options.batch,
        "per_device_eval_batch_size": options.batch,
        "gradient_accumulation_steps": options.grad_accum,
        "seed": options.seed,
        "logging_steps": 1,
        "save_strategy": "steps" if options.save_steps else "epoch",
        "save_total_limit": 3,
        "eval_strategy": "epoch" if valid_rows else "no",
        "report_to": "none",
        "disable_tqdm": True,
        "max_length": options.max_len,
        "include_num_input_tokens_seen": True,
        "use_cpu": not _has_accelerator(),
    }
    if options.save_steps:
        common["save_steps"] = options.save_steps
    callback = ProgressCallback(report, asked)
    if preference:
        trainer = _dpo_trainer(model, tokenizer, rows, valid_rows, options, common, peft_config)
    else:
        trainer = _sft_trainer(
            spec, model, tokenizer, rows, valid_rows, options, common, peft_config, report
        )
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # progress goes to the job's events instead
    trainer.add_callback(callback)
    result = trainer.train(resume_from_checkpoint=_last_checkpoint(spec.work_dir))
    if callback.stopped is Stop.CANCEL:
        report(Message.CANCELLED, {"step": trainer.state.global_step})
        return
    if callback.stopped is Stop.SHUTDOWN:
        report(Message.STOPPED, {"step": trainer.state.global_step})
        return
    _save_adapter(trainer, tokenizer, Path(spec.adapter_dir), spec.served_base)
    report(
        Message.DONE,
        {
            "adapter_dir": spec.adapter_dir,
            "step": trainer.state.global_step,
            "trained_tokens": int(trainer.state.num_input_tokens_seen or 0),
            "train_loss": callback.last_loss,
            "train_runtime": float(result.metrics.get("train_runtime") or 0.0),
        },
    )


def _sft_trainer(
    spec: TrainSpec,
    model: Any,
    tokenizer: Any,
    rows: list[tuple[int, dict[str, Any]]],
    valid_rows: list[tuple[int, dict[str, Any]]],
    options: LocalOptions,
    common: dict[str, Any],
    peft_config: Any,
    report: Report,
) -> Any:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    train_set = examples.tokenize_chats(
        tokenizer, rows, max_len=options.max_len, model=spec.base_model
    )
    for warning in train_set.warnings:
        report(Message.WARNING, {"message": warning})
    if not train_set.rows:
        raise TrainingFailed("No example has anything to train on.")
    eval_set = None
    if valid_rows:
        tokenized = examples.tokenize_chats(
            tokenizer, valid_rows, max_len=options.max_len, model=spec.base_model
        )
        eval_set = Dataset.from_list(tokenized.rows) if tokenized.rows else None
    return SFTTrainer(
        model=model,
        args=SFTConfig(**common),
        train_dataset=Dataset.from_list(train_set.rows),
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=peft_config,
    )


def _dpo_trainer(
    model: Any,
    tokenizer: Any,
    rows: list[tuple[int, dict[str, Any]]],
    valid_rows: list[tuple[int, dict[str, Any]]],
    options: LocalOptions,
    common: dict[str, Any],
    peft_config: Any,
) -> Any:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    eval_set = Dataset.from_list(examples.preference_rows(valid_rows)) if valid_rows else None
    return DPOTrainer(
        model=model,
        args=DPOConfig(beta=options.beta, **common),
        train_dataset=Dataset.from_list(examples.preference_rows(rows)),
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=peft_config,
    )


def _has_accelerator() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _last_checkpoint(work_dir: str) -> str | None:
    found = sorted(
        (p for p in Path(work_dir).glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
    )
    usable = [p for p in found if (p / "trainer_state.json").is_file()]
    return str(usable[-1]) if usable else None


def _save_adapter(trainer: Any, tokenizer: Any, target: Path, served_base: str | None) -> None:
    # Written beside the target and renamed into place: vLLM never sees half an adapter.
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    trainer.model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    if served_base:
        _name_base(partial / "adapter_config.json", served_base)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)


def _name_base(config_path: Path, served_base: str) -> None:
    """PEFT writes the name the base model was loaded by; vLLM's filesystem resolver loads the
    adapter only if it is the name vLLM was started with, which can differ (a local path
    there, a Hugging Face id here, or the reverse)."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = served_base
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
