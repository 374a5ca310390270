"""The optional pairwise judge: an LLM says which answer is closer to the reference, asked twice
with the answers in swapped positions so a preference for "the first one" cancels out."""

from __future__ import annotations

import re
from typing import Any

from admin.evaluation.heldout import Example

FIRST, SECOND = "judge-1", "judge-2"  # candidate shown as A, then as B

_INSTRUCTIONS = (
    "You compare two answers to the same conversation against a reference answer written by "
    "the team. Decide which answer is closer to the reference in meaning, facts and tone; "
    "length alone does not count. Reply with exactly one word: A, B, or TIE."
)


def judge_messages(
    example: Example, candidate: str, current: str, *, side: str
) -> tuple[dict[str, Any], ...]:
    """The judge's prompt for one order: `FIRST` shows the candidate as A, `SECOND` as B."""
    a, b = (candidate, current) if side == FIRST else (current, candidate)
    question = "\n".join(f"{m.get('role')}: {_text(m)}" for m in example.messages)
    body = (
        f"Conversation:\n{question}\n\nReference answer:\n{example.reference}\n\n"
        f"Answer A:\n{a}\n\nAnswer B:\n{b}\n\nWhich is closer to the reference: A, B, or TIE?"
    )
    return ({"role": "system", "content": _INSTRUCTIONS}, {"role": "user", "content": body})


def parse_verdict(text: str) -> str:
    """`A`, `B` or `TIE` from the judge's reply; anything unclear is a tie."""
    words = re.findall(r"[A-Za-z]+", text.upper())
    for word in words[:3]:
        if word in ("A", "B", "TIE"):
            return word
    return "TIE"


def combine(first: str, second: str) -> str:
    """Both orders' verdicts -> `win`, `loss` or `tie` for the candidate.

    The candidate wins only when the judge prefers it in both positions; a judge that always
    picks the same position contradicts itself and the pair counts as a tie.
    """
    candidate_first = {"A": "win", "B": "loss"}.get(parse_verdict(first), "tie")
    candidate_second = {"B": "win", "A": "loss"}.get(parse_verdict(second), "tie")
    if candidate_first == candidate_second:
        return candidate_first
    return "tie"


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else str(content or "")
