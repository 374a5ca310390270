"""Speaker messages (KakaoTalk) -> multi-turn chat examples that look like inference time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from admin.datasets.kakao import KakaoMessage

# Seed 000's lesson: pairing one person's lines as prompt with the other's as completion
# trains a model that does not hold a conversation. Each conversation (messages until a
# silence) becomes one example: system prompt, then alternating user / assistant turns, where
# the assistant is the speaker the bot should sound like and ends the example.

DEFAULT_SILENCE_MINUTES = 60


def default_system_prompt(assistant: str) -> str:
    return f"You are {assistant}. Reply the way {assistant} does in this chat."


@dataclass(frozen=True)
class ConversationRules:
    assistant: str
    system_prompt: str
    silence_minutes: int = DEFAULT_SILENCE_MINUTES
    # Group chats: user turns say who spoke ("이름: ..."), so several people stay apart.
    prefix_names: bool = False


def count_speakers(messages: Iterable[KakaoMessage]) -> list[tuple[str, int]]:
    """Speakers with their message counts, most active first (for an assistant picker)."""
    counts = Counter(m.speaker for m in messages)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def match_speaker(name: str, speakers: list[tuple[str, int]]) -> str | None:
    """The export's spelling of `name`: exact first, then ignoring case and spaces."""
    names = [s for s, _ in speakers]
    if name in names:
        return name
    folded = {s.casefold().replace(" ", ""): s for s in names}
    return folded.get(name.casefold().replace(" ", ""))


def split_conversations(
    messages: Iterable[KakaoMessage], silence_minutes: int
) -> Iterator[list[KakaoMessage]]:
    """Runs of messages with no gap longer than the silence (untimed messages never split)."""
    run: list[KakaoMessage] = []
    for message in messages:
        if run and _silent_between(run[-1], message, silence_minutes):
            yield run
            run = []
        run.append(message)
    if run:
        yield run


def _silent_between(a: KakaoMessage, b: KakaoMessage, minutes: int) -> bool:
    if a.time is None or b.time is None:
        return False
    return (b.time - a.time).total_seconds() > minutes * 60


def to_examples(
    messages: Iterable[KakaoMessage], rules: ConversationRules, stats: Counter[str]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line of the conversation's first message, chat example) for each usable conversation."""
    for conversation in split_conversations(messages, rules.silence_minutes):
        stats["conversations"] += 1
        turns = _turns(conversation, rules)
        while turns and turns[0]["role"] == "assistant":
            turns.pop(0)
            stats["leading_assistant_turns_dropped"] += 1
        while turns and turns[-1]["role"] == "user":
            turns.pop()
            stats["trailing_user_turns_dropped"] += 1
        if not turns:
            stats["conversations_without_reply"] += 1
            continue
        system = {"role": "system", "content": rules.system_prompt}
        yield conversation[0].line, {"messages": [system, *turns]}


def _turns(conversation: list[KakaoMessage], rules: ConversationRules) -> list[dict[str, str]]:
    """Consecutive messages of one speaker merge with newlines; so do consecutive user turns."""
    turns: list[dict[str, str]] = []
    last_speaker: str | None = None
    for message in conversation:
        role = "assistant" if message.speaker == rules.assistant else "user"
        text = message.text
        if role == "user" and rules.prefix_names and message.speaker != last_speaker:
            text = f"{message.speaker}: {text}"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n" + text
        else:
            turns.append({"role": role, "content": text})
        last_speaker = message.speaker
    return turns
