"""What one example's tokens are made of, for the counter: fixed tokens plus texts to encode."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Flags of a text in a token plan.
ASSISTANT = 1  # assistant content: also counted in the assistant total
REPEATED = 2  # likely to recur (roles, names, system prompts): worth caching its count
SHORT = 64  # characters: texts this short recur often enough to cache


@dataclass(slots=True)
class TokenPlan:
    """What to encode for one example: fixed tokens plus (text, flags) pairs."""

    fixed: int = 3  # every reply is primed with <|start|>assistant<|message|>
    texts: list[tuple[str, int]] = field(default_factory=list)


def add_message_plan(plan: TokenPlan, message: dict[str, Any]) -> None:
    """The cookbook's count: 3 per message, every string value encoded, +1 for a name.

    Content given as parts has no string value to the cookbook; its text parts are what the
    model reads, so they are counted as content.
    """
    plan.fixed += 3
    role = message.get("role")
    content_flags = ASSISTANT if role == "assistant" else REPEATED if role == "system" else 0
    append = plan.texts.append
    for key, value in message.items():
        if isinstance(value, str):
            if key == "content":
                append((value, content_flags | (REPEATED if len(value) < SHORT else 0)))
            else:
                append((value, REPEATED))
                if key == "name":
                    plan.fixed += 1
        elif key == "content" and isinstance(value, list):
            for part in value:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    append((part["text"], content_flags))
