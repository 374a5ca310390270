"""Helpers for the usage, budget and limit tests: questions asked in Slack, what their answers
cost at OpenAI's published prices, and the bot's lines in a thread."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from emulators.sandbox import Sandbox
from storage.models import Turn

SUPPORT = "C0SUPPORT1"
OTHER = "C0RANDOM01"
GPT_4O = "gpt-4o-2024-08-06"
NANO = "gpt-4.1-nano-2025-04-14"
# USD per 1M input and output tokens, as OpenAI publishes them (not read from tunebot's table).
OPENAI_PRICES = {GPT_4O: (2.5, 10.0), NANO: (0.1, 0.4), "gpt-4o-mini-2024-07-18": (0.15, 0.6)}
# The emulator counts a token per 4 characters: a reply of 1,000 tokens, about a cent on gpt-4o.
LONG_REPLY = "word " * 800


def ask(box: Sandbox, channel: str, user: str, text: str) -> Turn:
    """A mention by `user` in `channel` (or a message in a DM); the turn the bot recorded."""
    message = text if channel.startswith("D") else f"<@{box.slack.bot_user_id}> {text}"
    asked = box.slack.post_as_user(user, channel, message)
    return box.wait_for_turn(channel, asked.ts)


def bot_lines(box: Sandbox, turn: Turn) -> list[str]:
    """What the bot said in the thread of the question `turn` records."""
    return [
        m.get("text") or ""
        for m in box.slack.messages(turn.channel_id, turn.thread_ts)
        if m.get("bot_id")
    ]


def openai_cost(turns: Iterable[Turn]) -> float:
    """What OpenAI bills for these answers, from their recorded usage."""
    total = 0.0
    for turn in turns:
        rate_in, rate_out = OPENAI_PRICES[turn.model]
        total += (turn.prompt_tokens or 0) * rate_in + (turn.completion_tokens or 0) * rate_out
    return total / 1_000_000


def texts_starting(box: Sandbox, channel: str, prefix: str) -> list[str]:
    """The bot's top-level messages in `channel` (a channel or a DM) that start with `prefix`."""
    return [
        m.get("text") or ""
        for m in box.slack.messages(channel)
        if m.get("bot_id") and (m.get("text") or "").startswith(prefix)
    ]


def block_text(response: dict[str, Any]) -> str:
    """Everything a person reads in a message's blocks, block after block."""
    parts = []
    for block in response.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(text.get("text", ""))
        parts += [e.get("text", "") for e in block.get("elements") or [] if isinstance(e, dict)]
    return "\n".join(parts)
