"""Real LoRA training of a tiny model on the CPU, in a child process, as the trainer runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.local_helpers import (
    FAST,
    QA,
    chat_jsonl,
    crashing_child,
    greedy,
    raising_child,
    require_train_extra,
)

require_train_extra()

from trainer.runner import run_in_child  # noqa: E402
from trainer.spec import Message, TrainSpec  # noqa: E402


def _spec(tmp_path: Path, model: Path, data: Path, **options: Any) -> TrainSpec:
    return TrainSpec(
        run_id=1,
        base_model=str(model),
        train_path=str(data),
        validation_path=None,
        adapter_dir=str(tmp_path / "adapter"),
        work_dir=str(tmp_path / "work"),
        options={**FAST, **options},
    )


def test_training_in_a_child_writes_an_adapter_that_learned(
    tiny_model: Path, tmp_path: Path
) -> None:
    seen: list[tuple[Message, dict[str, Any]]] = []
    spec = _spec(tmp_path, tiny_model, chat_jsonl(tmp_path / "train.jsonl"))

    outcome = run_in_child(spec, on_message=lambda kind, data: seen.append((kind, data)))

    assert outcome.final is Message.DONE, outcome.data
    adapter = Path(spec.adapter_dir)
    assert (adapter / "adapter_config.json").is_file()
    assert (adapter / "adapter_model.safetensors").is_file()
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == FAST["lora_r"]
    losses = [d["train_loss"] for kind, d in seen if kind is Message.PROGRESS and "train_loss" in d]
    assert losses[-1] < losses[0]
    question, answer = QA[1]
    assert greedy(tiny_model, question) != answer
    assert greedy(tiny_model, question, adapter=adapter) == answer


def test_weight_zero_and_overlong_examples_are_reported(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    from trainer.examples import IGNORE, tokenize_chats

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = [
        (
            1,
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Not this one.", "weight": 0},
                    {"role": "user", "content": "Again"},
                    {"role": "assistant", "content": "This one."},
                ]
            },
        ),
        (
            2,
            {
                "messages": [
                    {"role": "user", "content": "x " * 80},
                    {"role": "assistant", "content": "y"},
                ]
            },
        ),
    ]

    result = tokenize_chats(tokenizer, rows, max_len=40, model="tiny")

    first = result.rows[0]
    trained = [
        t for t, label in zip(first["input_ids"], first["labels"], strict=True) if label != IGNORE
    ]
    assert tokenizer.decode(trained) == "This one.</s>"
    assert len(result.rows) == 1
    assert any("line(s) 2" in w and "max_len=40" in w for w in result.warnings)


def test_a_template_that_cannot_mark_replies_is_warned_about(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    from trainer.examples import tokenize_chats

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    # A template that sorts messages differently from how they are appended: no prefix property.
    tokenizer.chat_template = "{% for m in messages|reverse %}{{ m['content'] }}{% endfor %}"
    rows = [
        (1, {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    ]

    result = tokenize_chats(tokenizer, rows, max_len=64, model="odd")

    assert any("does not mark assistant turns" in w for w in result.warnings)


def test_a_child_killed_by_the_kernel_is_a_readable_failure(tmp_path: Path) -> None:
    spec = _spec(tmp_path, tmp_path, tmp_path / "none.jsonl")

    outcome = run_in_child(spec, on_message=lambda *a: None, every=0.2, target=crashing_child)

    assert outcome.final is Message.ERROR
    assert "SIGKILL" in outcome.data["message"] and "memory" in outcome.data["message"]


def test_out_of_memory_in_training_suggests_a_smaller_batch(
    tiny_model: Path, tmp_path: Path
) -> None:
    spec = _spec(tmp_path, tiny_model, chat_jsonl(tmp_path / "train.jsonl"))

    outcome = run_in_child(spec, on_message=lambda *a: None, target=raising_child)

    assert outcome.final is Message.ERROR
    assert outcome.data["kind"] == "oom" and "batch=" in outcome.data["message"]


def test_a_base_model_that_does_not_load_is_named(tmp_path: Path) -> None:
    spec = _spec(tmp_path, tmp_path / "no-such-model", chat_jsonl(tmp_path / "train.jsonl"))

    outcome = run_in_child(spec, on_message=lambda *a: None)

    assert outcome.final is Message.ERROR
    assert (
        "no-such-model" in outcome.data["message"]
        and "could not be loaded" in outcome.data["message"]
    )


def test_preference_data_trains_with_dpo(tiny_model: Path, tmp_path: Path) -> None:
    from tests.local_helpers import preference_jsonl

    seen: list[tuple[Message, dict[str, Any]]] = []
    spec = _spec(
        tmp_path, tiny_model, preference_jsonl(tmp_path / "pref.jsonl"), method="dpo", epochs=3
    )

    outcome = run_in_child(spec, on_message=lambda kind, data: seen.append((kind, data)))

    assert outcome.final is Message.DONE, outcome.data
    assert (Path(spec.adapter_dir) / "adapter_model.safetensors").is_file()
    assert any(kind is Message.PROGRESS and "train_loss" in d for kind, d in seen)


def test_a_chat_dataset_with_method_dpo_is_refused_by_name(
    tiny_model: Path, tmp_path: Path
) -> None:
    spec = _spec(tmp_path, tiny_model, chat_jsonl(tmp_path / "t.jsonl"), method="dpo")

    outcome = run_in_child(spec, on_message=lambda *a: None)

    assert outcome.final is Message.ERROR and "preference (DPO)" in outcome.data["message"]
