"""Stored chat JSONL -> token ids and labels: loss on assistant turns only, weight 0 honoured.

Pure functions of a tokenizer and the stored rows; the training child calls them. Labels are
built here rather than by TRL so that a per-message `weight` of 0 keeps that reply out of the
loss, which TRL's own assistant masks cannot express.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IGNORE = -100


@dataclass
class Tokenized:
    rows: list[dict[str, list[int]]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tokens: int = 0


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, example) for every non-blank line."""
    found = []
    with path.open(encoding="utf-8") as source:
        for number, line in enumerate(source, start=1):
            if line.strip():
                found.append((number, json.loads(line)))
    return found


def is_preference(rows: list[tuple[int, dict[str, Any]]]) -> bool:
    return bool(rows) and "preferred_output" in rows[0][1]


def _clean(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if k != "weight"} for m in messages]


def _spans(mask: list[int]) -> list[tuple[int, int]]:
    spans, start = [], None
    for index, bit in enumerate([*mask, 0]):
        if bit and start is None:
            start = index
        elif not bit and start is not None:
            spans.append((start, index))
            start = None
    return spans


def _ids(tokenizer: Any, messages: list[dict[str, Any]], **kwargs: Any) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)
    return list(out["input_ids"])


def assistant_spans(tokenizer: Any, messages: list[dict[str, Any]]) -> list[tuple[int, int]] | None:
    """Token ranges of each assistant message, in order; None when the template cannot say."""
    clean = _clean(messages)
    wanted = sum(1 for m in messages if m.get("role") == "assistant")
    template = str(getattr(tokenizer, "chat_template", "") or "")
    if "generation" in template:
        out = tokenizer.apply_chat_template(
            clean, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        spans = _spans(list(out["assistant_masks"]))
        if len(spans) == wanted:
            return spans
    # Templates without {% generation %}: the tokens a reply adds to the conversation before it.
    full = _ids(tokenizer, clean)
    spans = []
    for index, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        before = _ids(tokenizer, clean[:index], add_generation_prompt=True) if index else []
        upto = _ids(tokenizer, clean[: index + 1])
        if upto[: len(before)] != before or full[: len(upto)] != upto:
            return None
        spans.append((len(before), len(upto)))
    return spans


def tokenize_chats(
    tokenizer: Any, rows: list[tuple[int, dict[str, Any]]], *, max_len: int, model: str
) -> Tokenized:
    result = Tokenized()
    truncated: list[int] = []
    empty: list[int] = []
    unmarked = False
    for line, example in rows:
        messages = example["messages"]
        ids = _ids(tokenizer, _clean(messages))
        spans = assistant_spans(tokenizer, messages)
        if spans is None:
            unmarked = True
            labels = list(ids)
        else:
            labels = [IGNORE] * len(ids)
            replies = [m for m in messages if m.get("role") == "assistant"]
            for (start, end), reply in zip(spans, replies, strict=True):
                if reply.get("weight", 1) != 0:
                    labels[start:end] = ids[start:end]
        if len(ids) > max_len:
            truncated.append(line)
            ids, labels = ids[:max_len], labels[:max_len]
        if all(label == IGNORE for label in labels):
            empty.append(line)
            continue
        result.rows.append({"input_ids": ids, "labels": labels})
        result.tokens += len(ids)
    if unmarked:
        result.warnings.append(
            f"The chat template of `{model}` does not mark assistant turns, so every token is "
            "trained on (system and user text too, and replies with weight 0)."
        )
    if truncated:
        result.warnings.append(
            f"{len(truncated)} example(s) are longer than max_len={max_len} tokens and were "
            f"truncated: line(s) {_lines(truncated)}."
        )
    if empty:
        result.warnings.append(
            f"{len(empty)} example(s) have nothing to train on within max_len={max_len} "
            f"tokens and were skipped: line(s) {_lines(empty)}."
        )
    return result


def preference_rows(rows: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """OpenAI-style preference examples -> TRL's conversational prompt/chosen/rejected."""
    return [
        {
            "prompt": _clean(example["input"]["messages"]),
            "chosen": _clean(example["preferred_output"]),
            "rejected": _clean(example["non_preferred_output"]),
        }
        for _, example in rows
    ]


def _lines(numbers: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")
