"""Thread history -> chat messages for the model, trimmed oldest-first to the token budget."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from slack_sdk import WebClient

from admin.tokens import count_message, encoding_for

MAX_THREAD_MESSAGES = 1000
APOLOGY_EVENT = "tunebot_apology"
_PRIMING = 3


def fetch_thread(client: WebClient, *, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    """Every message of a thread, parent first, following Slack's cursor pagination."""
    messages: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(messages) < MAX_THREAD_MESSAGES:
        page = client.conversations_replies(channel=channel, ts=thread_ts, cursor=cursor, limit=200)
        messages.extend(page.get("messages") or [])
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not page.get("has_more") or not cursor:
            break
    return messages


def to_chat_messages(
    slack_messages: Iterable[Mapping[str, Any]], *, bot_user_id: str, bot_id: str | None = None
) -> list[dict[str, str]]:
    """Slack messages -> user/assistant turns; the bot's own mention is stripped from text."""
    mention = re.compile(rf"<@{re.escape(bot_user_id)}>\s*")
    turns: list[dict[str, str]] = []
    for message in slack_messages:
        if message.get("subtype") not in (None, "file_share", "thread_broadcast"):
            continue
        if (message.get("metadata") or {}).get("event_type") == APOLOGY_EVENT:
            continue  # the bot's apologies are not part of the conversation
        text = mention.sub("", message.get("text") or "").strip()
        if not text:
            continue
        is_bot = message.get("user") == bot_user_id or (
            bot_id is not None and message.get("bot_id") == bot_id
        )
        if not is_bot and message.get("bot_id"):
            continue  # other bots' chatter is not part of the conversation
        turns.append({"role": "assistant" if is_bot else "user", "content": text})
    return turns


def budget_for(window: int | None, *, max_reply_tokens: int, cap: int) -> int:
    """Tokens the prompt may use: the model's context window less the reply, never above `cap`
    (TUNEBOT_HISTORY_TOKENS); `cap` alone where no window is known."""
    if window is None:
        return cap
    return max(256, min(cap, window - max_reply_tokens))


def fit_to_budget(
    system_prompt: str, turns: list[dict[str, str]], *, model: str, budget: int
) -> list[dict[str, str]]:
    """System prompt + the newest turns that fit; the oldest are dropped first.

    The newest turn (the question) is always kept, cut from its start if it alone is
    too long, so the model still sees what was asked.
    """
    system = {"role": "system", "content": system_prompt}
    if _surely_fits([system, *turns], budget):
        return _drop_leading_assistant([system, *turns])
    encoding = encoding_for(model)
    remaining = budget - _PRIMING - count_message(system, encoding)
    kept: list[dict[str, str]] = []
    for turn in reversed(turns):
        cost = count_message(turn, encoding)
        if cost > remaining:
            if not kept:
                kept.append(_truncate_start(turn, encoding, remaining))
            break
        kept.append(turn)
        remaining -= cost
    kept.reverse()
    return _drop_leading_assistant([system, *kept])


def _surely_fits(messages: list[dict[str, str]], budget: int) -> bool:
    # Every token covers at least one byte of UTF-8, so bytes bound tokens from above; a
    # short thread needs no tokenizer at all (and no vocabulary loaded into memory).
    bound = _PRIMING + sum(4 + len(m["content"].encode()) + len(m["role"]) for m in messages)
    return bound <= budget


def _drop_leading_assistant(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    # A conversation for the model starts with the user; a leading bot turn is dropped.
    system, turns = messages[0], messages[1:]
    while len(turns) > 1 and turns[0]["role"] == "assistant":
        turns.pop(0)
    return [system, *turns]


def _truncate_start(turn: dict[str, str], encoding: Any, allowed: int) -> dict[str, str]:
    tokens = encoding.encode_ordinary(turn["content"])
    keep = allowed - count_message({"role": turn["role"], "content": ""}, encoding)
    while keep > 0:
        cut = {"role": turn["role"], "content": encoding.decode(tokens[-keep:])}
        # Decoding a slice can re-tokenize differently at its edge; shrink until it fits.
        if count_message(cut, encoding) <= allowed:
            return cut
        keep -= 1
    return {"role": turn["role"], "content": ""}
