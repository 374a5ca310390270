"""Held-out data: a stored dataset's JSONL -> prompts (the turns before an answer) + references."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Said wherever a job turns out to have no held-out data.
HOW_TO_HOLD_OUT = (
    "Add held-out data with `split=0.1` when you add the dataset, or `validation=ds-N` "
    "when you train."
)

# What a chat API accepts in a message; dataset-only keys (`weight`) are left out.
_MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")


@dataclass(frozen=True)
class Example:
    """One held-out question: what the model is sent, and the answer it should give."""

    index: int  # line number in the held-out file, 0-based: stable across runs
    messages: tuple[dict[str, Any], ...]
    reference: str

    @property
    def question(self) -> str:
        """The last user turn, for reports."""
        return next(
            (text_of(m) for m in reversed(self.messages) if m.get("role") == "user"),
            text_of(self.messages[-1]) if self.messages else "",
        )


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        parts = (p.get("text") for p in content if isinstance(p, dict))
        return "".join(p for p in parts if isinstance(p, str))
    return content if isinstance(content, str) else ""


def load_examples(path: Path, *, limit: int) -> list[Example]:
    """The first `limit` usable examples of a normalised chat (or preference) JSONL file.

    An example is usable when it has an assistant turn with text after at least one other
    turn: the prompt is every message before its last assistant turn, the reference is that
    turn. Taking the first ones keeps the set the same on every run of the same file.
    """
    found: list[Example] = []
    for index, record in _records(path):
        example = to_example(index, record)
        if example is not None:
            found.append(example)
            if len(found) >= limit:
                break
    return found


def to_example(index: int, record: dict[str, Any]) -> Example | None:
    if isinstance(record.get("input"), dict):  # preference data: the preferred answer is right
        messages = list(record["input"].get("messages") or [])
        preferred = record.get("preferred_output") or []
        reference = text_of(preferred[-1]) if preferred and isinstance(preferred[-1], dict) else ""
        prompt = messages
    else:
        messages = list(record.get("messages") or [])
        last = next((i for i in range(len(messages) - 1, -1, -1) if _is_answer(messages[i])), None)
        if last is None:
            return None
        reference, prompt = text_of(messages[last]), messages[:last]
    if not reference.strip() or not any(m.get("role") != "system" for m in prompt):
        return None
    return Example(index, tuple(_for_api(m) for m in prompt), reference)


def _is_answer(message: Any) -> bool:
    return (
        isinstance(message, dict)
        and message.get("role") == "assistant"
        and bool(text_of(message).strip())
    )


def _for_api(message: dict[str, Any]) -> dict[str, Any]:
    return {k: message[k] for k in _MESSAGE_KEYS if message.get(k) is not None}


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as lines:
        for index, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the file was validated when stored; a bad line is skipped, not fatal
            if isinstance(record, dict):
                yield index, record
